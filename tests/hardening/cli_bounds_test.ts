// The CLIs at their edges, as real subprocesses: a closed standard output
// (`| head -c 10`) ends them silently with exit code 141, not an uncaught
// EPIPE with a stack; `kog -d @-` reads standard input with the bound of
// `-d @FILE` (100 MiB); `kog mcp` reads a response with a bound (an endless
// body answers with a cut result), counts `--max-chars` in characters without
// cutting one in half, removes secrets before it cuts, and shows no password of
// an auth server URL. Servers are the local auth server on 127.0.0.1 with
// routes mounted for each case; `kog mcp` is driven by the official MCP SDK's
// client over stdio.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  childEnv,
  cliCommand,
  CLIENT_SECRET,
  CLIENTS,
  isolatedXdg,
  kogCommand,
  record,
  reportCheck,
  tempDir,
  writeCredentials,
  writeEnvironments,
} from "../_helpers/mod.ts";
import { type CallResult, connectClient, spawnCommand } from "../_helpers/mcp_client.ts";
import { type StandIn, startStandIn } from "../_helpers/servers.ts";

const URL_PASSWORD = "pw-Mc7rT2-in-an-auth-server-url";
const EMOJI = "\u{1F600}";
/** Big enough that writing it to a closed pipe fails. */
const BIG = 4 * 1024 * 1024;

let server: LocalAuthServer;
let endless: StandIn;
let dir: { path: string; cleanup: () => Promise<void> };
let env: Record<string, string>;
/** How many requests reached the upload route. */
let uploads = 0;

before(async () => {
  const chunk = "endless ".repeat(8192);
  // A body that never ends (the local auth server buffers its routes' bodies, so a stand-in serves it).
  endless = await startStandIn((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    const more = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once("drain", more);
    };
    more();
  });
  server = await startAuthServer({
    clients: CLIENTS,
    routes: {
      "/v1/big": () => new Response("y".repeat(BIG), { headers: { "content-type": "text/plain" } }),
      "/v1/emoji": () =>
        new Response(EMOJI.repeat(3000), { headers: { "content-type": "text/plain" } }),
      // The client secret echoed across the --max-chars cut (1000 below).
      "/v1/echo-secret": () =>
        new Response("a".repeat(1000 - CLIENT_SECRET.length / 2) + CLIENT_SECRET + " rest", {
          headers: { "content-type": "text/plain" },
        }),
      "/v1/upload": () => {
        uploads++;
        return new Response("stored");
      },
    },
  });
  dir = await tempDir();
  const credentials = await writeCredentials(dir.path);
  const xdg = isolatedXdg(dir.path);
  await writeEnvironments(dir.path, {
    default_environment: "local",
    environments: {
      local: { host: "127.0.0.1", auth_server: server.url, credentials },
      other: {
        host: "localhost",
        auth_server: server.url.replace("://", `://user:${URL_PASSWORD}@`),
        credentials,
      },
    },
  });
  env = childEnv(kogCommand()[0], xdg);
});

after(async () => {
  await endless.close();
  await server.close();
  await dir.cleanup();
});

interface Outcome {
  code: number | null;
  stderr: string;
}

/**
 * Runs a command whose standard output is closed by the reader: at once
 * (`closeAfter: 0`), or after the first chunk arrives, as `head -c 10` does.
 */
function runWithClosedStdout(command: string[], closeAfterFirstChunk: boolean): Promise<Outcome> {
  const [cmd, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    if (closeAfterFirstChunk) child.stdout.once("data", () => child.stdout.destroy());
    else child.stdout.destroy();
    child.on("error", reject);
    child.on("close", (code) => {
      record(stderr);
      resolve({ code, stderr });
    });
    child.stdin.end();
  });
}

describe("a closed standard output", () => {
  it("ends kognic-auth silently with exit code 141", async () => {
    const outcome = await runWithClosedStdout([...cliCommand(), "--help"], false);
    assert.equal(outcome.code, 141, outcome.stderr);
    assert.equal(outcome.stderr, "");
  });

  it("ends `kog get ... | head -c 10` silently with exit code 141", async () => {
    const outcome = await runWithClosedStdout(
      [...kogCommand(), "get", `${server.url}/v1/big`, "--token-cache", "none"],
      true,
    );
    assert.equal(outcome.code, 141, outcome.stderr);
    assert.ok(!/EPIPE|\n\s+at /.test(outcome.stderr), outcome.stderr);
    assert.equal(outcome.stderr, "");
    reportCheck("a closed stdout ends kognic-auth and kog silently (exit 141)", 2);
  });
});

describe("kog -d @-", () => {
  it("refuses standard input over 100 MiB, reading it with that bound, and sends nothing", async () => {
    uploads = 0;
    const [cmd, ...args] = kogCommand();
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const child = spawn(cmd, [
        ...args,
        "post",
        `${server.url}/v1/upload`,
        "-d",
        "@-",
        "--token-cache",
        "none",
      ], { env, stdio: ["pipe", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.stdout.resume();
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr }));
      // 101 MiB, written as the child reads; it stops reading at its bound.
      child.stdin.on("error", () => {});
      const mib = new Uint8Array(1024 * 1024).fill(0x7b);
      let left = 101;
      const write = (): void => {
        while (left > 0) {
          left--;
          if (!child.stdin.write(mib)) return void child.stdin.once("drain", write);
        }
        child.stdin.end();
      };
      write();
    });
    record(outcome.stderr);
    assert.equal(outcome.code, 1, outcome.stderr);
    assert.match(outcome.stderr, /^Error: Standard input for -d @- is larger than 104857600 bytes/);
    assert.equal(outcome.stderr.trim().split("\n").length, 1);
    assert.equal(uploads, 0, "nothing was sent");
    reportCheck("kog -d @- refuses standard input over 100 MiB, read with that bound", 1);
  });
});

describe("kog mcp", () => {
  let client: Client;
  let stderr = (): string => "";

  before(async () => {
    const spawned = spawnCommand(
      StdioClientTransport,
      [...kogCommand(), "mcp", "--token-cache", "none", "--max-chars", "1000"],
      { env: isolatedXdg(dir.path) },
    );
    stderr = spawned.stderr;
    client = new Client({ name: "kog-mcp-bounds-test", version: "1.0.0" });
    await connectClient(client, spawned.transport);
  });

  after(async () => {
    await client.close();
    record(stderr());
    assert.ok(!stderr().includes(CLIENT_SECRET));
  });

  async function request(path: string, base = server.url): Promise<string> {
    const result = await client.callTool({
      name: "kognic_request",
      arguments: { method: "GET", url: `${base}${path}` },
    }) as CallResult;
    const text = result.content.map((part) => part.text).join("");
    record(text);
    return text;
  }

  it("answers an endless body with a cut result", async () => {
    const text = await request("/v1/endless", endless.url);
    assert.match(text, /^HTTP 200/);
    assert.match(text, /\[Cut: showing 1000 of at least \d+ characters;/);
    reportCheck("kog mcp answers an endless body with a cut result", 1);
    assert.ok(text.length < 2000, `${text.length} characters`);
  });

  it("counts --max-chars in characters and never cuts one in half", async () => {
    const text = await request("/v1/emoji");
    const body = text.slice(text.indexOf("\n\n") + 2, text.indexOf("\n\n[Cut"));
    assert.equal([...body].length, 1000);
    assert.equal(body, EMOJI.repeat(1000));
    assert.ok(
      !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text),
      "no lone surrogate",
    );
    // 3000 characters and the line end the text output adds.
    assert.match(text, /\[Cut: showing 1000 of 3001 characters; 2001 left out/);
  });

  it("removes a secret across the --max-chars cut before it cuts", async () => {
    const text = await request("/v1/echo-secret");
    for (const part of [CLIENT_SECRET, CLIENT_SECRET.slice(0, 8), CLIENT_SECRET.slice(-8)]) {
      assert.ok(!text.includes(part), `"${part}" shown`);
    }
    assert.match(text, /\[redacted\]/);
  });

  it("shows the environments' auth servers without a password", async () => {
    const result = await client.callTool({
      name: "kognic_environments",
      arguments: {},
    }) as CallResult;
    const text = result.content[0].text;
    record(text);
    const listed = JSON.parse(text);
    const other = listed.environments.find((e: { name: string }) => e.name === "other");
    assert.equal(other.auth_server, server.url);
    assert.ok(!text.includes(URL_PASSWORD));
  });
});

// `kognic-auth get-access-token` as MCP clients call it, as real subprocesses
// against local auth servers: --format (headers for Claude Code's
// headersHelper, header for curl), the environment chosen by --url or by
// CLAUDE_CODE_MCP_SERVER_URL, and --timeout bounding the whole command.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  credentialsJson,
  isolatedXdg,
  runCli,
  type RunResult,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

const OTHER_ID = "other-client";
const OTHER_SECRET = "0ther-Kp5vR1-never-print-me";
const SECRETS = [CLIENT_SECRET, OTHER_SECRET];

let server: LocalAuthServer;
let otherServer: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
let credentials: string;
let otherCredentials: string;
let xdg: Record<string, string>;
const issued = new Set<string>();
const stderrs: string[] = [];

before(async () => {
  server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
  otherServer = await startAuthServer({ clients: { [OTHER_ID]: OTHER_SECRET } });
  dir = await tempDir();
  credentials = await writeCredentials(dir.path);
  otherCredentials = await writeCredentials(
    dir.path,
    credentialsJson({ clientId: OTHER_ID, clientSecret: OTHER_SECRET }),
    "other.json",
  );
  xdg = isolatedXdg(dir.path);
  // The default environments file: "mcp" for mcp.example.test, "main" as the default.
  await mkdir(join(xdg.XDG_CONFIG_HOME, "kognic"), { recursive: true });
  await writeFile(
    join(xdg.XDG_CONFIG_HOME, "kognic", "environments.json"),
    JSON.stringify({
      default_environment: "main",
      environments: {
        main: { host: "app.example.test", auth_server: server.url, credentials },
        mcp: {
          host: "mcp.example.test",
          auth_server: otherServer.url,
          credentials: otherCredentials,
        },
      },
    }),
  );
});

after(async () => {
  await server.close();
  await otherServer.close();
  await dir.cleanup();
});

async function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  // -v goes before the command, where every version of the CLI takes it.
  const verbose = args.includes("-v") ? ["-v"] : [];
  const rest = args.filter((arg) => arg !== "-v");
  const result = await runCli([...verbose, "get-access-token", "--token-cache", "none", ...rest], {
    env: { ...xdg, ...env },
    killAfter: 60_000,
  });
  stderrs.push(result.stderr);
  return result;
}

/** The token of a successful run's `--format headers` output. */
function tokenOfHeaders(result: RunResult): string {
  assert.equal(result.code, 0, result.stderr);
  const headers = JSON.parse(result.stdout);
  assert.deepEqual(Object.keys(headers), ["Authorization"]);
  const token = headers.Authorization.replace(/^Bearer /, "");
  issued.add(token);
  return token;
}

describe("get-access-token --format", () => {
  it("headers prints one JSON object with the Authorization header and nothing else", async () => {
    const result = await run([
      "--server",
      server.url,
      "--credentials",
      credentials,
      "--format",
      "headers",
    ]);
    assert.match(result.stdout, /^\{"Authorization":"Bearer [\x21-\x7e]+"\}\n$/);
    const token = tokenOfHeaders(result);
    const api = await fetch(server.apiUrl, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(api.status, 200);
    await api.body?.cancel();
  });

  it("header prints the line curl -H @- reads", async () => {
    const result = await run([
      "--server",
      server.url,
      "--credentials",
      credentials,
      "--format",
      "header",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Authorization: Bearer [\x21-\x7e]+\n$/);
    issued.add(result.stdout.slice("Authorization: Bearer ".length).trim());
  });

  it("json is what --json prints, and token the bare token", async () => {
    const json = await run([
      "--server",
      server.url,
      "--credentials",
      credentials,
      "--format",
      "json",
    ]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(parsed), ["access_token", "token_type", "expires_at"]);
    issued.add(parsed.access_token);
    const bare = await run([
      "--server",
      server.url,
      "--credentials",
      credentials,
      "--format",
      "token",
    ]);
    assert.match(bare.stdout, /^[\x21-\x7e]+\n$/);
    issued.add(bare.stdout.trim());
  });

  it("refuses an unknown format and --json with another format as usage errors", async () => {
    const unknown = await run(["--credentials", credentials, "--format", "yaml"]);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /--format must be one of token, json, headers, header, not "yaml"/,
    );
    const both = await run(["--credentials", credentials, "--json", "--format", "headers"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--json and --format headers cannot be combined/);
    assert.equal(unknown.stdout + both.stdout, "");
  });

  it("leaves stdout empty and exits 1 when the token request is refused", async () => {
    server.failTokenRequests({ status: 401 });
    const result = await run([
      "--server",
      server.url,
      "--credentials",
      credentials,
      "--format",
      "headers",
    ]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^Error: Token request to .* failed with HTTP 401/);
  });
});

describe("get-access-token picks the environment from a URL", () => {
  it("--url takes the environment whose host matches, its server and credentials", async () => {
    const before = otherServer.counts.tokensIssued;
    const result = await run([
      "--url",
      "https://mcp.example.test/mcp",
      "--format",
      "headers",
      "-v",
    ]);
    tokenOfHeaders(result);
    assert.equal(otherServer.counts.tokensIssued, before + 1);
    assert.match(result.stderr, /environment: mcp .*chosen by the host of --url/);
  });

  it("prints no token for a host no environment names: stdout empty, exit 1, and how to allow it", async () => {
    const before = server.counts.tokensIssued + otherServer.counts.tokensIssued;
    for (
      const [args, env] of [
        [["--url", "https://elsewhere.test/mcp"], {}],
        [[], { CLAUDE_CODE_MCP_SERVER_URL: "https://elsewhere.test/mcp" }],
      ] as [string[], Record<string, string>][]
    ) {
      const result = await run([...args, "--format", "headers", "-v"], env);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /environment: main .*chosen by default_environment/);
      assert.match(
        result.stderr,
        /Error: No token for (--url|CLAUDE_CODE_MCP_SERVER_URL) \(https:\/\/elsewhere\.test\): the token of environment main goes only to .*add an environment whose "host" is "elsewhere\.test" to environments\.json, or pass --allow-origin https:\/\/elsewhere\.test/,
      );
    }
    assert.equal(server.counts.tokensIssued + otherServer.counts.tokensIssued, before);
    // Allowed explicitly, the origin gets the default environment's token.
    const allowed = await run([
      "--url",
      "https://elsewhere.test/mcp",
      "--allow-origin",
      "https://elsewhere.test",
      "--format",
      "headers",
    ]);
    tokenOfHeaders(allowed);
    assert.equal(server.counts.tokensIssued + otherServer.counts.tokensIssued, before + 1);
  });

  it("prints no token for plain http to a host that is not loopback, even an environment's", async () => {
    const before = otherServer.counts.tokensIssued;
    const result = await run(["--url", "http://mcp.example.test/mcp", "--format", "headers"]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /plain http carries a token only to a loopback address; use https/);
    assert.equal(otherServer.counts.tokensIssued, before);
  });

  it("CLAUDE_CODE_MCP_SERVER_URL is used as --url when neither --env nor --url is given", async () => {
    const before = otherServer.counts.tokensIssued;
    const result = await run(["--format", "headers", "-v"], {
      CLAUDE_CODE_MCP_SERVER_URL: "https://api.mcp.example.test/v1/mcp",
    });
    tokenOfHeaders(result);
    assert.equal(otherServer.counts.tokensIssued, before + 1);
    assert.match(
      result.stderr,
      /environment: mcp .*chosen by the host of CLAUDE_CODE_MCP_SERVER_URL \(the longest matching suffix\)/,
    );
  });

  it("--env wins over --url and over CLAUDE_CODE_MCP_SERVER_URL, whose origin must still get its token", async () => {
    const before = server.counts.tokensIssued;
    const allow = ["--allow-origin", "https://mcp.example.test"];
    const result = await run([
      "--env",
      "main",
      "--url",
      "https://mcp.example.test/",
      ...allow,
      "--format",
      "headers",
    ], {
      CLAUDE_CODE_MCP_SERVER_URL: "https://mcp.example.test/",
    });
    tokenOfHeaders(result);
    const alone = await run(["--env", "main", ...allow, "--format", "headers"], {
      CLAUDE_CODE_MCP_SERVER_URL: "https://mcp.example.test/",
    });
    tokenOfHeaders(alone);
    assert.equal(server.counts.tokensIssued, before + 2);
    // Without --allow-origin, environment main does not send its token to mcp.example.test.
    const refused = await run(["--env", "main", "--format", "headers"], {
      CLAUDE_CODE_MCP_SERVER_URL: "https://mcp.example.test/",
    });
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.equal(server.counts.tokensIssued, before + 2);
  });

  it("names the variable when CLAUDE_CODE_MCP_SERVER_URL is not a URL", async () => {
    const result = await run(["--format", "headers"], { CLAUDE_CODE_MCP_SERVER_URL: "not a url" });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /CLAUDE_CODE_MCP_SERVER_URL is not a valid absolute URL: "not a url"/,
    );
  });
});

describe("get-access-token --timeout", () => {
  it("gives up on a hanging auth server within the timeout, saying how long, how many attempts and why", async () => {
    await using hanging = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
    hanging.failTokenRequests({ delay: 60_000, times: 20 });
    const result = await run([
      "--server",
      hanging.url,
      "--credentials",
      credentials,
      "--format",
      "headers",
      "--timeout",
      "1.5",
    ]);
    assert.equal(result.code, 1);
    assert.equal(result.killed, undefined);
    assert.equal(result.stdout, "");
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0],
      /^Error: Token request to ".*" gave up after \d+\.\d s \(total timeout 1500 ms\) and 1 attempt; the last timed out after \d+ ms$/,
    );
    assert.equal(hanging.counts.tokenRequests, 1);
  });

  it("counts every attempt when the server keeps failing until the timeout", async () => {
    await using failing = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
    failing.failTokenRequests({ status: 503, delay: 600, times: 50 });
    const result = await run([
      "--server",
      failing.url,
      "--credentials",
      credentials,
      "--timeout",
      "2",
    ]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    const match = /and (\d+) attempts?; the last (failed with HTTP 503|timed out after)/.exec(
      result.stderr,
    );
    assert.ok(match, result.stderr);
    // Every attempt the server saw is counted; the last one may have been cut
    // off by the budget before it reached the server. On a loaded machine only
    // one attempt may fit in the 2 s ("1 attempt").
    const attempts = Number(match[1]);
    assert.ok(attempts >= 1, result.stderr);
    assert.ok(
      attempts === failing.counts.tokenRequests || attempts === failing.counts.tokenRequests + 1,
      `${attempts} attempts in the message, ${failing.counts.tokenRequests} seen by the server`,
    );
  });

  it("refuses a timeout that is not a positive number of seconds", async () => {
    for (const bad of ["0", "-1", "soon", "7200"]) {
      const result = await run(["--credentials", credentials, `--timeout=${bad}`]);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /--timeout must be a number of seconds above 0 and at most 3600/);
    }
  });
});

describe("secret hygiene", () => {
  it("no output of these subprocesses contained a client secret, and stderr no token", () => {
    assert.ok(assertNoSecretSeen(SECRETS) > 10, "the tests recorded their output");
    assert.ok(issued.size >= 5);
    for (const stderr of stderrs) {
      for (const token of issued) assert.ok(!stderr.includes(token), "a token reached stderr");
    }
  });
});

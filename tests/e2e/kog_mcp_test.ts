// `kog mcp` end to end: the MCP SDK's client spawns `kog mcp` as a
// subprocess over stdio, against the local auth server and its sample API,
// with an environments file whose environment is the server's host. Every
// message the client receives is scanned for the token and the secret.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type KogHome, type SampleApiServer, startKogHome } from "../_helpers/sample_api.ts";
import { type CallResult, connectClient, spawnCommand } from "../_helpers/mcp_client.ts";
import { CLIENT_SECRET, isolatedXdg, kogCommand, record } from "../_helpers/mod.ts";

let home: KogHome;
let server: SampleApiServer;
let dir: string;
const received: string[] = [];
const stderrs: string[] = [];

before(async () => {
  home = await startKogHome({ scopes: ["read"] });
  ({ server, dir } = home);
});

after(() => home.close());

interface Tool {
  name: string;
  description?: string;
  inputSchema: { properties?: Record<string, unknown>; required?: string[] };
}

/** A connected client of `kog mcp ARGS`, every message it receives recorded. */
async function connect(args: string[] = []): Promise<{ client: Client; close(): Promise<void> }> {
  // No --allow-write: with no token cache `kog mcp` needs none.
  const kog = kogCommand(["--allow-net=127.0.0.1", "--allow-env", "--allow-read"]);
  const spawned = spawnCommand(
    StdioClientTransport,
    [...kog, "mcp", "--token-cache", "none", ...args],
    { env: isolatedXdg(dir), received },
  );
  const client = new Client({ name: "kog-mcp-test", version: "1.0.0" });
  await connectClient(client, spawned.transport);
  return {
    client,
    close: async () => {
      await client.close();
      stderrs.push(spawned.stderr());
      record(spawned.stderr());
    },
  };
}

/** Runs `fn` with a connected client of `kog mcp ARGS`, then closes it. */
async function withKogMcp(args: string[], fn: (client: Client) => Promise<void>): Promise<void> {
  const mcp = await connect(args);
  try {
    await fn(mcp.client);
  } finally {
    await mcp.close();
  }
}

async function call(client: Client, args: Record<string, unknown>): Promise<CallResult> {
  return await client.callTool({ name: "kognic_request", arguments: args }) as CallResult;
}

describe("kog mcp", () => {
  it("lists its two tools with their schemas, and names itself", async () => {
    await withKogMcp([], async (client) => {
      const { tools } = await client.listTools() as { tools: Tool[] };
      assert.deepEqual(tools.map((tool) => tool.name), ["kognic_request", "kognic_environments"]);
      const request = tools[0];
      assert.deepEqual(request.inputSchema.required, ["method", "url"]);
      assert.deepEqual(
        Object.keys(request.inputSchema.properties ?? {}),
        ["method", "url", "body", "headers", "format"],
      );
      assert.match(request.description ?? "", /--allow-write/);
      assert.equal(client.getServerVersion()?.name, "kog");
    });
  });

  it("answers a GET in each format", async () => {
    const url = `${server.apiBaseUrl}/items`;
    await withKogMcp([], async (client) => {
      const json = await call(client, { method: "GET", url });
      assert.notEqual(json.isError, true, json.content[0].text);
      assert.match(json.content[0].text, /^HTTP 200 OK\nContent-Type: application\/json/);
      assert.match(json.content[0].text, /"name": "alpha"/);
      const expected: Record<string, RegExp> = {
        jsonl: /^\{"id":1,"name":"alpha"/m,
        csv: /^id,name,tags/m,
        tsv: /^id\tname\ttags/m,
        table: /^\| id +\| name +\|/m,
      };
      for (const [format, pattern] of Object.entries(expected)) {
        const result = await call(client, { method: "get", url, format });
        assert.notEqual(result.isError, true, result.content[0].text);
        assert.match(result.content[0].text, pattern, format);
      }
    });
  });

  it("refuses a POST without --allow-write and sends nothing", async () => {
    await withKogMcp([], async (client) => {
      const before = server.counts.apiRequests;
      const result = await call(client, {
        method: "POST",
        url: server.apiUrl,
        body: { name: "x" },
      });
      assert.equal(result.isError, true);
      assert.match(result.content[0].text, /POST refused: .*read-only.*--allow-write/);
      assert.equal(server.counts.apiRequests, before, "the server saw no request");
    });
  });

  it("sends a POST with its body when started with --allow-write", async () => {
    await withKogMcp(["--allow-write"], async (client) => {
      const result = await call(client, {
        method: "POST",
        url: `${server.apiUrl}/things`,
        body: { name: "posted", n: 2 },
      });
      assert.notEqual(result.isError, true, result.content[0].text);
      const echoed = JSON.parse(result.content[0].text.split("\n\n").slice(1).join("\n\n"));
      assert.equal(echoed.method, "POST");
      assert.deepEqual(JSON.parse(echoed.body), { name: "posted", n: 2 });
      assert.equal(echoed.headers["content-type"], "application/json");
      assert.match(echoed.headers["user-agent"], /kog\//);
    });
  });

  it("refuses a host outside the environments, and allows one named with --allow-host", async () => {
    await withKogMcp([], async (client) => {
      const before = server.counts.apiRequests;
      const port = new URL(server.url).port;
      const result = await call(client, {
        method: "GET",
        url: `http://localhost:${port}/v1/echo`,
      });
      assert.equal(result.isError, true);
      assert.match(
        result.content[0].text,
        /^http:\/\/localhost:\d+ is not reachable from here: localhost is not a reachable host; only https \(http to a loopback address\) to 127\.0\.0\.1 .*Nothing was sent\./,
      );
      assert.equal(server.counts.apiRequests, before);
    });
  });

  it("answers a 404 as a tool error with the server's message", async () => {
    await withKogMcp([], async (client) => {
      const result = await call(client, { method: "GET", url: `${server.apiBaseUrl}/nothing` });
      assert.equal(result.isError, true);
      assert.match(result.content[0].text, /404/);
      assert.match(result.content[0].text, /No sample API route at \/v1\/api\/nothing/);
    });
  });

  it("cuts a large result with a note of how much was left out", async () => {
    await withKogMcp(["--max-chars", "120"], async (client) => {
      const result = await call(client, { method: "GET", url: `${server.apiBaseUrl}/items` });
      assert.notEqual(result.isError, true);
      const match = /\[Cut: showing 120 of (\d+) characters; (\d+) left out/.exec(
        result.content[0].text,
      );
      assert.ok(match, result.content[0].text);
      assert.equal(Number(match[1]) - 120, Number(match[2]));
    });
  });

  it("adds the server's deprecation notice to the result, and escapes control characters", async () => {
    await withKogMcp([], async (client) => {
      const sunset = encodeURIComponent("Wed, 01 Jan 2031 00:00:00 GMT");
      const result = await call(client, {
        method: "GET",
        url: `${server.apiBaseUrl}/sunset?sunset=${sunset}`,
      });
      assert.notEqual(result.isError, true, result.content[0].text);
      assert.match(result.content[0].text, /\n\nDeprecation warning: .*2031/);
      const escape = await call(client, {
        method: "GET",
        url: `${server.apiBaseUrl}/status/400?format=text&message=${
          encodeURIComponent("bad\u001b[31mred")
        }`,
      });
      assert.equal(escape.isError, true);
      assert.ok(!escape.content[0].text.includes("\u001b"), "a raw escape character was passed on");
      assert.match(escape.content[0].text, /bad\\x1b\[31mred/);
    });
  });

  it("lists the environments without secrets or paths", async () => {
    await withKogMcp([], async (client) => {
      const result = await client.callTool({
        name: "kognic_environments",
        arguments: {},
      }) as CallResult;
      const listed = JSON.parse(result.content[0].text);
      assert.deepEqual(listed.environments, [{
        name: "local",
        host: "127.0.0.1",
        auth_server: server.url,
        scopes: ["read"],
        credentials: "file",
      }]);
      assert.equal(listed.default, "local");
      assert.equal(listed.read_only, true);
      assert.ok(!result.content[0].text.includes(dir), "no path is shown");
    });
  });
});

describe("secret hygiene", () => {
  it("no message the client received, and no stderr, held the secret or the token", () => {
    assert.ok(received.length >= 10, `${received.length} messages`);
    const tokens = server.tokenRequests.length;
    assert.ok(tokens >= 1);
    for (const text of [...received, ...stderrs]) {
      assert.ok(!text.includes(CLIENT_SECRET), "the secret appeared");
      assert.ok(!/eyJ[\w-]+\.[\w-]+\.[\w-]+/.test(text), "a token appeared");
    }
  });
});

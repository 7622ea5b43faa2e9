// `kognic-auth mcp-proxy` end to end with real components: the MCP SDK's
// client spawns the proxy as a subprocess over stdio, and the proxy talks to
// the SDK's MCP server on Streamable HTTP, which accepts only tokens the local
// auth server issued (401 otherwise).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { LocalAuthServer } from "../../testing.ts";
import { startMcpServer, type TestMcpServer } from "../_helpers/mcp_server.ts";
import {
  assertNoSecretSeen,
  cliCommand,
  CLIENT_SECRET,
  isolatedXdg,
  record,
  runCli,
  writeEnvironments,
} from "../_helpers/mod.ts";
import {
  connectClient,
  proxyArgs,
  type ProxyHome,
  spawnCommand,
  startProxyHome,
} from "../_helpers/mcp_client.ts";

let home: ProxyHome;
let auth: LocalAuthServer;
let dir: string;
let credentials: string;
let mcp: TestMcpServer;
const stderrs: string[] = [];
const received: string[] = [];

before(async () => {
  home = await startProxyHome();
  ({ auth, dir, credentials } = home);
  mcp = await startMcpServer(auth);
});

after(async () => {
  await mcp.close();
  await home.close();
});

/** A connected SDK client whose server is `kognic-auth mcp-proxy`, and its stderr. */
async function connect(
  extraArgs: string[] = [],
  config: { args?: string[]; env?: Record<string, string>; command?: string[] } = {},
): Promise<{ client: Client; stderr: () => string; close: () => Promise<void> }> {
  const spawned = spawnCommand(
    StdioClientTransport,
    [
      ...(config.command ?? cliCommand()),
      ...(config.args ?? ["-v", ...proxyArgs(mcp.url, auth.url, credentials)]),
      ...extraArgs,
    ],
    { env: { ...isolatedXdg(dir), ...config.env } },
  );
  const stderr = spawned.stderr;
  const client = new Client({ name: "kognic-proxy-test", version: "1.0.0" });
  client.setNotificationHandler(
    LoggingMessageNotificationSchema,
    (notification: { params: { data: unknown } }) => {
      received.push(JSON.stringify(notification));
      logs.push(String(notification.params.data));
    },
  );
  const streams = mcp.eventStreams;
  await connectClient(client, spawned.transport);
  // The proxy opens the server's event stream after initialization; waiting for
  // it keeps that GET from racing a test's later requests.
  for (let waited = 0; mcp.eventStreams === streams && waited < 60_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(mcp.eventStreams > streams, "the proxy opened the event stream");
  return {
    client,
    stderr,
    close: async () => {
      await client.close();
      stderrs.push(stderr());
      record(stderr());
    },
  };
}

const logs: string[] = [];

async function echo(client: Client, text: string): Promise<string> {
  const result = await client.callTool({ name: "echo", arguments: { text } });
  received.push(JSON.stringify(result));
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return (result.content as { text: string }[])[0].text;
}

describe("the MCP server of these tests", () => {
  it("answers 401 to a request without a valid token", async () => {
    const before = mcp.unauthorized;
    for (const authorization of [undefined, "Bearer not-a-token"]) {
      const response = await fetch(mcp.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      await response.body?.cancel();
      assert.equal(response.status, 401);
    }
    assert.equal(mcp.unauthorized, before + 2);
  });

  it("accepts a token it accepted before for a while after its expiry, counted apart", async () => {
    auth.tokenLifetime = 1;
    const token = auth.issueToken();
    auth.tokenLifetime = 3600;
    const ping = async (): Promise<number> => {
      const response = await fetch(mcp.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "late", version: "1" },
          },
        }),
      });
      await response.body?.cancel();
      return response.status;
    };
    const refused = mcp.unauthorized;
    const late = mcp.lateTokens;
    assert.equal(await ping(), 200);
    // Until the auth server itself calls the token expired; the deadline is only a bound.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const echo = await fetch(auth.apiUrl, { headers: { authorization: `Bearer ${token}` } });
      await echo.body?.cancel();
      if (echo.status === 401) break;
      assert.ok(Date.now() < deadline, "the token did not expire");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(await ping(), 200);
    assert.equal(mcp.lateTokens, late + 1);
    assert.equal(mcp.unauthorized, refused);
  });
});

describe("kognic-auth mcp-proxy", () => {
  it("lists and calls the server's tools, with its notifications and its session", async () => {
    const sessionsBefore = mcp.sessions.length;
    const proxy = await connect();
    try {
      const { tools } = await proxy.client.listTools();
      received.push(JSON.stringify(tools));
      assert.deepEqual(tools.map((tool: { name: string }) => tool.name), ["echo", "add", "whoami"]);
      assert.equal(await echo(proxy.client, "hello through the proxy"), "hello through the proxy");
      const sum = await proxy.client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
      assert.equal((sum.content as { text: string }[])[0].text, "42");
      assert.ok(logs.includes("echoing 23 characters"), "the server's notification arrived");
      assert.equal(mcp.sessions.length, sessionsBefore + 1, "one MCP session for all the calls");
      assert.equal(proxy.client.getServerVersion()?.name, "kognic-test-mcp");
    } finally {
      await proxy.close();
    }
  });

  it("makes one token request for a session with 20 concurrent calls", async () => {
    const before = auth.counts.tokensIssued;
    const proxy = await connect();
    try {
      const texts = Array.from({ length: 20 }, (_, i) => `call ${i}`);
      const answers = await Promise.all(texts.map((text) => echo(proxy.client, text)));
      assert.deepEqual(answers, texts);
      await proxy.client.listTools();
    } finally {
      await proxy.close();
    }
    assert.equal(auth.counts.tokensIssued, before + 1);
  });

  it("renews a token the server revoked mid-session, and the next call succeeds", async () => {
    const proxy = await connect();
    try {
      assert.equal(await echo(proxy.client, "before"), "before");
      const issued = auth.counts.tokensIssued;
      const refused = mcp.unauthorized;
      auth.revokeAccessTokens();
      assert.equal(await echo(proxy.client, "after"), "after");
      assert.equal(auth.counts.tokensIssued, issued + 1, "one new token");
      // The call's POST, and the event stream's GET if it (re)opened meanwhile.
      assert.ok(mcp.unauthorized > refused, "the revoked token was refused");
    } finally {
      await proxy.close();
    }
  });

  it("keeps a session going with 2-second tokens, through three token renewals", async () => {
    auth.tokenLifetime = 2;
    const before = auth.counts.tokensIssued;
    const proxy = await connect();
    try {
      // Calls go on until the token has been renewed as it expired, however
      // slow the machine; the deadline is only a bound.
      const deadline = Date.now() + 120_000;
      let calls = 0;
      while (auth.counts.tokensIssued - before < 3) {
        assert.ok(Date.now() < deadline, "the token was not renewed three times within 120 s");
        assert.equal(await echo(proxy.client, `call ${calls}`), `call ${calls}`);
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // And the session still works after the last renewal.
      assert.equal(await echo(proxy.client, "after"), "after");
    } finally {
      auth.tokenLifetime = 3600;
      await proxy.close();
    }
  });

  it("sends the -H headers, answers a call it cannot forward with a JSON-RPC error, and goes on", async () => {
    const proxy = await connect(["-H", "X-Team: perception"]);
    try {
      const sent = mcp.teamHeaders.length;
      assert.equal(await echo(proxy.client, "ok"), "ok");
      assert.ok(mcp.teamHeaders.length > sent, "the header arrived");
      assert.ok(mcp.teamHeaders.every((value) => value === "perception"));
      // The token is revoked and its renewal refused: the call cannot be forwarded.
      auth.revokeAccessTokens();
      auth.failTokenRequests({ status: 400 });
      const error = await proxy.client.callTool({ name: "echo", arguments: { text: "x" } }).then(
        () => undefined,
        (error: Error) => error,
      );
      assert.ok(error, "the call failed");
      record(error.message);
      assert.match(
        error.message,
        /could not forward tools\/call to http:\/\/127\.0\.0\.1:\d+\/mcp: Token request to .* failed with HTTP 400/,
      );
      // The session goes on once a token can be had again.
      assert.equal(await echo(proxy.client, "again"), "again");
    } finally {
      await proxy.close();
    }
  });

  it("runs as the stdio configurations of docs/mcp.md give it: the URL, the environment by its host", async () => {
    // The environments file at its default place names the MCP server's host.
    const environments = await writeEnvironments(dir, {
      environments: { local: { host: "127.0.0.1", auth_server: auth.url } },
    });
    try {
      // The environment's host is 127.0.0.1 without a port, and the MCP server has one of its own.
      const allow = ["--allow-origin", new URL(mcp.url).origin];
      // With V8's memory flags as the configurations give them: NODE_OPTIONS for the npm bin,
      // `--v8-flags` before the script on Deno.
      const cli = cliCommand();
      const command = cli[1] === "run"
        ? [
          cli[0],
          "run",
          "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=50",
          ...cli.slice(2),
        ]
        : cli;
      for (
        const args of [
          ["mcp-proxy", mcp.url, ...allow],
          ["mcp-proxy", mcp.url, "--env", "local", ...allow],
        ]
      ) {
        const before = auth.counts.tokensIssued;
        const proxy = await connect([], {
          args,
          command,
          env: { KOGNIC_CREDENTIALS: credentials, NODE_OPTIONS: "--max-semi-space-size=1" },
        });
        try {
          assert.equal(await echo(proxy.client, args.join(" ")), args.join(" "));
        } finally {
          await proxy.close();
        }
        assert.ok(auth.counts.tokensIssued <= before + 1, "at most one token (or the cached one)");
      }
    } finally {
      await rm(dirname(environments), { recursive: true, force: true });
    }
  });

  it("refuses a missing URL and a malformed -H as usage errors", async () => {
    const missing = await runCli(["mcp-proxy", "--credentials", credentials]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /mcp-proxy needs the MCP server's URL/);
    const header = await runCli(["mcp-proxy", mcp.url, "-H", "no colon here"]);
    assert.equal(header.code, 2);
    assert.match(header.stderr, /-H needs "Name: value"/);
    stderrs.push(missing.stderr, header.stderr);
  });

  it("exits 1 before serving when the credentials are refused, stdout empty", async () => {
    auth.failTokenRequests({ status: 401 });
    const result = await runCli(
      proxyArgs(mcp.url, auth.url, credentials),
      { env: isolatedXdg(dir), killAfter: 60_000 },
    );
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /Token request to .* failed with HTTP 401/);
    stderrs.push(result.stderr);
  });
});

describe("secret hygiene", () => {
  it("no token and no secret appeared in the proxy's stderr or in any message the client received", () => {
    assert.ok(mcp.tokensSeen.size >= 5, "tokens were used");
    assert.ok(stderrs.length >= 5 && received.length > 20);
    for (const text of [...stderrs, ...received]) {
      assert.ok(!text.includes(CLIENT_SECRET), "the secret appeared");
      for (const token of mcp.tokensSeen) assert.ok(!text.includes(token), "a token appeared");
    }
    assert.ok(assertNoSecretSeen() > 5);
  });
});

// `kognic-auth mcp-proxy` across the MCP protocol eras, end to end with real
// components: an MCP client of either era (SDK v1 for 2025-11-25, SDK v2 in
// `auto` mode for 2026-07-28) spawns the proxy over stdio, and the proxy talks
// to a server of either era (SDK v1's stateful Streamable HTTP server, or SDK
// v2's handler limited to 2026-07-28). Both servers accept only tokens the
// local auth server issued, checked on every request. Tokens live 4 s, and
// each run goes on until they were renewed; every message the client receives
// is scanned for every token the servers saw.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { TokenCheckedServer } from "../_helpers/mcp_server.ts";
import type { CallResult } from "../_helpers/mcp_client.ts";
import { connectProxy, type ProxyClient, useProxyEras } from "../_helpers/mcp_eras.ts";
import { CLIENT_SECRET } from "../_helpers/mod.ts";

const eras = useProxyEras();

type LoggingClient = ProxyClient & { logs: string[] };

/** A client of the proxy to the MCP server at `url`, with the log notifications it received. */
async function connect(era: "old" | "new", url: string): Promise<LoggingClient> {
  const logs: string[] = [];
  const log = (notification: { params: { data: unknown } }) =>
    void logs.push(String(notification.params.data));
  const proxy = await connectProxy(eras.home, era, url, {
    old: (client) => client.setNotificationHandler(LoggingMessageNotificationSchema, log),
    new: (client) => client.setNotificationHandler("notifications/message", log),
  });
  return { ...proxy, logs };
}

function text(result: CallResult): string {
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return result.content[0].text;
}

/** How many sequential tool calls the last {@linkcode exercise} made (each one request to the server). */
let toolCalls = 0;

/**
 * The checks every era pair passes: the tools, a server echoing the token,
 * calls on 4-second tokens (sequential and 10 at a time) until the proxy has
 * sent three new tokens, with no failed call and no request refused, and no
 * token in anything the client received.
 */
async function exercise(
  era: "old" | "new",
  server: TokenCheckedServer,
): Promise<LoggingClient> {
  // Short enough to be renewed several times in the run. A token sent with
  // time left that expires on its way (a loaded machine) is still accepted
  // by the test servers, which count it apart.
  eras.auth.tokenLifetime = 4;
  const issued = eras.auth.counts.tokensIssued;
  const refused = server.unauthorized;
  const seen = server.tokensSeen.size;
  const proxy = await connect(era, server.url);
  try {
    assert.deepEqual((await proxy.toolNames()).sort(), ["add", "echo", "whoami"]);
    assert.equal(text(await proxy.call("whoami", {})), "your token is [token]");
    assert.equal(text(await proxy.call("echo", { text: "hello" })), "hello");
    // Calls go on until the server was sent three new tokens (the proxy
    // renewed them as they expired), however slow the machine; the deadline
    // is only a bound.
    const deadline = Date.now() + 180_000;
    let calls = 0;
    while (calls < 10 || server.tokensSeen.size - seen < 3) {
      assert.ok(Date.now() < deadline, "the token was not renewed twice within 180 s");
      assert.equal(text(await proxy.call("add", { a: calls, b: 1 })), String(calls + 1));
      calls++;
      if (calls % 10 === 0) {
        const texts = Array.from({ length: 10 }, (_, i) => `call ${calls}.${i}`);
        const answers = await Promise.all(
          texts.map(async (t) => text(await proxy.call("echo", { text: t }))),
        );
        assert.deepEqual(answers, texts);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    toolCalls = calls;
    assert.equal(text(await proxy.call("whoami", {})), "your token is [token]");
  } finally {
    eras.auth.tokenLifetime = 3600;
    await proxy.close();
  }
  assert.ok(eras.auth.counts.tokensIssued - issued >= 3, "the token was renewed as it expired");
  assert.ok(server.tokensSeen.size - seen >= 3, "the server was sent the renewed tokens");
  // Every request carried a token the auth server issued and that had time
  // left when sent: none was refused, and no call failed above.
  assert.equal(server.unauthorized, refused, "every request carried a valid token");
  assert.ok(proxy.received.length > 20, `${proxy.received.length} messages received`);
  for (const message of [...proxy.received, proxy.stderr()]) {
    assert.ok(!message.includes(CLIENT_SECRET), "the secret reached the client");
    for (const token of server.tokensSeen) {
      assert.ok(!message.includes(token), "a token reached the client");
    }
  }
  return proxy;
}

describe("kognic-auth mcp-proxy across the MCP eras", () => {
  it("bridges an old-era (2025-11-25) client to a server that accepts only 2026-07-28", async () => {
    const modern = eras.newServer.modernRequests;
    const proxy = await exercise("old", eras.newServer);
    assert.equal(proxy.era, "legacy");
    assert.ok(
      eras.newServer.modernRequests - modern >= toolCalls,
      "the server was spoken to in its era",
    );
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /bridging MCP 2025 \(initialize\) on stdio and MCP 2026-07-28/);
  });

  it("forwards a new-era client's messages as they are to a new-era server", async () => {
    const modern = eras.newServer.modernRequests;
    const proxy = await exercise("new", eras.newServer);
    assert.equal(proxy.era, "modern");
    assert.ok(eras.newServer.modernRequests - modern >= toolCalls);
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /forwarding MCP messages as they are \(MCP 2026-07-28\)/);
  });

  it("bridges a new-era client to an old-era (2025-11-25) server", async () => {
    const sessions = eras.oldServer.sessions.length;
    const proxy = await exercise("new", eras.oldServer);
    assert.equal(proxy.era, "modern", "the client speaks its own era");
    // The client's `server/discover` probe runs on a second copy of the proxy, which needs the
    // server's capabilities for its answer: one 2025 session each.
    const opened = eras.oldServer.sessions.length - sessions;
    assert.ok(opened >= 1 && opened <= 2, `${opened} 2025 sessions upstream`);
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /bridging MCP 2026-07-28 on stdio and MCP 2025 \(initialize\)/);
  });

  it("forwards an old-era client's messages as they are to an old-era server", async () => {
    const proxy = await exercise("old", eras.oldServer);
    assert.equal(proxy.era, "legacy");
    assert.match(proxy.stderr(), /forwarding MCP messages as they are \(MCP 2025 \(initialize\)\)/);
  });
});

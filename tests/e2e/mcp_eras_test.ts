// `kognic-auth mcp-proxy` across the MCP protocol eras, end to end with real
// components: an MCP client of either era (SDK v1 for 2025-11-25, SDK v2 in
// `auto` mode for 2026-07-28) spawns the proxy over stdio, and the proxy talks
// to a server of either era (SDK v1's stateful Streamable HTTP server, or SDK
// v2's handler limited to 2026-07-28). Both servers accept only tokens the
// local auth server issued, checked on every request. Tokens live 4 s, and
// each run goes on until they were renewed; every message the client receives
// is scanned for every token the servers saw.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import type { LocalAuthServer } from "../../testing.ts";
import {
  startMcpServer,
  type TestMcpServer,
  type TokenCheckedServer,
} from "../_helpers/mcp_server.ts";
import { startMcpServerV2, type TestMcpServerV2 } from "../_helpers/mcp_server_v2.ts";
import {
  type CallResult,
  connectClient,
  proxyArgs,
  type ProxyHome,
  spawnCommand,
  startProxyHome,
  type ToolClient,
  toolClient,
} from "../_helpers/mcp_client.ts";
import { cliCommand, CLIENT_SECRET, isolatedXdg, record } from "../_helpers/mod.ts";

let home: ProxyHome;
let auth: LocalAuthServer;
let dir: string;
let credentials: string;
let oldServer: TestMcpServer;
let newServer: TestMcpServerV2;

before(async () => {
  home = await startProxyHome();
  ({ auth, dir, credentials } = home);
  oldServer = await startMcpServer(auth);
  newServer = await startMcpServerV2(auth, { legacy: "reject" });
});

after(async () => {
  await newServer.close();
  await oldServer.close();
  await home.close();
});

/** A client of the proxy, whichever SDK it is. */
interface ProxyClient extends ToolClient {
  /** The era the client ended up speaking: "modern" or "legacy". */
  era: string;
  /** Every message the client received, serialized. */
  received: string[];
  /** The log notifications the client received. */
  logs: string[];
  stderr(): string;
  close(): Promise<void>;
}

/**
 * A client of the proxy to the MCP server at `url`: SDK v1's (`old`, 2025-11-25 only) or SDK
 * v2's in `auto` mode (`new`, 2026-07-28 where the other side can).
 */
async function connect(era: "old" | "new", url: string): Promise<ProxyClient> {
  const command = [...cliCommand(), "-v", ...proxyArgs(url, auth.url, credentials)];
  const env = isolatedXdg(dir);
  const logs: string[] = [];
  const log = (notification: { params: { data: unknown } }) =>
    void logs.push(String(notification.params.data));
  let spawned;
  let client;
  if (era === "old") {
    spawned = spawnCommand(StdioV1, command, { env });
    client = new ClientV1({ name: "old-era-client", version: "1.0.0" });
    client.setNotificationHandler(LoggingMessageNotificationSchema, log);
    await connectClient(client, spawned.transport);
  } else {
    spawned = spawnCommand(StdioV2, command, { env });
    client = new ClientV2(
      { name: "new-era-client", version: "2.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    client.setNotificationHandler("notifications/message", log);
    await connectClient(client, spawned.transport);
  }
  const connected = client;
  return {
    ...toolClient(connected),
    era: connected instanceof ClientV2 ? connected.getProtocolEra() ?? "none" : "legacy",
    received: spawned.received,
    logs,
    stderr: spawned.stderr,
    close: async () => {
      await connected.close();
      record(spawned.stderr());
    },
  };
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
): Promise<ProxyClient> {
  // Short enough to be renewed several times in the run. A token sent with
  // time left that expires on its way (a loaded machine) is still accepted
  // by the test servers, which count it apart.
  auth.tokenLifetime = 4;
  const issued = auth.counts.tokensIssued;
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
    auth.tokenLifetime = 3600;
    await proxy.close();
  }
  assert.ok(auth.counts.tokensIssued - issued >= 3, "the token was renewed as it expired");
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
    const modern = newServer.modernRequests;
    const proxy = await exercise("old", newServer);
    assert.equal(proxy.era, "legacy");
    assert.ok(
      newServer.modernRequests - modern >= toolCalls,
      "the server was spoken to in its era",
    );
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /bridging MCP 2025 \(initialize\) on stdio and MCP 2026-07-28/);
  });

  it("forwards a new-era client's messages as they are to a new-era server", async () => {
    const modern = newServer.modernRequests;
    const proxy = await exercise("new", newServer);
    assert.equal(proxy.era, "modern");
    assert.ok(newServer.modernRequests - modern >= toolCalls);
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /forwarding MCP messages as they are \(MCP 2026-07-28\)/);
  });

  it("bridges a new-era client to an old-era (2025-11-25) server", async () => {
    const sessions = oldServer.sessions.length;
    const proxy = await exercise("new", oldServer);
    assert.equal(proxy.era, "modern", "the client speaks its own era");
    // The client's `server/discover` probe runs on a second copy of the proxy, which needs the
    // server's capabilities for its answer: one 2025 session each.
    const opened = oldServer.sessions.length - sessions;
    assert.ok(opened >= 1 && opened <= 2, `${opened} 2025 sessions upstream`);
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /bridging MCP 2026-07-28 on stdio and MCP 2025 \(initialize\)/);
  });

  it("forwards an old-era client's messages as they are to an old-era server", async () => {
    const proxy = await exercise("old", oldServer);
    assert.equal(proxy.era, "legacy");
    assert.match(proxy.stderr(), /forwarding MCP messages as they are \(MCP 2025 \(initialize\)\)/);
  });
});

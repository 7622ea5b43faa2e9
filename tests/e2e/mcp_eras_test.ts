// `kognic-auth mcp-proxy` across the MCP protocol eras, end to end with real
// components: an MCP client of either era (SDK v1 for 2025-11-25, SDK v2 in
// `auto` mode for 2026-07-28) spawns the proxy over stdio, and the proxy talks
// to a server of either era (SDK v1's stateful Streamable HTTP server, or SDK
// v2's handler limited to 2026-07-28). Both servers accept only tokens the
// local auth server issued, checked on every request. Tokens live 4 s, so a
// run of several seconds renews them; every message the client receives is
// scanned for every token the servers saw.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { startMcpServer, type TestMcpServer } from "../_helpers/mcp_server.ts";
import { startMcpServerV2, type TestMcpServerV2 } from "../_helpers/mcp_server_v2.ts";
import {
  cliCommand,
  CLIENT_SECRET,
  CLIENTS,
  denoDir,
  isolatedXdg,
  record,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

let auth: LocalAuthServer;
let oldServer: TestMcpServer;
let newServer: TestMcpServerV2;
let dir: { path: string; cleanup: () => Promise<void> };
let credentials: string;

before(async () => {
  auth = await startAuthServer({ clients: CLIENTS });
  oldServer = await startMcpServer(auth);
  newServer = await startMcpServerV2(auth, { legacy: "reject" });
  dir = await tempDir();
  credentials = await writeCredentials(dir.path);
});

after(async () => {
  await newServer.close();
  await oldServer.close();
  await auth.close();
  await dir.cleanup();
});

interface CallResult {
  isError?: boolean;
  content: { type: string; text: string }[];
}

/** A client of the proxy, whichever SDK it is. */
interface ProxyClient {
  call(name: string, args: Record<string, unknown>): Promise<CallResult>;
  toolNames(): Promise<string[]>;
  /** The era the client ended up speaking: "modern" or "legacy". */
  era(): string;
  /** Every message the client received, serialized. */
  received: string[];
  /** The log notifications the client received. */
  logs: string[];
  stderr(): string;
  close(): Promise<void>;
}

/** Keeps every message a transport hands its client, whoever sets the handler. */
function recordMessages(transport: object, into: string[]): void {
  let handler: ((message: unknown, extra?: unknown) => void) | undefined;
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => handler && ((message: unknown, extra?: unknown) => handler?.(message, extra)),
    set: (value) => {
      handler = value && ((message: unknown, extra?: unknown) => {
        into.push(JSON.stringify(message));
        value(message, extra);
      });
    },
  });
}

function proxyProcess(
  url: string,
): { command: string; args: string[]; env: Record<string, string> } {
  const [command, ...prefix] = cliCommand();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NO_COLOR: "1",
    ...isolatedXdg(dir.path),
  };
  const deno = "Deno" in globalThis ? denoDir() : undefined;
  if (deno) env.DENO_DIR = deno;
  return {
    command,
    args: [
      ...prefix,
      "-v",
      "mcp-proxy",
      url,
      // A local MCP server on its own port: not an origin of the auth server's.
      "--allow-origin",
      new URL(url).origin,
      "--server",
      auth.url,
      "--credentials",
      credentials,
      "--token-cache",
      "none",
    ],
    env,
  };
}

const CWD = fileURLToPath(new URL("../..", import.meta.url));

/** An SDK v1 client (2025-11-25 only) of the proxy. */
async function connectOld(url: string): Promise<ProxyClient> {
  const spawn = proxyProcess(url);
  const transport = new StdioV1({ ...spawn, stderr: "pipe", cwd: CWD });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => (stderr += chunk));
  const received: string[] = [];
  const logs: string[] = [];
  recordMessages(transport, received);
  const client = new ClientV1({ name: "old-era-client", version: "1.0.0" });
  client.setNotificationHandler(
    LoggingMessageNotificationSchema,
    (notification: { params: { data: unknown } }) =>
      void logs.push(String(notification.params.data)),
  );
  await client.connect(transport);
  return {
    call: async (name, args) => await client.callTool({ name, arguments: args }) as CallResult,
    toolNames: async () =>
      (await client.listTools()).tools.map((tool: { name: string }) => tool.name),
    era: () => "legacy",
    received,
    logs,
    stderr: () => stderr,
    close: async () => {
      await client.close();
      record(stderr);
    },
  };
}

/** An SDK v2 client in `auto` mode (2026-07-28 where the other side can) of the proxy. */
async function connectNew(url: string): Promise<ProxyClient> {
  const spawn = proxyProcess(url);
  const transport = new StdioV2({ ...spawn, stderr: "pipe", cwd: CWD });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => (stderr += chunk));
  const received: string[] = [];
  const logs: string[] = [];
  recordMessages(transport, received);
  const client = new ClientV2(
    { name: "new-era-client", version: "2.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  client.setNotificationHandler("notifications/message", (notification) => {
    logs.push(String(notification.params.data));
  });
  await client.connect(transport);
  const era = client.getProtocolEra() ?? "none";
  return {
    call: async (name, args) => await client.callTool({ name, arguments: args }) as CallResult,
    toolNames: async () => (await client.listTools()).tools.map((tool) => tool.name),
    era: () => era,
    received,
    logs,
    stderr: () => stderr,
    close: async () => {
      await client.close();
      record(stderr);
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
 * several seconds of calls on 4-second tokens (sequential and 10 at a time)
 * with no failed call and no request refused, and no token in anything the
 * client received.
 */
async function exercise(
  connect: (url: string) => Promise<ProxyClient>,
  server: {
    url: string;
    readonly unauthorized: number;
    tokensSeen: ReadonlySet<string>;
  },
): Promise<ProxyClient> {
  // Long enough that a token sent with time left does not expire on its way
  // on a loaded machine; short enough to be renewed several times in the run.
  auth.tokenLifetime = 4;
  const issued = auth.counts.tokensIssued;
  const refused = server.unauthorized;
  const proxy = await connect(server.url);
  try {
    assert.deepEqual((await proxy.toolNames()).sort(), ["add", "echo", "whoami"]);
    assert.equal(text(await proxy.call("whoami", {})), "your token is [token]");
    assert.equal(text(await proxy.call("echo", { text: "hello" })), "hello");
    const end = Date.now() + 8000;
    let calls = 0;
    while (Date.now() < end) {
      assert.equal(text(await proxy.call("add", { a: calls, b: 1 })), String(calls + 1));
      calls++;
      if (calls % 10 === 0) {
        const texts = Array.from({ length: 10 }, (_, i) => `call ${calls}.${i}`);
        const answers = await Promise.all(
          texts.map(async (t) => text(await proxy.call("echo", { text: t }))),
        );
        assert.deepEqual(answers, texts);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(calls >= 10, `${calls} calls`);
    toolCalls = calls;
    assert.equal(text(await proxy.call("whoami", {})), "your token is [token]");
  } finally {
    auth.tokenLifetime = 3600;
    await proxy.close();
  }
  assert.ok(auth.counts.tokensIssued - issued >= 3, "the token was renewed as it expired");
  // Every request carried a token the auth server issued and that had time
  // left when sent; on a loaded machine one may expire on its way (refused,
  // then replayed with a new token: no call failed above), never more.
  assert.equal(server.unauthorized, refused, "every request carried a valid token");
  assert.ok(server.tokensSeen.size >= 3);
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
    const proxy = await exercise(connectOld, newServer);
    assert.equal(proxy.era(), "legacy");
    assert.ok(
      newServer.modernRequests - modern >= toolCalls,
      "the server was spoken to in its era",
    );
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /bridging MCP 2025 \(initialize\) on stdio and MCP 2026-07-28/);
  });

  it("forwards a new-era client's messages as they are to a new-era server", async () => {
    const modern = newServer.modernRequests;
    const proxy = await exercise(connectNew, newServer);
    assert.equal(proxy.era(), "modern");
    assert.ok(newServer.modernRequests - modern >= toolCalls);
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /forwarding MCP messages as they are \(MCP 2026-07-28\)/);
  });

  it("bridges a new-era client to an old-era (2025-11-25) server", async () => {
    const sessions = oldServer.sessions.length;
    const proxy = await exercise(connectNew, oldServer);
    assert.equal(proxy.era(), "modern", "the client speaks its own era");
    // The client's `server/discover` probe runs on a second copy of the proxy, which needs the
    // server's capabilities for its answer: one 2025 session each.
    const opened = oldServer.sessions.length - sessions;
    assert.ok(opened >= 1 && opened <= 2, `${opened} 2025 sessions upstream`);
    assert.ok(proxy.logs.includes("echoing 5 characters"), "the server's log notification arrived");
    assert.match(proxy.stderr(), /bridging MCP 2026-07-28 on stdio and MCP 2025 \(initialize\)/);
  });

  it("forwards an old-era client's messages as they are to an old-era server", async () => {
    const proxy = await exercise(connectOld, oldServer);
    assert.equal(proxy.era(), "legacy");
    assert.match(proxy.stderr(), /forwarding MCP messages as they are \(MCP 2025 \(initialize\)\)/);
  });
});

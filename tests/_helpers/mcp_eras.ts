// What the end-to-end tests of `kognic-auth mcp-proxy` across the MCP protocol eras share: the
// auth server with an MCP server of each era, started before a file's tests and stopped after,
// and a client of either era (SDK v1 for 2025-11-25, SDK v2 in `auto` mode for 2026-07-28)
// that spawns the proxy over stdio.

import { after, before } from "node:test";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import type { LocalAuthServer } from "../../testing.ts";
import { startMcpServer, type TestMcpServer } from "./mcp_server.ts";
import { startMcpServerV2, type TestMcpServerV2 } from "./mcp_server_v2.ts";
import {
  connectClient,
  proxyArgs,
  type ProxyHome,
  spawnCommand,
  startProxyHome,
  type ToolClient,
  toolClient,
} from "./mcp_client.ts";
import { cliCommand, isolatedXdg, record } from "./mod.ts";

/** The servers of a file's tests; set before its first test runs. */
export interface ProxyEras {
  /** The auth server and the folder with its credentials. */
  readonly home: ProxyHome;
  /** The auth server (`home.auth`). */
  readonly auth: LocalAuthServer;
  /** SDK v1's stateful Streamable HTTP server (2025-11-25). */
  readonly oldServer: TestMcpServer;
  /** SDK v2's server, limited to 2026-07-28. */
  readonly newServer: TestMcpServerV2;
}

/**
 * Starts the auth server and an MCP server of each era before the calling file's tests (with
 * the tools that ask the client when `ask`), and stops them after.
 */
export function useProxyEras(options: { ask?: boolean } = {}): ProxyEras {
  const eras = {} as { -readonly [K in keyof ProxyEras]: ProxyEras[K] };
  before(async () => {
    eras.home = await startProxyHome();
    eras.auth = eras.home.auth;
    eras.oldServer = await startMcpServer(eras.auth, { ask: options.ask });
    eras.newServer = await startMcpServerV2(eras.auth, { legacy: "reject", ask: options.ask });
  });
  after(async () => {
    await eras.newServer?.close();
    await eras.oldServer?.close();
    await eras.home?.close();
  });
  return eras;
}

/** A client of the proxy, whichever SDK it is. */
export interface ProxyClient extends ToolClient {
  /** The SDK's client. */
  client: ClientV1 | ClientV2;
  /** The era the client ended up speaking: "modern" or "legacy". */
  era: string;
  /** Every message the client received, serialized. */
  received: string[];
  /** What the proxy wrote to stderr so far. */
  stderr(): string;
  /** Closes the client (which ends the proxy) and records the proxy's stderr. */
  close(): Promise<void>;
}

/** How {@linkcode connectProxy} makes each SDK's client, and what it does once connected. */
export interface ProxyClientSetup {
  /** SDK v1's client options. */
  oldOptions?: ConstructorParameters<typeof ClientV1>[1];
  /** SDK v2's client options, besides `versionNegotiation: { mode: "auto" }`. */
  newOptions?: ConstructorParameters<typeof ClientV2>[1];
  /** Sets SDK v1's handlers. */
  old?(client: ClientV1): void;
  /** Sets SDK v2's handlers. */
  new?(client: ClientV2): void;
  /** Runs once connected; if it fails, the client is closed too. */
  connected?(client: ClientV1 | ClientV2): Promise<void>;
}

/**
 * A client of the proxy to the MCP server at `url`: SDK v1's (`old`, 2025-11-25 only) or SDK
 * v2's in `auto` mode (`new`, 2026-07-28 where the other side can). A failed start closes the
 * client, so that no proxy is left running.
 */
export async function connectProxy(
  home: ProxyHome,
  era: "old" | "new",
  url: string,
  setup: ProxyClientSetup = {},
): Promise<ProxyClient> {
  const command = [...cliCommand(), "-v", ...proxyArgs(url, home.auth.url, home.credentials)];
  const env = isolatedXdg(home.dir);
  let spawned;
  let client: ClientV1 | ClientV2;
  if (era === "old") {
    spawned = spawnCommand(StdioV1, command, { env });
    const old = new ClientV1({ name: "old-era-client", version: "1.0.0" }, setup.oldOptions);
    setup.old?.(old);
    client = old;
  } else {
    spawned = spawnCommand(StdioV2, command, { env });
    const modern = new ClientV2(
      { name: "new-era-client", version: "2.0.0" },
      { versionNegotiation: { mode: "auto" }, ...setup.newOptions },
    );
    setup.new?.(modern);
    client = modern;
  }
  try {
    await connectClient(client, spawned.transport);
    await setup.connected?.(client);
  } catch (error) {
    await client.close().catch(() => {});
    record(spawned.stderr());
    throw error;
  }
  return {
    ...toolClient(client),
    client,
    era: client instanceof ClientV2 ? client.getProtocolEra() ?? "none" : "legacy",
    received: spawned.received,
    stderr: spawned.stderr,
    close: async () => {
      await client.close();
      record(spawned.stderr());
    },
  };
}

// The client side of the MCP tests: a command (`kognic-auth mcp-proxy`, `kog mcp`) spawned as
// a real subprocess by either SDK's stdio client transport, with its stderr and every message
// it hands the client kept for the tests' checks.

import { fileURLToPath } from "node:url";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { childEnv, CLIENTS, tempDir, writeCredentials } from "./mod.ts";

/** What both SDKs' `StdioClientTransport` constructors take. */
export interface StdioParameters {
  command: string;
  args: string[];
  env: Record<string, string>;
  stderr: "pipe";
  cwd: string;
}

/** The part of either SDK's stdio transport these helpers use. */
interface StdioTransport {
  readonly stderr: { on(event: "data", listener: (chunk: Uint8Array) => void): unknown } | null;
}

/** A command spawned over stdio, not yet connected. */
export interface SpawnedCommand<T> {
  /** The SDK transport; connect a client to it. */
  transport: T;
  /** Every message the transport handed its client, serialized, from the first. */
  received: string[];
  /** What the command wrote to stderr so far. */
  stderr(): string;
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Makes a stdio client transport of either SDK (`Transport`) for `command` (a program and its
 * arguments) with the environment of {@linkcode childEnv} plus `env`, its stderr piped and kept,
 * and every message it hands its client recorded into `received` (a fresh array by default).
 */
export function spawnCommand<T extends StdioTransport>(
  Transport: new (parameters: StdioParameters) => T,
  command: readonly string[],
  options: { env?: Record<string, string>; received?: string[] } = {},
): SpawnedCommand<T> {
  const [program, ...args] = command;
  const transport = new Transport({
    command: program,
    args,
    env: childEnv(program, options.env),
    stderr: "pipe",
    cwd: REPO_ROOT,
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => (stderr += chunk));
  const received = options.received ?? [];
  recordMessages(transport, received);
  return { transport, received, stderr: () => stderr };
}

/** Keeps every message a transport hands its client, whenever the client sets its handler. */
function recordMessages(transport: object, into: string[]): void {
  let handler: ((message: unknown, extra?: unknown) => void) | undefined;
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => handler,
    set: (value) => {
      handler = value && ((message: unknown, extra?: unknown) => {
        into.push(JSON.stringify(message));
        value(message, extra);
      });
    },
  });
}

/**
 * Connects an SDK client to a spawned command's transport; when that fails, the client is closed
 * (which ends the child process) before the error goes on, so that a failed test leaves no
 * process behind to keep the test file running.
 */
export async function connectClient(
  client: { connect(transport: never): Promise<void>; close(): Promise<void> },
  transport: unknown,
): Promise<void> {
  try {
    await client.connect(transport as never);
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
}

/**
 * The arguments of `kognic-auth mcp-proxy` for the MCP server at `url`, with the auth server,
 * the credentials file and no token cache; the MCP server's origin (a local port of its own, not
 * one of the auth server's) is allowed.
 */
export function proxyArgs(url: string, authUrl: string, credentials: string): string[] {
  return [
    "mcp-proxy",
    url,
    "--server",
    authUrl,
    "--credentials",
    credentials,
    "--token-cache",
    "none",
    "--allow-origin",
    new URL(url).origin,
  ];
}

/** A tool call's result as both SDKs return it. */
export interface CallResult {
  isError?: boolean;
  content: { type: string; text: string }[];
}

/** The calls the tests make of a connected client, the same for either SDK's. */
export interface ToolClient {
  /** Calls the tool `name` with `args`. */
  call(name: string, args: Record<string, unknown>): Promise<CallResult>;
  /** The names of the tools the server lists, in its order. */
  toolNames(): Promise<string[]>;
}

/** The {@linkcode ToolClient} of a connected client of either SDK. */
export function toolClient(client: {
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  listTools(): Promise<{ tools: { name: string }[] }>;
}): ToolClient {
  return {
    call: async (name, args) => await client.callTool({ name, arguments: args }) as CallResult,
    toolNames: async () => (await client.listTools()).tools.map((tool) => tool.name),
  };
}

/** An auth server and a folder to run `kognic-auth mcp-proxy` with (see {@linkcode startProxyHome}). */
export interface ProxyHome {
  /** The local auth server, with the test clients. */
  readonly auth: LocalAuthServer;
  /** The folder, for the proxy's `isolatedXdg` variables. */
  readonly dir: string;
  /** The test client's credentials file in the folder. */
  readonly credentials: string;
  /** Stops the auth server and removes the folder. */
  close(): Promise<void>;
}

/** Starts the local auth server with the test clients and writes their credentials in a new folder. */
export async function startProxyHome(): Promise<ProxyHome> {
  const auth = await startAuthServer({ clients: CLIENTS });
  const dir = await tempDir();
  return {
    auth,
    dir: dir.path,
    credentials: await writeCredentials(dir.path),
    close: async () => {
      await auth.close();
      await dir.cleanup();
    },
  };
}

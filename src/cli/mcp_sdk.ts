// The official MCP TypeScript SDK (v2: `@modelcontextprotocol/client` and
// `@modelcontextprotocol/server`), loaded only by the MCP commands and only
// when they need it: optional peer dependencies on npm and `npm:` imports on
// Deno. When a package is missing, the error says how to install it.

import type { ConfigurationError } from "../../mod.ts";
import { configApi, coreApi, loadLibrary } from "./library.ts";

/** The SDK's packages with their version ranges, as the install command names them. */
export const MCP_SDK_PACKAGES: readonly string[] = [
  "@modelcontextprotocol/client@^2.4.0",
  "@modelcontextprotocol/server@^2.4.0",
];
const INSTALL_HINT = `install them with \`npm install ${MCP_SDK_PACKAGES.join(" ")}\``;

/** The SDK's pieces an MCP server on stdio needs (`kog mcp`, and the bridge across eras). */
export interface McpServerKit {
  /** The low-level MCP server: tools as JSON schemas, no schema library needed. */
  Server: typeof import("@modelcontextprotocol/server").Server;
  /** Serves a server factory on stdio, in the era the client opens with. */
  serveStdio: typeof import("@modelcontextprotocol/server/stdio").serveStdio;
}

/** The SDK's pieces the bridge needs where the two sides speak different eras. */
export interface McpBridgeKit extends McpServerKit {
  /** The MCP client, which speaks either era. */
  Client: typeof import("@modelcontextprotocol/client").Client;
  /** The Streamable HTTP client transport, which sends through a given fetch. */
  StreamableHTTPClientTransport:
    typeof import("@modelcontextprotocol/client").StreamableHTTPClientTransport;
}

/** Runs `load` with the optional-peer importer; a failure becomes the install hint's error. */
async function loadSdk<T>(
  load: (importPeer: ReturnType<typeof configApi>["importOptionalPeer"]) => Promise<T>,
): Promise<T> {
  await loadLibrary();
  try {
    return await load(configApi().importOptionalPeer);
  } catch (error) {
    throw error instanceof coreApi().ConfigurationError ? error : sdkError(error);
  }
}

/**
 * Loads the SDK's server and stdio entry.
 *
 * @throws {ConfigurationError} When the SDK is not installed or cannot load; the message gives
 *   the install command.
 */
export function loadMcpServerKit(): Promise<McpServerKit> {
  return loadSdk(async (importPeer) => {
    const [server, stdio] = await Promise.all([
      importPeer<typeof import("@modelcontextprotocol/server")>("@modelcontextprotocol/server"),
      importPeer<typeof import("@modelcontextprotocol/server/stdio")>(
        "@modelcontextprotocol/server",
        "/stdio",
      ),
    ]);
    return { Server: server.Server, serveStdio: stdio.serveStdio };
  });
}

/**
 * Loads the SDK's client and server halves for a bridge between eras.
 *
 * @throws {ConfigurationError} When the SDK is not installed or cannot load; the message gives
 *   the install command.
 */
export function loadMcpBridgeKit(): Promise<McpBridgeKit> {
  return loadSdk(async (importPeer) => {
    const [client, server] = await Promise.all([
      importPeer<typeof import("@modelcontextprotocol/client")>("@modelcontextprotocol/client"),
      loadMcpServerKit(),
    ]);
    return {
      ...server,
      Client: client.Client,
      StreamableHTTPClientTransport: client.StreamableHTTPClientTransport,
    };
  });
}

/**
 * Checks, without loading them, that the SDK's packages can be found, so that
 * a command that may need them later says at once how to install them.
 * Where the runtime cannot resolve without loading, it passes.
 *
 * @throws {ConfigurationError} When a package cannot be found.
 */
export function checkMcpSdk(): void {
  const resolve = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  if (typeof resolve !== "function") return;
  for (const specifier of ["@modelcontextprotocol/client", "@modelcontextprotocol/server"]) {
    try {
      resolve.call(import.meta, specifier);
    } catch (error) {
      throw sdkError(error);
    }
  }
}

function sdkError(error: unknown): ConfigurationError {
  const code = (error as { code?: unknown })?.code;
  const message = String((error as Error)?.message ?? error).split("\n")[0];
  const missing = code === "ERR_MODULE_NOT_FOUND" ||
    /cannot find (module|package)|not found|could not resolve/i.test(message);
  return new (coreApi().ConfigurationError)(
    missing
      ? `The MCP commands need the optional packages @modelcontextprotocol/client and ` +
        `@modelcontextprotocol/server: ${INSTALL_HINT}`
      : `The MCP commands could not load the MCP SDK (${message}); ${INSTALL_HINT}`,
    { cause: error },
  );
}

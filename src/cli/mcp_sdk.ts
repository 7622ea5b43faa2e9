// The official MCP TypeScript SDK, loaded only by the MCP commands: an
// optional peer dependency on npm and an `npm:` import on Deno. When it is
// missing, the error says how to install it.

import { ConfigurationError } from "../shared/errors.ts";

/** The SDK's pinned version range, as the install command names it. */
export const MCP_SDK_PACKAGE = "@modelcontextprotocol/sdk@^1.32.2";
const INSTALL_HINT = `install it with \`npm install ${MCP_SDK_PACKAGE}\``;

/** The SDK's transports the MCP commands use. */
export interface McpTransports {
  /** The stdio server transport: the MCP client talks to this process on stdin and stdout. */
  StdioServerTransport:
    typeof import("@modelcontextprotocol/sdk/server/stdio.js").StdioServerTransport;
  /** The Streamable HTTP client transport, which sends through a given fetch. */
  StreamableHTTPClientTransport:
    typeof import("@modelcontextprotocol/sdk/client/streamableHttp.js").StreamableHTTPClientTransport;
}

/**
 * Loads the SDK's stdio server and Streamable HTTP client transports.
 *
 * @throws {ConfigurationError} When the SDK is not installed or cannot load; the message gives
 *   the install command.
 */
export async function loadMcpTransports(): Promise<McpTransports> {
  try {
    const [stdio, http] = await Promise.all([
      import("@modelcontextprotocol/sdk/server/stdio.js"),
      import("@modelcontextprotocol/sdk/client/streamableHttp.js"),
    ]);
    return {
      StdioServerTransport: stdio.StdioServerTransport,
      StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    };
  } catch (error) {
    throw sdkError(error);
  }
}

/** The SDK's pieces an MCP server on stdio needs. */
export interface McpServerKit {
  /** The low-level MCP server: tools as JSON schemas, no schema library needed. */
  Server: typeof import("@modelcontextprotocol/sdk/server/index.js").Server;
  /** The stdio server transport. */
  StdioServerTransport:
    typeof import("@modelcontextprotocol/sdk/server/stdio.js").StdioServerTransport;
  /** The schema of tools/list requests, for the handler. */
  ListToolsRequestSchema:
    typeof import("@modelcontextprotocol/sdk/types.js").ListToolsRequestSchema;
  /** The schema of tools/call requests, for the handler. */
  CallToolRequestSchema: typeof import("@modelcontextprotocol/sdk/types.js").CallToolRequestSchema;
}

/**
 * Loads the SDK's server, stdio transport and request schemas.
 *
 * @throws {ConfigurationError} When the SDK is not installed or cannot load; the message gives
 *   the install command.
 */
export async function loadMcpServerKit(): Promise<McpServerKit> {
  try {
    const [server, stdio, types] = await Promise.all([
      import("@modelcontextprotocol/sdk/server/index.js"),
      import("@modelcontextprotocol/sdk/server/stdio.js"),
      import("@modelcontextprotocol/sdk/types.js"),
    ]);
    return {
      Server: server.Server,
      StdioServerTransport: stdio.StdioServerTransport,
      ListToolsRequestSchema: types.ListToolsRequestSchema,
      CallToolRequestSchema: types.CallToolRequestSchema,
    };
  } catch (error) {
    throw sdkError(error);
  }
}

function sdkError(error: unknown): ConfigurationError {
  const code = (error as { code?: unknown })?.code;
  const message = String((error as Error)?.message ?? error).split("\n")[0];
  const missing = code === "ERR_MODULE_NOT_FOUND" || /cannot find (module|package)/i.test(message);
  return new ConfigurationError(
    missing
      ? `The MCP commands need the optional package @modelcontextprotocol/sdk: ${INSTALL_HINT}`
      : `The MCP commands could not load @modelcontextprotocol/sdk (${message}); ${INSTALL_HINT}`,
    { cause: error },
  );
}

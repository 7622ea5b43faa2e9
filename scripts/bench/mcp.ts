/**
 * The MCP proxy's added latency for `deno task bench`: the MCP SDK's client
 * calls a tool of the SDK's server (Streamable HTTP on 127.0.0.1, protected
 * by the local auth server's tokens) directly with a static Authorization
 * header, and through `kognic-auth mcp-proxy` spawned over stdio. Calls are
 * sequential, in alternating batches, so that both see the same machine.
 *
 * @module
 */

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import process from "node:process";
import { startAuthServer } from "../../testing.ts";
import { startMcpServer } from "../../tests/_helpers/mcp_server.ts";

/** Per-call latency of one way of calling, in milliseconds. */
export interface McpLatency {
  /** The median call. */
  median: number;
  /** The 25th and 75th percentiles. */
  p25: number;
  p75: number;
  /** How many calls were timed. */
  n: number;
}

/** The proxy's figures. */
export interface McpResult {
  /** The SDK client talking to the server directly with a static header. */
  direct: McpLatency;
  /** The SDK client talking to `kognic-auth mcp-proxy` over stdio. */
  proxy: McpLatency;
  /** proxy.median / direct.median. */
  ratio: number;
  /** Token requests the proxy made over all its calls. */
  tokenRequests: number;
  /** The proxy's command line before its arguments. */
  command: string;
}

/** The most the proxy may add: at most this many times the direct call. */
export const MCP_TARGET_RATIO = 1.1;

function latency(values: number[]): McpLatency {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.round((sorted.length - 1) * q)] ?? NaN;
  return { median: at(0.5), p25: at(0.25), p75: at(0.75), n: sorted.length };
}

/**
 * Measures `rounds` alternating batches of `perRound` sequential tools/call
 * requests each way, after one untimed batch each.
 *
 * @param cli The `kognic-auth` command line before its arguments.
 * @param env The proxy's environment (PATH, HOME, DENO_DIR).
 */
export async function measureMcpProxy(
  cli: string[],
  env: Record<string, string>,
  sizes: { rounds: number; perRound: number },
): Promise<McpResult> {
  await using auth = await startAuthServer({ clients: { "bench-client": "bench-secret" } });
  await using mcp = await startMcpServer(auth);

  const direct = new Client({ name: "bench-direct", version: "1.0.0" });
  await direct.connect(
    new StreamableHTTPClientTransport(new URL(mcp.url), {
      requestInit: { headers: { authorization: `Bearer ${auth.issueToken("bench-client")}` } },
    }),
  );
  const [command, ...prefix] = cli;
  const proxied = new Client({ name: "bench-proxy", version: "1.0.0" });
  await proxied.connect(
    new StdioClientTransport({
      command,
      args: [...prefix, "mcp-proxy", mcp.url, "--server", auth.url, "--token-cache", "none"],
      env: {
        ...env,
        KOGNIC_CLIENT_ID: "bench-client",
        KOGNIC_CLIENT_SECRET: "bench-secret",
        NO_COLOR: "1",
      },
      stderr: "pipe",
      cwd: process.cwd(),
    }),
  );

  const times = { direct: [] as number[], proxy: [] as number[] };
  const batch = async (client: Client, into: number[] | undefined): Promise<void> => {
    for (let i = 0; i < sizes.perRound; i++) {
      const started = performance.now();
      const result = await client.callTool({ name: "add", arguments: { a: i, b: 1 } });
      const elapsed = performance.now() - started;
      const text = (result.content as { text: string }[])[0]?.text;
      if (text !== String(i + 1)) throw new Error(`tools/call answered ${JSON.stringify(text)}`);
      into?.push(elapsed);
    }
  };
  try {
    await batch(direct, undefined);
    await batch(proxied, undefined);
    for (let round = 0; round < sizes.rounds; round++) {
      // Alternate which goes first, so neither always follows the other.
      if (round % 2 === 0) {
        await batch(direct, times.direct);
        await batch(proxied, times.proxy);
      } else {
        await batch(proxied, times.proxy);
        await batch(direct, times.direct);
      }
    }
  } finally {
    await direct.close();
    await proxied.close();
  }
  const result = {
    direct: latency(times.direct),
    proxy: latency(times.proxy),
    // Only the proxy requests tokens; the direct client's was minted without a request.
    tokenRequests: auth.counts.tokensIssued,
    command: [...cli.map((part) => part.replace(process.cwd() + "/", "")), "mcp-proxy"].join(" "),
  };
  return { ...result, ratio: result.proxy.median / result.direct.median };
}

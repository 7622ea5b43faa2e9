/**
 * The MCP benchmark's server, in a process of its own: the local auth server
 * and SDK v2's MCP handler on 127.0.0.1, serving both eras (2025-11-25
 * statelessly). It prints one JSON line, `{"url", "authUrl", "token"}`, and
 * runs until its stdin closes. The MCP server does not check tokens, so that
 * the floor (which sends none) and the bridges see the same server.
 *
 * @module
 */

import process from "node:process";
import { startAuthServer } from "../../testing.ts";
import { startMcpServerV2 } from "../../tests/_helpers/mcp_server_v2.ts";

const auth = await startAuthServer({ clients: { "bench-client": "bench-secret" } });
const mcp = await startMcpServerV2(auth, { legacy: "stateless", checkTokens: false });
process.stdout.write(
  JSON.stringify({ url: mcp.url, authUrl: auth.url, token: auth.issueToken("bench-client") }) +
    "\n",
);
await new Promise<void>((resolve) => {
  process.stdin.on("data", () => {});
  process.stdin.once("end", resolve);
  process.stdin.once("close", resolve);
});
await mcp.close();
await auth.close();
process.stdout.write(JSON.stringify({ tokensIssued: auth.counts.tokensIssued }) + "\n");

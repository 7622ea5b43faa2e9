// An MCP server of the 2026-07-28 era for the tests and the benchmark: the
// official SDK v2's `createMcpHandler` on node:http on 127.0.0.1, either
// serving only 2026-07-28 (`legacy: "reject"`) or both eras (`"stateless"`).
// Every request's bearer token is checked against the local auth server's
// echo API; a request without a valid one gets 401.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createMcpHandler, Server } from "@modelcontextprotocol/server";
import type { LocalAuthServer } from "../../testing.ts";
import { expiredInTransit } from "./mcp_server.ts";

/** The running MCP server. */
export interface TestMcpServerV2 extends AsyncDisposable {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  readonly url: string;
  /** Requests answered 401 for a missing or invalid token (not one that expired in transit). */
  readonly unauthorized: number;
  /** Requests answered 401 for a token that expired in transit (see `expiredInTransit`). */
  readonly expiredOnArrival: number;
  /** Requests that reached the MCP handler. */
  readonly accepted: number;
  /** Requests that carried `MCP-Protocol-Version: 2026-07-28` (the new era). */
  readonly modernRequests: number;
  /** Every bearer token the server was sent, valid or not. */
  readonly tokensSeen: ReadonlySet<string>;
  /** The JSON-RPC methods of the requests, in order. */
  readonly methods: readonly string[];
  /** Stops the server. */
  close(): Promise<void>;
}

/** Which eras the server answers. */
export interface McpServerV2Options {
  /** `reject`: only 2026-07-28; `stateless`: both eras. @default {"reject"} */
  legacy?: "reject" | "stateless";
  /** Check each token with the auth server (off for the benchmark's floor). @default {true} */
  checkTokens?: boolean;
}

/**
 * Starts the server with three tools: `echo` {text} answers the text (and
 * sends a log notification first), `add` {a, b} answers the sum, and
 * `whoami` answers the bearer token it was called with (a server that echoes
 * secrets).
 */
export async function startMcpServerV2(
  auth: LocalAuthServer,
  options: McpServerV2Options = {},
): Promise<TestMcpServerV2> {
  const tokensSeen = new Set<string>();
  const methods: string[] = [];
  let unauthorized = 0;
  let expiredOnArrival = 0;
  let accepted = 0;
  let modernRequests = 0;
  const checkTokens = options.checkTokens ?? true;

  function newServer(): Server {
    const server = new Server(
      { name: "kognic-test-mcp-v2", version: "2.0.0" },
      { capabilities: { tools: {}, logging: {} } },
    );
    const tools: {
      name: string;
      description: string;
      inputSchema: { type: "object"; properties: Record<string, { type: string }> };
    }[] = [
      {
        name: "echo",
        description: "Answers the text it is given.",
        inputSchema: { type: "object" as const, properties: { text: { type: "string" } } },
      },
      {
        name: "add",
        description: "Adds two numbers.",
        inputSchema: {
          type: "object" as const,
          properties: { a: { type: "number" }, b: { type: "number" } },
        },
      },
      {
        name: "whoami",
        description: "Answers the bearer token of the call.",
        inputSchema: { type: "object" as const, properties: {} },
      },
    ];
    server.setRequestHandler("tools/list", () => ({ tools }));
    server.setRequestHandler("tools/call", async (request, ctx) => {
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      if (request.params.name === "echo") {
        await ctx.mcpReq.notify({
          method: "notifications/message",
          params: { level: "info", data: `echoing ${String(args.text).length} characters` },
        });
        return { content: [{ type: "text" as const, text: String(args.text) }] };
      }
      if (request.params.name === "add") {
        return {
          content: [{ type: "text" as const, text: String(Number(args.a) + Number(args.b)) }],
        };
      }
      if (request.params.name === "whoami") {
        const token = ctx.http?.authInfo?.token ?? "";
        return { content: [{ type: "text" as const, text: `your token is ${token}` }] };
      }
      return { content: [{ type: "text" as const, text: "unknown tool" }], isError: true };
    });
    return server;
  }

  const handler = createMcpHandler(newServer, { legacy: options.legacy ?? "reject" });

  async function isValid(token: string): Promise<boolean> {
    const response = await fetch(auth.apiUrl, { headers: { authorization: `Bearer ${token}` } });
    await response.body?.cancel();
    return response.status === 200;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (token) tokensSeen.add(token);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (checkTokens && (!token || !(await isValid(token)))) {
      if (token && expiredInTransit(token)) expiredOnArrival++;
      else unauthorized++;
      res.writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": 'Bearer error="invalid_token"',
      });
      res.end(JSON.stringify({ error: "invalid_token" }));
      return;
    }
    accepted++;
    if (req.headers["mcp-protocol-version"] === "2026-07-28") modernRequests++;
    try {
      const method = JSON.parse(body.toString()).method;
      if (typeof method === "string") methods.push(method);
    } catch {
      // Not JSON: the handler answers it.
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string") headers.set(name, value);
    }
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers,
      body: req.method === "POST" ? body : undefined,
    });
    const response = await handler.fetch(request, {
      authInfo: { token, clientId: "test", scopes: [], expiresAt: Date.now() / 1000 + 60 },
    });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) {
      res.end();
      return;
    }
    const reader = response.body.getReader();
    res.on("close", () => void reader.cancel().catch(() => {}));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      await handler.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    })();
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    get unauthorized() {
      return unauthorized;
    },
    get expiredOnArrival() {
      return expiredOnArrival;
    },
    get accepted() {
      return accepted;
    },
    get modernRequests() {
      return modernRequests;
    },
    tokensSeen,
    methods,
    close,
    [Symbol.asyncDispose]: close,
  };
}

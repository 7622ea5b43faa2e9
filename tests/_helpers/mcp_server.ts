// An MCP server for the tests and the benchmark: the official SDK's server on
// Streamable HTTP on 127.0.0.1, stateful (Mcp-Session-Id), protected by the
// local auth server's tokens: each request's bearer token is checked against
// the auth server's echo API, and a request without a valid one gets 401.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import type { LocalAuthServer } from "../../testing.ts";

/**
 * Whether `token` is a JWT of the local auth server that expired less than
 * `graceMs` ago: sent in time, but on a loaded machine it arrived after its
 * expiry. Such a request is still refused (401), but counted apart from one
 * that had no token or one the auth server never issued.
 */
export function expiredInTransit(token: string, graceMs = 10_000): boolean {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const left = payload.exp * 1000 - Date.now();
    return typeof payload.exp === "number" && left <= 0 && left > -graceMs;
  } catch {
    return false;
  }
}

/** The running MCP server. */
export interface TestMcpServer extends AsyncDisposable {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  readonly url: string;
  /** Requests answered 401 for a missing or invalid token (not one that expired in transit). */
  readonly unauthorized: number;
  /** Requests answered 401 for a token that expired in transit (see `expiredInTransit`). */
  readonly expiredOnArrival: number;
  /** Requests that reached the MCP transport. */
  readonly accepted: number;
  /** GET requests that reached the MCP transport: event streams opened by clients. */
  readonly eventStreams: number;
  /** Every bearer token the server was sent, valid or not. */
  readonly tokensSeen: ReadonlySet<string>;
  /** The values of the `X-Team` header the server was sent. */
  readonly teamHeaders: readonly string[];
  /** Every Mcp-Session-Id the server created. */
  readonly sessions: readonly string[];
  /** Stops the server and ends its sessions. */
  close(): Promise<void>;
}

/**
 * Starts the MCP server with three tools: `echo` {text} answers the text (and
 * sends a log notification first, on the call's event stream), `add` {a, b}
 * answers the sum, and `whoami` answers the bearer token it was called with
 * (a server that echoes secrets).
 */
export async function startMcpServer(auth: LocalAuthServer): Promise<TestMcpServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const sessions: string[] = [];
  const teamHeaders: string[] = [];
  const tokensSeen = new Set<string>();
  let unauthorized = 0;
  let expiredOnArrival = 0;
  let accepted = 0;
  let eventStreams = 0;

  async function isValid(token: string): Promise<boolean> {
    // Every request is checked, so that a revoked or expired token is refused at once.
    const response = await fetch(auth.apiUrl, { headers: { authorization: `Bearer ${token}` } });
    await response.body?.cancel();
    return response.status === 200;
  }

  function newMcpServer(): Server {
    const server = new Server(
      { name: "kognic-test-mcp", version: "1.0.0" },
      { capabilities: { tools: {}, logging: {} } },
    );
    server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: [
        {
          name: "echo",
          description: "Answers the text it is given.",
          inputSchema: { type: "object", properties: { text: { type: "string" } } },
        },
        {
          name: "add",
          description: "Adds two numbers.",
          inputSchema: {
            type: "object",
            properties: { a: { type: "number" }, b: { type: "number" } },
          },
        },
        {
          name: "whoami",
          description: "Answers the bearer token of the call.",
          inputSchema: { type: "object", properties: {} },
        },
      ],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (
      request: { params: { name: string; arguments?: Record<string, unknown> } },
      extra: {
        sendNotification(notification: unknown): Promise<void>;
        authInfo?: { token: string };
      },
    ) => {
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      if (request.params.name === "echo") {
        await extra.sendNotification({
          method: "notifications/message",
          params: { level: "info", data: `echoing ${String(args.text).length} characters` },
        });
        return { content: [{ type: "text", text: String(args.text) }] };
      }
      if (request.params.name === "add") {
        return { content: [{ type: "text", text: String(Number(args.a) + Number(args.b)) }] };
      }
      if (request.params.name === "whoami") {
        return { content: [{ type: "text", text: `your token is ${extra.authInfo?.token}` }] };
      }
      return { content: [{ type: "text", text: "unknown tool" }], isError: true };
    });
    return server;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (token) tokensSeen.add(token);
    const team = req.headers["x-team"];
    if (typeof team === "string") teamHeaders.push(team);
    if (!token || !(await isValid(token))) {
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
    if (req.method === "GET") eventStreams++;
    const sessionId = req.headers["mcp-session-id"];
    let transport = typeof sessionId === "string" ? transports.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId !== undefined || req.method !== "POST") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            jsonrpc: "2.0",
            error: { code: -32001, message: "Session not found" },
            id: null,
          }),
        );
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id: string) => {
          transports.set(id, created);
          sessions.push(id);
        },
      });
      created.onclose = () => {
        if (created.sessionId) transports.delete(created.sessionId);
      };
      await newMcpServer().connect(created);
      transport = created;
    }
    // The token as the SDK's handlers see it, for the tool that echoes it.
    (req as IncomingMessage & { auth?: unknown }).auth = { token, clientId: "test", scopes: [] };
    await transport.handleRequest(req, res);
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
      for (const transport of transports.values()) await transport.close().catch(() => {});
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
    get eventStreams() {
      return eventStreams;
    },
    tokensSeen,
    teamHeaders,
    sessions,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// The MCP servers of the tests and the benchmark, on 127.0.0.1 behind the local auth
// server's tokens: what both eras' servers share (the token check and its counters, the
// tools), and the official SDK v1's stateful Streamable HTTP server (mcp_server_v2.ts has
// SDK v2's).

import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { LocalAuthServer } from "../../testing.ts";

/** How long after its expiry a token the auth server issued is still accepted. */
const GRACE_MS = 10_000;

/** The seconds since the epoch at which a JWT expires, or undefined when it is not one. */
function jwtExpiry(token: string): number | undefined {
  try {
    const exp = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp;
    return typeof exp === "number" ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** What both MCP test servers count of the requests they are sent. */
export interface TokenCheckedServer extends AsyncDisposable {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  readonly url: string;
  /** Requests answered 401: no token, one the auth server never issued or revoked, or one long expired. */
  readonly unauthorized: number;
  /**
   * Requests accepted on a token the auth server issued that expired less than 10 s before the
   * request was read: valid when sent, late on a loaded machine.
   */
  readonly lateTokens: number;
  /** Requests that reached the MCP transport. */
  readonly accepted: number;
  /** Every bearer token the server was sent, valid or not. */
  readonly tokensSeen: ReadonlySet<string>;
  /** Stops the server and ends its sessions. */
  close(): Promise<void>;
}

/** The counters of a {@linkcode TokenCheckedServer}, as its implementation updates them. */
type Counters = { -readonly [K in "unauthorized" | "lateTokens" | "accepted"]: number };

/**
 * Serves `handle` on 127.0.0.1 behind the auth server's tokens: every request's bearer token is
 * checked against the auth server's echo API (so a revoked one is refused at once), and a token
 * the echo API accepted once, or called expired, is still accepted for 10 s after its expiry
 * (counted in `lateTokens`). Without a valid token the answer is 401 `invalid_token`. With
 * `checkTokens` false every request is handled (the benchmark's floor).
 */
export async function serveBehindTokens(
  auth: LocalAuthServer,
  handle: (req: IncomingMessage, res: ServerResponse, token: string) => Promise<void>,
  closeHandler: () => Promise<void>,
  checkTokens = true,
): Promise<TokenCheckedServer> {
  const tokensSeen = new Set<string>();
  const issued = new Set<string>();
  const counters: Counters = { unauthorized: 0, lateTokens: 0, accepted: 0 };

  async function check(token: string): Promise<"valid" | "late" | "invalid"> {
    if (!token) return "invalid";
    const response = await fetch(auth.apiUrl, { headers: { authorization: `Bearer ${token}` } });
    const body = await response.json().catch(() => ({}));
    if (response.status === 200) {
      issued.add(token);
      return "valid";
    }
    const expiredAt = (jwtExpiry(token) ?? 0) * 1000;
    const known = issued.has(token) || /has expired/.test(String(body.error_description));
    const late = expiredAt <= Date.now() && expiredAt > Date.now() - GRACE_MS;
    return known && late ? "late" : "invalid";
  }

  const http = createServer((req, res) => {
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (token) tokensSeen.add(token);
    (checkTokens ? check(token) : Promise.resolve("valid")).then(async (verdict) => {
      if (verdict === "invalid") {
        counters.unauthorized++;
        res.writeHead(401, {
          "content-type": "application/json",
          "www-authenticate": 'Bearer error="invalid_token"',
        });
        res.end(JSON.stringify({ error: "invalid_token" }));
        return;
      }
      if (verdict === "late") counters.lateTokens++;
      counters.accepted++;
      await handle(req, res, token);
    }).catch((error) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  // Idle connections are kept longer than a client's pool keeps them (Node's
  // 5 s default is close to undici's 4 s): on a loaded machine the two timers
  // drift, and a request sent on a connection the server is closing fails with
  // "fetch failed". close() ends every connection anyway.
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      await closeHandler().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    })();
  return Object.assign(counters, {
    url: `http://127.0.0.1:${port}/mcp`,
    tokensSeen,
    close,
    [Symbol.asyncDispose]: close,
  });
}

/** The SDK v1 MCP server of the tests. */
export interface TestMcpServer extends TokenCheckedServer {
  /** GET requests that reached the MCP transport: event streams opened by clients. */
  readonly eventStreams: number;
  /** The values of the `X-Team` header the server was sent. */
  readonly teamHeaders: readonly string[];
  /** Every Mcp-Session-Id the server created. */
  readonly sessions: readonly string[];
  /** What the tool `ask` got from the client (with `ask`). */
  readonly asked: AskAnswers;
  /** The resources subscribed to (`resources/subscribe`, and not unsubscribed), in any session. */
  readonly subscriptions: ReadonlySet<string>;
  /** The errors `ask`'s requests of the client were answered with: `error CODE: MESSAGE`. */
  readonly askErrors: readonly string[];
  /**
   * Asks the client of the latest session its roots outside any call (on the session's own
   * event stream, waiting 5 s at most): `answered URI...`, or `error CODE: MESSAGE`.
   */
  listRootsOutsideCalls(): Promise<string>;
}

/** The three tools of both MCP test servers, as `tools/list` answers them. */
export const TOOLS: {
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

/**
 * The tool `ask` of both servers when started with `ask`: it asks the client its name
 * (`elicitation/create`, with the call's token in the message, as a server that echoes secrets),
 * a completion (`sampling/createMessage`) and its roots (`roots/list`), and answers with them.
 */
export const ASK_TOOL: (typeof TOOLS)[number] = {
  name: "ask",
  description: "Asks the client its name, a completion and its roots.",
  inputSchema: { type: "object" as const, properties: {} },
};

/** The resource whose updates `change` announces (with `ask`), to those subscribed to it. */
export const MEMO_URI = "memo://ada";

/**
 * The tool `change` of both servers when started with `ask`: the server tells its clients that
 * its tools changed (`notifications/tools/list_changed`, in its era's way) and that
 * {@linkcode MEMO_URI} was updated (to those subscribed), and answers `changed`.
 */
export const CHANGE_TOOL: (typeof TOOLS)[number] = {
  name: "change",
  description: "Announces that the tools changed.",
  inputSchema: { type: "object" as const, properties: {} },
};

/**
 * The elicitation `ask` sends, with the token of the call in its message, and the call's
 * argument `tag` at its end (`#tag`) when it has one.
 */
export function askName(token: string, tag?: unknown): {
  message: string;
  requestedSchema: {
    type: "object";
    properties: { name: { type: "string" } };
    required: string[];
  };
} {
  return {
    message: `What is your name? (asked with ${token})${typeof tag === "string" ? ` #${tag}` : ""}`,
    requestedSchema: {
      type: "object",
      properties: { name: { type: "string" } },
      required: ["name"],
    },
  };
}

/** The sampling request `ask` sends. */
export const ASK_SAMPLE = {
  messages: [{ role: "user" as const, content: { type: "text" as const, text: "Say hi." } }],
  maxTokens: 10,
};

/** What the servers' `ask` got from the client, in order. */
export interface AskAnswers {
  /** The names the elicitations were answered with (`declined` when not accepted). */
  readonly names: string[];
  /** The root URIs of each `roots/list` answer, joined by a space. */
  readonly roots: string[];
  /** The text of each `sampling/createMessage` answer. */
  readonly samples: string[];
}

/** Keeps an elicitation and a roots answer in `answers`; the text `ask` answers with. */
export function askResult(
  answers: AskAnswers,
  elicited: { action?: unknown; content?: Record<string, unknown> } | undefined,
  sampled: { content?: { text?: unknown } } | undefined,
  listed: { roots?: { uri?: unknown }[] } | undefined,
  token: string,
): { content: { type: "text"; text: string }[] } {
  const name = elicited?.action === "accept" ? String(elicited.content?.name) : "declined";
  const sample = String(sampled?.content?.text);
  const roots = (listed?.roots ?? []).map((root) => String(root.uri)).join(" ");
  answers.names.push(name);
  answers.samples.push(sample);
  answers.roots.push(roots);
  return {
    content: [{
      type: "text",
      text: `hello ${name}; the model says ${sample}; roots ${roots}; token ${token}`,
    }],
  };
}

/**
 * The answer of a tool call of either server: `echo` answers the text (after `notify` sent a
 * log notification), `add` the sum, `whoami` the bearer token (a server that echoes secrets).
 */
export async function callTool(
  name: string,
  args: Record<string, unknown>,
  token: string | undefined,
  notify: (
    notification: { method: "notifications/message"; params: { level: "info"; data: string } },
  ) => Promise<void>,
): Promise<{ content: { type: "text"; text: string }[]; isError?: boolean }> {
  const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });
  if (name === "echo") {
    await notify({
      method: "notifications/message",
      params: { level: "info", data: `echoing ${String(args.text).length} characters` },
    });
    return text(String(args.text));
  }
  if (name === "add") return text(String(Number(args.a) + Number(args.b)));
  if (name === "whoami") return text(`your token is ${token}`);
  return { ...text("unknown tool"), isError: true };
}

/**
 * Starts the SDK v1 MCP server, stateful (Mcp-Session-Id), with the three tools of
 * {@linkcode callTool}; `echo`'s notification goes on the call's event stream. With `ask`,
 * the tool {@linkcode ASK_TOOL} too, whose requests go on the call's event stream.
 */
export async function startMcpServer(
  auth: LocalAuthServer,
  options: { ask?: boolean } = {},
): Promise<TestMcpServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const sessions: string[] = [];
  const asked: AskAnswers = { names: [], roots: [], samples: [] };
  const askErrors: string[] = [];
  let latest: Server | undefined;
  /** The resources subscribed to, in any session. */
  const subscribed = new Set<string>();
  const teamHeaders: string[] = [];
  let eventStreams = 0;

  function newMcpServer(): Server {
    const server = new Server(
      { name: "kognic-test-mcp", version: "1.0.0" },
      {
        capabilities: {
          tools: options.ask ? { listChanged: true } : {},
          ...(options.ask ? { resources: { subscribe: true } } : {}),
          logging: {},
        },
      },
    );
    if (options.ask) {
      server.setRequestHandler(SubscribeRequestSchema, (request: { params: { uri: string } }) => {
        subscribed.add(request.params.uri);
        return {};
      });
      server.setRequestHandler(
        UnsubscribeRequestSchema,
        (request: { params: { uri: string } }) => {
          subscribed.delete(request.params.uri);
          return {};
        },
      );
    }
    server.setRequestHandler(
      ListToolsRequestSchema,
      () => ({ tools: options.ask ? [...TOOLS, ASK_TOOL, CHANGE_TOOL] : TOOLS }),
    );
    server.setRequestHandler(CallToolRequestSchema, async (
      request: { params: { name: string; arguments?: Record<string, unknown> } },
      extra: {
        sendNotification(notification: unknown): Promise<void>;
        sendRequest<T>(request: unknown, schema: unknown): Promise<T>;
        authInfo?: { token: string };
      },
    ) => {
      const token = extra.authInfo?.token ?? "";
      if (options.ask && request.params.name === "ask") {
        const elicited = await extra.sendRequest<
          { action: string; content?: Record<string, unknown> }
        >(
          {
            method: "elicitation/create",
            params: askName(token, request.params.arguments?.tag),
          },
          ElicitResultSchema,
        ).catch((error: { code?: unknown; message?: unknown }) => {
          askErrors.push(`error ${error?.code}: ${error?.message}`);
          throw error;
        });
        const sampled = await extra.sendRequest<{ content: { text?: string } }>(
          { method: "sampling/createMessage", params: ASK_SAMPLE },
          CreateMessageResultSchema,
        );
        const listed = await extra.sendRequest<{ roots: { uri: string }[] }>(
          { method: "roots/list" },
          ListRootsResultSchema,
        );
        return askResult(asked, elicited, sampled, listed, token);
      }
      if (options.ask && request.params.name === "change") {
        // Unsolicited, on the session's own event stream.
        await server.sendToolListChanged();
        if (subscribed.has(MEMO_URI)) await server.sendResourceUpdated({ uri: MEMO_URI });
        return { content: [{ type: "text" as const, text: "changed" }] };
      }
      return await callTool(
        request.params.name,
        request.params.arguments ?? {},
        extra.authInfo?.token,
        (notification) => extra.sendNotification(notification),
      );
    });
    latest = server;
    return server;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const team = req.headers["x-team"];
    if (typeof team === "string") teamHeaders.push(team);
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

  const server = await serveBehindTokens(auth, handle, async () => {
    for (const transport of transports.values()) await transport.close().catch(() => {});
  });
  return Object.defineProperties(server, {
    eventStreams: { get: () => eventStreams },
    teamHeaders: { value: teamHeaders },
    sessions: { value: sessions },
    asked: { value: asked },
    subscriptions: { value: subscribed },
    askErrors: { value: askErrors },
    listRootsOutsideCalls: {
      value: async () => {
        if (!latest) return "error: no session";
        try {
          const listed = await latest.listRoots(undefined, { timeout: 5000 });
          return `answered ${listed.roots.map((root: { uri: string }) => root.uri).join(" ")}`;
        } catch (error) {
          const { code, message } = error as { code?: unknown; message?: unknown };
          return `error ${code}: ${message}`;
        }
      },
    },
  }) as TestMcpServer;
}

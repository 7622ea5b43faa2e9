// An MCP server of the 2026-07-28 era for the tests and the benchmark: the
// official SDK v2's `createMcpHandler` on node:http on 127.0.0.1, either
// serving only 2026-07-28 (`legacy: "reject"`) or both eras (`"stateless"`).
// Every request's bearer token is checked as mcp_server.ts's serveBehindTokens
// says; a request without a valid one gets 401.

import type { IncomingMessage, ServerResponse } from "node:http";
import { createMcpHandler, inputRequired, Server } from "@modelcontextprotocol/server";
import type { LocalAuthServer } from "../../testing.ts";
import {
  ASK_SAMPLE,
  ASK_TOOL,
  type AskAnswers,
  askName,
  askResult,
  callTool,
  CHANGE_TOOL,
  MEMO_URI,
  serveBehindTokens,
  type TokenCheckedServer,
  TOOLS,
} from "./mcp_server.ts";

/** The SDK v2 MCP server of the tests. */
export interface TestMcpServerV2 extends TokenCheckedServer {
  /** Requests that carried `MCP-Protocol-Version: 2026-07-28` (the new era). */
  readonly modernRequests: number;
  /** The JSON-RPC methods of the requests, in order. */
  readonly methods: readonly string[];
  /** What the tool `ask` got from the client (with `ask`). */
  readonly asked: AskAnswers;
  /** The `subscriptions/listen` streams open now. */
  readonly openListens: number;
  /**
   * Ends every open `subscriptions/listen` stream: `graceful` as the SDK does when its handler
   * closes (the stream's final, empty result; a fresh handler serves what follows), `abrupt` by
   * dropping the connection without one.
   */
  endListens(how: "graceful" | "abrupt"): Promise<void>;
}

/** Which eras the server answers. */
export interface McpServerV2Options {
  /** `reject`: only 2026-07-28; `stateless`: both eras. @default {"reject"} */
  legacy?: "reject" | "stateless";
  /** Check each token with the auth server (off for the benchmark's floor). @default {true} */
  checkTokens?: boolean;
  /**
   * Serve the tools `ask` and `change` too (`change` also announces an update of
   * {@linkcode MEMO_URI}, to those subscribed to it), which asks the client in the era's way: its name (an elicitation)
   * in one round, its roots in the next, as `input_required` results.
   */
  ask?: boolean;
}

/** Starts the server with the three tools of {@linkcode callTool}. */
export async function startMcpServerV2(
  auth: LocalAuthServer,
  options: McpServerV2Options = {},
): Promise<TestMcpServerV2> {
  const methods: string[] = [];
  let modernRequests = 0;
  const asked: AskAnswers = { names: [], roots: [], samples: [] };

  function newServer(): Server {
    const server = new Server(
      { name: "kognic-test-mcp-v2", version: "2.0.0" },
      {
        capabilities: {
          tools: options.ask ? { listChanged: true } : {},
          ...(options.ask ? { resources: { subscribe: true } } : {}),
          logging: {},
        },
      },
    );
    server.setRequestHandler(
      "tools/list",
      () => ({ tools: options.ask ? [...TOOLS, ASK_TOOL, CHANGE_TOOL] : TOOLS }),
    );
    server.setRequestHandler("tools/call", (request, ctx) => {
      const token = ctx.http?.authInfo?.token ?? "";
      if (options.ask && request.params.name === "ask") {
        // Round 1 asks the name and a completion; round 2 (their answers in hand, kept in
        // requestState) the roots.
        const responses = (ctx.mcpReq.inputResponses ?? {}) as Record<string, never>;
        const state = ctx.mcpReq.requestState();
        if (typeof state !== "string") {
          return inputRequired({
            inputRequests: {
              name: inputRequired.elicit(askName(token, request.params.arguments?.tag)),
              hi: inputRequired.createMessage(ASK_SAMPLE),
            },
            requestState: "round 1",
          });
        }
        if (state === "round 1") {
          return inputRequired({
            inputRequests: { roots: inputRequired.listRoots() },
            requestState: JSON.stringify([responses.name ?? null, responses.hi ?? null]),
          });
        }
        const [elicited, sampled] = JSON.parse(state);
        return askResult(
          asked,
          elicited ?? undefined,
          sampled ?? undefined,
          responses.roots,
          token,
        );
      }
      if (options.ask && request.params.name === "change") {
        // To the open `subscriptions/listen` streams that asked for them.
        handler.notify.toolsChanged();
        handler.notify.resourceUpdated(MEMO_URI);
        return { content: [{ type: "text" as const, text: "changed" }] };
      }
      return callTool(
        request.params.name,
        (request.params.arguments ?? {}) as Record<string, unknown>,
        token,
        (notification) => ctx.mcpReq.notify(notification),
      );
    });
    return server;
  }

  const newHandler = () => createMcpHandler(newServer, { legacy: options.legacy ?? "reject" });
  let handler = newHandler();
  /** The responses of the `subscriptions/listen` streams, and whether each has sent its start. */
  const listens = new Map<ServerResponse, boolean>();

  async function handle(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.headers["mcp-protocol-version"] === "2026-07-28") modernRequests++;
    try {
      const method = JSON.parse(body.toString()).method;
      if (typeof method === "string") methods.push(method);
      if (method === "subscriptions/listen") {
        // Open once its first bytes are written: ended before that, the client
        // would see its request fail rather than its stream end.
        listens.set(res, false);
        const write = res.write.bind(res) as (...args: unknown[]) => boolean;
        res.write = ((...args: unknown[]) => {
          const written = write(...args);
          if (listens.has(res)) listens.set(res, true);
          return written;
        }) as typeof res.write;
        res.on("close", () => listens.delete(res));
      }
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
      if (done || res.destroyed) break;
      res.write(value);
    }
    res.end();
  }

  async function endListens(how: "graceful" | "abrupt"): Promise<void> {
    if (how === "abrupt") {
      for (const res of listens.keys()) {
        res.socket?.destroy();
        res.destroy();
      }
      return;
    }
    const old = handler;
    handler = newHandler();
    await old.close();
  }

  const server = await serveBehindTokens(
    auth,
    handle,
    () => handler.close(),
    options.checkTokens ?? true,
  );
  return Object.defineProperties(server, {
    modernRequests: { get: () => modernRequests },
    methods: { value: methods },
    asked: { value: asked },
    openListens: { get: () => [...listens.values()].filter(Boolean).length },
    endListens: { value: endListens },
  }) as TestMcpServerV2;
}

// The MCP bridge of `kognic-auth mcp-proxy`: JSON-RPC lines on stdio, one
// MCP server over Streamable HTTP, whichever protocol era each side speaks.
//
// - Same era on both sides (the common case): the client's lines are posted
//   as they are, with the headers the era wants (the session and version of
//   2025-11-25; `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` of
//   2026-07-28, read from the line), and the response bytes are written back
//   as lines: a JSON body as it is, an event stream event by event. Only the
//   client's line is parsed, and only the `initialize` answer on the way back.
// - Different eras: MCP ends on both sides. The SDK's client speaks the
//   server's era upstream, and the SDK's stdio server speaks the client's era
//   on stdio; every request is passed on with the era's reserved `_meta` keys
//   left behind, and its progress comes back. The server's own requests
//   (elicitation, sampling, roots) go the other way in the form each era
//   has: a JSON-RPC request on stdio for a 2025 client, an `input_required`
//   result of the call in flight for a 2026-07-28 client (see InputFlow).
//
// Which era the server speaks is asked once at the start (`server/discover`);
// which era the client speaks, its first line says. Everything written to
// stdout passes one writer, which replaces any token the session sent (a
// server may echo one) and keeps one message per line.

import { AsyncLocalStorage } from "node:async_hooks";
import process from "node:process";
import { clientApi } from "./api_client.ts";
import type { Debug } from "./common.ts";
import { loadMcpBridgeKit } from "./mcp_sdk.ts";
import { concat } from "./skeleton.ts";

/** The revision of the MCP specification without sessions or `initialize`. */
export const MODERN_PROTOCOL_VERSION = "2026-07-28";
const PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
const RESERVED_META_PREFIX = "io.modelcontextprotocol/";
/** The largest message either side may send, in bytes of UTF-8 (a line, a body, an event). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** How long the server may take to answer `server/discover` at the start. */
const DISCOVER_TIMEOUT_MS = 15_000;
/** How long a forwarded request may run across eras (the SDK's default is 60 s). */
const CROSS_ERA_TIMEOUT_MS = 60 * 60 * 1000;
/**
 * How long, by default, the bridge waits across eras for the client's answers to the server's
 * requests: a 2025 client's answer to one, or a 2026-07-28 client's retry of the call with them.
 */
export const INPUT_WAIT_MS = 10 * 60 * 1000;
/** The server→client requests, each with the client capability it needs. */
const INPUT_METHODS: Record<string, string> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};
/** The requests whose 2026-07-28 result may be `input_required` (the only way to ask that client). */
const INPUT_REQUIRED_METHODS = new Set(["tools/call", "prompts/get", "resources/read"]);
/** At most this many requests of the server wait for a 2026-07-28 client's answers in one call. */
const MAX_PENDING_INPUTS = 32;
/** At most this many resources a 2025 client subscribes to through a 2026-07-28 bridge. */
const MAX_SUBSCRIPTIONS = 1000;
/** JSON-RPC error codes the bridge answers with. */
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;
/** The event stream of the 2025-11-25 era is reopened at most this many times in a row. */
const MAX_STREAM_RETRIES = 5;
const ACCEPT = "application/json, text/event-stream";
/** Which request's `params` field names the `Mcp-Name` header. */
const NAME_FIELDS: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

/** What the bridge needs from the command that starts it. */
export interface McpBridgeOptions {
  /** The MCP server's endpoint. */
  url: URL;
  /** The endpoint as messages name it (no query string). */
  where: string;
  /** The fetch that adds the current token (AuthSession.fetch). */
  fetch: typeof fetch;
  /** Extra headers of every request (`-H`). */
  headers: Record<string, string>;
  /** Text with every token the session sent replaced. */
  scrub(text: string): string;
  /** A message for stderr or the client: one line, scrubbed and cut. */
  clean(text: string): string;
  /** Reports a problem on stderr. */
  report(what: string, error: unknown): void;
  /** Debug lines (`-v`). */
  debug: Debug;
  /**
   * How long the client's answers to the server's requests may take across eras, in ms.
   * @default {INPUT_WAIT_MS}
   */
  inputWaitMs?: number;
}

/** What the bridge did, for the exit code and the debug output. */
export interface McpBridgeOutcome {
  /** `same` when messages were forwarded as they are, `cross` when MCP ended on both sides. */
  mode: "same" | "cross" | "none";
  /** A failure that ended the bridge before the client closed stdin. */
  failure?: unknown;
}

type Era = "modern" | "legacy";
type Id = string | number;

/** A client line and what the bridge reads from it. */
interface Line {
  text: string;
  message: Record<string, unknown> | undefined;
  id: Id | undefined;
  method: string | undefined;
}

/** A sink for the messages of one exchange: written to stdout, or kept. */
type Sink = (text: string) => void;

/**
 * Bridges stdio and the MCP server until the client closes stdin.
 *
 * @param options The server, the authenticated fetch and the scrubbers.
 * @returns How the bridge ran.
 */
export async function runMcpBridge(options: McpBridgeOptions): Promise<McpBridgeOutcome> {
  const bridge = new Bridge(options);
  return await bridge.run();
}

class Bridge {
  #options: McpBridgeOptions;
  #closed = new AbortController();
  /** The exchanges in flight, aborted when the client closes stdin. */
  #inflight = new Set<AbortController>();
  #sessionId: string | undefined;
  #protocolVersion: string | undefined;
  #initializeId: Id | undefined;
  #streamOpened = false;
  /** Lines that arrived before the mode was known, in order. */
  #queue: Line[] = [];
  #dispatch: ((line: Line) => void) | undefined;
  #outcome: McpBridgeOutcome = { mode: "none" };
  #fail: ((error: unknown) => void) | undefined;

  constructor(options: McpBridgeOptions) {
    this.#options = options;
  }

  async run(): Promise<McpBridgeOutcome> {
    const { debug } = this.#options;
    const failed = new Promise<void>((resolve) => {
      this.#fail = (error) => {
        this.#outcome.failure ??= error;
        resolve();
      };
    });
    const stdinClosed = new Promise<void>((resolve) => {
      process.stdin.once("end", resolve);
      process.stdin.once("close", resolve);
    });
    process.stdout.on("error", () => this.#fail?.(new Error("stdout was closed")));
    const discover = this.#discover();
    let first: Line | undefined;
    const firstLine = new Promise<Line>((resolve) => {
      this.#dispatch = (line) => {
        if (first) this.#queue.push(line);
        else resolve(first = line);
      };
    });
    this.#readLines();
    const started = Promise.race([firstLine, stdinClosed]).then(async (line) => {
      if (!line) return;
      await this.#start(line, await discover);
    }).catch((error) => this.#fail?.(error));
    await Promise.race([stdinClosed, failed]);
    debug("the MCP client closed stdin; ending the session");
    await Promise.race([started, delay(2000)]);
    this.#closed.abort();
    for (const request of this.#inflight) request.abort();
    await this.#end();
    return this.#outcome;
  }

  // -------------------------------------------------------------------------
  // stdio

  /** Splits stdin into lines (bounded), parses each just enough, dispatches in order. */
  #readLines(): void {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const decoder = new TextDecoder();
    const take = (bytes: Uint8Array): void => {
      let text = decoder.decode(bytes);
      if (text.endsWith("\r")) text = text.slice(0, -1);
      if (text.trim() === "") return;
      this.#dispatch?.(parseLine(text));
    };
    process.stdin.on("data", (chunk: Uint8Array) => {
      let start = 0;
      for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
        const part = chunk.subarray(start, end);
        if (pending.length) {
          pending.push(part);
          take(concat(pending));
          pending = [];
          pendingBytes = 0;
        } else take(part);
        start = end + 1;
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > MAX_MESSAGE_BYTES) {
          pending = [];
          pendingBytes = 0;
          this.#options.report(
            "bad message from the MCP client",
            `a line longer than ${MAX_MESSAGE_BYTES} bytes was dropped`,
          );
        }
      }
    });
  }

  /** Writes one message to the client: every token replaced, on one line. */
  #write = (text: string): void => {
    if (this.#closed.signal.aborted) return;
    let out = this.#options.scrub(text);
    if (out.includes("\n") || out.includes("\r")) {
      try {
        out = JSON.stringify(JSON.parse(out));
      } catch {
        this.#options.report(
          `from ${this.#options.where}`,
          "a message that is not JSON was dropped",
        );
        return;
      }
    }
    process.stdout.write(out + "\n");
  };

  /** Answers a client request the bridge could not forward. */
  #answerError(sink: Sink, line: Line, reason: string): void {
    if (line.id === undefined || line.method === undefined) {
      this.#options.report(`could not forward ${line.method ?? "a message"}`, reason);
      return;
    }
    sink(JSON.stringify({
      jsonrpc: "2.0",
      id: line.id,
      error: {
        code: -32000,
        message: this.#options.clean(
          `kognic-auth mcp-proxy could not forward ${line.method} to ${this.#options.where}${reason}`,
        ),
      },
    }));
  }

  // -------------------------------------------------------------------------
  // The start: which era each side speaks

  /** Asks the server for `server/discover`: its result when it speaks 2026-07-28, else undefined. */
  async #discover(): Promise<Record<string, unknown> | undefined> {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: "kognic-auth-discover",
      method: "server/discover",
      params: {
        _meta: {
          [PROTOCOL_VERSION_KEY]: MODERN_PROTOCOL_VERSION,
          "io.modelcontextprotocol/clientInfo": {
            name: "kognic-auth mcp-proxy",
            version: clientApi().VERSION,
          },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    });
    const kept: string[] = [];
    const line = parseLine(body);
    try {
      await this.#post(line, "modern", (text) => kept.push(text), DISCOVER_TIMEOUT_MS);
    } catch {
      return undefined;
    }
    for (const text of kept) {
      const message = parseJson(text);
      const result = message?.result as Record<string, unknown> | undefined;
      const versions = result?.supportedVersions;
      if (
        message?.id === line.id && Array.isArray(versions) &&
        versions.includes(MODERN_PROTOCOL_VERSION)
      ) {
        return result;
      }
    }
    return undefined;
  }

  async #start(first: Line, discover: Record<string, unknown> | undefined): Promise<void> {
    const { debug, where } = this.#options;
    const clientEra: Era = isModern(first) ? "modern" : "legacy";
    const serverEra: Era = discover ? "modern" : "legacy";
    debug(`the MCP client speaks ${eraName(clientEra)}; ${where} speaks ${eraName(serverEra)}`);
    if (clientEra === serverEra) return this.#sameEra(clientEra, first);
    if (clientEra === "legacy" && first.method === "initialize") {
      // A server of the new era may serve the old one too: ask it first.
      const kept: string[] = [];
      await this.#post(first, "legacy", (text) => kept.push(text));
      const answered = kept.some((text) => {
        const message = parseJson(text);
        return message?.id === first.id && message?.result !== undefined;
      });
      if (answered) {
        debug(`${where} serves ${eraName("legacy")} too`);
        for (const text of kept) this.#write(text);
        return this.#sameEra("legacy", undefined);
      }
      this.#sessionId = undefined;
      this.#protocolVersion = undefined;
      this.#initializeId = undefined;
    }
    await this.#crossEra(first, serverEra, discover);
  }

  // -------------------------------------------------------------------------
  // Same era: forward the lines as they are

  #sameEra(era: Era, first: Line | undefined): void {
    this.#outcome.mode = "same";
    this.#options.debug(`forwarding MCP messages as they are (${eraName(era)})`);
    const forward = (line: Line): void => {
      this.#post(line, era, this.#write).catch((error) =>
        this.#options.report(`from ${this.#options.where}`, error)
      );
    };
    this.#dispatch = forward;
    if (first) forward(first);
    for (const line of this.#queue.splice(0)) forward(line);
  }

  /**
   * A controller of one request's own, in `#inflight` (aborted when the client
   * closes stdin) until the caller deletes it. The fetch of Node.js (undici) and Deno's hang a
   * listener or a weak reference per request on the signal they are given, kept until a full
   * collection, so the bridge's own signal, which lives as long as the session, is never given to
   * a request.
   */
  #requestController(): AbortController {
    const request = new AbortController();
    this.#inflight.add(request);
    if (this.#closed.signal.aborted) request.abort();
    return request;
  }

  /**
   * Posts one client line; writes (or keeps) what comes back, an error answer if nothing can.
   * It ends when the answer has (or when `timeoutMs` passed, or the client closed stdin).
   */
  async #post(line: Line, era: Era, sink: Sink, timeoutMs?: number): Promise<void> {
    const request = this.#requestController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) timer = setTimeout(() => request.abort(), timeoutMs);
    // A request's exchange ends with its answer; what comes before it has a method
    // (notifications, the server's requests), so the first message without one is the answer.
    const awaited = line.id !== undefined && line.method !== undefined;
    let answered = false;
    const watched: Sink = (text) => {
      if (awaited && !answered) answered = isAnswer(text, line.id!);
      sink(text);
    };
    let failure: unknown;
    try {
      await this.#exchange(line, era, watched, request.signal);
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(request);
    }
    if (this.#closed.signal.aborted) return;
    // The answer broke off (a stalled or closed stream, one the server ended without its
    // answer): the client still waits for one.
    if (awaited && !answered) {
      this.#answerError(
        sink,
        line,
        failure === undefined
          ? ": the server ended the answer's event stream before the answer"
          : `: ${String((failure as Error)?.message ?? failure)}`,
      );
    } else if (failure !== undefined) throw failure;
  }

  async #exchange(line: Line, era: Era, sink: Sink, signal: AbortSignal): Promise<void> {
    const { fetch, headers: extra, url } = this.#options;
    // A plain object: the session makes the one Headers of the request from it.
    const headers: Record<string, string> = {
      ...extra,
      "content-type": "application/json",
      accept: ACCEPT,
    };
    if (era === "legacy") {
      if (line.method === "initialize") this.#initializeId = line.id;
      if (this.#sessionId) headers["mcp-session-id"] = this.#sessionId;
      if (this.#protocolVersion) headers["mcp-protocol-version"] = this.#protocolVersion;
    } else if (line.method !== undefined) {
      const params = line.message?.params as Record<string, unknown> | undefined;
      const meta = params?._meta as Record<string, unknown> | undefined;
      const version = meta?.[PROTOCOL_VERSION_KEY];
      headers["mcp-protocol-version"] = typeof version === "string"
        ? version
        : MODERN_PROTOCOL_VERSION;
      headers["mcp-method"] = line.method;
      const field = NAME_FIELDS[line.method];
      const name = field ? params?.[field] : undefined;
      if (typeof name === "string") headers["mcp-name"] = headerValue(name);
    }
    let response: Response;
    try {
      response = await fetch(url, { method: "POST", headers, body: line.text, signal });
    } catch (error) {
      if (this.#closed.signal.aborted) return;
      this.#answerError(sink, line, `: ${String((error as Error)?.message ?? error)}`);
      return;
    }
    if (era === "legacy" && line.method === "initialize") {
      this.#sessionId = response.headers.get("mcp-session-id") ?? undefined;
    }
    if (response.status === 202 || response.status === 204) {
      await response.body?.cancel().catch(() => {});
      if (era === "legacy" && line.method === "notifications/initialized") this.#openStream();
      return;
    }
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok) {
      // A JSON-RPC answer to this request in the body is the server's own words: pass it on.
      const text = await readText(response, MAX_MESSAGE_BYTES).catch(() => "");
      const message = type.includes("json") ? parseJson(text) : undefined;
      if (line.id !== undefined && message?.id === line.id && message.error !== undefined) {
        sink(text);
      } else if (line.id !== undefined) {
        this.#answerError(sink, line, ` (HTTP ${response.status})`);
      } else {
        this.#options.report(
          `from ${this.#options.where}`,
          `HTTP ${response.status} for ${line.method ?? "a response"}`,
        );
      }
      return;
    }
    const deliver = this.#initializeId === undefined ? sink : (text: string) => {
      this.#readInitialize(text);
      sink(text);
    };
    if (type.includes("text/event-stream")) {
      await readEvents(response, deliver, signal);
    } else if (type.includes("json")) {
      deliver(await readText(response, MAX_MESSAGE_BYTES));
    } else {
      await response.body?.cancel().catch(() => {});
      if (line.id !== undefined) {
        this.#answerError(sink, line, ` (an answer of type "${type.slice(0, 100)}")`);
      }
    }
  }

  /** The protocol version of the `initialize` answer, for the headers of what follows. */
  #readInitialize(text: string): void {
    const message = parseJson(text);
    if (message?.id !== this.#initializeId) return;
    this.#initializeId = undefined;
    const version = (message?.result as { protocolVersion?: unknown } | undefined)
      ?.protocolVersion;
    if (typeof version === "string" && /^[\w.-]{1,64}$/.test(version)) {
      this.#protocolVersion = version;
    }
  }

  /** Opens the 2025-11-25 event stream (server requests and notifications); reopens it when it ends. */
  #openStream(): void {
    if (this.#streamOpened) return;
    this.#streamOpened = true;
    const { fetch, headers: extra, url, debug } = this.#options;
    const loop = async (): Promise<void> => {
      let failures = 0;
      while (!this.#closed.signal.aborted && failures < MAX_STREAM_RETRIES) {
        const headers = new Headers(extra);
        headers.set("accept", "text/event-stream");
        if (this.#sessionId) headers.set("mcp-session-id", this.#sessionId);
        if (this.#protocolVersion) headers.set("mcp-protocol-version", this.#protocolVersion);
        const request = this.#requestController();
        try {
          const response = await fetch(url, { method: "GET", headers, signal: request.signal });
          if (response.status === 405) {
            await response.body?.cancel().catch(() => {});
            debug("the server has no event stream (HTTP 405)");
            return;
          }
          if (!response.ok || !response.headers.get("content-type")?.includes("event-stream")) {
            await response.body?.cancel().catch(() => {});
            failures++;
          } else {
            failures = 0;
            await readEvents(response, this.#write, request.signal);
          }
        } catch {
          failures++;
        } finally {
          this.#inflight.delete(request);
        }
        if (!this.#closed.signal.aborted) await delay(Math.min(1000 * 2 ** failures, 30_000));
      }
    };
    loop().catch((error) =>
      this.#options.report(`event stream from ${this.#options.where}`, error)
    );
  }

  // -------------------------------------------------------------------------
  // Different eras: MCP ends on both sides

  async #crossEra(
    first: Line,
    serverEra: Era,
    discover: Record<string, unknown> | undefined,
  ): Promise<void> {
    const { debug, where } = this.#options;
    this.#outcome.mode = "cross";
    let kit;
    try {
      kit = await loadMcpBridgeKit();
    } catch (error) {
      this.#answerError(this.#write, first, `: ${(error as Error).message}`);
      throw error;
    }
    debug(
      `bridging ${eraName(isModern(first) ? "modern" : "legacy")} on stdio and ${
        eraName(serverEra)
      } to ${where}`,
    );
    const params = first.message?.params as Record<string, unknown> | undefined;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const capabilities = (params?.capabilities ??
      meta?.["io.modelcontextprotocol/clientCapabilities"] ?? {}) as Record<string, unknown>;
    const clientEra: Era = isModern(first) ? "modern" : "legacy";
    const inputWait = this.#options.inputWaitMs ?? INPUT_WAIT_MS;
    const waited = `${inputWait / 1000} s`;
    const upstream = new kit.Client(
      { name: "kognic-auth mcp-proxy", version: clientApi().VERSION },
      { capabilities: pick(capabilities, Object.values(INPUT_METHODS)) },
    );
    /** The calls of a 2026-07-28 client in flight, by the `requestState` their rounds carry. */
    const flows = new Map<string, InputFlow>();
    /**
     * The flow each request of a 2025 server belongs to, by the request's id: the one whose
     * call's event stream it came on. The SDK does not say; the bridge reads the stream
     * on its way to the SDK (only a call's own stream, only for a 2026-07-28 client).
     */
    const flowOfRequest = new AsyncLocalStorage<InputFlow>();
    const requestFlows = new Map<Id, InputFlow>();
    const upstreamFetch: typeof fetch = async (input, init) => {
      const response = await this.#options.fetch(input, init);
      const flow = flowOfRequest.getStore();
      if (
        !flow || !response.body ||
        !response.headers.get("content-type")?.includes("text/event-stream")
      ) {
        return response;
      }
      const tagged = response.body.pipeThrough(serverRequests((id) => {
        if (requestFlows.size < MAX_PENDING_INPUTS * 64) requestFlows.set(id, flow);
      }));
      return new Response(tagged, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    };
    const transport = new kit.StreamableHTTPClientTransport(this.#options.url, {
      fetch: clientEra === "modern" && serverEra === "legacy" ? upstreamFetch : this.#options.fetch,
      requestInit: { headers: this.#options.headers },
    });
    let current: InstanceType<typeof kit.Server> | undefined;
    upstream.fallbackNotificationHandler = async (notification) => {
      await current?.notification(stripped(notification) as never).catch((error) =>
        debug(
          `${notification.method} was not passed on to the MCP client: ${
            this.#options.clean(errorText(error))
          }`,
        )
      );
    };
    upstream.onerror = (error) => this.#options.report(`from ${where}`, error);
    // The server's requests of the client, only those the client declared it takes. The SDK
    // hands them over in either era of the server: as JSON-RPC requests (2025-11-25) or as the
    // `input_required` results of a call (2026-07-28), which it answers and retries itself.
    for (const [method, capability] of Object.entries(INPUT_METHODS)) {
      if (!(capability in capabilities)) continue;
      upstream.setRequestHandler(
        method as never,
        (async (
          request: { params?: Record<string, unknown> },
          ctx: { mcpReq: { id: Id; signal: AbortSignal } },
        ) => {
          const params = stripped(request.params);
          const tagged = requestFlows.get(ctx.mcpReq.id);
          requestFlows.delete(ctx.mcpReq.id);
          if (clientEra === "legacy") {
            if (!current) throw rpcError(INTERNAL_ERROR, "the MCP client is not connected");
            let answer;
            try {
              answer = await current.request(
                { method, ...(params ? { params } : {}) } as never,
                PASSTHROUGH,
                { signal: ctx.mcpReq.signal, timeout: inputWait },
              );
            } catch (error) {
              // The SDK cancels the request on the client's side when its time is up.
              if (
                (error as { code?: unknown })?.code !== "REQUEST_TIMEOUT" ||
                ctx.mcpReq.signal.aborted
              ) {
                throw error;
              }
              const reason = `the MCP client did not answer ${method} within ${waited}`;
              debug(`${reason}; ${where} is told so`);
              throw rpcError(INTERNAL_ERROR, reason);
            }
            return stripped(answer as Record<string, unknown>);
          }
          // A client of 2026-07-28 is asked only within a call it is waiting on: the one on
          // whose event stream the request came, else the only one in flight.
          if (tagged && flows.has(tagged.id)) {
            return await tagged.ask(method, params, ctx.mcpReq.signal);
          }
          const open = [...flows.values()];
          if (open.length !== 1) {
            const reason = open.length === 0
              ? `an MCP ${MODERN_PROTOCOL_VERSION} client can be asked only within a call ` +
                `(tools/call, prompts/get, resources/read), and none is in flight`
              : `${open.length} calls are in flight and the request did not come on the ` +
                `event stream of one of them`;
            debug(`${method} from ${where} was refused: ${reason}`);
            throw rpcError(
              INTERNAL_ERROR,
              `kognic-auth mcp-proxy cannot pass on ${method}: ${reason}`,
            );
          }
          return await open[0].ask(method, params, ctx.mcpReq.signal);
        }) as never,
      );
    }
    try {
      await upstream.connect(
        transport,
        discover
          ? { prior: { kind: "modern", discover: discover as never } }
          : { prior: { kind: "legacy" } },
      );
    } catch (error) {
      this.#answerError(this.#write, first, `: ${String((error as Error)?.message ?? error)}`);
      throw error;
    }
    this.#ends.push(async () => {
      for (const flow of flows.values()) flow.abort(new Error("the MCP client closed stdin"));
      // Ending the 2025 session is a courtesy to the server; its failure is not an error.
      if (transport.sessionId) await transport.terminateSession().catch(() => {});
      await upstream.close();
    });
    const info = upstream.getServerVersion() ??
      { name: "kognic-auth mcp-proxy", version: clientApi().VERSION };
    const serverCapabilities = upstream.getServerCapabilities() ?? {};
    const instructions = upstream.getInstructions?.();

    // A 2025 client takes the server's change notifications unasked and subscribes to a
    // resource's updates with `resources/subscribe`; a 2026-07-28 server sends them only on a
    // `subscriptions/listen` stream, which the bridge keeps open for it (reopened when the
    // resources subscribed to change). The SDK hands what arrives on it to the handler above.
    let listening: { close(): Promise<void>; closed: Promise<string> } | undefined;
    const subscribed = new Set<string>();
    const listen = async (): Promise<void> => {
      const { tools, prompts, resources } = serverCapabilities as Record<
        string,
        { listChanged?: boolean; subscribe?: boolean } | undefined
      >;
      const filter = {
        ...(tools?.listChanged ? { toolsListChanged: true } : {}),
        ...(prompts?.listChanged ? { promptsListChanged: true } : {}),
        ...(resources?.listChanged ? { resourcesListChanged: true } : {}),
        ...(resources?.subscribe && subscribed.size > 0
          ? { resourceSubscriptions: [...subscribed] }
          : {}),
      };
      const previous = listening;
      const opened = Object.keys(filter).length > 0
        ? await upstream.listen(filter, { timeout: DISCOVER_TIMEOUT_MS })
        : undefined;
      listening = opened;
      opened?.closed.then((cause) => {
        if (cause !== "local" && listening === opened && !this.#closed.signal.aborted) {
          debug(`${where} ended the stream of change notifications (${cause}); it is not reopened`);
        }
      });
      await previous?.close().catch(() => {});
    };
    // One (re)opening at a time, in order.
    let listened: Promise<void> = Promise.resolve();
    const relisten = (): Promise<void> => (listened = listened.catch(() => {}).then(listen));
    const legacyListens = clientEra === "legacy" && serverEra === "modern";
    if (legacyListens) {
      relisten().catch((error) =>
        debug(
          `no change notifications from ${where}: ${this.#options.clean(errorText(error))}`,
        )
      );
      this.#ends.unshift(async () => await listening?.close());
    }
    /** `resources/subscribe` and `/unsubscribe` of a 2025 client, as the listen stream's filter. */
    const subscribe = async (
      method: string,
      params: Record<string, unknown> | undefined,
    ): Promise<Record<string, unknown>> => {
      const uri = params?.uri;
      if (typeof uri !== "string") throw rpcError(INVALID_PARAMS, `${method} needs a uri`);
      if (method === "resources/unsubscribe") subscribed.delete(uri);
      else if (subscribed.size >= MAX_SUBSCRIPTIONS) {
        throw rpcError(INTERNAL_ERROR, `more than ${MAX_SUBSCRIPTIONS} resources subscribed to`);
      } else subscribed.add(uri);
      await relisten();
      return {};
    };

    /** Sends one request upstream; its progress goes to `progress` as it comes. */
    const forward = (
      method: string,
      params: Record<string, unknown> | undefined,
      signal: AbortSignal,
      progress: ((progress: Record<string, unknown>) => void) | undefined,
    ): Promise<Record<string, unknown>> =>
      upstream.request(
        { method, params: stripped(params) },
        PASSTHROUGH,
        {
          signal,
          timeout: CROSS_ERA_TIMEOUT_MS,
          resetTimeoutOnProgress: true,
          ...(progress ? { onprogress: progress } : {}),
        },
      ).then((result) => stripped(result as Record<string, unknown>));

    const factory = (): InstanceType<typeof kit.Server> => {
      const server = new kit.Server(
        { name: info.name, version: info.version },
        { capabilities: serverCapabilities, ...(instructions ? { instructions } : {}) },
      );
      server.fallbackRequestHandler = async (request, ctx) => {
        const token = (request.params?._meta as Record<string, unknown> | undefined)
          ?.progressToken;
        const progress = token === undefined
          ? undefined
          : (value: Record<string, unknown>) =>
            void ctx.mcpReq.notify({
              method: "notifications/progress",
              params: { ...value, progressToken: token },
            } as never).catch(() => {});
        if (
          legacyListens &&
          (request.method === "resources/subscribe" || request.method === "resources/unsubscribe")
        ) {
          return await subscribe(request.method, request.params) as never;
        }
        if (clientEra === "legacy" || !INPUT_REQUIRED_METHODS.has(request.method)) {
          return await forward(
            request.method,
            request.params,
            ctx.mcpReq.signal,
            progress,
          ) as never;
        }
        // A call of a 2026-07-28 client: a round of an InputFlow, the first or a retry.
        const mcpReq = ctx.mcpReq as typeof ctx.mcpReq & {
          requestState?: () => unknown;
          inputResponses?: Record<string, unknown>;
        };
        const state = mcpReq.requestState?.();
        let flow: InputFlow | undefined;
        if (state === undefined) {
          flow = new InputFlow(
            (signal, self) =>
              // The flow goes with the call's HTTP request, to tell which call the server's
              // requests on its event stream belong to.
              flowOfRequest.run(
                self,
                () =>
                  forward(
                    request.method,
                    request.params,
                    signal,
                    (value) => self.progress?.(value),
                  ),
              ),
            inputWait,
            (reason) => debug(`${reason}; the call to ${where} was ended`),
          );
          flows.set(flow.id, flow);
          flow.done.finally(() => {
            flows.delete(flow!.id);
            for (const [id, of] of requestFlows) if (of === flow) requestFlows.delete(id);
          }).catch(() => {});
        } else {
          flow = typeof state === "string" ? flows.get(state) : undefined;
          if (!flow) throw rpcError(INVALID_PARAMS, "Invalid or expired requestState");
          flow.answer(mcpReq.inputResponses ?? {});
        }
        return await flow.round(ctx.mcpReq.signal, progress) as never;
      };
      server.fallbackNotificationHandler = async (notification) => {
        if (legacyListens && notification.method === "notifications/roots/list_changed") {
          // The server asks for the roots within each call, so it always has the current ones.
          debug(
            `${notification.method} is not passed on: MCP ${MODERN_PROTOCOL_VERSION} has no such ` +
              `notification (the server asks for the roots within a call)`,
          );
          return;
        }
        await upstream.notification(stripped(notification) as never).catch((error) =>
          debug(
            `${notification.method} was not passed on to ${where}: ${
              this.#options.clean(errorText(error))
            }`,
          )
        );
      };
      current = server;
      return server;
    };

    const stdio = new LineTransport(this.#write);
    const handle = kit.serveStdio(factory, {
      transport: stdio,
      onerror: (error) => this.#options.report("bridging the eras", error),
    });
    this.#ends.push(() => handle.close());
    // A 2026-07-28 client names the resources whose updates it wants in its `subscriptions/listen`
    // requests, which the SDK's stdio server serves itself; a 2025 server sends updates only of
    // the resources subscribed to with `resources/subscribe`. The bridge subscribes upstream to
    // the resources of the client's open listen streams, and unsubscribes when none names one.
    const listenUris = new Map<Id, string[]>();
    const uriCounts = new Map<string, number>();
    const resubscribe = (method: string, uri: string): void => {
      upstream.request({ method, params: { uri } }, PASSTHROUGH, { timeout: DISCOVER_TIMEOUT_MS })
        .catch((error) =>
          debug(`${method} ${uri} at ${where} failed: ${this.#options.clean(errorText(error))}`)
        );
    };
    const watchListens = clientEra === "modern" && serverEra === "legacy" &&
      Boolean((serverCapabilities as { resources?: { subscribe?: boolean } }).resources?.subscribe);
    const watch = (line: Line): void => {
      const params = line.message?.params as Record<string, unknown> | undefined;
      if (line.method === "subscriptions/listen" && line.id !== undefined) {
        const wanted = (params?.notifications as Record<string, unknown> | undefined)
          ?.resourceSubscriptions;
        if (!Array.isArray(wanted) || listenUris.has(line.id)) return;
        const uris = [...new Set(wanted.filter((uri) => typeof uri === "string"))]
          .slice(0, MAX_SUBSCRIPTIONS - uriCounts.size);
        listenUris.set(line.id, uris);
        for (const uri of uris) {
          const count = uriCounts.get(uri) ?? 0;
          uriCounts.set(uri, count + 1);
          if (count === 0) resubscribe("resources/subscribe", uri);
        }
      } else if (line.method === "notifications/cancelled") {
        const id = params?.requestId;
        const uris = typeof id === "string" || typeof id === "number"
          ? listenUris.get(id)
          : undefined;
        if (!uris) return;
        listenUris.delete(id as Id);
        for (const uri of uris) {
          const count = (uriCounts.get(uri) ?? 1) - 1;
          if (count > 0) uriCounts.set(uri, count);
          else {
            uriCounts.delete(uri);
            resubscribe("resources/unsubscribe", uri);
          }
        }
      }
    };
    const receive = (line: Line): void => {
      if (!line.message) {
        this.#options.report("bad message from the MCP client", "a line that is not JSON");
        return;
      }
      if (watchListens) watch(line);
      stdio.receive(line.message);
    };
    this.#dispatch = receive;
    await stdio.started;
    receive(first);
    for (const line of this.#queue.splice(0)) receive(line);
  }

  #ends: (() => Promise<void>)[] = [];

  /** Ends the session politely (bounded): the 2025-11-25 session, the SDK halves. */
  async #end(): Promise<void> {
    const ends = this.#ends.map((end) => end().catch(() => {}));
    if (this.#sessionId) {
      const headers = new Headers(this.#options.headers);
      headers.set("mcp-session-id", this.#sessionId);
      if (this.#protocolVersion) headers.set("mcp-protocol-version", this.#protocolVersion);
      ends.push(
        this.#options.fetch(this.#options.url, {
          method: "DELETE",
          headers,
          signal: AbortSignal.timeout(2000),
        }).then((response) => response.body?.cancel()).catch(() => {}),
      );
    }
    await Promise.race([Promise.all(ends), delay(2000)]);
  }
}

/** The SDK's stdio side of the cross-era bridge: lines in from the reader, lines out through the writer. */
class LineTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  // deno-lint-ignore no-explicit-any
  onmessage?: (message: any) => void;
  started: Promise<void>;
  #start!: () => void;
  #write: (text: string) => void;

  constructor(write: (text: string) => void) {
    this.#write = write;
    this.started = new Promise((resolve) => (this.#start = resolve));
  }

  start(): Promise<void> {
    this.#start();
    return Promise.resolve();
  }

  send(message: unknown): Promise<void> {
    this.#write(JSON.stringify(message));
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.onclose?.();
    return Promise.resolve();
  }

  receive(message: Record<string, unknown>): void {
    this.onmessage?.(message);
  }
}

/** A request of the server that a 2026-07-28 client is to answer. */
interface Asked {
  key: string;
  method: string;
  params: Record<string, unknown> | undefined;
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/**
 * One call of a 2026-07-28 client bridged to a 2025 server, over as many rounds as the server
 * asks the client things. That era has no requests from server to client: the requests the
 * server sends while the call runs are put to the client as the call's `input_required` result
 * (`inputRequests`, and the flow's id as `requestState`); the client answers them and retries
 * the call with `inputResponses`, which go back to the server as the answers of its requests,
 * and the retry waits for the next requests or the call's result.
 */
class InputFlow {
  /** The `requestState` of the flow's rounds. */
  readonly id: string = crypto.randomUUID();
  /** The call's result from the server. */
  readonly done: Promise<Record<string, unknown>>;
  /** Where the call's progress goes: the current round's. */
  progress: ((value: Record<string, unknown>) => void) | undefined;
  #controller = new AbortController();
  #finished = false;
  /** Asked by the server, not yet put to the client. */
  #asked: Asked[] = [];
  /** Put to the client, answered by its retry. */
  #sent = new Map<string, Asked>();
  #wake: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #keys = 0;
  #waitMs: number;
  #gaveUp: (reason: string) => void;

  /**
   * @param start Sends the call upstream.
   * @param waitMs How long the client may take to retry the call with its answers.
   * @param gaveUp Told why, when the client took longer and the call was ended.
   */
  constructor(
    start: (signal: AbortSignal, flow: InputFlow) => Promise<Record<string, unknown>>,
    waitMs: number,
    gaveUp: (reason: string) => void,
  ) {
    this.#waitMs = waitMs;
    this.#gaveUp = gaveUp;
    this.done = start(this.#controller.signal, this);
    const finish = (): void => {
      this.#finished = true;
      clearTimeout(this.#timer);
      this.#drop(rpcError(INTERNAL_ERROR, "the call this request belongs to has ended"));
      this.#wake?.();
    };
    this.done.then(finish, finish);
  }

  /** A request of the server: answered when the client retries the call with its answer. */
  ask(
    method: string,
    params: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    if (this.#finished) {
      return Promise.reject(rpcError(INTERNAL_ERROR, "the call this request belongs to has ended"));
    }
    if (this.#asked.length + this.#sent.size >= MAX_PENDING_INPUTS) {
      return Promise.reject(
        rpcError(INTERNAL_ERROR, `more than ${MAX_PENDING_INPUTS} requests of the client at once`),
      );
    }
    return new Promise((resolve, reject) => {
      const entry: Asked = { key: `input-${++this.#keys}`, method, params, resolve, reject };
      this.#asked.push(entry);
      signal.addEventListener("abort", () => {
        this.#asked = this.#asked.filter((other) => other !== entry);
        this.#sent.delete(entry.key);
        reject(signal.reason instanceof Error ? signal.reason : new Error("cancelled"));
      }, { once: true });
      this.#wake?.();
    });
  }

  /** The client's retry: its answers to what the last round asked. */
  answer(responses: Record<string, unknown>): void {
    clearTimeout(this.#timer);
    for (const [key, entry] of this.#sent) {
      const response = Object.hasOwn(responses, key) ? responses[key] : undefined;
      if (response && typeof response === "object" && !Array.isArray(response)) {
        entry.resolve(response as Record<string, unknown>);
      } else {
        entry.reject(rpcError(INTERNAL_ERROR, `the MCP client did not answer ${entry.method}`));
      }
    }
    this.#sent.clear();
  }

  /** One round: the call's result, or `input_required` with what the server asked meanwhile. */
  async round(
    signal: AbortSignal,
    progress: ((value: Record<string, unknown>) => void) | undefined,
  ): Promise<Record<string, unknown>> {
    this.progress = progress;
    const onAbort = (): void => this.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!this.#finished && this.#asked.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
      if (this.#finished) return await this.done;
      const inputRequests: Record<string, unknown> = {};
      for (const entry of this.#asked.splice(0)) {
        this.#sent.set(entry.key, entry);
        inputRequests[entry.key] = {
          method: entry.method,
          ...(entry.params ? { params: entry.params } : {}),
        };
      }
      this.#timer = setTimeout(() => {
        const reason = `the MCP client did not retry the call with its answers within ${
          this.#waitMs / 1000
        } s`;
        this.#gaveUp(reason);
        this.abort(new Error(reason));
      }, this.#waitMs);
      (this.#timer as { unref?: () => void }).unref?.();
      return { resultType: "input_required", inputRequests, requestState: this.id };
    } finally {
      this.#wake = undefined;
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Ends the flow: the call upstream is cancelled, and the server's requests answered with an error. */
  abort(reason: unknown): void {
    clearTimeout(this.#timer);
    this.#drop(rpcError(INTERNAL_ERROR, `the call was ended: ${errorText(reason)}`));
    this.#controller.abort(reason);
  }

  #drop(error: Error): void {
    for (const entry of [...this.#asked, ...this.#sent.values()]) entry.reject(error);
    this.#asked = [];
    this.#sent.clear();
  }
}

/** A result schema that takes whatever the server answered (the stdio side's SDK checks it). */
const PASSTHROUGH = {
  "~standard": {
    version: 1 as const,
    vendor: "kognic-auth",
    validate: (value: unknown) => ({ value: value as Record<string, unknown> }),
  },
};

// ---------------------------------------------------------------------------
// Helpers

function parseLine(text: string): Line {
  const message = parseJson(text);
  const id = message?.id;
  return {
    text,
    message,
    id: typeof id === "string" || typeof id === "number" ? id : undefined,
    method: typeof message?.method === "string" ? message.method : undefined,
  };
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a message the server sent in a request's exchange is the answer to request `id`. */
function isAnswer(text: string, id: Id): boolean {
  if (!text.includes('"method"')) return true;
  const message = parseJson(text);
  return message !== undefined && message.method === undefined && message.id === id;
}

/** Whether a client line is of the 2026-07-28 era: a discovery, or a request with its version in `_meta`. */
function isModern(line: Line): boolean {
  if (line.method === "server/discover") return true;
  const meta = (line.message?.params as Record<string, unknown> | undefined)?._meta as
    | Record<string, unknown>
    | undefined;
  const version = meta?.[PROTOCOL_VERSION_KEY];
  return typeof version === "string" && version >= MODERN_PROTOCOL_VERSION;
}

function eraName(era: Era): string {
  return era === "modern" ? `MCP ${MODERN_PROTOCOL_VERSION}` : "MCP 2025 (initialize)";
}

/** A copy of params or a result without the era's reserved `_meta` keys. */
function stripped<T extends Record<string, unknown> | undefined>(value: T): T {
  const meta = value?._meta as Record<string, unknown> | undefined;
  if (!value || !meta || typeof meta !== "object") return value;
  const kept = Object.fromEntries(
    Object.entries(meta).filter(([key]) => !key.startsWith(RESERVED_META_PREFIX)),
  );
  const { _meta: _, ...rest } = value as Record<string, unknown>;
  const out: Record<string, unknown> = Object.keys(kept).length ? { ...rest, _meta: kept } : rest;
  if ("params" in out && out.params && typeof out.params === "object") {
    out.params = stripped(out.params as Record<string, unknown>);
  }
  return out as T;
}

/** An error the SDK answers a request with: its code and message. */
function rpcError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function errorText(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0].slice(0, 300);
}

function pick(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => key in value).map((key) => [key, value[key]]));
}

/** A header value as the SDK sends it: printable ASCII as it is, anything else base64 in a marker. */
function headerValue(value: string): string {
  const plain = value.length > 0 && value === value.trim() && !value.startsWith("=?base64?") &&
    /^[\t\x20-\x7e]*$/.test(value);
  if (plain) return value;
  const bytes = new TextEncoder().encode(value);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `=?base64?${btoa(binary)}?=`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}

/** Decodes whole messages (never a part of one): one decoder serves every exchange. */
const UTF8 = new TextDecoder();

/** A response body as text, at most `max` bytes (more is an error), decoded once. */
async function readText(response: Response, max: number): Promise<string> {
  const length = Number(response.headers.get("content-length"));
  if (response.body === null) return "";
  if (Number.isFinite(length) && length > 0 && length <= max) return await response.text();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
    if (bytes > max) {
      await reader.cancel().catch(() => {});
      throw new Error(`an answer longer than ${max} bytes`);
    }
    chunks.push(value);
  }
  return UTF8.decode(chunks.length === 1 ? chunks[0] : concat(chunks));
}

/**
 * Splits event-stream bytes into events, as they come: each chunk's bytes are scanned once for
 * the blank line that ends an event (after `\n`, `\r\n` or `\r` line ends, also across chunks),
 * and each event is decoded once. An event longer than {@linkcode MAX_MESSAGE_BYTES} is an error.
 */
class EventSplitter {
  /** The parts of the event begun in earlier chunks. */
  #parts: Uint8Array[] = [];
  #bytes = 0;
  /** The last byte seen ended a line (an end of line now is a blank line: the event ends). */
  #lineStart = true;
  /** The last byte seen was `\r` (a `\n` now belongs to the same line end). */
  #afterCr = false;

  /** Gives the data of each complete `message` event in `chunk` to `sink`. */
  push(chunk: Uint8Array, sink: Sink): void {
    if (chunk.length === 0) return;
    let from = 0;
    const event = (end: number): void => {
      let bytes = chunk.subarray(from, end);
      if (this.#parts.length) {
        this.#parts.push(bytes);
        bytes = concat(this.#parts);
        this.#parts = [];
        this.#bytes = 0;
      }
      const data = eventData(UTF8.decode(bytes));
      if (data !== undefined) sink(data);
    };
    if (chunk.indexOf(13) === -1) {
      // Only "\n" line ends in this chunk (the common case): jump from one to the next.
      const skip = this.#afterCr && chunk[0] === 10 ? 1 : 0;
      if (this.#parts.length === 0) from = skip;
      let lineStart = this.#lineStart ? skip : -1;
      for (let at = chunk.indexOf(10, skip); at !== -1; at = chunk.indexOf(10, at + 1)) {
        if (at === lineStart) {
          event(at);
          from = at + 1;
        }
        lineStart = at + 1;
      }
      this.#lineStart = lineStart === chunk.length;
      this.#afterCr = false;
    } else {
      for (let at = 0; at < chunk.length; at++) {
        const byte = chunk[at];
        if (this.#afterCr) {
          this.#afterCr = false;
          if (byte === 10) {
            // The "\n" of a "\r\n" that ended an event starts no new one.
            if (from === at && this.#parts.length === 0) from = at + 1;
            continue;
          }
        }
        if (byte !== 10 && byte !== 13) {
          this.#lineStart = false;
          continue;
        }
        if (this.#lineStart) {
          event(at);
          from = at + 1;
        }
        this.#lineStart = true;
        this.#afterCr = byte === 13;
      }
    }
    if (from < chunk.length) {
      this.#bytes += chunk.length - from;
      if (this.#bytes > MAX_MESSAGE_BYTES) throw new Error("an event longer than allowed");
      // A copy: the chunk's buffer is read into again.
      this.#parts.push(chunk.slice(from));
    }
  }
}

/** The size of the buffers event streams are read into. */
const READ_BUFFER_BYTES = 64 * 1024;
/** At most this many read buffers are kept for reuse (one per event stream being read). */
const MAX_SPARE_BUFFERS = 32;
const spareBuffers: ArrayBuffer[] = [];

/**
 * Reads an event stream, giving each `message` event's data to `sink` as it arrives; events are
 * bounded. Where the body is a byte stream (Deno, Node.js), it is read into a buffer that serves
 * one read after another and then the next stream: a plain reader gets a new 64 KiB buffer for
 * every read on Deno, the end of the stream included.
 */
async function readEvents(response: Response, sink: Sink, signal: AbortSignal): Promise<void> {
  const body = response.body;
  if (!body) return;
  let buffer: ArrayBuffer | undefined;
  let reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = body.getReader({ mode: "byob" });
    buffer = spareBuffers.pop() ?? new ArrayBuffer(READ_BUFFER_BYTES);
  } catch {
    reader = body.getReader();
  }
  const events = new EventSplitter();
  const onAbort = (): void => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  let ended = false;
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      if (buffer) {
        result = await (reader as ReadableStreamBYOBReader).read(new Uint8Array(buffer));
        // The buffer comes back (moved) with what was read in it.
        buffer = result.value?.buffer as ArrayBuffer | undefined;
      } else result = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
      if (result.done) {
        ended = true;
        break;
      }
      events.push(result.value, sink);
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    // A stream read to its end needs no release: its reader and it are left to the collector.
    if (!ended) await reader.cancel().catch(() => {});
    else if (buffer?.byteLength === READ_BUFFER_BYTES && spareBuffers.length < MAX_SPARE_BUFFERS) {
      spareBuffers.push(buffer);
    }
  }
}

/**
 * Passes an event stream on unchanged, giving `found` the id of each request of the client in it
 * (elicitation, sampling, roots) before the request itself goes on (events are split as in {@linkcode readEvents};
 * past an event too long, the stream passes on unread).
 */
function serverRequests(found: (id: Id) => void): TransformStream<Uint8Array, Uint8Array> {
  let events: EventSplitter | undefined = new EventSplitter();
  const look: Sink = (data) => {
    if (!data.includes('"method"')) return;
    const message = parseJson(data);
    const id = message?.id;
    if (
      typeof message?.method === "string" && message.method in INPUT_METHODS &&
      (typeof id === "string" || typeof id === "number")
    ) {
      found(id);
    }
  };
  return new TransformStream({
    transform(chunk, controller): void {
      try {
        events?.push(chunk, look);
      } catch {
        events = undefined;
      }
      controller.enqueue(chunk);
    },
  });
}

/** The data of one event-stream event when it is a `message` event, else undefined. */
function eventData(event: string): string | undefined {
  let data: string | undefined;
  let type = "";
  for (const line of event.split(event.includes("\r") ? /\r\n?|\n/ : "\n")) {
    if (line.startsWith("data:")) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    } else if (line.startsWith("event:")) {
      type = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
    }
  }
  return type === "" || type === "message" ? data : undefined;
}

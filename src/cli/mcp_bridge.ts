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
//   left behind, and its progress comes back.
//
// Which era the server speaks is asked once at the start (`server/discover`);
// which era the client speaks, its first line says. Everything written to
// stdout passes one writer, which replaces any token the session sent (a
// server may echo one) and keeps one message per line.

import process from "node:process";
import { clientApi } from "./api_client.ts";
import type { Debug } from "./common.ts";
import { loadMcpBridgeKit } from "./mcp_sdk.ts";

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
  /** The requests in flight, aborted when the client closes stdin. */
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
          take(concat(pending, pendingBytes + part.length));
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
   * Posts one client line; writes (or keeps) what comes back, an error answer if nothing can.
   * It ends when the answer has (or when `timeoutMs` passed, or the client closed stdin).
   */
  async #post(line: Line, era: Era, sink: Sink, timeoutMs?: number): Promise<void> {
    const request = new AbortController();
    this.#inflight.add(request);
    const timer = timeoutMs === undefined
      ? undefined
      : setTimeout(() => request.abort(), timeoutMs);
    let delivered = 0;
    const counted: Sink = (text) => {
      delivered++;
      sink(text);
    };
    try {
      await this.#exchange(line, era, counted, request.signal);
    } catch (error) {
      // The answer broke off (a stalled or closed stream): the client still waits for one.
      if (delivered > 0 || this.#closed.signal.aborted) throw error;
      this.#answerError(sink, line, `: ${String((error as Error)?.message ?? error)}`);
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(request);
    }
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
        try {
          const response = await fetch(url, {
            method: "GET",
            headers,
            signal: this.#closed.signal,
          });
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
            await readEvents(response, this.#write, this.#closed.signal);
          }
        } catch {
          failures++;
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
    const upstream = new kit.Client(
      { name: "kognic-auth mcp-proxy", version: clientApi().VERSION },
      { capabilities: pick(capabilities, ["roots", "sampling", "elicitation"]) },
    );
    const transport = new kit.StreamableHTTPClientTransport(this.#options.url, {
      fetch: this.#options.fetch,
      requestInit: { headers: this.#options.headers },
    });
    let current: InstanceType<typeof kit.Server> | undefined;
    upstream.fallbackNotificationHandler = async (notification) => {
      await current?.notification(stripped(notification) as never).catch(() => {});
    };
    upstream.onerror = (error) => this.#options.report(`from ${where}`, error);
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
      // Ending the 2025 session is a courtesy to the server; its failure is not an error.
      if (transport.sessionId) await transport.terminateSession().catch(() => {});
      await upstream.close();
    });
    const info = upstream.getServerVersion() ??
      { name: "kognic-auth mcp-proxy", version: clientApi().VERSION };
    const serverCapabilities = upstream.getServerCapabilities() ?? {};
    const instructions = upstream.getInstructions?.();

    const factory = (): InstanceType<typeof kit.Server> => {
      const server = new kit.Server(
        { name: info.name, version: info.version },
        { capabilities: serverCapabilities, ...(instructions ? { instructions } : {}) },
      );
      server.fallbackRequestHandler = async (request, ctx) => {
        const token = (request.params?._meta as Record<string, unknown> | undefined)
          ?.progressToken;
        const result = await upstream.request(
          { method: request.method, params: stripped(request.params) },
          PASSTHROUGH,
          {
            signal: ctx.mcpReq.signal,
            timeout: CROSS_ERA_TIMEOUT_MS,
            resetTimeoutOnProgress: true,
            ...(token !== undefined
              ? {
                onprogress: (progress: Record<string, unknown>) =>
                  ctx.mcpReq.notify({
                    method: "notifications/progress",
                    params: { ...progress, progressToken: token },
                  } as never).catch(() => {}),
              }
              : {}),
          },
        );
        return stripped(result as Record<string, unknown>) as never;
      };
      server.fallbackNotificationHandler = async (notification) => {
        await upstream.notification(stripped(notification) as never).catch(() => {});
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
    const forward = (line: Line): void => {
      if (line.message) stdio.receive(line.message);
      else this.#options.report("bad message from the MCP client", "a line that is not JSON");
    };
    this.#dispatch = forward;
    await stdio.started;
    forward(first);
    for (const line of this.#queue.splice(0)) forward(line);
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

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}

/** A response body as text, at most `max` bytes (more is an error). */
async function readText(response: Response, max: number): Promise<string> {
  const length = Number(response.headers.get("content-length"));
  if (response.body === null) return "";
  if (Number.isFinite(length) && length > 0 && length <= max) return await response.text();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
    if (bytes > max) {
      await reader.cancel().catch(() => {});
      throw new Error(`an answer longer than ${max} bytes`);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/** Reads an event stream, giving each `message` event's data to `sink`; events are bounded. */
async function readEvents(response: Response, sink: Sink, signal: AbortSignal): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const onAbort = (): void => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // Line ends of any kind become "\n"; a "\r" at the end waits for what follows it.
      if (buffer.includes("\r") && !buffer.endsWith("\r")) buffer = buffer.replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = eventData(event);
        if (data !== undefined) sink(data);
      }
      if (buffer.length > MAX_MESSAGE_BYTES) throw new Error("an event longer than allowed");
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    await reader.cancel().catch(() => {});
  }
}

/** The data of one event-stream event when it is a `message` event, else undefined. */
function eventData(event: string): string | undefined {
  let data: string | undefined;
  let type = "";
  for (const line of event.split("\n")) {
    if (line.startsWith("data:")) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    } else if (line.startsWith("event:")) {
      type = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
    }
  }
  return type === "" || type === "message" ? data : undefined;
}

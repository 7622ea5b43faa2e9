// Small stand-in HTTP servers on 127.0.0.1 for the tests that need a server other than the local
// auth server: another origin, a token server that misbehaves, a port with nothing on it.

import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/** A running stand-in server. */
export interface StandIn {
  /** The base URL, such as `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

/** Answers one request to a stand-in server, given the request body read as text. */
export type StandInHandler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/**
 * Starts a `node:http` server on 127.0.0.1 (a free port) that reads each request's body and then
 * hands the request to `handle`.
 */
export async function startStandIn(handle: StandInHandler): Promise<StandIn> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => handle(req, res, body));
  });
  server.keepAliveTimeout = 60_000; // as the local auth server: no keep-alive race under load
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Whether this runtime's fetch reads a response body ahead of its reader
 * without bound (Bun: it takes a flood's 108 MiB as fast as it comes), so that
 * a server cannot tell that the reader stopped early.
 */
export const FETCH_READS_AHEAD = "Bun" in globalThis;

/**
 * The length of a flood that a reader stopping at 100 MiB must not see end:
 * 1 GiB, far past what a runtime reads ahead of a cancelled reader however
 * slow the machine; 108 MiB where the runtime reads ahead without bound.
 */
export const FLOOD_BYTES = FETCH_READS_AHEAD ? 108 * 1024 * 1024 : 1024 * 1024 * 1024;

/** A stand-in that answers with a long JSON body; see {@linkcode startFloodStandIn}. */
export interface FloodStandIn extends StandIn {
  /** Resolves with the bytes written once a flood answer ends, whole or cut off by the client. */
  readonly ended: Promise<{ written: number; whole: boolean }>;
}

/**
 * Starts a stand-in server that answers a JSON array of `total` bytes (at
 * least 2), written 1 MiB at a time as the client takes them, with no
 * Content-Length: a reader must count what it reads.
 */
export async function startFloodStandIn(total: number): Promise<FloodStandIn> {
  let report!: (value: { written: number; whole: boolean }) => void;
  const ended = new Promise<{ written: number; whole: boolean }>((resolve) => (report = resolve));
  const chunk = Buffer.alloc(1024 * 1024, "0,");
  const stand = await startStandIn((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    let written = 0;
    const write = (): void => {
      while (written < total - 1) {
        const size = Math.min(chunk.length, total - 1 - written);
        const part = written === 0
          ? Buffer.concat([Buffer.from("["), chunk.subarray(0, size - 1)])
          : chunk.subarray(0, size);
        written += size;
        if (!res.write(part)) return void res.once("drain", write);
      }
      res.end("0]", () => report({ written: written + 2, whole: true }));
    };
    res.on("close", () => {
      if (!res.writableFinished) report({ written, whole: false });
    });
    write();
  });
  return { ...stand, ended };
}

/** A stand-in server that answers every request with the same JSON body. */
export function startJsonStandIn(status: number, body: unknown): Promise<StandIn> {
  const text = JSON.stringify(body);
  return startStandIn((_req, res) => {
    res.writeHead(status, { "content-type": "application/json" }).end(text);
  });
}

/** A request another origin received. */
export interface SeenRequest {
  path: string;
  authorization: string | undefined;
  method: string;
  body: string;
  cookie: string | undefined;
  proxyAuthorization: string | undefined;
}

/** A stand-in for another origin, with the requests it received. */
export interface Origin extends StandIn {
  /** The requests received, in order; empty it with `seen.length = 0`. */
  readonly seen: SeenRequest[];
}

/**
 * Starts another origin: every request is recorded; one with `?to=<url>` is redirected there
 * with `?status=` (302 by default), any other answers 200 `landed` as text.
 */
export async function startOrigin(): Promise<Origin> {
  const seen: SeenRequest[] = [];
  const server = await startStandIn((req, res, body) => {
    const url = new URL(req.url ?? "/", "http://x");
    seen.push({
      path: url.pathname,
      authorization: req.headers.authorization,
      method: req.method!,
      body,
      cookie: req.headers.cookie,
      proxyAuthorization: req.headers["proxy-authorization"],
    });
    const to = url.searchParams.get("to");
    if (to) {
      res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: to }).end();
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end("landed");
    }
  });
  return { url: server.url, seen, close: server.close };
}

/** A port on 127.0.0.1 with nothing listening on it. */
export async function deadPort(): Promise<number> {
  const server = await startStandIn((_req, res) => void res.end());
  await server.close();
  return Number(new URL(server.url).port);
}

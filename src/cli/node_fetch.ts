// A fetch for the npm bin's token request on Node.js, on node:http and
// node:https: the first use of the global fetch loads and compiles undici,
// which costs a fresh process 50-250 ms (most on Node 20), more than the CLI's
// whole budget. It covers what sendTokenRequest() uses: method, headers as an
// object, a string body, signal, redirect (never followed: "manual" gives the
// 3xx back, "error" rejects); the response's status, ok,
// headers.get(), a `body` stream, bodyUsed (once the body was read to its end
// or cancelled) and text(). As fetch does, it resolves once
// the headers are in, and the body is read as it is consumed: a reader that
// stops (or cancels) stops the download, so a huge or endless body costs only
// what the reader takes.

import type { Buffer } from "node:buffer";
import type * as Http from "node:http";
import type { IncomingMessage } from "node:http";

/**
 * `request` of node:https or node:http, through `process.getBuiltinModule`
 * where Node has it (20.16, 22.3 and later): an `import()` of node:http on
 * Node 22 and 24 builds the module's namespace, whose getters load undici,
 * the global fetch's code this fetch is here to avoid (about 15 ms of a run).
 */
async function transport(https: boolean): Promise<typeof Http.request> {
  const id = https ? "node:https" : "node:http";
  const builtin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process?.getBuiltinModule?.(id) as { request: typeof Http.request } | undefined;
  if (builtin) return builtin.request;
  return (https ? await import("node:https") : await import("node:http"))
    .request as typeof Http.request;
}

/** Sends a request with node:http or node:https; only what the token request needs. */
export async function nodeFetch(
  input: RequestInfo | URL,
  init: RequestInit = {},
): Promise<Response> {
  // (No `instanceof Request`: reading the global Request would load undici too.)
  const url = new URL(
    typeof input === "string" ? input : input instanceof URL ? input.href : input.url,
  );
  // Loaded on use: a CLI run that finds its token in the cache does not pay for them.
  const send = await transport(url.protocol === "https:");
  return await new Promise<Response>((resolve, reject) => {
    const request = send(url, {
      method: init.method ?? "GET",
      headers: init.headers as Record<string, string> | undefined,
      signal: init.signal ?? undefined,
    }, (response) => {
      const status = response.statusCode ?? 0;
      if (init.redirect === "error" && status >= 300 && status < 400) {
        response.destroy();
        reject(new TypeError(`Request to "${url.origin}" was redirected and redirect is "error"`));
        return;
      }
      let used = false;
      const body = streamOf(response, () => (used = true));
      const get = (name: string): string | null => {
        const value = response.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
      };
      // Not a Response (building one would load undici): the fields the token client reads.
      resolve(
        {
          status,
          ok: status >= 200 && status < 300,
          headers: { get },
          body,
          get bodyUsed(): boolean {
            return used;
          },
          text: () => readAll(body),
        } as unknown as Response,
      );
    });
    request.on("error", reject);
    request.end(typeof init.body === "string" ? init.body : undefined);
  });
}

/** The response's body as a web stream, read from the socket only as fast as it is consumed. */
function streamOf(response: IncomingMessage, consumed: () => void): ReadableStream<Uint8Array> {
  let ended = false;
  return new ReadableStream<Uint8Array>({
    start(controller): void {
      // After a cancel, chunks already read from the socket may still arrive: dropped.
      response.on("data", (chunk: Buffer) => {
        if (ended) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) response.pause();
      });
      response.on("end", () => {
        if (ended) return;
        ended = true;
        consumed();
        controller.close();
      });
      const fail = (error?: Error): void => {
        if (ended) return;
        ended = true;
        // The same TypeError fetch gives for a connection lost mid-body.
        controller.error(new TypeError("terminated", { cause: error }));
      };
      response.on("error", fail);
      response.on("close", () => fail());
    },
    pull(): void {
      response.resume();
    },
    cancel(): void {
      ended = true;
      consumed();
      response.destroy();
    },
  }, { highWaterMark: 4 });
}

/** The whole body as UTF-8 text, a leading BOM removed, as `Response.text()` reads it. */
async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

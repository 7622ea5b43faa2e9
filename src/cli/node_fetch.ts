// A fetch for the npm bin's token request on Node.js, on node:http and
// node:https: the first use of the global fetch loads and compiles undici,
// which costs a fresh process 50-250 ms (most on Node 20), more than the CLI's
// whole budget. It covers what sendTokenRequest() uses: method, headers as an
// object, a string body, signal, redirect "error"; the response's status, ok,
// headers.get() and text().

import { Buffer } from "node:buffer";

/** Sends a request with node:http or node:https; only what the token request needs. */
export async function nodeFetch(
  input: RequestInfo | URL,
  init: RequestInit = {},
): Promise<Response> {
  // (No `instanceof Request`: reading the global Request would load undici too.)
  const url = new URL(
    typeof input === "string" ? input : input instanceof URL ? input.href : input.url,
  );
  // Imported on use: a CLI run that finds its token in the cache does not pay for them
  // (node:http alone costs a fresh Node 22 or 24 process about 25 ms).
  const { request: send } = url.protocol === "https:"
    ? await import("node:https")
    : await import("node:http");
  return await new Promise<Response>((resolve, reject) => {
    const request = send(url, {
      method: init.method ?? "GET",
      headers: init.headers as Record<string, string> | undefined,
      signal: init.signal ?? undefined,
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const status = response.statusCode ?? 0;
        if (init.redirect === "error" && status >= 300 && status < 400) {
          reject(
            new TypeError(`Request to "${url.origin}" was redirected and redirect is "error"`),
          );
          return;
        }
        const text = Buffer.concat(chunks).toString("utf8");
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
            text: () => Promise.resolve(text),
          } as unknown as Response,
        );
      });
    });
    request.on("error", reject);
    request.end(typeof init.body === "string" ? init.body : undefined);
  });
}

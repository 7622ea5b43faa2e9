/**
 * The next hop of a redirect the session follows itself, as fetch would make
 * it, credentials dropped across origins. Loaded on a first redirect.
 *
 * @module
 */

// Reach every module mod.ts loads, so a bundler shares one chunk (docs/architecture.md).
import "./options.ts";
import "./events.ts";
import "./access_token.ts";
import { normalOrigin } from "./egress.ts";

const MAX_REDIRECTS = 20;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const BODY_HEADERS = ["content-type", "content-length", "content-encoding", "content-language"];
/** What fetch removes on a redirect to another origin. */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

/** A request as the session sends it on a hop. */
export interface Hop {
  url: URL;
  method: string;
  body: BodyInit | null | undefined;
  /** A plain record on the first hop; a Headers object once a redirect changed them. */
  headers: HeadersInit;
}

/**
 * Where a redirect leads, as fetch's "follow" would go, or `undefined` when
 * the response is returned as it is (no 301/302/303/307/308 with `Location`,
 * or a stream body sent once). Its body is cancelled when followed or refused.
 *
 * @param response A response with a 3xx status.
 * @param hop The request that got it.
 * @param redirect The caller's redirect mode: `"follow"` or `"error"`.
 * @param count The hops followed so far.
 * @param start The URL the call started at, for the error.
 * @returns The next request, or `undefined`.
 * @throws {TypeError} With `redirect: "error"`, past 20 redirects, or to a scheme other than http(s).
 */
export async function nextHop(
  response: Response,
  hop: Hop,
  redirect: RequestRedirect,
  count: number,
  start: URL,
): Promise<Hop | undefined> {
  if (!REDIRECT_STATUS.has(response.status) || !response.headers.has("location")) return undefined;
  const { url } = hop;
  let { method, body, headers } = hop;
  if (redirect === "error") {
    await response.body?.cancel();
    throw new TypeError(`Request to "${url.origin}" was redirected and redirect is "error"`);
  }
  if (count >= MAX_REDIRECTS) {
    await response.body?.cancel();
    throw new TypeError(`Too many redirects (more than ${MAX_REDIRECTS}) from "${start}"`);
  }
  const next = new URL(response.headers.get("location")!, url);
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    await response.body?.cancel();
    throw new TypeError(`Redirect to unsupported scheme "${next.protocol}"`);
  }
  const status = response.status;
  if (
    (status === 303 && method !== "GET" && method !== "HEAD") ||
    ((status === 301 || status === 302) && method === "POST")
  ) {
    method = "GET";
    body = null;
    headers = without(headers, BODY_HEADERS);
  } else if (body instanceof ReadableStream) {
    // The stream was sent once; it cannot be sent again to the new location.
    return undefined;
  }
  await response.body?.cancel();
  if (normalOrigin(next) !== normalOrigin(url)) {
    headers = without(headers, CREDENTIAL_HEADERS);
  }
  return { url: next, method, body, headers };
}

/** A copy of the headers without the named ones, in any case. */
function without(headers: HeadersInit, names: readonly string[]): Headers {
  const copy = new Headers(headers);
  for (const name of names) copy.delete(name);
  return copy;
}

/**
 * A browser's opaque answer to `redirect: "manual"`: fetch follows from then
 * on (dropping `Authorization` across origins itself). A GET or HEAD is sent
 * again with `"follow"`; any other method is never sent twice, and fails.
 *
 * @param fetch The session's fetch.
 * @param hop The request that was answered.
 * @param request The request as it was sent.
 * @param redirect The caller's redirect mode.
 * @returns The response at the end of the redirects.
 * @throws {TypeError} With `redirect: "error"`, and for a method other than GET and HEAD.
 */
nextHop.opaque = async (
  fetch: typeof globalThis.fetch,
  hop: Hop,
  request: RequestInit,
  redirect: RequestRedirect,
): Promise<Response> => {
  const where = `Request to "${hop.url.origin}" was redirected`;
  if (redirect === "error") throw new TypeError(`${where} and redirect is "error"`);
  if (hop.method !== "GET" && hop.method !== "HEAD") {
    throw new TypeError(
      `${where}, and this fetch hides where to (an opaque redirect): the ${hop.method} was not ` +
        `sent again; the session's later requests let fetch follow redirects`,
    );
  }
  return await fetch(hop.url, { ...request, redirect: "follow" });
};

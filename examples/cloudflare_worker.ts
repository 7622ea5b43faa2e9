/**
 * A Cloudflare Worker that lets its own callers read parts of a Kognic API
 * with the Worker's credentials, and nothing more. Deploy it with the
 * wrangler.toml beside it.
 *
 * - Callers authenticate to the Worker: `Authorization: Bearer <key>`, where
 *   the key is the Worker secret `WORKER_ACCESS_KEY` (at least 32
 *   characters, such as `openssl rand -base64 32`), compared in constant
 *   time. A missing or wrong key gets 401, and nothing is sent on; without
 *   the secret the Worker answers 500 to everyone.
 * - Only `GET` and `HEAD` (else 405) of the paths under `ALLOWED_PATHS`
 *   (else 403) are forwarded, with the few request headers in
 *   `FORWARDED_HEADERS`: never the caller's `Authorization` or cookies.
 * - The client id and secret are Worker secrets (`wrangler secret put
 *   KOGNIC_CLIENT_ID`, `... KOGNIC_CLIENT_SECRET`); the token goes only to
 *   `KOGNIC_API`'s origin. One session per isolate serves every request:
 *   concurrent requests on a cold isolate share one token request, and later
 *   requests reuse the token.
 *
 * @module
 */

import { AuthSession } from "@kognic/auth";

/** The Worker's bindings. */
export interface Env {
  /** Secret: the Kognic client id. */
  KOGNIC_CLIENT_ID?: string;
  /** Secret: the Kognic client secret. */
  KOGNIC_CLIENT_SECRET?: string;
  /** Secret: the key callers send as `Authorization: Bearer <key>`. */
  WORKER_ACCESS_KEY?: string;
  /** The API to call, such as `https://app.kognic.com`. */
  KOGNIC_API?: string;
  /** The auth server. @default {"https://auth.app.kognic.com"} */
  KOGNIC_AUTH_SERVER?: string;
}

/** The API paths forwarded: each one and everything below it. */
const ALLOWED_PATHS = ["/v1/projects"];
/** The methods forwarded. */
const ALLOWED_METHODS = ["GET", "HEAD"];
/** The caller's request headers passed on; no others. */
const FORWARDED_HEADERS = ["accept", "accept-language", "if-none-match", "if-modified-since"];
/** The API's response headers passed back; no others (no cookies). */
const RETURNED_HEADERS = ["content-type", "etag", "last-modified", "cache-control", "retry-after"];
const MIN_KEY_LENGTH = 32;

let session: AuthSession | undefined;

function refuse(status: number, message: string, headers: HeadersInit = {}): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Whether the request carries the access key; the comparison takes the same time however it differs. */
async function carriesKey(request: Request, key: string): Promise<boolean> {
  const given = /^Bearer +(\S+) *$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
  const [a, b] = await Promise.all([sha256(given), sha256(key)]);
  let difference = given === "" ? 1 : 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}

/** Whether a path is one of `ALLOWED_PATHS` or below one; encoded slashes are never. */
function isAllowedPath(pathname: string): boolean {
  if (/%2f|%5c|\\/i.test(pathname)) return false;
  return ALLOWED_PATHS.some((path) => pathname === path || pathname.startsWith(`${path}/`));
}

/** The Worker. */
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { KOGNIC_CLIENT_ID, KOGNIC_CLIENT_SECRET, WORKER_ACCESS_KEY, KOGNIC_API } = env;
    if (!WORKER_ACCESS_KEY || WORKER_ACCESS_KEY.length < MIN_KEY_LENGTH) {
      return refuse(
        500,
        `This Worker is not configured: set the secret WORKER_ACCESS_KEY (at least ${MIN_KEY_LENGTH} characters) with wrangler secret put WORKER_ACCESS_KEY`,
      );
    }
    if (!KOGNIC_CLIENT_ID || !KOGNIC_CLIENT_SECRET || !KOGNIC_API) {
      return refuse(
        500,
        "This Worker is not configured: set the secrets KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET and the var KOGNIC_API",
      );
    }
    if (!await carriesKey(request, WORKER_ACCESS_KEY)) {
      return refuse(401, "Send Authorization: Bearer <the Worker's access key>", {
        "www-authenticate": 'Bearer realm="kognic-api-proxy"',
      });
    }
    if (!ALLOWED_METHODS.includes(request.method)) {
      return refuse(405, `Only ${ALLOWED_METHODS.join(" and ")} are forwarded`, {
        allow: ALLOWED_METHODS.join(", "),
      });
    }
    const { pathname, search } = new URL(request.url);
    if (!isAllowedPath(pathname)) {
      return refuse(403, `Only ${ALLOWED_PATHS.join(", ")} and the paths below are forwarded`);
    }
    const api = new URL(KOGNIC_API);
    session ??= new AuthSession({
      clientId: KOGNIC_CLIENT_ID,
      clientSecret: KOGNIC_CLIENT_SECRET,
      authServer: env.KOGNIC_AUTH_SERVER,
      allowedOrigins: [api.origin],
    });
    const headers = new Headers();
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    let answer: Response;
    try {
      answer = await session.fetch(new URL(pathname + search, api), {
        method: request.method,
        headers,
      });
    } catch (error) {
      // The token or the API could not be had: say which kind, never more.
      const kind = error instanceof Error ? error.name : "Error";
      return refuse(502, `The Kognic API could not be reached (${kind})`);
    }
    const returned = new Headers();
    for (const name of RETURNED_HEADERS) {
      const value = answer.headers.get(name);
      if (value !== null) returned.set(name, value);
    }
    return new Response(answer.body, { status: answer.status, headers: returned });
  },
};

/**
 * The backend half of examples/browser.ts: it holds the client secret and
 * gives the page's signed-in user an access token at `POST /api/kognic-token`,
 * as `token.toTokenResponse()` (the JSON of the token itself never holds the
 * token). A fetch handler, for `Deno.serve`, `Bun.serve` or any server that
 * speaks web `Request` and `Response`:
 *
 * ```ts ignore
 * const session = new AuthSession(); // the credentials of the backend's process
 * Deno.serve(createTokenBackend({
 *   session,
 *   pageOrigins: ["https://tool.example.com"],
 *   isSignedIn: (request) => mySessions.isValid(request), // your own sign-in
 * }));
 * ```
 *
 * It answers only a `POST` from one of `pageOrigins` (the `Origin` header a
 * browser sends; a request without one, or from another origin, gets 403 and
 * no CORS header ever), and only when `isSignedIn` says the caller is one of
 * the page's users (401 otherwise): whoever gets the token can call the API
 * with the backend's credentials. Answers are `Cache-Control: no-store`.
 *
 * @module
 */

import type { AuthSession } from "@kognic/auth";

/** Options of {@linkcode createTokenBackend}. */
export interface TokenBackendOptions {
  /** The session whose tokens are handed out. */
  session: AuthSession;
  /** The page's own origins, such as `https://tool.example.com`; no others are answered. */
  pageOrigins: readonly string[];
  /** Whether the request comes from a signed-in user of the page (its session cookie, say). */
  isSignedIn: (request: Request) => boolean | Promise<boolean>;
  /** The path of the token endpoint. @default {"/api/kognic-token"} */
  path?: string;
}

function refuse(status: number, message: string, headers: HeadersInit = {}): Response {
  return new Response(`${message}\n`, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

/**
 * The token endpoint as a fetch handler.
 *
 * @param options The session, the page's origins and the sign-in check.
 * @returns The handler: a token response for the page, 403, 401, 405 or 404 otherwise.
 */
export function createTokenBackend(
  options: TokenBackendOptions,
): (request: Request) => Promise<Response> {
  const path = options.path ?? "/api/kognic-token";
  const origins = new Set(options.pageOrigins.map((origin) => new URL(origin).origin));
  return async (request) => {
    if (new URL(request.url).pathname !== path) return refuse(404, "Not found");
    if (request.method !== "POST") return refuse(405, "Use POST", { allow: "POST" });
    const origin = request.headers.get("origin");
    const site = request.headers.get("sec-fetch-site");
    if (!origin || !origins.has(origin) || (site !== null && site !== "same-origin")) {
      return refuse(403, "Only the page's own origin may ask for a token");
    }
    if (!await options.isSignedIn(request)) return refuse(401, "Sign in first");
    const token = await options.session.getToken();
    return Response.json(token.toTokenResponse(), { headers: { "cache-control": "no-store" } });
  };
}

/**
 * A browser page's session: the page never sees a client secret. Its own
 * backend (examples/browser_backend.ts) holds the credentials and hands the
 * signed-in user an access token at `POST /api/kognic-token`, as
 * `token.toTokenResponse()`; the session asks it for one when it needs a
 * token, once however many requests wait, again before expiry and after a 401.
 *
 * @module
 */

import { AuthSession, tokenSetFromResponse } from "@kognic/auth";

/**
 * A session whose tokens come from the page's backend, sent only to `apiOrigin`.
 *
 * @param apiOrigin The Kognic API's origin, such as `https://app.kognic.com`.
 * @param tokenPath The backend's token endpoint, on the page's own origin.
 * @returns The session; call `session.fetch` like `fetch`.
 */
export function createBrowserSession(
  apiOrigin: string,
  tokenPath = "/api/kognic-token",
): AuthSession {
  return new AuthSession({
    allowedOrigins: [apiOrigin],
    tokenProvider: async ({ signal }) => {
      // Same origin: the browser sends the page's session cookie, and the Origin header.
      const response = await fetch(tokenPath, { method: "POST", signal });
      if (!response.ok) throw new Error(`The token backend answered HTTP ${response.status}`);
      return tokenSetFromResponse(await response.json());
    },
  });
}

/**
 * A browser page's session: the page never sees a client secret. Its own
 * backend holds the credentials and hands out access tokens (here at
 * `POST /api/kognic-token`, answering a `TokenSet` as JSON, for the signed-in
 * user only); the session asks it for one when it needs a token, once however
 * many requests wait, again before expiry and after a 401.
 *
 * @module
 */

import { AuthSession, type TokenSet } from "@kognic/auth";

/**
 * A session whose tokens come from the page's backend, sent only to `apiOrigin`.
 *
 * @param apiOrigin The Kognic API's origin, such as `https://app.kognic.com`.
 * @returns The session; call `session.fetch` like `fetch`.
 */
export function createBrowserSession(apiOrigin: string): AuthSession {
  return new AuthSession({
    allowedOrigins: [apiOrigin],
    tokenProvider: async ({ signal }) => {
      const response = await fetch("/api/kognic-token", { method: "POST", signal });
      if (!response.ok) throw new Error(`The token backend answered HTTP ${response.status}`);
      return await response.json() as TokenSet;
    },
  });
}

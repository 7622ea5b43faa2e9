// Apart from token_client.ts for the size budget: this loads on import, the request lazily.
/**
 * The public entry to token requests; the request code loads on the first one.
 *
 * @module
 */

import type { AccessToken } from "./access_token.ts";
import type { RequestTokenOptions } from "./options.ts";

/**
 * Requests a token from an OAuth 2.0 token endpoint, retrying network errors,
 * timeouts, 408, 425, 429 and 5xx (honouring `Retry-After`). The expiry counts
 * from the send; a missing `expires_in` is an hour.
 *
 * @param options The endpoint, credentials, grant and transport options.
 * @returns The token.
 * @throws {OAuthError} When the server refuses (RFC 6749 section 5.2) or answers an HTTP error.
 * @throws {TokenResponseError} When a 2xx response is not a usable token response.
 * @throws {TokenTimeoutError} When the last attempt timed out.
 * @throws {TokenNetworkError} When the last attempt could not reach the server.
 *
 * @example
 * ```ts ignore
 * import { requestToken } from "@kognic/auth";
 *
 * const token = await requestToken({
 *   tokenUrl: "https://auth.app.kognic.com/v1/auth/oauth/token",
 *   credentials: { clientId: "id", clientSecret: "secret" },
 * });
 * console.log(new Date(token.expiresAt));
 * ```
 */
export async function requestToken(options: RequestTokenOptions): Promise<AccessToken> {
  const { sendTokenRequest } = await import("./token_client.ts");
  return await sendTokenRequest(options);
}

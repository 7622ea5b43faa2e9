/**
 * The public entry to token requests. The request code itself loads on the
 * first token request, so a page or worker that imports the core pays for it
 * only when it needs a token.
 *
 * @module
 */

import type { AccessToken } from "./access_token.ts";

/** How token requests are retried. */
export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. @default {3} */
  limit?: number;
  /** The first backoff's upper bound in milliseconds; each retry doubles it. @default {200} */
  baseDelay?: number;
  /** The longest backoff in milliseconds. @default {5000} */
  maxDelay?: number;
  /** The longest `Retry-After` honoured, in milliseconds; a longer one fails at once. @default {30000} */
  maxRetryAfter?: number;
}

/** The default timeout of one token request, in milliseconds. */
export const DEFAULT_TOKEN_TIMEOUT = 10_000;

/** The client id and secret a token request authenticates with. */
export interface ClientAuth {
  /** The OAuth client id. */
  readonly clientId: string;
  /** The OAuth client secret. */
  readonly clientSecret: string;
}

/** Options of {@linkcode requestToken}. */
export interface RequestTokenOptions {
  /** The token endpoint's full URL. */
  tokenUrl: URL | string;
  /** The client id and secret, sent in the form body (`client_secret_post`). */
  credentials: ClientAuth;
  /** The scopes to request; none when absent or empty. */
  scopes?: readonly string[];
  /** A refresh token: when given, the refresh-token grant is used instead of client credentials. */
  refreshToken?: string;
  /** The fetch to send the request with. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** The timeout of each attempt in milliseconds. @default {10000} */
  timeout?: number;
  /** How to retry network errors, timeouts, 5xx, 408 and 429. */
  retry?: RetryOptions;
  /** Cancels the request and any wait between retries. */
  signal?: AbortSignal;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
}

/**
 * Requests a token from an OAuth 2.0 token endpoint. Network errors,
 * timeouts, 408, 425, 429 and 5xx are retried with exponential backoff and
 * full jitter, honouring `Retry-After`; other errors, such as
 * `invalid_client`, are thrown at once.
 *
 * The expiry is anchored to the time the request was sent. A missing
 * `expires_in` is taken as one hour; a 401 from an API renews the token anyway.
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

/**
 * The OAuth 2.0 token request: the client-credentials grant (RFC 6749
 * section 4.4) and the refresh-token grant (section 6), with `client_secret_post`
 * client authentication, a timeout, and bounded, jittered retries.
 *
 * @module
 */

import {
  OAuthError,
  TokenError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "./errors.ts";

const inspectDeno = Symbol.for("Deno.customInspect");
const inspectNode = Symbol.for("nodejs.util.inspect.custom");

/** A token as plain data, for caches and `initialToken`. Holds secrets: keep it private. */
export interface TokenSet {
  /** The access token. */
  accessToken: string;
  /** The token type; always `"Bearer"` for tokens this package accepts. */
  tokenType: string;
  /** When the token expires, in milliseconds since the epoch. */
  expiresAt: number;
  /** When the token was requested, in milliseconds since the epoch. */
  issuedAt: number;
  /** A refresh token, when the server issued one. */
  refreshToken?: string;
  /** The scopes granted, space-separated, when the server said. */
  scope?: string;
}

/**
 * An access token with its expiry. The token and refresh token are private:
 * `JSON.stringify`, `String()` and the Deno and Node inspectors show
 * `[redacted]` in their place.
 *
 * @example
 * ```ts
 * import { AccessToken } from "@kognic/auth";
 *
 * const token = new AccessToken({
 *   accessToken: "eyJ...", tokenType: "Bearer", issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000,
 * });
 * console.log(token.isFresh(Date.now(), 60_000)); // true
 * console.log(JSON.stringify(token)); // no token in the output
 * ```
 */
export class AccessToken {
  #set: TokenSet;

  /**
   * Creates a token from its fields.
   *
   * @param set The token's fields.
   * @throws {TypeError} When the access token is empty or the times are not numbers.
   */
  constructor(set: TokenSet) {
    if (typeof set?.accessToken !== "string" || set.accessToken === "") {
      throw new TypeError("accessToken must be a non-empty string");
    }
    if (!Number.isFinite(set.expiresAt) || !Number.isFinite(set.issuedAt)) {
      throw new TypeError("expiresAt and issuedAt must be finite numbers (milliseconds)");
    }
    this.#set = { ...set };
  }

  /** The access token, for the `Authorization: Bearer` header. */
  get accessToken(): string {
    return this.#set.accessToken;
  }

  /** The refresh token, when the server issued one. */
  get refreshToken(): string | undefined {
    return this.#set.refreshToken;
  }

  /** The token type, `"Bearer"`. */
  get tokenType(): string {
    return this.#set.tokenType;
  }

  /** When the token expires, in milliseconds since the epoch. */
  get expiresAt(): number {
    return this.#set.expiresAt;
  }

  /** When the token was requested, in milliseconds since the epoch. */
  get issuedAt(): number {
    return this.#set.issuedAt;
  }

  /** The scopes granted, space-separated, when the server said. */
  get scope(): string | undefined {
    return this.#set.scope;
  }

  /**
   * Whether the token can still be used: more than `min(leeway, half its
   * lifetime)` is left, so a short-lived token is renewed ahead of expiry
   * without being fetched again for every call.
   *
   * @param now The current time in milliseconds since the epoch.
   * @param leeway How long before expiry to renew, in milliseconds.
   * @returns True while the token needs no renewal.
   */
  isFresh(now: number, leeway: number): boolean {
    const { expiresAt, issuedAt } = this.#set;
    const margin = Math.min(leeway, (expiresAt - issuedAt) / 2);
    return now < expiresAt - margin;
  }

  /**
   * The token as plain data, secrets included, for a token cache or
   * `onTokenUpdated`. Never log it.
   *
   * @returns A copy of the token's fields.
   */
  toTokenSet(): TokenSet {
    return { ...this.#set };
  }

  /** The fields without the secrets, which show as `[redacted]`. */
  toJSON(): Record<string, unknown> {
    return {
      accessToken: "[redacted]",
      tokenType: this.#set.tokenType,
      expiresAt: new Date(this.#set.expiresAt).toISOString(),
      issuedAt: new Date(this.#set.issuedAt).toISOString(),
      refreshToken: this.#set.refreshToken === undefined ? undefined : "[redacted]",
      scope: this.#set.scope,
    };
  }

  /** A short description without the token. */
  toString(): string {
    return `AccessToken(expires ${new Date(this.#set.expiresAt).toISOString()})`;
  }

  /** Deno's inspector shows the redacted form. */
  [inspectDeno](): string {
    return `AccessToken ${JSON.stringify(this.toJSON())}`;
  }

  /** Node's inspector shows the redacted form. */
  [inspectNode](): string {
    return `AccessToken ${JSON.stringify(this.toJSON())}`;
  }
}

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

const RETRYABLE_STATUS = new Set([408, 425, 429]);
const MAX_LIFETIME_SECONDS = 365 * 24 * 3600;
const DEFAULT_LIFETIME_SECONDS = 3600;

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
  const limit = options.retry?.limit ?? 3;
  const baseDelay = options.retry?.baseDelay ?? 200;
  const maxDelay = options.retry?.maxDelay ?? 5000;
  const maxRetryAfter = options.retry?.maxRetryAfter ?? 30_000;
  const signal = options.signal;
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await attemptToken(options);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      error.attempts = attempt;
      if (!error.retryable || attempt > limit) throw error;
      let delay: number;
      if (error.retryAfter !== undefined) {
        if (error.retryAfter > maxRetryAfter) throw error;
        delay = error.retryAfter + Math.random() * Math.min(1000, error.retryAfter * 0.1);
      } else {
        delay = Math.random() * Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
      }
      await sleep(delay, signal);
    }
  }
}

async function attemptToken(options: RequestTokenOptions): Promise<AccessToken> {
  const { credentials, scopes, refreshToken } = options;
  const now = options.now ?? Date.now;
  const tokenUrl = String(options.tokenUrl);
  const form = new URLSearchParams();
  if (refreshToken !== undefined) {
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", refreshToken);
  } else {
    form.set("grant_type", "client_credentials");
  }
  form.set("client_id", credentials.clientId);
  form.set("client_secret", credentials.clientSecret);
  if (scopes && scopes.length > 0) form.set("scope", scopes.join(" "));

  const timeout = options.timeout ?? DEFAULT_TOKEN_TIMEOUT;
  const timeoutController = new AbortController();
  const timer = setTimeout(() => timeoutController.abort(), timeout);
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeoutController.signal])
    : timeoutController.signal;
  const sentAt = now();
  const secrets = [credentials.clientSecret, refreshToken];
  let status: number | undefined;
  try {
    const response = await (options.fetch ?? fetch)(tokenUrl, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
      },
      body: form.toString(),
      signal,
      redirect: "error",
    });
    status = response.status;
    const text = await response.text();
    if (!response.ok) throw httpError(tokenUrl, response, text, secrets);
    return parseTokenResponse(text, tokenUrl, response.status, sentAt);
  } catch (error) {
    if (error instanceof TokenError) throw error;
    if (options.signal?.aborted) throw options.signal.reason;
    if (timeoutController.signal.aborted) {
      throw new TokenTimeoutError(
        `Token request to "${tokenUrl}" timed out after ${timeout} ms`,
        { retryable: true, status },
      );
    }
    throw new TokenNetworkError(
      `Token request to "${tokenUrl}" failed: ${
        redact(String((error as Error)?.message), secrets)
      }`,
      { retryable: true, cause: error, status },
    );
  } finally {
    clearTimeout(timer);
  }
}

function httpError(
  tokenUrl: string,
  response: Response,
  text: string,
  secrets: (string | undefined)[],
): OAuthError {
  const status = response.status;
  let body: Record<string, unknown> | undefined;
  try {
    const json = JSON.parse(text);
    if (json && typeof json === "object" && !Array.isArray(json)) body = json;
  } catch { /* not JSON: an HTML error page, say */ }
  const str = (value: unknown): string | undefined =>
    typeof value === "string" ? redact(value, secrets).slice(0, 500) : undefined;
  const error = str(body?.error);
  const errorDescription = str(body?.error_description);
  const retryable = status >= 500 || RETRYABLE_STATUS.has(status);
  let message = `Token request to "${tokenUrl}" failed with HTTP ${status}`;
  if (error) message += `: ${error}`;
  if (errorDescription) message += ` (${errorDescription})`;
  if (status === 429) message += ". Client authentication rate limit exceeded, please slow down";
  return new OAuthError(message, {
    status,
    retryable,
    retryAfter: retryable ? parseRetryAfter(response.headers.get("retry-after")) : undefined,
    error,
    errorDescription,
    errorUri: str(body?.error_uri),
  });
}

/**
 * Parses a `Retry-After` value, delay-seconds or an HTTP-date, into
 * milliseconds from now. Returns `undefined` for an absent or unusable value.
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date names its weekday or month; this keeps "-3" from parsing as a year.
  const date = /[a-z]/i.test(trimmed) ? Date.parse(trimmed) : NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function parseTokenResponse(
  text: string,
  tokenUrl: string,
  status: number,
  sentAt: number,
): AccessToken {
  const fail = (problem: string): TokenResponseError =>
    new TokenResponseError(`Token response from "${tokenUrl}" ${problem}`, {
      status,
      retryable: false,
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail("is not JSON");
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw fail("is not a JSON object");
  }
  const body = json as Record<string, unknown>;
  if (typeof body.access_token !== "string" || body.access_token === "") {
    throw fail("has no access_token");
  }
  const tokenType = body.token_type ?? "Bearer";
  if (typeof tokenType !== "string" || tokenType.toLowerCase() !== "bearer") {
    throw fail(`has token_type ${JSON.stringify(tokenType)}; only "Bearer" is supported`);
  }
  let lifetime = DEFAULT_LIFETIME_SECONDS;
  if (body.expires_in !== undefined && body.expires_in !== null) {
    const value = typeof body.expires_in === "string" && body.expires_in.trim() !== ""
      ? Number(body.expires_in)
      : body.expires_in;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw fail(`has expires_in ${JSON.stringify(body.expires_in)}; expected a positive number`);
    }
    lifetime = Math.min(value, MAX_LIFETIME_SECONDS);
  }
  return new AccessToken({
    accessToken: body.access_token,
    tokenType: "Bearer",
    issuedAt: sentAt,
    expiresAt: sentAt + lifetime * 1000,
    refreshToken: typeof body.refresh_token === "string" && body.refresh_token !== ""
      ? body.refresh_token
      : undefined,
    scope: typeof body.scope === "string" ? body.scope : undefined,
  });
}

function redact(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  return out;
}

/** Waits `ms` milliseconds; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

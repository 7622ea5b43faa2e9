/**
 * The events of a session and the API client: none carries a secret, a token or a URL's user info.
 *
 * @module
 */

import { redactor } from "../shared/errors.ts";
import type { AccessToken } from "./access_token.ts";

/** A token request attempt is being sent. */
export interface TokenRequestEvent {
  /** The kind of event. */
  type: "token.request";
  /** The grant: `client_credentials`, or `refresh_token`. */
  grant: "client_credentials" | "refresh_token";
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: number;
  /** The token endpoint. */
  url: string;
}

/** The token endpoint answered an attempt (with a token or an HTTP error). */
export interface TokenResponseEvent {
  /** The kind of event. */
  type: "token.response";
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: number;
  /** The HTTP status. */
  status: number;
  /** Milliseconds from sending to the whole answer. */
  duration: number;
}

/** A token request attempt failed and will be retried after `delay`. */
export interface TokenRetryEvent {
  /** The kind of event. */
  type: "token.retry";
  /** The attempt that failed. */
  attempt: number;
  /** Milliseconds until the next attempt. */
  delay: number;
  /** The failure's error code, such as `token_network_error`. */
  code: string;
  /** The HTTP status, when the server answered. */
  status?: number;
}

/** A token request failed for good. */
export interface TokenFailedEvent {
  /** The kind of event. */
  type: "token.failed";
  /** Attempts made, retries included. */
  attempts: number;
  /** The error code. */
  code: string;
  /** The HTTP status, when the server answered. */
  status?: number;
  /** Milliseconds from the first attempt to the failure. */
  duration: number;
}

/** The session has a new token, from the auth server or a shared cache. */
export interface TokenAcquiredEvent {
  /** The kind of event. */
  type: "token.acquired";
  /** Where it came from: a token request, or a token cache (another process's token). */
  source: "request" | "cache";
  /** Callers that were waiting for this token when it came. */
  waiters: number;
  /** Milliseconds from the start of the acquisition. */
  duration: number;
  /** When the token expires, in milliseconds since the epoch. */
  expiresAt: number;
}

/** The session starts getting a new token. */
export interface TokenRenewalEvent {
  /** The kind of event. */
  type: "token.renewal";
  /** Why: no token yet, renewing while still usable, too little left, or invalidated (a 401, `forceRefresh`). */
  reason: "initial" | "ahead_of_expiry" | "expiring" | "invalidated";
}

/** A token cache was read. */
export interface CacheEvent {
  /** The kind of event. */
  type: "cache.hit" | "cache.miss";
  /** The cache key (auth server, client id and a scope hash: nothing secret). */
  key: string;
}

/** A token cache's lock was held by another process or session for `duration` ms. */
export interface CacheLockWaitEvent {
  /** The kind of event. */
  type: "cache.lock_wait";
  /** The cache key (auth server, client id and a scope hash: nothing secret). */
  key: string;
  /** Milliseconds it took. */
  duration: number;
}

/** A request got a 401 with the session's token; it is replayed once with a new one. */
export interface ReplayEvent {
  /** The kind of event. */
  type: "request.replay";
  /** The request method. */
  method: string;
  /** The URL, without user info or query. */
  url: string;
}

/** A request went out without the token, because its origin is not allowed. */
export interface UnauthenticatedRequestEvent {
  /** The kind of event. */
  type: "request.unauthenticated";
  /** The request method. */
  method: string;
  /** The origin that is not in `allowedOrigins`. */
  origin: string;
}

/** The API client retries a request. */
export interface ApiRetryEventEntry {
  /** The kind of event. */
  type: "api.retry";
  /** The request method. */
  method: string;
  /** The URL, without user info or query. */
  url: string;
  /** The attempt about to be made (2 for the first retry). */
  attempt: number;
  /** Milliseconds until the next attempt. */
  delay: number;
  /** The status that caused the retry, or the network error's code. */
  status?: number;
  /** The error code. */
  code?: string;
}

/** An API response announced that its endpoint is deprecated. */
export interface DeprecationEvent {
  /** The kind of event. */
  type: "api.deprecation";
  /** The request method. */
  method: string;
  /** The URL, without user info or query. */
  url: string;
  /** When the endpoint goes away, as an ISO-8601 timestamp. */
  sunset: string;
  /** `"error"` when the sunset is 14 days away or less, else `"warning"`. */
  level: "warning" | "error";
  /** A sentence for a log. */
  message: string;
}

/** Every event, discriminated by `type`, given to the `onEvent` option. */
export type AuthEvent =
  | TokenRequestEvent
  | TokenResponseEvent
  | TokenRetryEvent
  | TokenFailedEvent
  | TokenAcquiredEvent
  | TokenRenewalEvent
  | CacheEvent
  | CacheLockWaitEvent
  | ReplayEvent
  | UnauthenticatedRequestEvent
  | ApiRetryEventEntry
  | DeprecationEvent;

/** Receives events; its errors and rejections are ignored. */
export type AuthEventListener = (event: AuthEvent) => void;

/** Calls `listener`, if any, with `event` (redacted); nothing it throws or rejects reaches the caller. */
export function emit<E>(listener: ((event: E) => unknown) | undefined, event: E): void {
  if (!listener) return;
  try {
    const result = listener(redactor.value(event)) as { then?: unknown } | undefined;
    if (typeof result?.then === "function") {
      (result as PromiseLike<unknown>).then(undefined, () => {});
    }
  } catch { /* a listener never breaks a session */ }
}

/** Hands a new token to `onTokenUpdated`; a failure is one line without its error (it may hold the token). */
export function tokenUpdated(
  callback: ((token: AccessToken) => unknown) | undefined,
  token: AccessToken,
): AccessToken {
  if (callback) {
    new Promise((resolve) => resolve(callback(token))).catch(() =>
      console.error("onTokenUpdated failed; the token is kept")
    );
  }
  return token;
}

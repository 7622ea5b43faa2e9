/**
 * The access token a session holds, with its expiry and renewal rule.
 *
 * @module
 */

import { inspectAsJson, rememberSecret } from "../shared/secrets.ts";

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
 * A token as a backend sends it to a browser page (the fields of an OAuth 2.0
 * token response, RFC 6749 section 5.1): what
 * {@linkcode AccessToken.toTokenResponse} gives and
 * {@linkcode tokenSetFromResponse} reads. Holds the token: send it only to
 * the signed-in user it is for, with `Cache-Control: no-store`.
 */
export interface TokenResponse {
  /** The access token. */
  access_token: string;
  /** Always `"Bearer"`. */
  token_type: string;
  /** Seconds the token is good for, from when it was sent. */
  expires_in: number;
  /** The scopes granted, space-separated, when the server said. */
  scope?: string;
}

/**
 * Reads a token that a backend sent as {@linkcode TokenResponse} (such as
 * `token.toTokenResponse()`), for a session's `tokenProvider`. The lifetime
 * counts from `now`, so the page's clock and the backend's need not agree.
 *
 * @param body The parsed JSON.
 * @param now The current time in milliseconds since the epoch. @default {Date.now()}
 * @returns The token as a {@linkcode TokenSet}.
 * @throws {TypeError} When `body` is not a token response, such as the JSON
 *   of an `AccessToken` (whose token shows as `"[redacted]"`), saying what to send instead.
 *
 * @example
 * ```ts
 * import { tokenSetFromResponse } from "@kognic/auth";
 *
 * const set = tokenSetFromResponse({ access_token: "eyJ...", token_type: "Bearer", expires_in: 3600 });
 * console.log(set.expiresAt - set.issuedAt); // 3600000
 * ```
 */
export function tokenSetFromResponse(body: unknown, now: number = Date.now()): TokenSet {
  const json = (body ?? {}) as Partial<TokenResponse> & { accessToken?: unknown };
  const lifetime = json.expires_in as number;
  if (typeof json.access_token != "string" || !(lifetime > 0)) {
    throw new TypeError(
      `The token backend sent ${
        json.accessToken ? "the JSON of an AccessToken, which never holds the token" : "no token"
      }: send token.toTokenResponse()`,
    );
  }
  return {
    accessToken: json.access_token,
    tokenType: "Bearer",
    issuedAt: now,
    expiresAt: now + lifetime * 1000,
    scope: json.scope,
  };
}

/**
 * What a token is good for at a moment: `"fresh"` needs no renewal;
 * `"usable"` is due for renewal but may still be sent while the renewal runs;
 * `"renew"` must be renewed before it is used.
 */
export type TokenFreshness = "fresh" | "usable" | "renew";

/**
 * The one renewal rule of sessions and token caches. The renewal margin is
 * `leeway`, or half the token's lifetime when that is shorter (so a
 * short-lived token is renewed ahead of expiry without being fetched again
 * for every call), and never less than `floor`. A token is fresh while more
 * than the margin is left, usable while more than half the margin is left,
 * and must be renewed after.
 *
 * @param token The token's expiry and issue times, in milliseconds since the epoch.
 * @param now The current time in milliseconds since the epoch.
 * @param leeway How long before expiry to renew, in milliseconds.
 * @param floor The least margin, whatever the lifetime, in milliseconds: a
 *   token cache shares no token with less than 30 s left. @default {0}
 * @returns `"fresh"`, `"usable"` or `"renew"`.
 *
 * @example
 * ```ts
 * import { tokenFreshness } from "./access_token.ts";
 *
 * const token = { issuedAt: 0, expiresAt: 3_600_000 };
 * console.log(tokenFreshness(token, 3_500_000, 60_000)); // "fresh"
 * console.log(tokenFreshness(token, 3_560_000, 60_000)); // "usable"
 * console.log(tokenFreshness(token, 3_580_000, 60_000)); // "renew"
 * ```
 */
export function tokenFreshness(
  token: Pick<TokenSet, "expiresAt" | "issuedAt">,
  now: number,
  leeway: number,
  floor = 0,
): TokenFreshness {
  const margin = Math.max(floor, Math.min(leeway, (token.expiresAt - token.issuedAt) / 2));
  const left = token.expiresAt - now;
  return left > margin ? "fresh" : left > margin / 2 ? "usable" : "renew";
}

/**
 * The longest lifetime a token is believed to have, in seconds (a year): a
 * longer `expires_in` from a server, or a later expiry in a token cache, is
 * cut to it.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600;

/**
 * What is wrong with a token's fields, or `undefined` when nothing is: the one
 * check every token passes, whatever its source (a token response, a shared
 * cache, a `tokenProvider`, an `initialToken`). The tokens must be visible
 * ASCII (RFC 6749), so that they travel intact in an `Authorization` header;
 * the times must be milliseconds since the epoch that a `Date` can hold. The
 * answer never quotes a token.
 *
 * @param set The fields to check.
 * @returns The problem, in words, or `undefined`.
 */
export function tokenSetProblem(set: TokenSet): string | undefined {
  const ok = (token: unknown): boolean =>
    typeof token == "string" && /^[\x21-\x7E]([\x20-\x7E]*[\x21-\x7E])?$/.test(token);
  return !ok(set?.accessToken) || set.refreshToken !== undefined && !ok(set.refreshToken)
    ? "accessToken or refreshToken is not visible ASCII (has a line break or control character)"
    : [set.issuedAt, set.expiresAt].every((t) => t === +t && t >= 0 && t <= 8.64e15)
    ? undefined
    : "expiresAt and issuedAt must be ms since the epoch, from 0 to 8.64e15 (JSON: see tokenSetFromResponse())";
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
   * @throws {TypeError} When a field fails {@linkcode tokenSetProblem}; the
   *   message never quotes the token.
   */
  constructor(set: TokenSet) {
    const problem = tokenSetProblem(set);
    if (problem) throw new TypeError(problem);
    // Every token, whatever its source, is known to the redactor from here on.
    rememberSecret(set.accessToken);
    rememberSecret(set.refreshToken);
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
   * Whether the token needs no renewal: more than `min(leeway, half its
   * lifetime)` is left, so a short-lived token is renewed ahead of expiry
   * without being fetched again for every call ({@linkcode tokenFreshness}
   * says `"fresh"`).
   *
   * @param now The current time in milliseconds since the epoch.
   * @param leeway How long before expiry to renew, in milliseconds.
   * @returns True while the token needs no renewal.
   */
  isFresh(now: number, leeway: number): boolean {
    return tokenFreshness(this.#set, now, leeway) == "fresh";
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

  /**
   * The token for a browser page: `{ access_token, token_type, expires_in,
   * scope }` ({@linkcode TokenResponse}), with the lifetime left at `now`,
   * never the refresh token. Its `JSON.stringify` holds the token (unlike the
   * token's own): send it only to the user it is for.
   *
   * @param now The current time in milliseconds since the epoch. @default {Date.now()}
   * @returns The token response.
   */
  toTokenResponse(now: number = Date.now()): TokenResponse {
    return {
      access_token: this.#set.accessToken,
      token_type: "Bearer",
      expires_in: Math.max(0, Math.floor((this.#set.expiresAt - now) / 1000)),
      scope: this.#set.scope,
    };
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
}
inspectAsJson(AccessToken, "AccessToken");

/**
 * The access token a session holds, its one check and its renewal rule.
 *
 * @module
 */

import { inspectAsJson, rememberSecret } from "../shared/errors.ts";

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

/** A token as a backend sends it to a browser page (RFC 6749 section 5.1): only to its user, with `Cache-Control: no-store`. */
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
 * Reads a {@linkcode TokenResponse} a backend sent (the parsed JSON) as a
 * {@linkcode TokenSet}, for a `tokenProvider`; the lifetime counts from `now`
 * (ms since the epoch), so the two clocks need not agree.
 *
 * @throws {TypeError} When `body` is not a token response (such as an `AccessToken`'s JSON), saying what to send.
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

/** `"fresh"`: no renewal; `"usable"`: sent while renewing; `"renew"`: renewed before use. */
export type TokenFreshness = "fresh" | "usable" | "renew";

/**
 * The one renewal rule of sessions and caches, all times in ms: margin =
 * max(`floor`, min(`leeway`, half the lifetime)); fresh while more than the
 * margin is left, usable while more than half of it, else renew. A token
 * cache's `floor` (30 s) keeps it from sharing a token about to expire.
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

/** The longest lifetime believed, in seconds (a year); longer ones are cut to it. */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600;

/** The one check of every token, whatever its source: visible ASCII, times a `Date` holds; never quoting it. */
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
 * JSON, `String()` and the inspectors show `[redacted]` in their place.
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
   * @throws {TypeError} When a field is unusable; the message never quotes the token.
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

  /** Whether the token needs no renewal at `now`: more than `leeway` (or half the lifetime, if shorter) is left, in ms. */
  isFresh(now: number, leeway: number): boolean {
    return tokenFreshness(this.#set, now, leeway) == "fresh";
  }

  /** A copy of the token's fields, secrets included, for a token cache. Never log it. */
  toTokenSet(): TokenSet {
    return { ...this.#set };
  }

  /** The token for a browser page, its lifetime from `now`, never the refresh token: send it only to its user. */
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

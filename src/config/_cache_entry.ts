/**
 * One token as the file and keyring caches store it: the Python
 * `kognic-auth` package's shape, so that a token either package stores is
 * used by the other.
 *
 * ```json
 * {"access_token": "eyJ...", "token_type": "bearer", "expires_in": 3600, "expires_at": 1796656936}
 * ```
 *
 * `expires_at` is in seconds since the epoch (whole seconds, rounded down)
 * and `expires_in` the lifetime in seconds, so the time the token was
 * requested is `expires_at - expires_in`; `refresh_token` and `scope` are
 * written when the token has them, as the Python package writes what the
 * server sent. Entries in this package's earlier camelCase shape
 * (`accessToken`, `tokenType`, `expiresAt` and `issuedAt` in milliseconds)
 * are read too.
 *
 * @module
 */

import type { TokenSet } from "../core/access_token.ts";
import { parseTokenSet } from "../core/token_cache.ts";

/** A token cache entry in the Python package's shape. */
export interface CacheEntry {
  /** The access token. */
  access_token: string;
  /** `"bearer"`, or this package's `"Retry-After"` marker. */
  token_type: string;
  /** The token's lifetime, in whole seconds. */
  expires_in: number;
  /** When the token expires, in whole seconds since the epoch. */
  expires_at: number;
  /** The refresh token, when the server issued one. */
  refresh_token?: string;
  /** The scopes granted, when the server said. */
  scope?: string;
}

// The token type of an entry that holds a server's Retry-After rather than a
// token (see readThrough in core/token_cache.ts); no other type but bearer is kept.
const RETRY_AFTER_TOKEN_TYPE = "Retry-After";

/**
 * A token cache entry for `token`, in the Python package's shape.
 *
 * @param token A valid token.
 * @returns The entry, ready for `JSON.stringify`.
 */
export function toCacheEntry(token: TokenSet): CacheEntry {
  const expiresAt = Math.floor(token.expiresAt / 1000);
  const entry: CacheEntry = {
    access_token: token.accessToken,
    token_type: token.tokenType.toLowerCase() === "bearer" ? "bearer" : token.tokenType,
    // Counted from the issue time rounded down, so that expires_at - expires_in
    // gives it back to the second.
    expires_in: Math.max(1, expiresAt - Math.floor(token.issuedAt / 1000)),
    expires_at: expiresAt,
  };
  if (token.refreshToken !== undefined) entry.refresh_token = token.refreshToken;
  if (token.scope !== undefined) entry.scope = token.scope;
  return entry;
}

/**
 * The token in a cache entry, in either shape, when it passes the checks of a
 * fresh token from the token endpoint (`parseTokenSet`): a printable access token, a bearer
 * token type (or none), a positive `expires_in` (or none), a lifetime cut to
 * a year. Anything else, or an expiry that is not a number, is a miss
 * (`undefined`), never an error. When the entry does not say how long the
 * token lives, it counts as issued when read.
 *
 * @param value An entry as parsed from JSON.
 * @param now The current time, in milliseconds since the epoch.
 * @returns The token, or `undefined`.
 */
export function parseCacheEntry(value: unknown, now: number = Date.now()): TokenSet | undefined {
  const fields = entryFields(value);
  if (!fields || typeof fields.accessToken !== "string") return undefined;
  const { raw, python } = fields;
  const type = (python ? raw.token_type : raw.tokenType) ?? "Bearer";
  if (typeof type !== "string") return undefined;
  const tokenType = type.toLowerCase() === "bearer"
    ? "Bearer"
    : type === RETRY_AFTER_TOKEN_TYPE
    ? type
    : undefined;
  if (tokenType === undefined) return undefined;

  const expiresAt = fields.expiresAt;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return undefined;
  let issuedAt: number;
  if (python) {
    let lifetime: unknown = raw.expires_in;
    if (typeof lifetime === "string" && lifetime.trim() !== "") lifetime = Number(lifetime);
    if (lifetime === undefined || lifetime === null) {
      issuedAt = Math.min(now, expiresAt);
    } else if (typeof lifetime === "number" && Number.isFinite(lifetime) && lifetime > 0) {
      issuedAt = expiresAt - lifetime * 1000;
    } else {
      return undefined;
    }
  } else {
    if (typeof raw.issuedAt !== "number") return undefined;
    issuedAt = raw.issuedAt;
  }
  // No token was issued in the future. Anything else out of range (a time
  // before 1970 or past what a Date holds, a lifetime over a year and a day)
  // is left to parseTokenSet, which makes it a miss.
  issuedAt = Math.min(issuedAt, now);

  const token: TokenSet = { accessToken: fields.accessToken, tokenType, expiresAt, issuedAt };
  if (fields.refreshToken !== undefined) token.refreshToken = fields.refreshToken;
  if (typeof raw.scope === "string") token.scope = raw.scope;
  // Last, the checks every stored token passes, whatever cache held it.
  return parseTokenSet(token);
}

/**
 * Whether `value` is a token entry, in either shape, that has expired and
 * holds no refresh token: one that a rewrite of the file may drop, even
 * when it is too damaged to be used.
 *
 * @param value An entry as parsed from JSON.
 * @param now The current time, in milliseconds since the epoch.
 * @returns Whether the entry may be dropped.
 */
export function isSpentEntry(value: unknown, now: number): boolean {
  const fields = entryFields(value);
  return typeof fields?.accessToken === "string" && fields.refreshToken === undefined &&
    typeof fields.expiresAt === "number" && fields.expiresAt <= now;
}

/**
 * The fields both shapes share, read from the shape the entry is in (the
 * Python package's when it has `access_token`): the access token, a
 * non-empty refresh token, and the expiry in milliseconds (`expires_at` in
 * seconds for Python's shape). Unchecked beyond that; `undefined` for what is
 * not an object.
 */
function entryFields(value: unknown): {
  raw: Record<string, unknown>;
  python: boolean;
  accessToken: unknown;
  refreshToken: string | undefined;
  expiresAt: unknown;
} | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const python = Object.hasOwn(raw, "access_token");
  const refresh = python ? raw.refresh_token : raw.refreshToken;
  return {
    raw,
    python,
    accessToken: python ? raw.access_token : raw.accessToken,
    refreshToken: typeof refresh === "string" && refresh !== "" ? refresh : undefined,
    expiresAt: python
      ? typeof raw.expires_at === "number" ? raw.expires_at * 1000 : undefined
      : raw.expiresAt,
  };
}

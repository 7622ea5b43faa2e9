/**
 * The token-cache protocol the session speaks: the {@linkcode TokenCache}
 * interface, the cache key, when a cached token may be used, and the read
 * through the cache under its lock. Implementations (file, keyring, memory)
 * are in `@kognic/auth/config`; the session loads {@linkcode readThrough}
 * lazily, on the first token it needs with a cache.
 *
 * @module
 */

import { AccessToken, tokenFreshness, type TokenSet } from "./access_token.ts";

/**
 * A cached access token: the same shape as {@linkcode TokenSet}.
 *
 * @deprecated Use TokenSet.
 */
export type CachedToken = TokenSet;

/**
 * Where access tokens are kept between calls and processes.
 *
 * @example A cache in front of a token request
 * ```ts
 * import type { TokenSet } from "@kognic/auth";
 * import { isUsable, MemoryTokenCache } from "@kognic/auth/config";
 *
 * const cache = new MemoryTokenCache();
 * const requestToken = (): Promise<TokenSet> =>
 *   Promise.resolve({ accessToken: "t", tokenType: "Bearer", issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
 *
 * const token = await cache.withLock("key", async () => {
 *   const cached = await cache.get("key");
 *   if (cached && isUsable(cached)) return cached;
 *   const fresh = await requestToken();
 *   await cache.set("key", fresh);
 *   return fresh;
 * });
 * console.log(token.tokenType); // "Bearer"
 * ```
 */
export interface TokenCache {
  /** The token stored under `key`, usable or not, or `undefined`. */
  get(key: string): Promise<TokenSet | undefined>;
  /** Stores `token` under `key`, replacing what was there. */
  set(key: string, token: TokenSet): Promise<void>;
  /** Removes the token stored under `key`, if any. */
  delete(key: string): Promise<void>;
  /** Removes every token of this cache. */
  clear(): Promise<void>;
  /**
   * Runs fn while holding a cross-process lock for key, so concurrent
   * processes on a cold cache make one token request: fn re-checks get() inside.
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * How long before its expiry a cached token stops being used, in ms (30 s).
 *
 * @example
 * ```ts
 * import { TOKEN_CACHE_MARGIN } from "@kognic/auth/config";
 *
 * console.log(TOKEN_CACHE_MARGIN); // 30000
 * ```
 */
export const TOKEN_CACHE_MARGIN = 30_000;

/**
 * Whether a cached token may still be used: `now < expiresAt - 30 s`, the
 * renewal rule of `tokenFreshness` with a margin of exactly
 * {@linkcode TOKEN_CACHE_MARGIN}.
 *
 * @param token The cached token.
 * @param now The current time in ms since the epoch. @default {Date.now()}
 * @returns `true` while the token has more than 30 s of life left.
 *
 * @example
 * ```ts
 * import { isUsable } from "@kognic/auth/config";
 *
 * const token = { accessToken: "t", tokenType: "Bearer", issuedAt: 0, expiresAt: 3_600_000 };
 * console.log(isUsable(token, 3_500_000)); // true
 * console.log(isUsable(token, 3_580_000)); // false
 * ```
 */
export function isUsable(token: TokenSet, now: number = Date.now()): boolean {
  return tokenFreshness(token, now, TOKEN_CACHE_MARGIN, TOKEN_CACHE_MARGIN) == "fresh";
}

/**
 * The cache key of a token, as the Python `kognic-auth` makes it:
 * `"<authServer>:<clientId>"`, followed by `":s-<hash>"` when scopes are
 * requested, where the hash is the first 12 hex digits of the SHA-256 of the
 * space-joined scopes. Unlike the reference, the scopes are sorted first, so
 * their order does not matter. No scopes and an empty list give the same key:
 * both request a token without a `scope` parameter.
 *
 * @param authServer The auth server's URL, as the token request uses it.
 * @param clientId The OAuth client id.
 * @param scopes The scopes requested, if any.
 * @returns The key.
 *
 * @example
 * ```ts
 * import { tokenCacheKey } from "@kognic/auth/config";
 *
 * console.log(await tokenCacheKey("https://auth.app.kognic.com", "my-id"));
 * // "https://auth.app.kognic.com:my-id"
 * console.log(await tokenCacheKey("https://auth.app.kognic.com", "my-id", ["b", "a"]));
 * // "https://auth.app.kognic.com:my-id:s-c8687a08aa5d"
 * ```
 */
export async function tokenCacheKey(
  authServer: string,
  clientId: string,
  scopes?: readonly string[],
): Promise<string> {
  const key = `${authServer}:${clientId}`;
  if (!scopes || scopes.length === 0) return key;
  const hash = await sha256Hex([...scopes].sort().join(" "));
  return `${key}:s-${hash.slice(0, 12)}`;
}

/** The SHA-256 of `text` in hex. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Options of {@linkcode readThrough}. */
export interface ReadThroughOptions {
  /** The cache. */
  cache: TokenCache;
  /** The auth server, part of the key. */
  authServer: string;
  /** The client id, part of the key. */
  clientId: string;
  /** The scopes requested, part of the key. */
  scopes: readonly string[] | undefined;
  /** The clock, in milliseconds since the epoch. */
  now: () => number;
  /** The session's renewal leeway, in milliseconds; a cached token also needs 30 s left. */
  leeway: number;
  /** Whether a cached token that is fresh may be used: it was not rejected by a server. */
  usable: (token: AccessToken) => boolean;
  /** Requests a new token; gets the cached refresh token, if any. */
  request: (refreshToken: string | undefined) => Promise<AccessToken>;
}

/**
 * A token through the cache, under its lock: the cached one while fresh by
 * `tokenFreshness` (the session's leeway, with at least 30 s left) and not rejected,
 * else a new one, stored for the next process. A cache that cannot be read or
 * written is a cache miss, never an error. `AuthSession` loads this lazily.
 *
 * @param options The cache, the key's parts and how to judge and request tokens.
 * @returns The token.
 */
export async function readThrough(options: ReadThroughOptions): Promise<AccessToken> {
  const { cache } = options;
  const server = options.authServer.replace(/\/+$/, "");
  const key = await tokenCacheKey(server, options.clientId, options.scopes);
  return await cache.withLock(key, async () => {
    const cached = await cache.get(key).catch(() => undefined);
    if (cached) {
      const token = new AccessToken(cached);
      const freshness = tokenFreshness(token, options.now(), options.leeway, TOKEN_CACHE_MARGIN);
      if (freshness == "fresh" && options.usable(token)) return token;
    }
    const token = await options.request(cached?.refreshToken);
    await cache.set(key, token.toTokenSet()).catch(() => {});
    return token;
  });
}

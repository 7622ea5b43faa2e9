/**
 * The token-cache protocol: {@linkcode TokenCache}, the cache key, when a
 * cached token may be used, and {@linkcode readThrough} (loaded lazily by the
 * session). Implementations are in `@kognic/auth/config`.
 *
 * @module
 */

import { AccessToken, tokenFreshness, type TokenSet, tokenSetProblem } from "./access_token.ts";
import { type AuthEventListener, emit } from "./events.ts";
import { tokenUrlFor } from "./egress.ts";

/** A wait for the cache lock this long or longer is reported as an event, in ms. */
const LOCK_WAIT_REPORTED = 10;

/** The longest lifetime a stored token may claim: a year and a day (servers' answers are capped at a year). */
const MAX_STORED_LIFETIME = 366 * 24 * 3600 * 1000;

/**
 * The one parser of stored tokens: a clean copy of a cache entry in this
 * package's shape ({@linkcode TokenSet}) or the Python `kognic-auth` one
 * (seconds; without `expires_in` issued when read), or `undefined`. It must
 * pass `tokenSetProblem`, be bearer, not issued in the future and live at most
 * a year and a day: a damaged or hostile entry is a miss, never an error.
 *
 * @param value What the cache held.
 * @param options `refreshToken: false` drops the refresh token (caches shared
 *   by a fleet keep none); `now`, the clock in ms. @default {{ now: Date.now() }}
 * @returns The token's fields, or `undefined`.
 */
export function parseTokenSet(
  value: unknown,
  options: { refreshToken?: boolean; now?: number } = {},
): TokenSet | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const now = options.now ?? Date.now();
  const python = Object.hasOwn(raw, "access_token");
  const type = python ? raw.token_type ?? "bearer" : raw.tokenType;
  let expiresAt = raw.expiresAt;
  let issuedAt = raw.issuedAt;
  if (python) {
    expiresAt = typeof raw.expires_at === "number" ? raw.expires_at * 1000 : NaN;
    let lifetime = raw.expires_in;
    if (typeof lifetime === "string" && lifetime.trim() !== "") lifetime = Number(lifetime);
    issuedAt = lifetime == null
      ? Math.min(now, expiresAt as number)
      : typeof lifetime === "number" && lifetime > 0
      ? (expiresAt as number) - lifetime * 1000
      : NaN;
  }
  const token = {
    accessToken: python ? raw.access_token : raw.accessToken,
    tokenType: "Bearer",
    expiresAt,
    issuedAt: typeof issuedAt === "number" ? Math.min(issuedAt, now) : issuedAt,
  } as TokenSet;
  const refresh = python ? raw.refresh_token : raw.refreshToken;
  if (typeof refresh === "string" && refresh) token.refreshToken = refresh;
  if (typeof raw.scope === "string") token.scope = raw.scope;
  if (
    typeof type !== "string" || !/^bearer$/i.test(type) || tokenSetProblem(token) !== undefined ||
    !(token.expiresAt - token.issuedAt <= MAX_STORED_LIFETIME)
  ) {
    return undefined;
  }
  // A damaged refresh token spoils the entry even where it is not kept.
  if (options.refreshToken === false) delete token.refreshToken;
  return token;
}

/** A server's long `Retry-After`, shared through a cache as a record of its own, never a token. */
export interface TokenHoldoff {
  /** When the wait ends, in ms since the epoch. */
  until: number;
  /** The HTTP status that asked for it (429 or 503). */
  status: number;
}

/** The longest hold-off read from a cache: an hour, the longest a session remembers. */
const MAX_HOLDOFF = 3_600_000;

/**
 * The one parser of stored hold-offs: `undefined` when not one or over; the
 * wait is cut to an hour, a status that is not 4xx/5xx reads as 429.
 *
 * @param value What the cache held.
 * @param now The clock, in ms since the epoch.
 * @returns The hold-off, or `undefined`.
 */
export function parseHoldoff(value: unknown, now: number): TokenHoldoff | undefined {
  const { until, status } = (value ?? {}) as Record<string, unknown>;
  if (typeof until !== "number" || !(until > now)) return undefined;
  const known = Number.isInteger(status) && (status as number) >= 400 && (status as number) < 600;
  return { until: Math.min(until, now + MAX_HOLDOFF), status: known ? status as number : 429 };
}

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
   * Runs fn under a cross-process lock for key, so processes on a cold cache
   * make one request (fn re-checks get()). An abort of `options.signal` while
   * waiting rejects with its reason; fn does not run.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T>;
  /** Optional: the hold-off stored for `key` by {@linkcode TokenCache.setHoldoff}, if any. */
  getHoldoff?(key: string): Promise<TokenHoldoff | undefined>;
  /** Optional: stores a server's request to wait for the tokens of `key`, until `holdoff.until`. */
  setHoldoff?(key: string, holdoff: TokenHoldoff): Promise<void>;
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
 * Whether a cached token may still be used: `now < expiresAt - 30 s`
 * ({@linkcode TOKEN_CACHE_MARGIN}).
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
 * `"<authServer>:<clientId>"`, plus `":s-<hash>"` (first 12 hex of the SHA-256
 * of the space-joined scopes, sorted here) when scopes are given. A session
 * whose token URL is not the default endpoint keys by that URL instead.
 *
 * @param authServer The auth server's URL, as the token request uses it (or the token URL).
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
  return await scopedKey(key, [...scopes].sort().join(" "));
}

/** `key` with the scopes' part: `:s-` and the first 12 hex of the SHA-256 of `joined`. */
async function scopedKey(key: string, joined: string): Promise<string> {
  return `${key}:s-${(await sha256Hex(joined)).slice(0, 12)}`;
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
  /** The auth server, part of the key when the token URL is its default endpoint. */
  authServer: string;
  /** The token endpoint's URL, part of the key when it is not the auth server's default. */
  tokenUrl?: URL;
  /** Ends a wait for the cache's lock. */
  signal?: AbortSignal;
  /** The session's hold-off (options.ts), shared through a cache that keeps hold-offs. */
  holdoff?: { until?: number; status?: number };
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
  /** Told of cache hits, misses and lock waits. */
  onEvent?: AuthEventListener;
}

/**
 * A token through the cache: the cached one while fresh (leeway, at least 30 s
 * left) and not rejected; else one requested under the lock after a second
 * look, and stored. A hit takes no lock; a failing cache is a miss.
 *
 * @param options The cache, the key's parts and how to judge and request tokens.
 * @returns The token.
 */
export async function readThrough(options: ReadThroughOptions): Promise<AccessToken> {
  const { cache } = options;
  const server = cacheKeyServer(options.authServer, options.tokenUrl);
  const { clientId, scopes } = options;
  const key = await tokenCacheKey(server, clientId, scopes);
  // The lock is taken only to request; under it the cache is read again.
  const first = await readStored(cache, key);
  const hit = usableToken(first, options);
  if (hit) {
    emit(options.onEvent, { type: "cache.hit", key });
    return hit;
  }
  // Python hashes scopes unsorted: read (never write) its key too.
  const given = scopes?.join(" ");
  if (given && given !== [...scopes!].sort().join(" ")) {
    const pythonKey = await scopedKey(`${server}:${clientId}`, given);
    const python = usableToken(await readStored(cache, pythonKey), options);
    if (python) {
      emit(options.onEvent, { type: "cache.hit", key: pythonKey });
      return python;
    }
  }
  const asked = options.now();
  return await cache.withLock(key, async () => {
    const waited = options.now() - asked;
    if (waited >= LOCK_WAIT_REPORTED) {
      emit(options.onEvent, { type: "cache.lock_wait", key, duration: waited });
    }
    const cached = await readStored(cache, key);
    const stored = usableToken(cached, options);
    if (stored) {
      emit(options.onEvent, { type: "cache.hit", key });
      return stored;
    }
    emit(options.onEvent, { type: "cache.miss", key });
    const holdoff = options.holdoff;
    if (holdoff && cache.getHoldoff) {
      // Another process may have been told to wait: then so is this one.
      const held = parseHoldoff(
        await Promise.resolve().then(() => cache.getHoldoff!(key)).catch(() => undefined),
        options.now(),
      );
      if (held && held.until > (holdoff.until ?? 0)) Object.assign(holdoff, held);
    }
    const before = holdoff?.until;
    let token: AccessToken;
    try {
      token = await options.request(cached?.refreshToken);
    } catch (error) {
      const until = holdoff?.until;
      if (until !== undefined && until !== before && until > options.now()) {
        const record = { until, status: holdoff!.status ?? 429 };
        await Promise.resolve().then(() => cache.setHoldoff?.(key, record)).catch(() => {});
      }
      throw error;
    }
    await cache.set(key, token.toTokenSet()).catch(() => {});
    return token;
  }, { signal: options.signal });
}

/** The cached token when fresh (leeway, 30 s left) and not rejected by a server. */
function usableToken(
  cached: TokenSet | undefined,
  options: ReadThroughOptions,
): AccessToken | undefined {
  if (!cached) return undefined;
  const token = new AccessToken(cached);
  const freshness = tokenFreshness(token, options.now(), options.leeway, TOKEN_CACHE_MARGIN);
  return freshness == "fresh" && options.usable(token) ? token : undefined;
}

/** A stored token through parseTokenSet; a damaged entry or a throwing cache is a miss. */
function readStored(cache: TokenCache, key: string): Promise<TokenSet | undefined> {
  return Promise.resolve().then(() => cache.get(key)).then(
    (value) => parseTokenSet(value),
    () => undefined,
  );
}

/** The key's first part: the auth server for its default endpoint, else the token URL. */
function cacheKeyServer(authServer: string, tokenUrl?: URL): string {
  // Never a password in a key: keys show in events and logs and are stored.
  const server = authServer.replace(/\/\/[^/?#]*@/, "//").replace(/\/+$/, "");
  if (!tokenUrl) return server;
  let standard: string | undefined;
  try {
    // DEFAULT_TOKEN_ENDPOINT (options.ts imports this module).
    standard = tokenUrlFor(authServer, "/v1/auth/oauth/token", true).href;
  } catch {
    standard = undefined;
  }
  if (standard === tokenUrl.href) return server;
  const url = new URL(tokenUrl.href);
  url.username = "";
  url.password = "";
  return url.href;
}

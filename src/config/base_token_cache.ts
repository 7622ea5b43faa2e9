// `BaseTokenCache`: what every token cache of this package shares.

import type { TokenSet } from "../core/access_token.ts";
import {
  parseHoldoff,
  parseTokenSet,
  type TokenCache,
  type TokenHoldoff,
} from "../core/token_cache.ts";

/** A token, or a server's request to wait (a hold-off): never read as each other. */
export type TokenRecordKind = "token" | "holdoff";

/** Where a {@linkcode BaseTokenCache} keeps its records; each method may throw when unreachable. */
export interface TokenRecordStore {
  /** The record as stored (parsed JSON), with its life left by the store's clock (`ttl`, ms) if kept. */
  read(kind: TokenRecordKind, key: string): Promise<{ value: unknown; ttl?: number } | undefined>;
  /** Stores `record`, to be kept until its `expiresAt` or `until` (ms since the epoch) at least. */
  write(kind: TokenRecordKind, key: string, record: TokenSet | TokenHoldoff): Promise<unknown>;
  /** Removes a record. */
  remove(kind: TokenRecordKind, key: string): Promise<unknown>;
}

/** Options of {@linkcode BaseTokenCache}. */
export interface BaseTokenCacheOptions {
  /** A cache a fleet shares: it keeps no refresh token, and an expired token reads as a miss. @default {false} */
  shared?: boolean;
}

/**
 * The base of the token caches: `get`, `set`, `delete`, `getHoldoff` and `setHoldoff` over a
 * {@linkcode TokenRecordStore}. Every record written is checked first (`set` throws a `TypeError`
 * for a token that is not one), and every record read back goes through the one parser of tokens or
 * of hold-offs: a damaged or hostile entry is a miss, never an error. A store that gives a `ttl`
 * decides how long a token lives. What a store throws reaches the caller as it is. Subclasses add
 * `clear` and `withLock`.
 *
 * @example A cache in a Map
 * ```ts
 * import { BaseTokenCache } from "@kognic/auth/config";
 *
 * class MapTokenCache extends BaseTokenCache {
 *   #map = new Map<string, unknown>();
 *   constructor() {
 *     super({
 *       read: (kind, key) => Promise.resolve({ value: this.#map.get(`${kind} ${key}`) }),
 *       write: (kind, key, record) => Promise.resolve(this.#map.set(`${kind} ${key}`, record)),
 *       remove: (kind, key) => Promise.resolve(this.#map.delete(`${kind} ${key}`)),
 *     });
 *   }
 *   clear(): Promise<void> {
 *     return Promise.resolve(this.#map.clear());
 *   }
 *   withLock<T>(_key: string, fn: () => Promise<T>): Promise<T> {
 *     return fn();
 *   }
 * }
 * const cache = new MapTokenCache();
 * await cache.set("key", { accessToken: "t", tokenType: "Bearer", issuedAt: 0, expiresAt: 4e12 });
 * console.log((await cache.get("key"))?.accessToken); // "t"
 * ```
 */
export abstract class BaseTokenCache implements TokenCache {
  #store: TokenRecordStore;
  #shared: boolean;

  /**
   * Makes the cache over its store.
   * @param store Where the records are kept.
   * @param options Whether a fleet shares the cache.
   */
  protected constructor(store: TokenRecordStore, options: BaseTokenCacheOptions = {}) {
    this.#store = store;
    this.#shared = options.shared ?? false;
  }

  /** The token stored under `key`, or `undefined` (also for a stored value that is not a token). */
  async get(key: string): Promise<TokenSet | undefined> {
    const stored = await this.#store.read("token", key);
    const now = Date.now();
    const token = parseTokenSet(stored?.value, { refreshToken: !this.#shared, now });
    if (!token) return undefined;
    const ttl = stored!.ttl;
    if (ttl === undefined) return this.#shared && token.expiresAt <= now ? undefined : token;
    if (!(ttl > 0)) return undefined;
    // The store's clock decides how long the token lives, not the writer's.
    const expiresAt = now + ttl;
    return { ...token, issuedAt: expiresAt - (token.expiresAt - token.issuedAt), expiresAt };
  }

  /**
   * Stores a copy of `token` under `key` (without its refresh token when shared).
   * @throws {TypeError} When `token` is not a valid token.
   */
  async set(key: string, token: TokenSet): Promise<void> {
    // Checked as it will be read: with the writer's own issue time.
    const checked = parseTokenSet(token, { refreshToken: !this.#shared, now: Infinity });
    if (!checked) throw new TypeError("token must be a TokenSet");
    await this.#store.write("token", key, checked);
  }

  /** Removes the token stored under `key`. */
  async delete(key: string): Promise<void> {
    await this.#store.remove("token", key);
  }

  /** The hold-off stored for `key`, or `undefined` (also when it is over). */
  async getHoldoff(key: string): Promise<TokenHoldoff | undefined> {
    return parseHoldoff((await this.#store.read("holdoff", key))?.value, Date.now());
  }

  /** Stores a server's request to wait for the tokens of `key` until `holdoff.until`. */
  async setHoldoff(key: string, holdoff: TokenHoldoff): Promise<void> {
    const checked = parseHoldoff(holdoff, Date.now());
    if (checked) await this.#store.write("holdoff", key, checked);
  }

  /** Removes every token and hold-off of this cache. */
  abstract clear(): Promise<void>;

  /** Runs `fn` under this cache's lock for `key`; see {@linkcode TokenCache.withLock}. */
  abstract withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options?: { signal?: AbortSignal },
  ): Promise<T>;
}

/**
 * A token cache in Deno KV (`Deno.openKv()`): on Deno Deploy, shared by every
 * isolate of a project; locally, by the processes that open the same file.
 *
 * @module
 */

import { isUsable, type TokenCache } from "../core/token_cache.ts";
import type { TokenSet } from "../core/access_token.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { checkNumber, TIMER_MS } from "../shared/numbers.ts";
import { type LeaseStore, LocalQueue, runLocked } from "./_lease.ts";
import { parseStoredToken } from "./redis_token_cache.ts";

/** The part of `Deno.Kv` that {@linkcode DenoKvTokenCache} uses. */
export interface DenoKvLike {
  /** Reads an entry. */
  get(key: readonly unknown[]): Promise<{ value: unknown; versionstamp: string | null }>;
  /** Starts an atomic operation. */
  atomic(): DenoKvAtomicLike;
  /** Lists entries under a prefix. */
  list(selector: { prefix: readonly unknown[] }): AsyncIterable<{ key: readonly unknown[] }>;
  /** Removes an entry. */
  delete(key: readonly unknown[]): Promise<void>;
  /** Closes the store. */
  close(): void;
}

/** The part of `Deno.AtomicOperation` that {@linkcode DenoKvTokenCache} uses. */
export interface DenoKvAtomicLike {
  /** Fails the operation unless the entry's versionstamp is this one (`null`: absent). */
  check(...checks: { key: readonly unknown[]; versionstamp: string | null }[]): DenoKvAtomicLike;
  /** Writes an entry. */
  set(key: readonly unknown[], value: unknown, options?: { expireIn?: number }): DenoKvAtomicLike;
  /** Removes an entry. */
  delete(key: readonly unknown[]): DenoKvAtomicLike;
  /** Commits; `ok` is false when a check failed. */
  commit(): Promise<{ ok: boolean }>;
}

/** Options of {@linkcode DenoKvTokenCache}. */
export interface DenoKvTokenCacheOptions {
  /** A KV store you already opened; it is never closed here. */
  kv?: DenoKvLike;
  /** The file to open with `Deno.openKv(path)`. @default {Deno Deploy's store, or Deno's default local one} */
  path?: string;
  /** The first part of every key this cache writes. @default {"kognic-auth"} */
  prefix?: string;
  /** The lease's time to live, in ms; a holder renews it every third of it. @default {10_000} */
  leaseTime?: number;
  /** How long to wait for another holder's lease in total, in ms, before going ahead. @default {30_000} */
  lockTimeout?: number;
  /** How long a holder may keep renewing its lease, in ms. @default {120_000} */
  maxHold?: number;
  /** Told each time the store cannot be used and this process goes on by itself. */
  onFallback?: (event: { operation: string; message: string }) => void;
}

interface Lease {
  owner: string;
  expiresAt: number;
}

/**
 * Access tokens in Deno KV, under `[prefix, "token", cache key]`, with the
 * lease of `withLock` under `[prefix, "lease", cache key]`: taken by an
 * atomic check-and-set on the entry's versionstamp, renewed while the work
 * runs, removed by its owner only. `expireIn` only says when KV may delete an
 * entry at the earliest, so each value keeps its own expiry and an entry past
 * it counts as absent. Only the access token and its times are stored, never
 * a secret or a refresh token.
 *
 * Needs Deno with KV: Deno Deploy, or Deno 2.9 run with `--unstable-kv`.
 * Elsewhere, every call fails with a {@linkcode ConfigurationError} that says so.
 *
 * @example
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 * import { DenoKvTokenCache } from "@kognic/auth/config";
 *
 * const session = new AuthSession({ tokenCache: new DenoKvTokenCache() });
 * console.log((await session.getToken()).tokenType);
 * ```
 */
export class DenoKvTokenCache implements TokenCache {
  #options: DenoKvTokenCacheOptions;
  #kv: Promise<DenoKvLike> | undefined;
  #prefix: string;
  #queue = new LocalQueue();

  /**
   * Makes a cache; the store is opened on first use.
   *
   * @param options The store (`kv` or `path`), the key prefix, the lease's timing and `onFallback`.
   * @throws {TypeError} When the prefix is not a non-empty string.
   */
  constructor(options: DenoKvTokenCacheOptions = {}) {
    const prefix = options.prefix ?? "kognic-auth";
    if (typeof prefix !== "string" || prefix === "") {
      throw new TypeError("The Deno KV key prefix must be a non-empty string");
    }
    for (const name of ["leaseTime", "lockTimeout", "maxHold"] as const) {
      checkNumber(name, options[name], 1, TIMER_MS);
    }
    this.#prefix = prefix;
    this.#options = { ...options };
  }

  /**
   * Reads a token.
   *
   * @param key The token's cache key.
   * @returns The stored token, or `undefined` (also once past its expiry).
   * @throws {ConfigurationError} When Deno KV is not available.
   */
  async get(key: string): Promise<TokenSet | undefined> {
    const entry = await (await this.#store()).get([this.#prefix, "token", key]);
    if (typeof entry.value !== "string") return undefined;
    const token = parseStoredToken(entry.value);
    return token && token.expiresAt > Date.now() ? token : undefined;
  }

  /**
   * Stores a token (without its refresh token), to be deleted by KV after its expiry.
   *
   * @param key The token's cache key.
   * @param token The token.
   * @throws {TypeError} When `token` is not a valid cached token.
   * @throws {ConfigurationError} When Deno KV is not available.
   */
  async set(key: string, token: TokenSet): Promise<void> {
    const shared = parseStoredToken(JSON.stringify(token ?? null));
    if (!shared) throw new TypeError("token must be a TokenSet");
    const kv = await this.#store();
    const ttl = Math.floor(shared.expiresAt - Date.now());
    const entryKey = [this.#prefix, "token", key];
    if (ttl <= 0) await kv.delete(entryKey);
    else await kv.atomic().set(entryKey, JSON.stringify(shared), { expireIn: ttl }).commit();
  }

  /**
   * Removes a token.
   *
   * @param key The token's cache key.
   * @throws {ConfigurationError} When Deno KV is not available.
   */
  async delete(key: string): Promise<void> {
    await (await this.#store()).delete([this.#prefix, "token", key]);
  }

  /**
   * Removes every entry under this cache's prefix, and nothing else.
   *
   * @throws {ConfigurationError} When Deno KV is not available.
   */
  async clear(): Promise<void> {
    const kv = await this.#store();
    for await (const entry of kv.list({ prefix: [this.#prefix] })) await kv.delete(entry.key);
  }

  /**
   * Runs `fn` holding the lease for `key`, so that one of the processes
   * sharing the store requests a missing token and the others read it.
   *
   * @param key The token's cache key.
   * @param fn What to run while holding the lease.
   * @param options `signal` stops a wait for the lease.
   * @returns What `fn` returns.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T> {
    return runLocked(this.#queue, this.#leases, key, fn, this.#options, {
      // Processes sharing a KV file may meet it busy for a moment.
      errorRetries: 20,
      signal: options?.signal,
      onFallback: (operation, error) => {
        try {
          this.#options.onFallback?.({
            operation,
            message: error instanceof Error ? error.message : String(error),
          });
        } catch {
          // A listener's failure is its own.
        }
      },
    });
  }

  /** Closes the store this cache opened (a given one is left open). */
  async close(): Promise<void> {
    if (this.#options.kv || !this.#kv) return;
    const opened = this.#kv;
    this.#kv = undefined;
    (await opened.catch(() => undefined))?.close();
  }

  #leases: LeaseStore = {
    acquire: async (key, owner, ttl) => {
      const kv = await this.#store();
      const leaseKey = [this.#prefix, "lease", key];
      const entry = await kv.get(leaseKey);
      const lease = entry.value as Partial<Lease> | null;
      if (entry.versionstamp !== null && (lease?.expiresAt ?? 0) > Date.now()) return false;
      const value: Lease = { owner, expiresAt: Date.now() + ttl };
      const result = await kv.atomic().check({ key: leaseKey, versionstamp: entry.versionstamp })
        .set(leaseKey, value, { expireIn: ttl }).commit();
      return result.ok;
    },
    renew: async (key, owner, ttl) => {
      const kv = await this.#store();
      const leaseKey = [this.#prefix, "lease", key];
      const entry = await kv.get(leaseKey);
      if ((entry.value as Partial<Lease> | null)?.owner !== owner) return false;
      const value: Lease = { owner, expiresAt: Date.now() + ttl };
      const result = await kv.atomic().check({ key: leaseKey, versionstamp: entry.versionstamp })
        .set(leaseKey, value, { expireIn: ttl }).commit();
      return result.ok;
    },
    release: async (key, owner) => {
      const kv = await this.#store();
      const leaseKey = [this.#prefix, "lease", key];
      const entry = await kv.get(leaseKey);
      if ((entry.value as Partial<Lease> | null)?.owner !== owner) return;
      await kv.atomic().check({ key: leaseKey, versionstamp: entry.versionstamp })
        .delete(leaseKey).commit();
    },
    hasUsableToken: async (key) => {
      const token = await this.get(key);
      return token !== undefined && isUsable(token);
    },
  };

  #store(): Promise<DenoKvLike> {
    if (this.#options.kv) return Promise.resolve(this.#options.kv);
    this.#kv ??= openKv(this.#options.path).catch((error) => {
      this.#kv = undefined;
      throw error;
    });
    return this.#kv;
  }
}

async function openKv(path: string | undefined): Promise<DenoKvLike> {
  const deno = (globalThis as {
    Deno?: { openKv?: (path?: string) => Promise<DenoKvLike> };
  }).Deno;
  if (!deno) {
    throw new ConfigurationError(
      "DenoKvTokenCache needs Deno KV, which only Deno has; use RedisTokenCache or FileTokenCache here",
    );
  }
  if (typeof deno.openKv !== "function") {
    throw new ConfigurationError(
      "DenoKvTokenCache needs Deno KV: run Deno with --unstable-kv (or on Deno Deploy)",
    );
  }
  try {
    return await deno.openKv(path);
  } catch (error) {
    throw new ConfigurationError(
      `Could not open Deno KV${path ? ` at ${path}` : ""}: ${(error as Error)?.message}`,
      { cause: error },
    );
  }
}

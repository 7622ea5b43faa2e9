// A token cache in Deno KV, shared by a Deno Deploy project or the processes opening one file.

import { BaseTokenCache } from "./base_token_cache.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { checkNumber, TIMER_MS } from "../shared/deadline.ts";
import type { LeaseStore } from "./_lease.ts";
import { LocalQueue, parseBoundedJson, recordExpiry, tellFallback } from "./_store.ts";

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

/**
 * Access tokens in Deno KV under `[prefix, "token", key]`, hold-offs under `[prefix, "holdoff",
 * key]`, and `withLock`'s lease under `[prefix, "lease", key]` (an atomic check-and-set on its
 * versionstamp, renewed, removed by its owner). Each value keeps its own expiry, as `expireIn` is
 * only a lower bound. Never a secret or refresh token is stored. Needs Deno Deploy or
 * `--unstable-kv`; elsewhere every call throws a {@linkcode ConfigurationError}.
 */
export class DenoKvTokenCache extends BaseTokenCache {
  #options: DenoKvTokenCacheOptions;
  #kv: Promise<DenoKvLike> | undefined;
  #prefix: string;
  #queue = new LocalQueue();

  /**
   * Makes a cache; the store is opened on first use.
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
    super({
      read: async (kind, key) => {
        const entry = await (await this.#store()).get([this.#prefix, kind, key]);
        return { value: parseBoundedJson(entry.value, 64 * 1024) };
      },
      write: async (kind, key, record) => {
        const kv = await this.#store();
        const ttl = Math.floor(recordExpiry(record) - Date.now());
        if (ttl <= 0) return await kv.delete([this.#prefix, kind, key]);
        await kv.atomic().set([this.#prefix, kind, key], JSON.stringify(record), { expireIn: ttl })
          .commit();
      },
      remove: async (kind, key) => await (await this.#store()).delete([this.#prefix, kind, key]),
    }, { shared: true });
    this.#prefix = prefix;
    this.#options = { ...options };
  }

  /** Removes every entry under this cache's prefix. @throws {ConfigurationError} Without KV. */
  async clear(): Promise<void> {
    const kv = await this.#store();
    for await (const entry of kv.list({ prefix: [this.#prefix] })) await kv.delete(entry.key);
  }

  /** Runs `fn` holding the lease for `key` (or, when the store fails, without). */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T> {
    // The lease is loaded at the first lock: a cache that is only read never loads it.
    return import("./_lease.ts").then(({ runLocked }) =>
      runLocked(this.#queue, this.#leases, this, key, fn, {
        ...this.#options,
        // Processes sharing a KV file may meet it busy for a moment.
        errorRetries: 20,
        signal: options?.signal,
        onFallback: (operation, error) => tellFallback(this.#options.onFallback, operation, error),
      })
    );
  }

  /** Closes the store this cache opened (a given one is left open). */
  async close(): Promise<void> {
    if (this.#options.kv || !this.#kv) return;
    const opened = this.#kv;
    this.#kv = undefined;
    (await opened.catch(() => undefined))?.close();
  }

  #leases: LeaseStore = {
    acquire: (key, owner, ttl) => this.#swapLease(key, owner, ttl, true),
    renew: (key, owner, ttl) => this.#swapLease(key, owner, ttl, false),
    release: async (key, owner) => void await this.#swapLease(key, owner, undefined, false),
  };

  /** Takes (`take`), renews or, without `ttl`, removes `owner`'s lease by an atomic check. */
  async #swapLease(
    key: string,
    owner: string,
    ttl: number | undefined,
    take: boolean,
  ): Promise<boolean> {
    const kv = await this.#store();
    const leaseKey = [this.#prefix, "lease", key];
    const entry = await kv.get(leaseKey);
    const lease = entry.value as { owner?: string; expiresAt?: number } | null;
    const free = take
      ? entry.versionstamp === null || !((lease?.expiresAt ?? 0) > Date.now())
      : lease?.owner === owner;
    if (!free) return false;
    const atomic = kv.atomic().check({ key: leaseKey, versionstamp: entry.versionstamp });
    return (await (ttl === undefined
      ? atomic.delete(leaseKey)
      : atomic.set(leaseKey, { owner, expiresAt: Date.now() + ttl }, { expireIn: ttl })).commit())
      .ok;
  }

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

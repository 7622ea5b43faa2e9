// A lease, the one lock of every token cache but the memory one: one holder
// at a time per key, taken with create-if-absent and a time to live, renewed
// while the holder's work still runs (so a slow token request does not let a
// second holder in) and given up by compare-and-delete. Redis and Deno KV
// keep it in their store for processes on many machines; the file and keyring
// caches in a lock file (_lock.ts).
//
// Waiters poll, with a growing interval, both the lease and the token the
// holder is about to store: as soon as a usable token is there they run `fn`
// without the lease, and `fn` reads that token. A holder that dies stops
// renewing, so its lease expires after `leaseTime` at most. The total wait is
// bounded; after it, or when the store fails, `fn` runs without the lease,
// queued only behind the other callers in this process (its own single flight).

import { sleep } from "../shared/retry.ts";
import { isUsable } from "../core/token_cache.ts";
import { type LocalQueue, randomHex, type TokenRecords } from "./_store.ts";

/** What a lease needs from a store; every method may throw when the store cannot be reached. */
export interface LeaseStore {
  /** Takes the lease for `owner` unless someone holds it. */
  acquire(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Extends the lease while `owner` still holds it; false when it does not. */
  renew(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Gives up the lease if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
}

/** Timing of a lease, as a cache's options give it (10 s, 30 s and 120 s by default), and what to tell. */
export interface LeaseOptions {
  /** The lease's time to live, in ms; it is renewed every third of it. */
  leaseTime?: number;
  /** How long a caller waits for the lease in total, in ms, before running without it. */
  lockTimeout?: number;
  /** How long a holder may keep renewing, in ms; then its lease runs out. */
  maxHold?: number;
  /** Cancels the wait for the lease. */
  signal?: AbortSignal;
  /**
   * How many failures of the store in a row are waited out (as if the lease
   * were taken) before going ahead without it: 0 for a server that is down
   * when it fails, more for a store with brief contention such as a KV file.
   */
  errorRetries?: number;
  /** Told when the lease is not used: the store failed, or the wait timed out. */
  onFallback: (operation: string, error: unknown) => void;
  /** Whether the work is done already (a usable token is stored), so no lease is needed. */
  usable?: () => Promise<boolean>;
}

/** Tells a user's `onFallback` that the store is not used; what it throws is its own. */
export function tellFallback(
  listener: ((event: { operation: string; message: string }) => void) | undefined,
  operation: string,
  message: string,
): void {
  try {
    listener?.({ operation, message });
  } catch {
    // A listener's failure is its own.
  }
}

/**
 * Runs `fn` for `key` behind this process's queue, then holding the lease of
 * `store` (see the module's comment): a shared cache's `withLock`. A usable
 * token in `records` ends the wait.
 */
export function runLocked<T>(
  queue: LocalQueue,
  store: LeaseStore,
  records: TokenRecords,
  key: string,
  fn: () => Promise<T>,
  options: LeaseOptions,
): Promise<T> {
  const usable = async (): Promise<boolean> => {
    const token = await records.get(key);
    return token !== undefined && isUsable(token);
  };
  return queue.run(key, () => withLease(store, key, fn, { ...options, usable }), options);
}

/** Runs `fn` holding the lease for `key` in `store` (see the module's comment). */
export async function withLease<T>(
  store: LeaseStore,
  key: string,
  fn: () => Promise<T>,
  options: LeaseOptions,
): Promise<T> {
  const { signal } = options;
  signal?.throwIfAborted();
  const owner = randomHex(16);
  const lockTimeout = options.lockTimeout ?? 30_000;
  const deadline = Date.now() + lockTimeout;
  let interval = 20;
  let errors = 0;
  for (;;) {
    let state: "usable" | "held" | "taken" | "failed";
    try {
      state = (await options.usable?.())
        ? "usable"
        : (await store.acquire(key, owner, options.leaseTime ?? 10_000))
        ? "held"
        : "taken";
      errors = 0;
    } catch (error) {
      if (++errors > (options.errorRetries ?? 0)) {
        options.onFallback("lock", error);
        state = "failed";
      } else state = "taken";
    }
    if (state === "usable" || state === "failed") return await fn();
    if (state === "held") return await holding(store, key, owner, fn, options);
    const left = deadline - Date.now();
    if (left <= 0) {
      options.onFallback("lock", new Error(`waited ${lockTimeout} ms for the lease`));
      return await fn();
    }
    const pause = Math.min(left, interval * (0.75 + Math.random() / 2));
    await sleep(pause, signal);
    interval = Math.min(interval * 1.5, 250);
  }
}

async function holding<T>(
  store: LeaseStore,
  key: string,
  owner: string,
  fn: () => Promise<T>,
  options: LeaseOptions,
): Promise<T> {
  const until = Date.now() + (options.maxHold ?? 120_000);
  const leaseTime = options.leaseTime ?? 10_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const renew = (): void => {
    timer = setTimeout(async () => {
      if (stopped || Date.now() >= until) return;
      // A failed renewal is tried again at the next tick; a lost lease is not,
      // and is told: another process may now request a token too.
      let kept = true;
      try {
        kept = await store.renew(key, owner, leaseTime);
      } catch (error) {
        options.onFallback("renew", error);
      }
      if (!kept && !stopped) {
        options.onFallback(
          "renew",
          new Error(`lost the lease: not renewed within its ${leaseTime} ms`),
        );
      }
      if (kept && !stopped) renew();
    }, Math.max(1, Math.floor(leaseTime / 3)));
  };
  renew();
  try {
    options.signal?.throwIfAborted();
    return await fn();
  } finally {
    stopped = true;
    clearTimeout(timer);
    await store.release(key, owner).catch((error) => options.onFallback("release", error));
  }
}

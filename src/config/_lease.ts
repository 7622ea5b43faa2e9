// The lease, every token cache's lock but memory's: one holder per key, taken
// by create-if-absent with a time to live, renewed while the work runs, given
// up by compare-and-delete; kept in Redis, Deno KV or a lock file (_lock.ts).
// Waiters poll the lease and the token with a growing interval and go ahead as
// soon as a usable token is stored. After the bounded wait, or when the store
// fails, `fn` runs without the lease behind this process's own queue.

import { sleep } from "../shared/retry.ts";
import { isUsable } from "../core/token_cache.ts";
import { type LocalQueue, randomHex } from "./_store.ts";
import type { TokenSet } from "../core/access_token.ts";

/** What a lease needs from a store; every method may throw when the store cannot be reached. */
export interface LeaseStore {
  /** Takes the lease for `owner` unless someone holds it. */
  acquire(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Extends the lease while `owner` still holds it; false when it does not. */
  renew(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Gives up the lease if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
}

/** A lease's timing (10 s, 30 s and 120 s by default) and what to tell. */
export interface LeaseOptions {
  leaseTime?: number; // ms; renewed every third of it
  lockTimeout?: number; // the whole wait, ms, before running without the lease
  maxHold?: number; // how long a holder may keep renewing, ms
  signal?: AbortSignal;
  // Store failures in a row waited out as a taken lease (more for a KV file's brief contention).
  errorRetries?: number;
  onFallback: (operation: string, error: unknown) => void;
  usable?: () => Promise<boolean>; // a usable token is stored: no lease needed
}

/** Tells a user's `onFallback` that the store is not used; what it throws is its own. */
export function tellFallback(
  listener: ((event: { operation: string; message: string }) => void) | undefined,
  operation: string,
  message: string,
): void {
  try {
    listener?.({ operation, message });
  } catch { /* a listener's failure is its own */ }
}

/** A shared cache's `withLock`: `fn` behind this process's queue, then under the lease. */
export function runLocked<T>(
  queue: LocalQueue,
  store: LeaseStore,
  records: { get(key: string): Promise<TokenSet | undefined> },
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

/** Runs `fn` holding the lease for `key` in `store`. */
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
      // A failed renewal is retried next tick; a lost lease is told, not retried.
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

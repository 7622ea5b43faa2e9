// A lease shared by processes on many machines, for the Redis and Deno KV
// token caches: one holder at a time per key, taken with create-if-absent and
// a time to live, renewed while the holder's work still runs (so a slow token
// request does not let a second holder in) and given up by compare-and-delete.
//
// Waiters poll, with a growing interval, both the lease and the token the
// holder is about to store: as soon as a usable token is there they run `fn`
// without the lease, and `fn` reads that token. A holder that dies stops
// renewing, so its lease expires after `leaseTime` at most. The total wait is
// bounded; after it, or when the store fails, `fn` runs without the lease,
// queued only behind the other callers in this process (its own single flight).

import { sleep } from "../shared/retry.ts";
import { startDeadline } from "../shared/deadline.ts";

/** What a lease needs from a store; every method may throw when the store cannot be reached. */
export interface LeaseStore {
  /** Takes the lease for `owner` unless someone holds it. */
  acquire(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Extends the lease while `owner` still holds it; false when it does not. */
  renew(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Gives up the lease if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
  /** Whether a usable token is stored under `key` already, so no lease is needed. */
  hasUsableToken(key: string): Promise<boolean>;
}

/** Timing of a lease. */
export interface LeaseOptions {
  /** The lease's time to live, in ms; it is renewed every third of it. */
  leaseTime: number;
  /** How long a caller waits for the lease in total, in ms, before running without it. */
  lockTimeout: number;
  /** How long a holder may keep renewing, in ms; then its lease runs out. */
  maxHold: number;
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
}

/** An in-process queue per key, the single flight every caller passes first. */
export class LocalQueue {
  #tails = new Map<string, Promise<void>>();

  /** Runs `fn` after the earlier callers for `key` in this process; a wait stops on `signal`. */
  async run<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.#tails.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = (previous ?? Promise.resolve()).then(() => mine);
    this.#tails.set(key, tail);
    try {
      if (previous) await abortable(previous, signal);
      return await fn();
    } finally {
      done();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** The lease timings of a cache's options; the defaults are 10 s, 30 s and 120 s. */
export interface LeaseTimings {
  leaseTime?: number;
  lockTimeout?: number;
  maxHold?: number;
}

/**
 * Runs `fn` for `key` behind this process's queue, then holding the lease of
 * `store`: a shared cache's `withLock`.
 */
export function runLocked<T>(
  queue: LocalQueue,
  store: LeaseStore,
  key: string,
  fn: () => Promise<T>,
  timings: LeaseTimings,
  options: Omit<LeaseOptions, "leaseTime" | "lockTimeout" | "maxHold">,
): Promise<T> {
  return queue.run(key, () =>
    withLease(store, key, fn, {
      leaseTime: timings.leaseTime ?? 10_000,
      lockTimeout: timings.lockTimeout ?? 30_000,
      maxHold: timings.maxHold ?? 120_000,
      ...options,
    }), options.signal);
}

/** A random owner id: 128 bits in hex. */
export function randomOwner(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
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
  const owner = randomOwner();
  const deadline = Date.now() + options.lockTimeout;
  let interval = 20;
  let errors = 0;
  for (;;) {
    let state: "usable" | "held" | "taken" | "failed";
    try {
      state = (await store.hasUsableToken(key))
        ? "usable"
        : (await store.acquire(key, owner, options.leaseTime))
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
      options.onFallback("lock", new Error(`waited ${options.lockTimeout} ms for the lease`));
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
  const until = Date.now() + options.maxHold;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const renew = (): void => {
    timer = setTimeout(async () => {
      if (stopped || Date.now() >= until) return;
      // A failed renewal is tried again at the next tick; a lost lease is not,
      // and is told: another process may now request a token too.
      let kept = true;
      try {
        kept = await store.renew(key, owner, options.leaseTime);
      } catch (error) {
        options.onFallback("renew", error);
      }
      if (!kept && !stopped) {
        options.onFallback(
          "renew",
          new Error(`lost the lease: not renewed within its ${options.leaseTime} ms`),
        );
      }
      if (kept && !stopped) renew();
    }, Math.max(1, Math.floor(options.leaseTime / 3)));
  };
  renew();
  try {
    return await fn();
  } finally {
    stopped = true;
    clearTimeout(timer);
    await store.release(key, owner).catch((error) => options.onFallback("release", error));
  }
}

/** `promise`, ended early (with its reason) when `signal` aborts: the one deadline helper with no time limit. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  const wait = startDeadline(undefined, { signal });
  return wait.race(promise).finally(() => wait.clear());
}

// The lease, every token cache's lock but memory's: one holder per key, taken by create-if-absent
// with a time to live, renewed while the work runs, given up by compare-and-delete; kept in Redis,
// Deno KV or a lock file (below). Waiters poll the lease and the token with a growing interval and
// go ahead as soon as a usable token is stored. After the bounded wait, or when the store fails,
// `fn` runs without the lease behind this process's own queue.

import { sleep } from "../shared/deadline.ts";
import { errorCode, FileRefusedError, makeDirectory, readFileBytes } from "../shared/files.ts";
import { isUsable } from "../core/token_cache.ts";
import { LocalQueue, parseBoundedJson, randomHex } from "./_store.ts";
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
interface LeaseOptions {
  leaseTime?: number; // ms; renewed every third of it
  lockTimeout?: number; // the whole wait, ms, before running without the lease
  maxHold?: number; // how long a holder may keep renewing, ms
  signal?: AbortSignal;
  // Store failures in a row waited out as a taken lease (more for a KV file's brief contention).
  errorRetries?: number;
  onFallback: (operation: string, error: unknown) => void;
  usable?: () => Promise<boolean>; // a usable token is stored: no lease needed
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
async function withLease<T>(
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
      const kept = await store.renew(key, owner, leaseTime).catch((error) => {
        options.onFallback("renew", error);
        return true;
      });
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

// The lease as a lock file, for the file and keyring caches: made with O_EXCL, holding the owner's
// pid and nonce, its mtime refreshed every staleAfter / 3 ms. It is broken when its owner is gone
// (no such pid, or our pid without our nonce) or unrefreshed for staleAfter ms: renamed aside, and
// linked back if the moved file is not the one judged stale. Best effort: without the lock in
// `timeout` ms, `fn` runs anyway (at worst a duplicate request, never a corrupt file).

/** Options of {@linkcode withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for the lock before running without it, in ms. @default {30_000} */
  timeout?: number;
  /** How long a lock may go unrefreshed before it counts as abandoned, in ms. @default {5_000} */
  staleAfter?: number;
  /** Ends every wait for the lock: the call then rejects with the signal's reason, `fn` unrun. */
  signal?: AbortSignal;
}

const queue = new LocalQueue();
const heldNonces = new Set<string>();

/** Runs `fn` holding the lock file `lockPath` (made with its directory when needed). */
export function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const { signal, timeout = 30_000, staleAfter = 5_000 } = options;
  const deadline = Date.now() + timeout;
  return queue.run(lockPath, () =>
    withLease(fileLeases(staleAfter), lockPath, fn, {
      leaseTime: staleAfter,
      lockTimeout: Math.max(0, deadline - Date.now()),
      maxHold: Infinity,
      signal,
      onFallback: () => {},
    }), { signal, timeout });
}

/** Lock files as the store of a lease; `staleAfter` is the lease's time to live. */
function fileLeases(staleAfter: number): LeaseStore {
  return {
    async acquire(lockPath, nonce): Promise<boolean> {
      const fs = await import("node:fs/promises");
      const { pid } = await import("node:process");
      // Again at once after a stale lock is broken, or the directory made.
      for (let round = 0; round < 3; round++) {
        try {
          const handle = await fs.open(lockPath, "wx", 0o600);
          try {
            await handle.writeFile(JSON.stringify({ pid, nonce, created: Date.now() }));
          } catch (error) {
            await fs.unlink(lockPath).catch(() => {});
            throw error;
          } finally {
            await handle.close().catch(() => {});
          }
          heldNonces.add(nonce);
          return true;
        } catch (error) {
          const code = errorCode(error);
          if (code === "ENOENT" && round === 0) {
            const { dirname } = await import("node:path");
            await makeDirectory(dirname(lockPath));
            continue;
          }
          // No lock can be made here: fn runs without one.
          if (code !== "EEXIST") throw error;
        }
        if (!(await breakIfStale(lockPath, staleAfter, pid))) return false;
      }
      return false;
    },
    async renew(lockPath): Promise<boolean> {
      const { utimes } = await import("node:fs/promises");
      const now = new Date();
      await utimes(lockPath, now, now).catch(() => {});
      return true;
    },
    async release(lockPath, nonce): Promise<void> {
      heldNonces.delete(nonce);
      const fs = await import("node:fs/promises");
      try {
        // Only if still ours: another process may have judged it stale and taken it.
        const info = parseInfo((await readLock(lockPath)) ?? "");
        if (info?.nonce === nonce) await fs.unlink(lockPath);
      } catch { /* already gone, or unreadable: nothing of ours to remove */ }
    },
  };
}

/** Removes the lock file when it is abandoned; `true` when the caller should retry at once. */
async function breakIfStale(
  lockPath: string,
  staleAfter: number,
  ownPid: number,
): Promise<boolean> {
  const fs = await import("node:fs/promises");
  let text: string;
  let stat: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stat = await fs.stat(lockPath);
    const read = await readLock(lockPath);
    if (read === undefined) return true;
    text = read;
  } catch (error) {
    return errorCode(error) === "ENOENT";
  }
  const info = parseInfo(text);
  let stale = Date.now() - stat.mtimeMs > staleAfter;
  if (!stale && info?.pid !== undefined) {
    stale = info.pid === ownPid
      ? info.nonce === undefined || !heldNonces.has(info.nonce)
      : !(await isProcessAlive(info.pid));
  }
  if (!stale) return false;

  const aside = `${lockPath}.${randomHex(6)}.stale`;
  try {
    await fs.rename(lockPath, aside);
  } catch (error) {
    return errorCode(error) === "ENOENT";
  }
  const moved = await fs.stat(aside).catch(() => undefined);
  const same = moved !== undefined && (stat.ino === 0 || moved.ino === stat.ino) &&
    (await readLock(aside).catch(() => undefined)) === text;
  // Another process replaced the stale lock meanwhile: give it back (unless yet another appeared).
  if (!same) await fs.link(aside, lockPath).catch(() => {});
  await fs.unlink(aside).catch(() => {});
  return true;
}

/** The most a lock file is read of: its JSON is under 100 bytes. */
const MAX_LOCK_BYTES = 4096;

/**
 * A lock file's text, `undefined` when it is gone. One that is not a regular
 * file or is too large (not ours) reads as `""`: never blocked on, never read
 * whole; its age alone then decides whether it is stale.
 */
async function readLock(path: string): Promise<string | undefined> {
  try {
    const bytes = await readFileBytes(path, { maxBytes: MAX_LOCK_BYTES });
    return bytes && new TextDecoder().decode(bytes);
  } catch (error) {
    if (error instanceof FileRefusedError) return "";
    throw error;
  }
}

/** `false` only when the process certainly does not exist on this machine. */
async function isProcessAlive(pid: number): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    const { kill } = await import("node:process");
    kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: someone else's. Deno without --allow-run cannot tell: the lock's age decides.
    return errorCode(error) !== "ESRCH";
  }
}

function parseInfo(text: string): { pid?: number; nonce?: string } | undefined {
  const value = parseBoundedJson(text, Infinity) as { pid?: unknown; nonce?: unknown } | null;
  if (typeof value !== "object" || value === null) return undefined;
  const pid = typeof value.pid === "number" ? value.pid : undefined;
  return { pid, nonce: typeof value.nonce === "string" ? value.nonce : undefined };
}

// A cross-process lock made of a lock file, for the token cache.
//
// The lock is a file created with O_EXCL (`open(path, "wx")`) holding the
// owner's pid and a random nonce. While it is held, its mtime is refreshed
// every `staleAfter / 3` ms. Another process may break it when its owner is
// gone (the pid does not exist on this machine, or is this process's own pid
// but not a lock this process holds) or when it has not been refreshed for
// `staleAfter` ms. A lock is broken by renaming it aside and checking that the
// file moved is the one judged stale; one that is not is linked back.
//
// The lock is best effort: when it cannot be had within `timeout` ms, or the
// lock file cannot be created at all, `fn` runs without it. For a cache this
// costs at worst a duplicate token request or a lost entry, never a corrupt
// file (writes are atomic renames) and never a process stuck waiting.
//
// Callers in the same process are queued in memory first, so they do not
// poll the file against each other. Every node: module is imported lazily.

import { errorCode } from "../shared/files.ts";
import { sleep } from "../shared/retry.ts";
import { LocalQueue, randomHex } from "./_store.ts";

/** Options of {@linkcode withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for the lock before running without it, in ms. @default {30_000} */
  timeout?: number;
  /** How long a lock may go unrefreshed before it counts as abandoned, in ms. @default {5_000} */
  staleAfter?: number;
  /** Ends every wait for the lock: the call then rejects with the signal's reason, `fn` unrun. */
  signal?: AbortSignal;
}

interface LockInfo {
  pid?: number;
  nonce?: string;
}

const queue = new LocalQueue();
const heldNonces = new Set<string>();

/**
 * Runs `fn` while holding the lock file `lockPath` (created, with its
 * directory, when needed), then removes the lock file.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const timeout = options.timeout ?? 30_000;
  const staleAfter = options.staleAfter ?? 5_000;
  const deadline = Date.now() + timeout;
  const signal = options.signal;
  signal?.throwIfAborted();

  return await queue.run(lockPath, async () => {
    const held = await acquire(lockPath, deadline, staleAfter, signal);
    try {
      return await fn();
    } finally {
      await held?.release();
    }
  }, { signal, timeout });
}

interface HeldLock {
  release(): Promise<void>;
}

async function acquire(
  lockPath: string,
  deadline: number,
  staleAfter: number,
  signal: AbortSignal | undefined,
): Promise<HeldLock | undefined> {
  const fs = await import("node:fs/promises");
  const { pid } = await import("node:process");
  const nonce = randomHex(12);
  let delay = 4;
  let madeDirectory = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const handle = await fs.open(lockPath, "wx", 0o600);
      try {
        await handle.writeFile(JSON.stringify({ pid, nonce, created: Date.now() }));
      } catch (error) {
        await handle.close().catch(() => {});
        await fs.unlink(lockPath).catch(() => {});
        throw error;
      }
      await handle.close();
      const held = hold(lockPath, nonce, staleAfter);
      if (signal?.aborted) {
        await held.release();
        throw signal.reason;
      }
      return held;
    } catch (error) {
      const code = errorCode(error);
      if (code === "ENOENT" && !madeDirectory) {
        madeDirectory = true;
        const { dirname } = await import("node:path");
        try {
          await fs.mkdir(dirname(lockPath), { recursive: true, mode: 0o700 });
        } catch {
          return undefined;
        }
        continue;
      }
      if (code !== "EEXIST") return undefined;
    }
    if (await breakIfStale(lockPath, staleAfter, pid)) continue;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(left, delay + Math.random() * delay), signal);
    delay = Math.min(delay * 2, 100);
  }
}

function hold(lockPath: string, nonce: string, staleAfter: number): HeldLock {
  heldNonces.add(nonce);
  const refresh = async (): Promise<void> => {
    const { utimes } = await import("node:fs/promises");
    const now = new Date();
    await utimes(lockPath, now, now).catch(() => {});
  };
  const timer = setInterval(() => void refresh(), Math.max(50, Math.floor(staleAfter / 3)));
  return {
    async release(): Promise<void> {
      clearInterval(timer);
      heldNonces.delete(nonce);
      const fs = await import("node:fs/promises");
      try {
        // Remove the lock only if it is still ours: another process may have
        // judged it stale (had this process stalled) and taken it.
        const info = parseInfo(await fs.readFile(lockPath, "utf8"));
        if (info?.nonce === nonce) await fs.unlink(lockPath);
      } catch {
        // Already gone, or unreadable: nothing of ours to remove.
      }
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
  let ino: number;
  let mtimeMs: number;
  try {
    const stat = await fs.stat(lockPath);
    ino = stat.ino;
    mtimeMs = stat.mtimeMs;
    text = await fs.readFile(lockPath, "utf8");
  } catch (error) {
    return errorCode(error) === "ENOENT";
  }
  const info = parseInfo(text);
  let stale = Date.now() - mtimeMs > staleAfter;
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
  let same = false;
  try {
    const moved = await fs.stat(aside);
    same = (ino === 0 || moved.ino === ino) && (await fs.readFile(aside, "utf8")) === text;
  } catch {
    same = false;
  }
  if (!same) {
    // Another process replaced the stale lock between our look and the
    // rename: give its lock back, unless yet another one has appeared.
    await fs.link(aside, lockPath).catch(() => {});
  }
  await fs.unlink(aside).catch(() => {});
  return true;
}

/** `false` only when the process certainly does not exist on this machine. */
async function isProcessAlive(pid: number): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    const { kill } = await import("node:process");
    kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else. Deno without --allow-run
    // cannot tell (and reads /proc only with --allow-all): the lock's age decides.
    return errorCode(error) !== "ESRCH";
  }
}

function parseInfo(text: string): LockInfo | undefined {
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null) return undefined;
    return {
      pid: typeof value.pid === "number" ? value.pid : undefined,
      nonce: typeof value.nonce === "string" ? value.nonce : undefined,
    };
  } catch {
    return undefined;
  }
}

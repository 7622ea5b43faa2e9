// The lease of _lease.ts as a lock file (for the file and keyring caches),
// created with O_EXCL and holding the owner's pid and nonce; its mtime is
// refreshed every staleAfter / 3 ms. It is broken when its owner is gone (no
// such pid here, or our pid without our nonce) or it went unrefreshed for
// staleAfter ms: renamed aside, and linked back if the moved file is not the
// one judged stale. Best effort: without the lock in `timeout` ms, `fn` runs
// anyway (at worst a duplicate request, never a corrupt file). Callers of one
// process queue in memory first; node: modules are imported lazily.

import { errorCode } from "../shared/files.ts";
import { type LeaseStore, withLease } from "./_lease.ts";
import { LocalQueue, parseBoundedJson, randomHex } from "./_store.ts";

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
            await fs.mkdir(dirname(lockPath), { recursive: true, mode: 0o700 });
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
        const info = parseInfo(await fs.readFile(lockPath, "utf8"));
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
  // Another process replaced the stale lock meanwhile: give it back (unless yet another appeared).
  if (!same) await fs.link(aside, lockPath).catch(() => {});
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

// The token caches' helpers: records' expiry and Python shape, bounded JSON, and the in-process
// queue every lock passes first.

import type { TokenSet } from "../core/access_token.ts";
import type { TokenHoldoff } from "../core/token_cache.ts";
import { startDeadline } from "../shared/deadline.ts";
import { emit } from "../core/events.ts";

/** When a record may be forgotten by its store, in ms since the epoch. */
export function recordExpiry(record: TokenSet | TokenHoldoff): number {
  return "until" in record ? record.until : record.expiresAt;
}

/** A token in the Python package's shape (a hold-off as it is), for the file and the keyring. */
export function toPythonShape(record: TokenSet | TokenHoldoff): object {
  if ("until" in record) return record;
  const expiresAt = Math.floor(record.expiresAt / 1000);
  const entry: Record<string, string | number> = {
    access_token: record.accessToken,
    token_type: "bearer",
    // From the issue time rounded down: expires_at - expires_in gives it back to the second.
    expires_in: Math.max(1, expiresAt - Math.floor(record.issuedAt / 1000)),
    expires_at: expiresAt,
  };
  if (record.refreshToken !== undefined) entry.refresh_token = record.refreshToken;
  if (record.scope !== undefined) entry.scope = record.scope;
  return entry;
}

/** Whether a stored value may be dropped: a hold-off over, an expired token without refresh. */
export function isSpent(value: unknown, now: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  const raw = value as Record<string, unknown>;
  const python = Object.hasOwn(raw, "access_token");
  if (!python && !Object.hasOwn(raw, "accessToken")) {
    return typeof raw.until === "number" && raw.until <= now; // a hold-off that is over
  }
  const seconds = raw.expires_at;
  const expiresAt = python
    ? typeof seconds === "number" ? seconds * 1000 : undefined
    : raw.expiresAt;
  const refresh = python ? raw.refresh_token : raw.refreshToken;
  return typeof (python ? raw.access_token : raw.accessToken) === "string" &&
    !(typeof refresh === "string" && refresh !== "") && typeof expiresAt === "number" &&
    expiresAt <= now;
}

/** `text` parsed as JSON when it is at most `maxChars` long, else `undefined`. */
export function parseBoundedJson(text: unknown, maxChars: number): unknown {
  if (typeof text !== "string" || text.length > maxChars) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** An in-process queue per key: the single flight every caller of a lock passes first. */
export class LocalQueue {
  #tails = new Map<string, Promise<void>>();

  /** Runs `fn` after this process's earlier callers for `key` (waiting at most `timeout` ms). */
  async run<T>(
    key: string,
    fn: () => Promise<T>,
    options: { signal?: AbortSignal; timeout?: number } = {},
  ): Promise<T> {
    options.signal?.throwIfAborted();
    const previous = this.#tails.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = (previous ?? Promise.resolve()).then(() => mine);
    this.#tails.set(key, tail);
    try {
      if (previous) {
        const wait = startDeadline(options.timeout, { signal: options.signal });
        try {
          await wait.race(previous);
        } catch (error) {
          if (!wait.expired) throw error;
        } finally {
          wait.clear();
        }
      }
      return await fn();
    } finally {
      done();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Tells a user's `onFallback` why the store is not used (`why` or its message); its errors are its own. */
export function tellFallback(
  listener: ((event: { operation: string; message: string }) => void) | undefined,
  operation: string,
  why: unknown,
): void {
  const message = typeof why === "string" ? why : (why as Error)?.message ?? String(why);
  // A listener that throws or rejects (an async one) never breaks the cache.
  emit(listener, { operation, message });
}

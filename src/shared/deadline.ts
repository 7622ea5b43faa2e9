/**
 * The one deadline helper for every wait: an abort signal that fires after a
 * (clamped) delay or with a parent signal, and a {@linkcode Deadline.race}
 * for promises that ignore signals.
 *
 * @module
 */

import { timerDelay } from "./numbers.ts";

/** A running deadline: see {@linkcode startDeadline}. */
export interface Deadline {
  /** Aborts when the time is up (with `reason`) or the parent signal aborts (with its reason). */
  readonly signal: AbortSignal;
  /** Whether the time ran out (rather than the parent aborting). */
  readonly expired: boolean;
  /** `promise`, or a rejection as soon as the signal aborts, with its reason. */
  race<T>(promise: Promise<T>): Promise<T>;
  /** Stops the timer; call it when the wait is over. */
  clear(): void;
}

/** Options of {@linkcode startDeadline} and {@linkcode withDeadline}. */
export interface DeadlineOptions {
  /** A parent signal: the deadline aborts with its reason when it aborts. */
  signal?: AbortSignal | null;
  /** The reason the signal aborts with when the time is up. @default {a `TimeoutError` DOMException} */
  reason?: () => unknown;
  /**
   * Time it with `AbortSignal.timeout` (keeps no process alive; spares Deno
   * starting its timers), for a seldom-firing deadline over I/O. @default {false}
   */
  unref?: boolean;
}

/**
 * Starts a deadline of `ms` milliseconds (`undefined` or `Infinity` for
 * none beyond the parent signal).
 *
 * @param ms The time allowed, in milliseconds.
 * @param options The parent signal, the reason the signal aborts with when the time is up, the timer.
 * @returns The deadline; `clear()` it when done.
 */
export function startDeadline(
  ms: number | undefined,
  options: DeadlineOptions = {},
): Deadline {
  const controller = new AbortController();
  let expired = false;
  const parent = options.signal ?? undefined;
  const onAbort = (): void => controller.abort(parent!.reason);
  const onTime = (): void => {
    expired = true;
    controller.abort(options.reason?.() ?? new DOMException("The deadline passed", "TimeoutError"));
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timeout: AbortSignal | undefined;
  if (ms !== undefined && ms !== Infinity) {
    if (options.unref) {
      // Node.js takes only a whole number of ms here.
      timeout = AbortSignal.timeout(Math.ceil(timerDelay(ms)));
      timeout.addEventListener("abort", onTime, { once: true });
    } else timer = setTimeout(onTime, timerDelay(ms));
  }
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener("abort", onAbort, { once: true });
  const clear = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timeout?.removeEventListener("abort", onTime);
    parent?.removeEventListener("abort", onAbort);
  };
  const signal = controller.signal;
  return {
    signal,
    get expired() {
      return expired;
    },
    race<T>(promise: Promise<T>): Promise<T> {
      if (signal.aborted) {
        promise.catch(() => {});
        return Promise.reject(signal.reason);
      }
      return new Promise<T>((resolve, reject) => {
        const stop = (): void => reject(signal.reason);
        signal.addEventListener("abort", stop, { once: true });
        promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
      });
    },
    clear,
  };
}

/**
 * Runs `fn` with a deadline's signal and races it against the deadline, so
 * that even a wait that ignores its signal ends in time; the timer is
 * cleared however it ends. A huge or infinite `ms` never fires at once.
 *
 * @param ms The time allowed, in milliseconds; `undefined` or `Infinity` for no limit.
 * @param fn The wait, given the deadline's signal.
 * @param options The parent signal, the reason for a timeout (an
 *   `AbortSignal.timeout`-style `TimeoutError` `DOMException` when not
 *   given), the timer.
 * @returns What `fn` resolves to.
 * @throws {unknown} The reason, when the time runs out or the parent signal aborts.
 *
 * @example
 * ```ts
 * import { withDeadline } from "@kognic/auth/config";
 *
 * const answer = await withDeadline(5_000, (signal) => fetch("https://example.com", { signal }));
 * ```
 */
export async function withDeadline<T>(
  ms: number | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions = {},
): Promise<T> {
  const deadline = startDeadline(ms, options);
  try {
    return await deadline.race(Promise.resolve().then(() => fn(deadline.signal)));
  } finally {
    deadline.clear();
  }
}

/**
 * Numbers and waits, each written once: {@linkcode checkNumber} validates every
 * number from options, the environment or a server, {@linkcode timerDelay}
 * clamps every timer, and {@linkcode startDeadline} bounds every wait.
 *
 * @module
 */

/** The longest delay a timer holds: 2^31 - 1 ms, about 24.8 days. Longer waits are clamped to it. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** The rule of a duration in ms that a timer holds as it is: above 0, at most {@linkcode MAX_TIMER_DELAY}. */
export const TIMER_MS: NumberRule = {
  min: 0,
  minInclusive: false,
  max: MAX_TIMER_DELAY,
  unit: "milliseconds",
};

/** The range a number must be in, for {@linkcode checkNumber}. */
export interface NumberRule {
  /** The smallest value allowed. @default {0} */
  min?: number;
  /** Whether `min` itself is allowed. @default {true} */
  minInclusive?: boolean;
  /** The largest value allowed. @default {Infinity} */
  max?: number;
  /** Whether the value must be a whole number. @default {false} */
  integer?: boolean;
  /** Whether `Infinity` is allowed (a wait without limit, to be clamped). @default {false} */
  infinite?: boolean;
  /** The unit, for the message: "milliseconds", say. */
  unit?: string;
}

/**
 * `value` when it is a number in range, `fallback` when it is `undefined`;
 * else a `RangeError` naming `name` (as the caller wrote it: `"retry.limit"`)
 * and what is allowed.
 */
export function checkNumber(
  name: string,
  value: unknown,
  fallback: number,
  rule: NumberRule = {},
): number {
  if (value === undefined) return fallback;
  const { min = 0, max = Infinity, minInclusive, integer, infinite, unit } = rule;
  const ok = typeof value === "number" && !Number.isNaN(value) &&
    (Number.isFinite(value) ? !integer || Number.isInteger(value) : infinite && value > 0) &&
    (minInclusive === false ? value > min : value >= min) && value <= max;
  if (ok) return value as number;
  throw new RangeError(
    `${name} must be ${integer ? "a whole number" : "a number"} ` +
      `${minInclusive === false ? "more than" : "at least"} ${min}` +
      `${Number.isFinite(max) ? ` and at most ${max}` : ""}${unit ? ` ${unit}` : ""}` +
      `${infinite ? " (or Infinity)" : ""}, ` +
      `not ${typeof value === "number" ? String(value) : typeof value}`,
  );
}

/** A delay as a timer holds it: NaN and negative become 0, 2^31 ms and more (`Infinity` too) {@linkcode MAX_TIMER_DELAY}. */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_DELAY) : 0;
}

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
  /** Time it with `AbortSignal.timeout` (keeps no process alive, starts no Deno timers), for a seldom-firing deadline. @default {false} */
  unref?: boolean;
}

/** Starts a deadline of `ms` milliseconds (clamped; `undefined` or `Infinity`: none but the parent signal's); `clear()` it when done. */
export function startDeadline(ms: number | undefined, options: DeadlineOptions = {}): Deadline {
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
  const signal = controller.signal;
  return {
    signal,
    get expired() {
      return expired;
    },
    race<T>(promise: Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const stop = (): void => reject(signal.reason);
        if (signal.aborted) stop();
        signal.addEventListener("abort", stop, { once: true });
        promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
      });
    },
    clear(): void {
      if (timer !== undefined) clearTimeout(timer);
      timeout?.removeEventListener("abort", onTime);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * Runs `fn` with the signal of a deadline of `ms` milliseconds (`undefined`
 * or `Infinity`: none) and races it against the deadline, so that even a
 * wait that ignores its signal ends in time; the timer is cleared however it ends.
 *
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

/**
 * Waits `ms` milliseconds (clamped by `timerDelay`, as every timer); rejects
 * with the signal's reason as soon as it aborts.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const deadline = startDeadline(timerDelay(ms), { signal });
  const done = deadline.signal;
  if (!done.aborted) await new Promise((resolve) => done.addEventListener("abort", resolve));
  deadline.clear();
  if (!deadline.expired) throw done.reason;
}

/**
 * The one retry policy of the token and API clients: full-jitter backoff,
 * `Retry-After` up to a limit, retryable statuses, and the abortable loop.
 *
 * @module
 */

import { checkNumber, sleep } from "./deadline.ts";

// The one delay helper lives with the deadlines, so that a module that only waits loads no retry
// policy.
export { sleep };

/** How a loop of {@linkcode withRetries} retries: every field in milliseconds but `limit`. */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 turns retrying off. */
  limit: number;
  /** The first backoff's upper bound; each retry doubles it. */
  baseDelay: number;
  /** The largest backoff. */
  maxDelay: number;
  /** The longest `Retry-After` waited out; a longer one ends the loop. */
  maxRetryAfter: number;
}

/**
 * A retry policy from a caller's options over `defaults`: `limit` 0 to 100,
 * the delays from 0 (`maxRetryAfter` may be `Infinity`); else a `RangeError`
 * naming `retry.<field>`.
 */
export function resolveRetryPolicy(
  options: Partial<RetryPolicy> | undefined,
  defaults: RetryPolicy,
): RetryPolicy {
  const delay = { unit: "milliseconds" };
  return {
    limit: checkNumber("retry.limit", options?.limit, defaults.limit, { integer: true, max: 100 }),
    baseDelay: checkNumber("retry.baseDelay", options?.baseDelay, defaults.baseDelay, delay),
    maxDelay: checkNumber("retry.maxDelay", options?.maxDelay, defaults.maxDelay, delay),
    maxRetryAfter: checkNumber(
      "retry.maxRetryAfter",
      options?.maxRetryAfter,
      defaults.maxRetryAfter,
      { ...delay, infinite: true },
    ),
  };
}

/** The statuses the API client retries by default: 429, 502, 503 and 504. */
export const DEFAULT_RETRY_STATUSES: readonly number[] = Object.freeze([429, 502, 503, 504]);

/** Whether a token request answered with `status` may succeed again: 408, 425, 429, 5xx. */
export function isRetryableTokenStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

/**
 * The wait after attempt `attempt` (from 1), or `undefined` when no retry follows: full jitter,
 * or the `Retry-After` plus up to 10 % (at most 1 s) to spread clients.
 */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfter?: number,
): number | undefined {
  if (!(attempt <= policy.limit)) return undefined;
  if (retryAfter === undefined) {
    return Math.random() * Math.min(policy.maxDelay, policy.baseDelay * 2 ** (attempt - 1));
  }
  if (retryAfter > policy.maxRetryAfter) return undefined;
  return retryAfter + Math.random() * Math.min(1000, retryAfter * 0.1);
}

/** An attempt's retryable outcome: how to settle if no retry follows, `Retry-After`, what to do before the wait. */
export class Retry<T> {
  /** The outcome when no retry follows: returned, or thrown when it throws. */
  readonly settle: () => T | Promise<T>;
  /** The wait the server asked for, in milliseconds. */
  readonly retryAfter: number | undefined;
  /** Called with the wait before a retry. */
  readonly before: ((delay: number) => void | Promise<void>) | undefined;

  constructor(
    settle: () => T | Promise<T>,
    retryAfter?: number,
    before?: (delay: number) => void | Promise<void>,
  ) {
    this.settle = settle;
    this.retryAfter = retryAfter;
    this.before = before;
  }
}

/**
 * Runs `attempt` (from 1) until a result, or a {@linkcode Retry} not retried
 * (its `settle` gives the outcome), waiting {@linkcode retryDelay} between;
 * an abort of `signal` ends it with the signal's reason.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (attempt: number) => Promise<T | Retry<T>>,
): Promise<T> {
  for (let n = 1;; n++) {
    signal?.throwIfAborted();
    const outcome = await attempt(n);
    if (!(outcome instanceof Retry)) return outcome;
    const delay = retryDelay(policy, n, outcome.retryAfter);
    if (delay === undefined) return await outcome.settle();
    await outcome.before?.(delay);
    await sleep(delay, signal);
  }
}

/** A `Retry-After` (delay-seconds or an HTTP-date) in ms from now, or `undefined` when unusable. */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = parseHttpDate(trimmed);
  return date && Math.max(0, date.getTime() - now);
}

/** HTTP-date forms (RFC 9110 section 5.6.7), each with where its year, month, day and time stand. */
const HTTP_DATES: [RegExp, number[]][] = [
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  [/^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i, [3, 2, 1, 4, 5, 6]],
  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  [/^[a-z]+, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i, [3, 2, 1, 4, 5, 6]],
  // asctime: Sun Nov  6 08:49:37 1994
  [/^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i, [6, 1, 2, 3, 4, 5]],
];
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** An HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, or the obsolete RFC 850 and asctime forms. */
export function parseHttpDate(value: string | null): Date | undefined {
  const text = value?.trim() ?? "";
  for (const [form, order] of HTTP_DATES) {
    const match = form.exec(text);
    if (!match) continue;
    const [year, month, ...rest] = order.map((at) => match[at].trim());
    let fullYear = Number(year);
    if (year.length === 2) {
      // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
      const thisYear = new Date().getUTCFullYear();
      fullYear += Math.floor(thisYear / 100) * 100;
      if (fullYear > thisYear + 50) fullYear -= 100;
    }
    const [day, hour, minute, second] = rest.map(Number);
    return utcDate(fullYear, MONTHS.indexOf(month.toLowerCase()) + 1, day, hour, minute, second);
  }
  return undefined;
}

/** A UTC date from its fields, or `undefined` when they name no real date. */
export function utcDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms = 0,
): Date | undefined {
  if (month < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), ms));
  // Date.UTC rolls 31 February over to March; such a date is invalid.
  if (
    date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day
  ) {
    return undefined;
  }
  return date;
}

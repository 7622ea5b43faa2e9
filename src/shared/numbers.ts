/**
 * The one validation of numbers from options, the environment or a server
 * ({@linkcode checkNumber}), and the one clamp of timer delays
 * ({@linkcode timerDelay}: 2^31 ms or more would fire at once).
 *
 * @module
 */

/** The longest delay a timer holds: 2^31 - 1 ms, about 24.8 days. Longer waits are clamped to it. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** The rule of a duration in ms that a timer holds as it is: above 0, at most {@linkcode MAX_TIMER_DELAY}. */
export const TIMER_MS: NumberRule = {
  min: 0,
  minInclusive: false,
  max: 2 ** 31 - 1,
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
  /** What the unit is, for the message: "milliseconds", say. */
  unit?: string;
}

/**
 * `value` when it is a number in range, `fallback` when it is `undefined`;
 * else a `RangeError` that names `name` and says what is allowed.
 *
 * @param name The option's name as the caller wrote it: `"retry.limit"`.
 * @param value The value given.
 * @param fallback The default, for `undefined`.
 * @param rule The range.
 * @returns The number.
 * @throws {RangeError} For NaN, a non-number, a value out of range, a fraction where a whole number is needed.
 */
export function checkNumber(
  name: string,
  value: unknown,
  fallback: number,
  rule: NumberRule = {},
): number {
  if (value === undefined) return fallback;
  const min = rule.min ?? 0;
  const max = rule.max ?? Infinity;
  const ok = typeof value === "number" && !Number.isNaN(value) &&
    (Number.isFinite(value) ? true : rule.infinite === true && value > 0) &&
    (rule.minInclusive === false ? value > min : value >= min) && value <= max &&
    (!rule.integer || !Number.isFinite(value) || Number.isInteger(value));
  if (!ok) {
    const kind = rule.integer ? "a whole number" : "a number";
    const low = rule.minInclusive === false ? `more than ${min}` : `at least ${min}`;
    const high = Number.isFinite(max) ? ` and at most ${max}` : "";
    const unit = rule.unit ? ` ${rule.unit}` : "";
    throw new RangeError(
      `${name} must be ${kind} ${low}${high}${unit}${rule.infinite ? " (or Infinity)" : ""}, ` +
        `not ${typeof value === "number" ? String(value) : typeof value}`,
    );
  }
  return value as number;
}

/**
 * A delay as a timer can hold it: NaN and negative become 0, and anything
 * from 2^31 ms up (`Infinity` too) becomes {@linkcode MAX_TIMER_DELAY}.
 */
export function timerDelay(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_DELAY) : 0;
}

// Deprecation notices from `sunset-date` and `Sunset` response headers, and the default handler.

import { parseHttpDate, utcDate } from "../shared/retry.ts";
import { displayUrl } from "../core/egress.ts";

const DAY = 24 * 60 * 60 * 1000;
const ERROR_WITHIN = 14 * DAY; // a sunset this close (or past) is an error

/** A deprecation announced by a response's `sunset-date` or `Sunset` header. */
export interface DeprecationNotice {
  /** The request method. */
  method: string;
  /** The request URL without its query string. */
  url: string;
  /** When the endpoint goes away. */
  sunset: Date;
  /** The header it came from: Kognic's `sunset-date`, or `sunset` (RFC 8594). */
  header: "sunset-date" | "sunset";
  /** `"error"` when the date is 14 days away or less (or past), else `"warning"`. */
  level: "warning" | "error";
  /** A sentence for a log, naming the endpoint and the date. */
  message: string;
}

/** Receives deprecation notices; see {@linkcode KognicClientOptions.onDeprecation}. */
export type DeprecationHandler = (notice: DeprecationNotice) => void;

const reported = new Set<string>();

/**
 * The default {@linkcode DeprecationHandler}: `console.warn` for a sunset more than 14 days away,
 * `console.error` otherwise, once per URL and date in the process.
 *
 * @param notice The deprecation.
 *
 * @example Logging deprecations elsewhere, and to the console too
 * ```ts
 * import { defaultDeprecationHandler, KognicClient } from "@kognic/auth/client";
 *
 * const client = new KognicClient({
 *   onDeprecation(notice) {
 *     console.info(JSON.stringify({ deprecated: notice.url, sunset: notice.sunset }));
 *     defaultDeprecationHandler(notice);
 *   },
 * });
 * ```
 */
export function defaultDeprecationHandler(notice: DeprecationNotice): void {
  const key = `${notice.url} ${notice.sunset.getTime()}`;
  if (reported.has(key)) return;
  if (reported.size >= 1000) reported.clear();
  reported.add(key);
  (notice.level === "error" ? console.error : console.warn)(notice.message);
}

/**
 * The deprecation a response's headers announce: Kognic's `sunset-date` (`2025-06-01T00:00:00Z`) or
 * RFC 8594's `Sunset` (an HTTP-date), the earlier of both; unparseable values are ignored.
 */
export function sunsetNotice(
  method: string,
  url: URL,
  headers: Headers,
  now: number = Date.now(),
): DeprecationNotice | undefined {
  const kognic = parseSunsetDate(headers.get("sunset-date"));
  const standard = parseHttpDate(headers.get("sunset"));
  if (!kognic && !standard) return undefined;
  const [header, date] = kognic && !(standard && standard < kognic)
    ? ["sunset-date" as const, kognic]
    : ["sunset" as const, standard!];
  const endpoint = new URL(displayUrl(url));
  endpoint.search = "";
  endpoint.hash = "";
  const left = date.getTime() - now;
  const level = left > ERROR_WITHIN ? "warning" : "error";
  const days = Math.round(Math.abs(left) / DAY);
  const when = left >= 0
    ? `will be removed at ${date.toISOString()} (in ${plural(days, "day")})`
    : `was due for removal at ${date.toISOString()} (${plural(days, "day")} ago)`;
  return {
    method,
    url: endpoint.href,
    sunset: date,
    header,
    level,
    message: `Endpoint ${method} ${endpoint.href} has been deprecated and ${when}; ` +
      `please update your client`,
  };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** `%Y-%m-%dT%H:%M:%S(.%f)Z`, the format of Kognic's `sunset-date` header. */
function parseSunsetDate(value: string | null): Date | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/.exec(
    value?.trim() ?? "",
  );
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const ms = Math.floor(Number(`0.${match[7] ?? "0"}`) * 1000);
  return utcDate(year, month, day, hour, minute, second, ms);
}

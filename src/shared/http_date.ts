/**
 * HTTP-dates (RFC 9110 section 5.6.7), as `Sunset` and `Retry-After` carry them.
 *
 * @module
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** An HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, or the obsolete RFC 850 and asctime forms. */
export function parseHttpDate(value: string | null): Date | undefined {
  const text = value?.trim() ?? "";
  let match = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i.exec(text);
  if (match) {
    return utcDate(
      Number(match[3]),
      MONTHS.indexOf(match[2].toLowerCase()) + 1,
      Number(match[1]),
      Number(match[4]),
      Number(match[5]),
      Number(match[6]),
    );
  }
  match = /^[a-z]+, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i.exec(text);
  if (match) {
    const short = Number(match[3]);
    // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + short;
    if (year > thisYear + 50) year -= 100;
    return utcDate(
      year,
      MONTHS.indexOf(match[2].toLowerCase()) + 1,
      Number(match[1]),
      Number(match[4]),
      Number(match[5]),
      Number(match[6]),
    );
  }
  match = /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i.exec(text);
  if (match) {
    return utcDate(
      Number(match[6]),
      MONTHS.indexOf(match[1].toLowerCase()) + 1,
      Number(match[2].trim()),
      Number(match[3]),
      Number(match[4]),
      Number(match[5]),
    );
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

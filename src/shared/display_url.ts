/**
 * URLs as messages and events show them: without user info. Apart from
 * url.ts, which the core loads, since only lazily loaded code shows URLs.
 *
 * @module
 */

/** A URL without its user info (a password in a URL is never shown), for messages and events. */
export function displayUrl(url: URL | string): string {
  const copy = new URL(url);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

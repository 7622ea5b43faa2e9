/**
 * The characters an access token may have: RFC 6749 allows visible ASCII;
 * anything else, or surrounding space, cannot travel intact in an
 * `Authorization` header. A fresh token and a cached one pass the same check,
 * and the same cap on their lifetime.
 *
 * @module
 */

/** Whether `token` is a non-empty run of visible ASCII, inner spaces allowed. */
export function isPrintableToken(token: unknown): boolean {
  return typeof token === "string" && /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/.test(token);
}

/**
 * The longest lifetime a token is believed to have, in seconds (a year): a
 * longer `expires_in` from a server, or a later expiry in a token cache, is
 * cut to it.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600;

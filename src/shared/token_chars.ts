/**
 * The characters an access token may have: RFC 6749 allows visible ASCII;
 * anything else, or surrounding space, cannot travel intact in an
 * `Authorization` header. A fresh token and a cached one pass the same check.
 *
 * @module
 */

/** Whether `token` is a non-empty run of visible ASCII, inner spaces allowed. */
export function isPrintableToken(token: unknown): boolean {
  return typeof token === "string" && /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/.test(token);
}

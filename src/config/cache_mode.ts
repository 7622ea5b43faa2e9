// Token cache modes as users give them, apart from the caches so checking one loads none.

/** How tokens are cached: `auto` (keyring, else file), `keyring`, `file`, `none`, a Redis URL. */
export type TokenCacheMode =
  | "auto"
  | "keyring"
  | "file"
  | "none"
  | `redis://${string}`
  | `rediss://${string}`;

/** The environment variable with the default token cache mode or Redis URL. */
export const TOKEN_CACHE_ENV = "KOGNIC_TOKEN_CACHE";

/**
 * Checks a token cache mode as given by a user (a flag or `KOGNIC_TOKEN_CACHE`).
 *
 * @param value The mode or Redis URL.
 * @param allowed The plain modes allowed besides Redis URLs.
 * @param where Where the value came from, for the error.
 * @returns The mode.
 * @throws {TypeError} Naming the place and the modes allowed (never a password).
 */
export function parseTokenCacheMode(
  value: string,
  allowed: readonly string[] = ["auto", "keyring", "file", "none"],
  where = "--token-cache",
): TokenCacheMode {
  if (/^rediss?:\/\//i.test(value)) {
    return value.replace(/^rediss?:/i, (scheme) => scheme.toLowerCase()) as TokenCacheMode;
  }
  if (allowed.includes(value)) return value as TokenCacheMode;
  const shown = /^[\w-]{1,20}$/.test(value) ? `"${value}"` : "that value";
  throw new TypeError(
    `${where} must be one of ${allowed.join(", ")} or redis://HOST:PORT[/DB], not ${shown}`,
  );
}

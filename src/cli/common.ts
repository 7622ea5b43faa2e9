// What the kognic-auth and kog commands share: errors as one line, the
// keyring's advice when it cannot be used, and the token cache with -v lines.

import process from "node:process";
import type { EnvSource } from "../shared/env.ts";
import { ConfigurationError, KognicAuthError } from "../shared/errors.ts";
import { parseTokenCacheMode, TOKEN_CACHE_ENV, type TokenCacheMode } from "../config/cache_mode.ts";
import type { CachedToken, TokenCache } from "../core/token_cache.ts";

/** Writes one debug line (the commands' -v); never given a secret or a token. */
export type Debug = (text: string) => void;

/** An error as one line for stderr: the message, without a stack. */
export function describe(error: unknown): string {
  let message: string;
  if (error instanceof KognicAuthError || error instanceof TypeError) message = error.message;
  else if (error instanceof Error) message = `${error.name}: ${error.message}`;
  else message = String(error);
  return oneLine(message);
}

/**
 * A message made safe for one line of a terminal: line breaks become spaces,
 * and other control characters (which a token server or a native library
 * may put in a message, such as terminal escapes) are shown as `\xNN`.
 */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, " ").replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f]/g,
    (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * Runs a step that uses the system keyring; when the keyring cannot be used,
 * its error gains how to fix that (unless it says so already, as it does for
 * a missing @napi-rs/keyring or Deno's --allow-ffi) and the way around it.
 */
export async function keyringStep<T>(fn: () => Promise<T>, alternative: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof ConfigurationError) || !/^The system keyring/.test(error.message)) {
      throw error;
    }
    const message = oneLine(error.message).replace(/\.$/, "");
    const os = (globalThis as { Deno?: { build?: { os?: string } } }).Deno?.build?.os ??
      process.platform;
    const unreachable =
      /^The system keyring (is not available|failed|did not answer)/.test(message) &&
      !/must run on the D-Bus session bus/.test(message) &&
      os !== "darwin" && os !== "windows" && os !== "win32";
    const fix = unreachable
      ? ". Start a Secret Service (such as gnome-keyring or KeePassXC) on the D-Bus session bus"
      : "";
    throw new ConfigurationError(`${message}${fix}, ${alternative}`, { cause: error });
  }
}

/**
 * The token cache mode of a command: its `--token-cache` value, else
 * `KOGNIC_TOKEN_CACHE`, else `auto`; a Redis URL is a mode too.
 *
 * @throws {TypeError} Naming the flag or the variable and the modes allowed.
 */
export function tokenCacheMode(
  flag: string | undefined,
  env: EnvSource | undefined,
  allowed: readonly string[],
): TokenCacheMode {
  if (flag !== undefined) return parseTokenCacheMode(flag, allowed, "--token-cache");
  const fromEnv = (env ?? process.env)[TOKEN_CACHE_ENV];
  if (fromEnv) return parseTokenCacheMode(fromEnv, allowed, TOKEN_CACHE_ENV);
  return "auto";
}

/** The token cache of a mode, with debug lines for hits and misses. */
export async function openTokenCache(
  mode: TokenCacheMode,
  env: EnvSource | undefined,
  debug: Debug,
): Promise<TokenCache | undefined> {
  const { createTokenCache, FileTokenCache } = await import("../config/token_cache.ts");
  const { RedisTokenCache } = await import("../config/redis_token_cache.ts");
  const { isUsable } = await import("../core/token_cache.ts");
  const cache = await keyringStep(
    () =>
      createTokenCache(mode, {
        env,
        redis: {
          onFallback: (event) =>
            debug(
              `token cache: Redis failed to ${event.operation} (${
                oneLine(event.message)
              }); this process goes on with its own token request`,
            ),
        },
      }),
    "or use --token-cache file",
  );
  if (!cache) {
    debug("token cache: none");
    return undefined;
  }
  const name = cache instanceof FileTokenCache
    ? `file ${await cache.resolvePath()}`
    : cache instanceof RedisTokenCache
    ? `Redis ${cache.url} (keys ${cache.prefix}*), shared with every process using it`
    : "system keyring (service kognic-auth)";
  debug(`token cache: ${name}${mode === "auto" ? " (chosen by --token-cache auto)" : ""}`);
  return {
    async get(key: string): Promise<CachedToken | undefined> {
      let token: CachedToken | undefined;
      try {
        token = await cache.get(key);
      } catch (error) {
        debug(`token cache: cannot read (${describe(error)}); requesting a token`);
        throw error;
      }
      if (!token) debug(`token cache miss for ${key}`);
      else if (!isUsable(token)) {
        debug(`token cache: the token for ${key} expires too soon (at ${iso(token.expiresAt)})`);
      } else debug(`token cache hit for ${key}, expires at ${iso(token.expiresAt)}`);
      return token;
    },
    async set(key: string, token: CachedToken): Promise<void> {
      try {
        await cache.set(key, token);
      } catch (error) {
        debug(`token cache: cannot store the new token (${describe(error)})`);
        throw error;
      }
      debug(`token cache: stored the new token for ${key}`);
    },
    delete: (key) => cache.delete(key),
    clear: () => cache.clear(),
    // Passes on a signal to caches whose withLock takes one (Redis, Deno KV).
    withLock: <T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }) =>
      (cache.withLock as LockWithSignal).call(cache, key, fn, options) as Promise<T>,
  };
}

type LockWithSignal = <T>(
  key: string,
  fn: () => Promise<T>,
  options?: { signal?: AbortSignal },
) => Promise<T>;

function iso(time: number): string {
  return new Date(time).toISOString();
}

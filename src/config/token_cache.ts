/**
 * A cache of access tokens shared across processes, so that a CLI run in a
 * loop asks the auth server for a token once per token lifetime: a JSON file
 * in the user's cache directory, the system keyring, or memory.
 *
 * Only access tokens (and refresh tokens) are cached, never a client secret.
 * A cached token is used while `isUsable` says so.
 *
 * @module
 */

import { parseTokenSet, sha256Hex, type TokenCache } from "../core/token_cache.ts";
import type { TokenSet } from "../core/access_token.ts";
import { type EnvSource, getEnv, xdgDir } from "../shared/env.ts";
import { RedisTokenCache, type RedisTokenCacheOptions } from "./redis_token_cache.ts";
import {
  callKeyring,
  checkKeyring,
  findKeyringAccounts,
  openKeyringEntry,
  probeKeyring,
} from "../shared/keyring.ts";
import { randomHex, withFileLock } from "./_lock.ts";
import { FileRefusedError, isNotFound, readTextFile } from "../shared/files.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { checkNumber, TIMER_MS } from "../shared/numbers.ts";
import { parseTokenCacheMode, TOKEN_CACHE_ENV, type TokenCacheMode } from "./cache_mode.ts";

export { parseTokenCacheMode, TOKEN_CACHE_ENV, type TokenCacheMode } from "./cache_mode.ts";

/**
 * The keyring service under which {@linkcode KeyringTokenCache} stores tokens.
 *
 * @example
 * ```ts
 * import { KEYRING_TOKEN_CACHE_SERVICE } from "@kognic/auth/config";
 *
 * console.log(KEYRING_TOKEN_CACHE_SERVICE); // "kognic-auth"
 * ```
 */
export const KEYRING_TOKEN_CACHE_SERVICE = "kognic-auth";

/** Options of {@linkcode FileTokenCache}. */
export interface FileTokenCacheOptions {
  /**
   * The cache file. @default {"$XDG_CACHE_HOME/kognic-auth/tokens.json", or
   * "~/.cache/kognic-auth/tokens.json"}
   */
  path?: string;
  /** Environment variables for the default path. @default {the process's} */
  env?: EnvSource;
  /**
   * How long to wait for another process holding the lock, in ms. After
   * that, the operation goes ahead without it: at worst a token is requested
   * twice or an entry is lost, and the file stays valid. @default {30_000}
   */
  lockTimeout?: number;
}

/**
 * Tokens in one JSON file, `{"version": 1, "tokens": {key: token}}`, by
 * default `$XDG_CACHE_HOME/kognic-auth/tokens.json` (`~/.cache/...` when
 * unset). The file is written atomically (a temporary file in the same
 * directory, then a rename) with mode 0600 in a directory created with mode
 * 0700, under a lock file next to it. A corrupt or foreign file reads as
 * empty and is replaced on the next write, and so does one that is not a
 * regular file (a FIFO, a device) or is larger than 16 MiB: neither is read.
 *
 * `get` and the writes throw a {@linkcode ConfigurationError} on I/O errors,
 * such as a directory that cannot be written; callers that treat the cache
 * as optional should catch them. `withLock` never fails for want of a lock:
 * it runs `fn` without one when the lock cannot be taken. It is not
 * reentrant: a nested `withLock` on the same key waits for `lockTimeout`.
 *
 * @example
 * ```ts
 * import { FileTokenCache } from "@kognic/auth/config";
 * import { mkdtemp, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 *
 * const dir = await mkdtemp(`${tmpdir()}/kognic-`);
 * const cache = new FileTokenCache({ path: `${dir}/tokens.json` });
 * await cache.set("key", { accessToken: "t", tokenType: "Bearer", issuedAt: 0, expiresAt: 1 });
 * console.log((await cache.get("key"))?.tokenType); // "Bearer"
 * await rm(dir, { recursive: true });
 * ```
 */
export class FileTokenCache implements TokenCache {
  #path: Promise<string> | undefined;
  #options: FileTokenCacheOptions;

  /**
   * Makes a cache; nothing is read or written until it is used.
   *
   * @param options The file's path and the lock timeout.
   * @throws {TypeError} When `path` is given and is not a non-empty string.
   */
  constructor(options: FileTokenCacheOptions = {}) {
    if (options.path !== undefined && (typeof options.path !== "string" || options.path === "")) {
      throw new TypeError("The token cache path must be a non-empty string");
    }
    checkNumber("lockTimeout", options.lockTimeout, 1, TIMER_MS);
    this.#options = { ...options };
  }

  /**
   * The cache file's path.
   *
   * @returns The path given, or the default for the environment.
   */
  resolvePath(): Promise<string> {
    this.#path ??= this.#options.path !== undefined
      ? Promise.resolve(this.#options.path)
      : xdgDir("cache", this.#options.env).then((dir) => `${dir}/kognic-auth/tokens.json`);
    return this.#path;
  }

  /**
   * Reads a token from the file.
   *
   * @param key The token's cache key.
   * @returns The stored token, or `undefined` (also for a corrupt file, one that
   *   is not a regular file, or one larger than 16 MiB).
   * @throws {ConfigurationError} When the file exists but cannot be read.
   */
  async get(key: string): Promise<TokenSet | undefined> {
    const tokens = await readTokenFile(await this.resolvePath());
    const token = Object.hasOwn(tokens, key) ? tokens[key] : undefined;
    return token ? { ...token } : undefined;
  }

  /**
   * Stores a token in the file, under the file's lock. Expired tokens without
   * a refresh token are dropped from the file at the same time.
   *
   * @param key The token's cache key.
   * @param token The token.
   * @throws {TypeError} When `token` is not a valid cached token.
   * @throws {ConfigurationError} When the file cannot be written.
   */
  async set(key: string, token: TokenSet): Promise<void> {
    const checked = toCachedToken(token);
    if (!checked) throw new TypeError("token must be a TokenSet");
    await this.#update((tokens) => {
      tokens[key] = checked;
    });
  }

  /**
   * Removes a token from the file, under the file's lock.
   *
   * @param key The token's cache key.
   * @throws {ConfigurationError} When the file cannot be written.
   */
  async delete(key: string): Promise<void> {
    await this.#update((tokens) => {
      delete tokens[key];
    });
  }

  /**
   * Removes the cache file.
   *
   * @throws {ConfigurationError} When the file exists and cannot be removed.
   */
  async clear(): Promise<void> {
    const path = await this.resolvePath();
    await withFileLock(`${path}.lock`, async () => {
      const { unlink } = await import("node:fs/promises");
      try {
        await unlink(path);
      } catch (error) {
        if (!isNotFound(error)) {
          throw new ConfigurationError(
            `Could not remove the token cache ${path}: ${(error as Error).message}`,
            { cause: error },
          );
        }
      }
      await removeLeftovers(path, 0);
    }, { timeout: this.#options.lockTimeout });
  }

  /**
   * Runs `fn` while holding a lock file for `key` next to the cache file,
   * so that processes sharing the file fetch a missing token once.
   *
   * @param key The token's cache key; each key has its own lock.
   * @param fn What to run while holding the lock.
   * @param options A signal that ends the wait for the lock: the call then rejects with its reason.
   * @returns What `fn` returns.
   */
  async withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const path = await this.resolvePath();
    const lockPath = `${path}.${(await sha256Hex(key)).slice(0, 16)}.lock`;
    return await withFileLock(lockPath, fn, {
      timeout: this.#options.lockTimeout,
      signal: options.signal,
    });
  }

  async #update(mutate: (tokens: Record<string, TokenSet>) => void): Promise<void> {
    const path = await this.resolvePath();
    await withFileLock(`${path}.lock`, async () => {
      const tokens = await readTokenFile(path);
      mutate(tokens);
      const now = Date.now();
      for (const [key, token] of Object.entries(tokens)) {
        if (token.expiresAt <= now && token.refreshToken === undefined) delete tokens[key];
      }
      await writeFileAtomic(path, JSON.stringify({ version: 1, tokens }));
      await removeLeftovers(path, 60_000);
    }, { timeout: this.#options.lockTimeout });
  }
}

/** Options of {@linkcode KeyringTokenCache}. */
export interface KeyringTokenCacheOptions {
  /** Environment variables for the lock files' directory. @default {the process's} */
  env?: EnvSource;
  /**
   * The directory for the lock files of `withLock`.
   * @default {"$XDG_CACHE_HOME/kognic-auth", or "~/.cache/kognic-auth"}
   */
  lockDirectory?: string;
  /** How long to wait for another process holding a lock, in ms. @default {30_000} */
  lockTimeout?: number;
  /** How long to wait for the keyring, in ms. @default {10_000} */
  timeout?: number;
}

/**
 * Tokens in the system keyring: service `kognic-auth`, account = the cache
 * key, value = the token as JSON. `withLock` uses lock files in the cache
 * directory. Needs the optional package `@napi-rs/keyring` (and on Linux a
 * Secret Service); calls fail with a `KeyringError` (a
 * `ConfigurationError`, code `keyring_unavailable`) when the keyring is not available.
 *
 * @example
 * ```ts ignore
 * import { KeyringTokenCache } from "@kognic/auth/config";
 *
 * const cache = new KeyringTokenCache();
 * await cache.clear();
 * ```
 */
export class KeyringTokenCache implements TokenCache {
  #options: KeyringTokenCacheOptions;

  /**
   * Makes a cache; the keyring is not touched until it is used.
   *
   * @param options The lock directory and the timeouts.
   */
  constructor(options: KeyringTokenCacheOptions = {}) {
    checkNumber("lockTimeout", options.lockTimeout, 1, TIMER_MS);
    this.#options = { ...options };
  }

  /**
   * Reads a token from the keyring.
   *
   * @param key The token's cache key.
   * @returns The stored token, or `undefined` (also for an unreadable value).
   * @throws {KeyringError} When the keyring is not available.
   */
  async get(key: string): Promise<TokenSet | undefined> {
    const entry = await openKeyringEntry(KEYRING_TOKEN_CACHE_SERVICE, key, this.#options.timeout);
    const text = await callKeyring(
      "read a cached token",
      (signal) => entry.getPassword(signal),
      this.#options.timeout,
    );
    if (typeof text !== "string") return undefined;
    try {
      return toCachedToken(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  /**
   * Stores a token in the keyring.
   *
   * @param key The token's cache key.
   * @param token The token.
   * @throws {TypeError} When `token` is not a valid cached token.
   * @throws {KeyringError} When the keyring is not available.
   */
  async set(key: string, token: TokenSet): Promise<void> {
    const checked = toCachedToken(token);
    if (!checked) throw new TypeError("token must be a TokenSet");
    const entry = await openKeyringEntry(KEYRING_TOKEN_CACHE_SERVICE, key, this.#options.timeout);
    await callKeyring(
      "store a cached token",
      (signal) => entry.setPassword(JSON.stringify(checked), signal),
      this.#options.timeout,
    );
  }

  /**
   * Removes a token from the keyring.
   *
   * @param key The token's cache key.
   * @throws {KeyringError} When the keyring is not available.
   */
  async delete(key: string): Promise<void> {
    const entry = await openKeyringEntry(KEYRING_TOKEN_CACHE_SERVICE, key, this.#options.timeout);
    await callKeyring(
      "delete a cached token",
      (signal) => entry.deletePassword(signal),
      this.#options.timeout,
    );
  }

  /**
   * Removes every entry of the `kognic-auth` service.
   *
   * @throws {KeyringError} When the keyring is not available.
   */
  async clear(): Promise<void> {
    const accounts = await findKeyringAccounts(KEYRING_TOKEN_CACHE_SERVICE, this.#options.timeout);
    for (const account of accounts) await this.delete(account);
  }

  /**
   * Runs `fn` while holding a lock file for `key` in the cache directory,
   * so that processes fetch a missing token once.
   *
   * @param key The token's cache key; each key has its own lock file.
   * @param fn What to run while holding the lock.
   * @param options A signal that ends the wait for the lock: the call then rejects with its reason.
   * @returns What `fn` returns.
   */
  async withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const directory = this.#options.lockDirectory ??
      `${await xdgDir("cache", this.#options.env)}/kognic-auth`;
    const lockPath = `${directory}/keyring-${(await sha256Hex(key)).slice(0, 16)}.lock`;
    return await withFileLock(lockPath, fn, {
      timeout: this.#options.lockTimeout,
      signal: options.signal,
    });
  }
}

/**
 * Tokens in this process's memory, for library users that want a cache
 * without files, and for tests. `withLock` serialises callers of this
 * process only.
 *
 * @example
 * ```ts
 * import { MemoryTokenCache } from "@kognic/auth/config";
 *
 * const cache = new MemoryTokenCache();
 * await cache.set("key", { accessToken: "t", tokenType: "Bearer", issuedAt: 0, expiresAt: 1 });
 * console.log((await cache.get("key"))?.accessToken); // "t"
 * ```
 */
export class MemoryTokenCache implements TokenCache {
  #tokens = new Map<string, TokenSet>();
  #locks = new Map<string, Promise<void>>();

  /**
   * Reads a token.
   *
   * @param key The token's cache key.
   * @returns A copy of the stored token, or `undefined`.
   */
  get(key: string): Promise<TokenSet | undefined> {
    const token = this.#tokens.get(key);
    return Promise.resolve(token ? { ...token } : undefined);
  }

  /**
   * Stores a copy of a token.
   *
   * @param key The token's cache key.
   * @param token The token; a copy is stored.
   * @throws {TypeError} When `token` is not a valid cached token.
   */
  set(key: string, token: TokenSet): Promise<void> {
    const checked = toCachedToken(token);
    if (!checked) return Promise.reject(new TypeError("token must be a TokenSet"));
    this.#tokens.set(key, checked);
    return Promise.resolve();
  }

  /**
   * Removes a token.
   *
   * @param key The token's cache key.
   */
  delete(key: string): Promise<void> {
    this.#tokens.delete(key);
    return Promise.resolve();
  }

  /** Removes every token. */
  clear(): Promise<void> {
    this.#tokens.clear();
    return Promise.resolve();
  }

  /**
   * Runs `fn` after the other callers of this cache for `key` are done.
   *
   * @param key The token's cache key; each key has its own lock.
   * @param fn What to run while holding the lock.
   * @param options A signal that ends the wait: the call then rejects with its reason.
   * @returns What `fn` returns.
   */
  async withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const previous = this.#locks.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = (previous ?? Promise.resolve()).then(() => mine);
    this.#locks.set(key, tail);
    try {
      await untilAborted(previous, options.signal);
      return await fn();
    } finally {
      done();
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    }
  }
}

/** Waits for `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted(promise: Promise<void> | undefined, signal?: AbortSignal): Promise<void> {
  if (!signal) return promise ?? Promise.resolve();
  if (signal.aborted) return Promise.reject(signal.reason);
  if (!promise) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/** Options of {@linkcode createTokenCache}. */
export interface CreateTokenCacheOptions {
  /** Options of a Redis cache (a `redis://` or `rediss://` mode), such as `onFallback` and the timeouts. */
  redis?: Omit<RedisTokenCacheOptions, "url" | "client">;
  /** The cache file of the `file` mode (and of `auto` without a keyring). */
  path?: string;
  /** Environment variables for the default paths. @default {the process's} */
  env?: EnvSource;
  /** How long to wait for another process holding a lock, in ms. @default {30_000} */
  lockTimeout?: number;
  /** How long `auto` and `keyring` wait for the keyring to answer a probe, in ms. @default {1500} */
  probeTimeout?: number;
}

/**
 * The token cache of a mode: `none` gives `undefined` (no cache), `file` a
 * {@linkcode FileTokenCache}, `keyring` a {@linkcode KeyringTokenCache} after
 * checking that the keyring answers, `auto` the keyring when it answers
 * within the probe timeout, else the file, and a `redis://` or `rediss://`
 * URL a {@linkcode RedisTokenCache}. Without a mode, `KOGNIC_TOKEN_CACHE`
 * (of `options.env`) gives it, else `auto`.
 *
 * @param mode The mode, as given with `--token-cache`. @default {$KOGNIC_TOKEN_CACHE, else "auto"}
 * @param options The file's path, the environment and the timeouts.
 * @returns The cache, or `undefined` for `none`.
 * @throws {KeyringError} For `keyring` when the keyring does not answer.
 * @throws {TypeError} For an unknown mode.
 *
 * @example
 * ```ts
 * import { createTokenCache } from "@kognic/auth/config";
 *
 * const cache = await createTokenCache("none");
 * console.log(cache); // undefined
 * ```
 */
export async function createTokenCache(
  mode?: TokenCacheMode,
  options: CreateTokenCacheOptions = {},
): Promise<TokenCache | undefined> {
  if (mode === undefined) {
    const fromEnv = getEnv(TOKEN_CACHE_ENV, options.env);
    mode = fromEnv ? parseTokenCacheMode(fromEnv, undefined, TOKEN_CACHE_ENV) : "auto";
  }
  if (typeof mode === "string" && /^rediss?:\/\//i.test(mode)) {
    return new RedisTokenCache({ ...options.redis, url: mode });
  }
  const file = (): FileTokenCache =>
    new FileTokenCache({ path: options.path, env: options.env, lockTimeout: options.lockTimeout });
  const keyring = (): KeyringTokenCache =>
    new KeyringTokenCache({ env: options.env, lockTimeout: options.lockTimeout });
  switch (mode) {
    case "none":
      return undefined;
    case "file":
      return file();
    case "keyring":
      {
        const problem = await checkKeyring(options.probeTimeout);
        if (problem) throw problem;
      }
      return keyring();
    case "auto":
      return (await probeKeyring(options.probeTimeout)) ? keyring() : file();
    default:
      throw new TypeError(
        `Unknown token cache mode "${
          String(mode).slice(0, 40)
        }"; expected auto, keyring, file, none or redis://HOST:PORT[/DB]`,
      );
  }
}

/** A valid copy of `value`, or `undefined` when it is not a cached token (see parseTokenSet). */
function toCachedToken(value: unknown): TokenSet | undefined {
  return parseTokenSet(value);
}

/**
 * The most a token cache file may hold: 16 MiB, room for many large tokens.
 * A larger file is read as a corrupt one: a cache miss, replaced on the next write.
 */
export const MAX_TOKEN_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The tokens of a cache file; empty for a missing, corrupt or foreign file,
 * and for one that is not a regular file or is larger than
 * {@linkcode MAX_TOKEN_FILE_BYTES}.
 */
async function readTokenFile(path: string): Promise<Record<string, TokenSet>> {
  let text: string | undefined;
  try {
    text = await readTextFile(path, { maxBytes: MAX_TOKEN_FILE_BYTES });
  } catch (error) {
    // Not a regular file, or too large: as corrupt, a cache miss.
    if (error instanceof FileRefusedError) return {};
    throw new ConfigurationError(
      `Could not read the token cache ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (text === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const file = json as { version?: unknown; tokens?: unknown } | null;
  if (
    typeof file !== "object" || file === null || file.version !== 1 ||
    typeof file.tokens !== "object" || file.tokens === null || Array.isArray(file.tokens)
  ) {
    return {};
  }
  const tokens: Record<string, TokenSet> = {};
  for (const [key, value] of Object.entries(file.tokens)) {
    const token = toCachedToken(value);
    if (token) tokens[key] = token;
  }
  return tokens;
}

/** Writes `text` to a new file next to `path` with mode 0600, then renames it over `path`. */
async function writeFileAtomic(path: string, text: string): Promise<void> {
  const fs = await import("node:fs/promises");
  const { basename, dirname, join } = await import("node:path");
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomHex(8)}.tmp`);
  try {
    await fs.mkdir(directory, { recursive: true, mode: 0o700 });
    const handle = await fs.open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(text, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.unlink(temporary).catch(() => {});
    throw new ConfigurationError(
      `Could not write the token cache ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** Removes temporary files of writers that died before their rename, once older than `age` ms. */
async function removeLeftovers(path: string, age: number): Promise<void> {
  const fs = await import("node:fs/promises");
  const { basename, dirname, join } = await import("node:path");
  const directory = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await fs.readdir(directory);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue;
    const file = join(directory, name);
    try {
      if (now - (await fs.stat(file)).mtimeMs >= age) await fs.unlink(file);
    } catch {
      // Renamed or removed meanwhile.
    }
  }
}

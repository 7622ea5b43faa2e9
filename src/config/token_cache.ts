// Token caches in a JSON file, the system keyring or memory, the modes users give, and the cache of
// a mode.

import { parseTokenSet, sha256Hex, type TokenCache } from "../core/token_cache.ts";
import { BaseTokenCache, type TokenRecordKind } from "./base_token_cache.ts";
import { type EnvSource, getEnv, xdgDir } from "../shared/env.ts";
import type { RedisTokenCacheOptions } from "./redis_token_cache.ts";
import {
  callKeyring,
  checkKeyring,
  findKeyringAccounts,
  openKeyringEntry,
} from "../credentials/keyring_binding.ts";
import type { FileLockOptions } from "./_lease.ts";
import { isSpent, LocalQueue, parseBoundedJson, randomHex, toPythonShape } from "./_store.ts";
import {
  errorCode,
  FileRefusedError,
  isNotFound,
  makeDirectory,
  readFileBytes,
  readOpenFile,
} from "../shared/files.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { checkNumber, sleep, TIMER_MS } from "../shared/deadline.ts";
/** The keyring service under which {@linkcode KeyringTokenCache} stores tokens: `"kognic-auth"`. */
export const KEYRING_TOKEN_CACHE_SERVICE = "kognic-auth";

/** Options of {@linkcode FileTokenCache}. */
export interface FileTokenCacheOptions {
  /** The cache file. @default {"$XDG_CACHE_HOME/kognic-auth/tokens.json", or "~/.cache/..."} */
  path?: string;
  /** Environment variables for the default path. @default {the process's} */
  env?: EnvSource;
  /** How long to wait for another process's lock, in ms, before going ahead without. @default {30_000} */
  lockTimeout?: number;
}

/**
 * Tokens in one JSON file shared with the Python `kognic-auth` package (default
 * `$XDG_CACHE_HOME/kognic-auth/tokens.json`): an object of key -> token in the Python shape
 * (`access_token`, `token_type`, `expires_in`, `expires_at` in seconds; see docs/caches.md). Other
 * keys are kept, spent entries dropped, an invalid entry is a miss; the earlier shape `{"version":
 * 1, "tokens": {...}}` is rewritten when first read.
 *
 * Writes are atomic renames (mode 0600, directory 0700) under a lock file, and merge what a
 * lockless writer changed meanwhile (at most 8 rounds). A corrupt file, one that is not a regular
 * file, or one over 16 MiB reads as empty and is replaced on the next write; a hold-off is the
 * entry `"retry-after <key>"`. I/O errors throw a {@linkcode ConfigurationError}. `withLock` runs
 * `fn` without a lock when none can be had; it is not reentrant.
 *
 * @example
 * ```ts
 * import { FileTokenCache } from "@kognic/auth/config";
 *
 * const cache = new FileTokenCache({ path: "/tmp/kognic-example/tokens.json" });
 * await cache.set("key", { accessToken: "t", tokenType: "Bearer", issuedAt: 0, expiresAt: 4e12 });
 * console.log((await cache.get("key"))?.tokenType); // "Bearer"
 * ```
 */
export class FileTokenCache extends BaseTokenCache {
  #path: Promise<string> | undefined;
  #options: FileTokenCacheOptions;

  /**
   * Makes a cache; nothing is read or written until it is used.
   * @param options The file's path and the lock timeout.
   * @throws {TypeError} When `path` is given and is not a non-empty string.
   */
  constructor(options: FileTokenCacheOptions = {}) {
    if (options.path !== undefined && (typeof options.path !== "string" || options.path === "")) {
      throw new TypeError("The token cache path must be a non-empty string");
    }
    checkNumber("lockTimeout", options.lockTimeout, 1, TIMER_MS);
    super({
      read: async (kind, key) => {
        const file = parseTokenFile(await readTokenFile(await this.resolvePath()));
        // A file in the earlier shape is rewritten in this one (a failure to write is ignored).
        if (file.earlierShape) await this.#update(() => {}).catch(() => {});
        return { value: file.entries.get(entryName(kind, key)) };
      },
      write: (kind, key, record) =>
        this.#update((entries) => void entries.set(entryName(kind, key), toPythonShape(record))),
      remove: (kind, key) => this.#update((entries) => void entries.delete(entryName(kind, key))),
    });
    this.#options = { ...options };
  }

  /** The cache file's path. @returns The path given, or the default for the environment. */
  resolvePath(): Promise<string> {
    this.#path ??= this.#options.path !== undefined
      ? Promise.resolve(this.#options.path)
      : xdgDir("cache", this.#options.env).then((dir) => `${dir}/kognic-auth/tokens.json`);
    return this.#path;
  }

  /** Removes the cache file. @throws {ConfigurationError} When it exists and cannot be removed. */
  async clear(): Promise<void> {
    const path = await this.resolvePath();
    await withFileLock(`${path}.lock`, async () => {
      const { unlink } = await import("node:fs/promises");
      await unlink(path).catch((error) => {
        if (!isNotFound(error)) throw cacheError("remove", path, error);
      });
      await removeLeftovers(path, 0);
    }, { timeout: this.#options.lockTimeout });
  }

  /** Runs `fn` holding a lock file for `key` next to the cache file; `signal` ends the wait. */
  async withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options?: { signal?: AbortSignal },
  ): Promise<T> {
    return await keyLock(`${await this.resolvePath()}.`, key, fn, this.#options, options?.signal);
  }

  async #update(mutate: (entries: Map<string, unknown>) => void): Promise<void> {
    const path = await this.resolvePath();
    await withFileLock(`${path}.lock`, async () => {
      await replaceTokenFile(path, mutate);
      await removeLeftovers(path, 60_000);
    }, { timeout: this.#options.lockTimeout });
  }
}

/**
 * Runs `fn` holding the lock file `lockPath` (see `withFileLock`); the lock's
 * module is loaded at the first write or lock, so a read alone never loads it.
 */
async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions,
): Promise<T> {
  return await (await import("./_lease.ts")).withFileLock(lockPath, fn, options);
}

/** A record's key in the file or keyring: a token's is its key. */
function entryName(kind: TokenRecordKind, key: string): string {
  return kind === "token" ? key : `retry-after ${key}`;
}

/** Runs `fn` holding the lock file `<prefix><hash of key>.lock`. */
async function keyLock<T>(
  prefix: string,
  key: string,
  fn: () => Promise<T>,
  options: { lockTimeout?: number },
  signal: AbortSignal | undefined,
): Promise<T> {
  const lockPath = `${prefix}${(await sha256Hex(key)).slice(0, 16)}.lock`;
  return await withFileLock(lockPath, fn, { timeout: options.lockTimeout, signal });
}

/** A ConfigurationError for a failure to `verb` the cache file. */
function cacheError(verb: string, path: string, error: unknown): ConfigurationError {
  if (error instanceof ConfigurationError) return error;
  return new ConfigurationError(
    `Could not ${verb} the token cache ${path}: ${(error as Error).message}`,
    { cause: error },
  );
}

/** The longest keyring value read as a token. */
const MAX_KEYRING_VALUE_CHARS = 1024 * 1024;

/** Options of {@linkcode KeyringTokenCache}. */
export interface KeyringTokenCacheOptions {
  /** Environment variables for the lock files' directory. @default {the process's} */
  env?: EnvSource;
  /** The directory of `withLock`'s lock files. @default {"$XDG_CACHE_HOME/kognic-auth", or "~/.cache/..."} */
  lockDirectory?: string;
  /** How long to wait for another process holding a lock, in ms. @default {30_000} */
  lockTimeout?: number;
  /** How long to wait for the keyring, in ms. @default {10_000} */
  timeout?: number;
}

/**
 * Tokens in the system keyring, shared with the Python `kognic-auth` package: service
 * `kognic-auth`, account = cache key, value = the token as JSON in the Python shape (earlier
 * camelCase values are read too); an invalid value or one over 1 MiB is a miss; a hold-off is the
 * account `"retry-after <key>"`. `withLock` uses lock files in the cache directory. Needs the
 * optional package `@napi-rs/keyring`; else calls throw a `KeyringError`.
 */
export class KeyringTokenCache extends BaseTokenCache {
  #options: KeyringTokenCacheOptions;

  /** Makes a cache; the keyring is untouched until used. @param options Lock directory, timeouts. */
  constructor(options: KeyringTokenCacheOptions = {}) {
    checkNumber("lockTimeout", options.lockTimeout, 1, TIMER_MS);
    super({
      read: async (kind, key) => ({
        value: parseBoundedJson(
          await this.#call(kind, key, "read", (entry, signal) => entry.getPassword(signal)),
          MAX_KEYRING_VALUE_CHARS,
        ),
      }),
      write: (kind, key, record) =>
        this.#call(
          kind,
          key,
          "store",
          (entry, signal) => entry.setPassword(JSON.stringify(toPythonShape(record)), signal),
        ),
      remove: (kind, key) =>
        this.#call(kind, key, "delete", (entry, signal) => entry.deletePassword(signal)),
    });
    this.#options = { ...options };
  }

  /** Removes every entry of the `kognic-auth` service. @throws {KeyringError} Without a keyring. */
  async clear(): Promise<void> {
    const accounts = await findKeyringAccounts(KEYRING_TOKEN_CACHE_SERVICE, this.#options.timeout);
    for (const account of accounts) await this.delete(account);
  }

  /** Runs `fn` holding a lock file for `key` in the cache directory; `signal` ends the wait. */
  async withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options?: { signal?: AbortSignal },
  ): Promise<T> {
    const directory = this.#options.lockDirectory ??
      `${await xdgDir("cache", this.#options.env)}/kognic-auth`;
    return await keyLock(`${directory}/keyring-`, key, fn, this.#options, options?.signal);
  }

  async #call<T>(
    kind: TokenRecordKind,
    key: string,
    what: string,
    call: (entry: Awaited<ReturnType<typeof openKeyringEntry>>, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const { timeout } = this.#options;
    const entry = await openKeyringEntry(
      KEYRING_TOKEN_CACHE_SERVICE,
      entryName(kind, key),
      timeout,
    );
    return await callKeyring(`${what} a cached token`, (signal) => call(entry, signal), timeout);
  }
}

/** Tokens in this process's memory; `withLock` serialises this process's callers only. */
export class MemoryTokenCache extends BaseTokenCache {
  #entries = new Map<string, unknown>();
  #queue = new LocalQueue();

  /** Makes an empty cache. */
  constructor() {
    super({
      read: (kind, key) => Promise.resolve({ value: this.#entries.get(`${kind} ${key}`) }),
      write: (kind, key, record) => Promise.resolve(this.#entries.set(`${kind} ${key}`, record)),
      remove: (kind, key) => Promise.resolve(this.#entries.delete(`${kind} ${key}`)),
    });
  }

  /** Removes every token and hold-off. */
  clear(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }

  /** Runs `fn` after the other callers of this cache for `key`; `signal` ends the wait. */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T> {
    return this.#queue.run(key, fn, options);
  }
}

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

/** Options of {@linkcode createTokenCache}. */
export interface CreateTokenCacheOptions {
  /** Options of a Redis cache (a `redis://` or `rediss://` mode). */
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
 * The token cache of a mode: `none` none, `file` a {@linkcode FileTokenCache}, `keyring` a
 * {@linkcode KeyringTokenCache} once the keyring answers, `auto` the keyring if it answers within
 * the probe timeout else the file, and a `redis://` URL a {@linkcode RedisTokenCache}.
 *
 * @param mode The mode, as given with `--token-cache`. @default {$KOGNIC_TOKEN_CACHE, else "auto"}
 * @param options The file's path, the environment and the timeouts.
 * @returns The cache, or `undefined` for `none`.
 * @throws {KeyringError} For `keyring` when the keyring does not answer.
 * @throws {TypeError} For an unknown mode.
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
    const { RedisTokenCache } = await import("./redis_token_cache.ts");
    return new RedisTokenCache({ ...options.redis, url: mode });
  }
  const { path, env, lockTimeout, probeTimeout } = options;
  if (mode === "keyring" || mode === "auto") {
    const problem = await checkKeyring(probeTimeout);
    if (!problem) return new KeyringTokenCache({ env, lockTimeout });
    if (mode === "keyring") throw problem;
  }
  if (mode === "file" || mode === "auto") return new FileTokenCache({ path, env, lockTimeout });
  if (mode !== "none") parseTokenCacheMode(String(mode), undefined, "The token cache mode"); // throws
  return undefined;
}

/** The most a token cache file may hold (16 MiB); a larger one reads as corrupt. */
export const MAX_TOKEN_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Where tests act as another writer: `"check"` before the file is read again, `"rename"` before
 * the new file replaces it. Not part of the API.
 * @internal
 */
export const fileTokenCacheSeams: {
  beforeReplace?: (path: string, moment: "check" | "rename") => Promise<void> | void;
} = {};

const MAX_MERGE_ROUNDS = 8;

// A file's text: `undefined` when there is none, `null` when refused (not a
// regular file, or too large); `handle` stays open to see later writes to it.
interface Snapshot {
  text: string | undefined | null;
  handle?: import("node:fs/promises").FileHandle;
}

// A file's entries by key (none for a missing, refused or foreign file); the
// earlier shape gives its valid tokens in the current one, beside other entries.
function parseTokenFile(
  text: string | undefined | null,
): { entries: Map<string, unknown>; earlierShape: boolean } {
  const entries = new Map<string, unknown>();
  const json = parseBoundedJson(text, Infinity);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { entries, earlierShape: false };
  }
  const file = json as Record<string, unknown>;
  const tokens = file.tokens;
  const earlierShape = file.version === 1 && typeof tokens === "object" && tokens !== null &&
    !Array.isArray(tokens);
  if (earlierShape) {
    const now = Date.now();
    for (const [key, value] of Object.entries(tokens)) {
      const token = parseTokenSet(value, { now });
      if (token) entries.set(key, toPythonShape(token));
    }
  }
  for (const [key, value] of Object.entries(file)) {
    if (earlierShape && (key === "version" || key === "tokens")) continue;
    entries.set(key, value);
  }
  return { entries, earlierShape };
}

/** The text of a new file: the entries of `base` changed by `mutate`, spent ones dropped. */
function renderTokenFile(
  base: string | undefined | null,
  mutate: (entries: Map<string, unknown>) => void,
): string {
  const { entries } = parseTokenFile(base);
  mutate(entries);
  const now = Date.now();
  for (const [key, value] of entries) if (isSpent(value, now)) entries.delete(key);
  // Object.fromEntries defines properties, so a key such as "__proto__" stays a key.
  return JSON.stringify(Object.fromEntries(entries), null, 2);
}

/**
 * Replaces the file with its entries changed by `mutate`, keeping a lockless
 * writer's change: the file is read again just before the rename (rebuilt if
 * changed), and the replaced file once more after it through the open handle
 * (merged if written). After MAX_MERGE_ROUNDS it is replaced all the same.
 */
async function replaceTokenFile(
  path: string,
  mutate: (entries: Map<string, unknown>) => void,
): Promise<void> {
  const fs = await import("node:fs/promises");
  let snapshot = await takeSnapshot(path);
  let base = snapshot.text;
  let expected = snapshot.text;
  try {
    for (let round = 1;; round++) {
      const last = round >= MAX_MERGE_ROUNDS;
      const text = renderTokenFile(base, mutate);
      const temporary = await writeTemporary(path, text);
      let renamed = false;
      try {
        await fileTokenCacheSeams.beforeReplace?.(path, "check");
        const current = await takeSnapshot(path);
        await snapshot.handle?.close().catch(() => {});
        snapshot = current;
        if (current.text !== expected && !last) {
          // Written meanwhile: rebuild, after a moment if a write is in progress.
          if (!isJson(current.text)) await sleep(10);
          base = expected = current.text;
          continue;
        }
        await fileTokenCacheSeams.beforeReplace?.(path, "rename");
        await fs.rename(temporary, path);
        renamed = true;
      } catch (error) {
        throw cacheError("write", path, error);
      } finally {
        if (!renamed) await fs.unlink(temporary).catch(() => {});
      }
      // A write into the file just replaced is lost unless merged now.
      const replaced = snapshot.handle && snapshot.text !== null
        ? await readWhole(snapshot.handle)
        : snapshot.text;
      if (replaced === snapshot.text || last) return;
      base = replaced;
      expected = text;
      for (let wait = 0; wait < 5 && !isJson(base) && snapshot.handle; wait++) {
        await sleep(10);
        base = await readWhole(snapshot.handle);
      }
    }
  } finally {
    await snapshot.handle?.close().catch(() => {});
  }
}

/** Whether `text` is JSON (or there is no file). */
function isJson(text: string | undefined | null): boolean {
  return text === undefined || parseBoundedJson(text, Infinity) !== undefined;
}

/** Whether `error` refuses a path that is not a regular file (a directory, socket or FIFO). */
function isRefused(error: unknown): boolean {
  return ["EISDIR", "ENXIO", "EOPNOTSUPP"].includes(errorCode(error) ?? "");
}

/** The file's text for a read alone, as a Snapshot's; on Deno without a `node:` module. */
async function readTokenFile(path: string): Promise<string | undefined | null> {
  try {
    const bytes = await readFileBytes(path, { maxBytes: MAX_TOKEN_FILE_BYTES });
    return bytes && new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  } catch (error) {
    if (error instanceof FileRefusedError || isRefused(error)) return null;
    throw cacheError("read", path, error);
  }
}

/** The file's text with a handle left open on it; opened without blocking (a FIFO). */
async function takeSnapshot(path: string): Promise<Snapshot> {
  const fs = await import("node:fs/promises");
  let handle: Snapshot["handle"];
  try {
    handle = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    return { text: await readWhole(handle), handle };
  } catch (error) {
    await handle?.close().catch(() => {});
    if (isNotFound(error)) return { text: undefined };
    if (isRefused(error)) return { text: null };
    throw cacheError("read", path, error);
  }
}

/** The whole text of an open file; `null` when it is not a regular file or is too large. */
async function readWhole(handle: NonNullable<Snapshot["handle"]>): Promise<string | null> {
  try {
    const bytes = await readOpenFile(handle, MAX_TOKEN_FILE_BYTES);
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  } catch (error) {
    if (error instanceof FileRefusedError) return null;
    throw error;
  }
}

/** Writes `text` to a new file with mode 0600 next to `path`, and returns its path. */
async function writeTemporary(path: string, text: string): Promise<string> {
  const fs = await import("node:fs/promises");
  const { basename, dirname, join } = await import("node:path");
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomHex(8)}.tmp`);
  try {
    await makeDirectory(directory);
    const handle = await fs.open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(text, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    return temporary;
  } catch (error) {
    await fs.unlink(temporary).catch(() => {});
    throw cacheError("write", path, error);
  }
}

/** Removes temporary files of writers that died before their rename, once older than `age` ms. */
async function removeLeftovers(path: string, age: number): Promise<void> {
  const fs = await import("node:fs/promises");
  const { basename, dirname, join } = await import("node:path");
  const directory = dirname(path);
  const prefix = `.${basename(path)}.`;
  const names = await fs.readdir(directory).catch(() => [] as string[]);
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue;
    const file = join(directory, name);
    // Renamed or removed meanwhile: nothing to do.
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat && now - stat.mtimeMs >= age) await fs.unlink(file).catch(() => {});
  }
}

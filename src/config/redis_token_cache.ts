// A token cache in Redis shared by a fleet, through the optional `redis` npm client.

import type { TokenSet } from "../core/access_token.ts";
import { BaseTokenCache } from "./base_token_cache.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { inspectAsJson, redactAndCut, redactCause, rememberUrlSecrets } from "../shared/redact.ts";
import { checkNumber, TIMER_MS, withDeadline } from "../shared/deadline.ts";
import { decodeOrKeep, loadOptionalModule } from "../credentials/keyring_binding.ts";
import type { LeaseStore } from "./_lease.ts";
import { LocalQueue, parseBoundedJson, recordExpiry, tellFallback } from "./_store.ts";

/** The least a Redis client must do for {@linkcode RedisTokenCache}: node-redis's `sendCommand`. */
export interface RedisCommandClient {
  /** Sends a command such as `["GET", "key"]` and resolves to its reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/** What {@linkcode RedisTokenCacheOptions.onFallback} is told. */
export interface TokenCacheFallbackEvent {
  /** What could not be done through the shared cache: `connect`, `get`, `set`, `delete`, `clear`, `lock`, `renew` or `release`. */
  operation: string;
  /** Why, in one line, without a password. */
  message: string;
}

/** Options of {@linkcode RedisTokenCache}. */
export interface RedisTokenCacheOptions {
  /** The server, `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (`rediss://`: TLS); or `client`. */
  url?: string;
  /** A connected client used instead of `url`; it is never closed here. */
  client?: RedisCommandClient;
  /** What every key this cache writes starts with, lease keys too. @default {"kognic-auth:"} */
  prefix?: string;
  /** How long to wait for a connection, in ms. @default {2_000} */
  connectTimeout?: number;
  /** How long to wait for the answer to a command, in ms. @default {1_000} */
  commandTimeout?: number;
  /** After a failure, how long calls fail fast before connecting again, in ms. @default {1_000} */
  retryDelay?: number;
  /** The lease's time to live, in ms; a holder renews it every third of it. @default {10_000} */
  leaseTime?: number;
  /** How long to wait for another process's lease in total, in ms, before going ahead. @default {30_000} */
  lockTimeout?: number;
  /** How long a holder may keep renewing its lease, in ms. @default {120_000} */
  maxHold?: number;
  /** Told each time Redis cannot be used and this process goes on alone; its errors are ignored. */
  onFallback?: (event: TokenCacheFallbackEvent) => void;
}

// Compare-and-delete and compare-and-pexpire: only the owner may touch its lease.
const RELEASE = 'if redis.call("get", KEYS[1]) == ARGV[1] then ' +
  'return redis.call("del", KEYS[1]) else return 0 end';
const RENEW = 'if redis.call("get", KEYS[1]) == ARGV[1] then ' +
  'return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end';
// A value with its remaining time to live, read at once.
const READ = 'return {redis.call("get", KEYS[1]), redis.call("pttl", KEYS[1])}';

const TIMINGS = [
  ...["connectTimeout", "commandTimeout", "retryDelay"] as const,
  ...["leaseTime", "lockTimeout", "maxHold"] as const,
];

interface NodeRedisClient extends RedisCommandClient {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  unref(): void;
  on(event: "error", listener: (error: unknown) => void): unknown;
}

/**
 * Access tokens in Redis, one per client id for a whole fleet, under `<prefix>token:<key>`,
 * `<prefix>holdoff:<key>` and `<prefix>lease:<key>`, each with a time to live. Never a client
 * secret or a refresh token is stored. `withLock` is a lease (`SET NX PX`, renewed, released by
 * compare-and-delete), so a fleet on a cold cache makes one token request.
 *
 * When Redis fails, `get` gives the token this instance stored, else rejects within the timeouts (a
 * miss for `AuthSession`), `withLock` runs under this process's own single flight, and `onFallback`
 * is told. Failures throw a {@linkcode ConfigurationError}.
 *
 * @example A fleet sharing one token
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 * import { RedisTokenCache } from "@kognic/auth/config";
 *
 * const tokenCache = new RedisTokenCache({
 *   url: "redis://redis.internal:6379/0",
 *   onFallback: (event) => console.warn(`token cache: ${event.operation}: ${event.message}`),
 * });
 * const session = new AuthSession({ auth: "~/.config/kognic/credentials.json", tokenCache });
 * console.log((await session.getToken()).tokenType);
 * await tokenCache.close();
 * ```
 */
export class RedisTokenCache extends BaseTokenCache implements AsyncDisposable {
  #url: URL | undefined;
  #given: RedisCommandClient | undefined;
  #own: NodeRedisClient | undefined;
  #connecting: Promise<NodeRedisClient> | undefined;
  #retryAt = 0;
  #secrets: string[] = [];
  #prefix: string;
  #options: RedisTokenCacheOptions;
  #queue = new LocalQueue();
  // What this process stored itself, kept while Redis cannot be used.
  #local = new Map<string, TokenSet>();

  /**
   * Makes a cache; nothing connects until it is used.
   * @param options The server (`url` or `client`), the key prefix, timeouts and `onFallback`.
   * @throws {ConfigurationError} When the URL is not a `redis://` or `rediss://` URL.
   * @throws {TypeError} When neither `url` nor `client` is given, or an option is not valid.
   */
  constructor(options: RedisTokenCacheOptions) {
    super({
      read: async (kind, key) => {
        let reply: unknown;
        try {
          reply = await this.#command("get", ["EVAL", READ, "1", this.#key(kind, key)]);
        } catch (error) {
          const local = kind === "token" ? this.#local.get(key) : undefined;
          if (local) return { value: local };
          throw error;
        }
        if (!Array.isArray(reply)) return undefined;
        return { value: parseBoundedJson(reply[0], 64 * 1024), ttl: Number(reply[1]) };
      },
      write: async (kind, key, record) => {
        const ttl = Math.floor(recordExpiry(record) - Date.now());
        if (kind === "token") this.#local.set(key, record as TokenSet);
        if (ttl <= 0) this.#local.delete(key);
        const [name, value] = [this.#key(kind, key), JSON.stringify(record)];
        await this.#command("set", ttl > 0 ? ["SET", name, value, "PX", `${ttl}`] : ["DEL", name]);
      },
      remove: (kind, key) => {
        this.#local.delete(key);
        return this.#command("delete", ["DEL", this.#key(kind, key)]);
      },
    }, { shared: true });
    if (options?.client !== undefined) {
      if (typeof options.client?.sendCommand !== "function") {
        throw new TypeError("The Redis client must have a sendCommand method");
      }
      this.#given = options.client;
    } else if (typeof options?.url === "string") {
      this.#url = parseRedisUrl(options.url);
      for (const part of [this.#url.password, this.#url.username]) {
        if (part) this.#secrets.push(part, decodeOrKeep(part));
      }
    } else {
      throw new TypeError("RedisTokenCache needs a url (redis://HOST:PORT) or a client");
    }
    const prefix = options.prefix ?? "kognic-auth:";
    if (typeof prefix !== "string" || prefix === "") {
      throw new TypeError("The Redis key prefix must be a non-empty string");
    }
    for (const name of TIMINGS) checkNumber(name, options[name], 1, TIMER_MS);
    this.#prefix = prefix;
    this.#options = { ...options, client: undefined };
  }

  /** The server's URL without its password (`redis://user:***@host:6379/0`), or `undefined` for a given client. */
  get url(): string | undefined {
    return this.#url && redactRedisUrl(this.#url);
  }

  /** What every key of this cache starts with. */
  get prefix(): string {
    return this.#prefix;
  }

  /** Removes every key under this cache's prefix (`SCAN`). @throws {ConfigurationError} */
  async clear(): Promise<void> {
    await this.removeAll();
  }

  /**
   * Removes every key under this cache's prefix, as {@linkcode clear} does.
   * @returns How many keys were removed.
   * @throws {ConfigurationError} When Redis cannot be reached or does not answer in time.
   */
  async removeAll(): Promise<number> {
    this.#local.clear();
    const pattern = `${this.#prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
    let cursor = "0";
    let removed = 0;
    let rounds = 0;
    do {
      const scan = ["SCAN", cursor, "MATCH", pattern, "COUNT", "500"];
      const reply = await this.#command("clear", scan);
      if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
        throw new ConfigurationError("Redis gave an unexpected answer to SCAN");
      }
      cursor = String(reply[0]);
      const keys = (reply[1] as unknown[]).map(String).filter((k) => k.startsWith(this.#prefix));
      if (keys.length) removed += Number(await this.#command("clear", ["DEL", ...keys])) || 0;
    } while (cursor !== "0" && ++rounds < 1_000_000);
    return removed;
  }

  /** Runs `fn` holding the lease for `key` (without, when Redis fails); `signal` stops a wait. */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T> {
    // The lease is loaded at the first lock: a cache that is only read never loads it.
    return import("./_lease.ts").then(({ runLocked }) =>
      runLocked(this.#queue, this.#leases, this, key, fn, {
        ...this.#options,
        signal: options?.signal,
        onFallback: (operation, error) => this.#fallback(operation, error),
      })
    );
  }

  /** Closes the connection this cache opened (a given client is left open). */
  async close(): Promise<void> {
    const own = this.#own;
    this.#own = undefined;
    this.#connecting = undefined;
    if (own) await Promise.resolve().then(() => own.destroy()).catch(() => {});
  }

  /** Closes the connection, as {@linkcode close} does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** What `JSON.stringify` and inspectors show. @returns The URL without password, the prefix. */
  toJSON(): { url: string | undefined; prefix: string } {
    return { url: this.url, prefix: this.#prefix };
  }

  #key(kind: string, key: string): string {
    return `${this.#prefix}${kind}:${key}`;
  }

  #leases: LeaseStore = {
    acquire: async (key, owner, ttl) => {
      const lease = this.#key("lease", key);
      return await this.#command("lock", ["SET", lease, owner, "NX", "PX", `${ttl}`]) === "OK";
    },
    renew: async (key, owner, ttl) => {
      const args = ["EVAL", RENEW, "1", this.#key("lease", key), owner, `${ttl}`];
      return Number(await this.#command("renew", args)) === 1;
    },
    release: async (key, owner) =>
      void await this.#command("release", ["EVAL", RELEASE, "1", this.#key("lease", key), owner]),
  };

  #fallback(operation: string, error: unknown): void {
    tellFallback(this.#options.onFallback, operation, this.#describe(error));
  }

  #describe(error: unknown): string {
    let message = error instanceof Error ? error.message : String(error);
    for (const secret of this.#secrets) if (secret) message = message.split(secret).join("***");
    return redactAndCut(message.replace(/\s+/g, " "), 300, "");
  }

  /** Sends a command within the command timeout; failures are ConfigurationErrors, password-free. */
  async #command(operation: string, args: string[]): Promise<unknown> {
    const timeout = this.#options.commandTimeout ?? 1_000;
    let client: RedisCommandClient | undefined;
    try {
      client = await this.#client();
      const connected = client;
      return await withDeadline(timeout, () => connected.sendCommand(args), {
        reason: () => new Error(`Redis did not answer within ${timeout} ms`),
      });
    } catch (error) {
      if (client && client === this.#own) {
        // A timed-out or broken connection is dropped; a call after the retry delay reconnects.
        this.#own = undefined;
        this.#connecting = undefined;
        this.#retryAt = Date.now() + (this.#options.retryDelay ?? 1_000);
        Promise.resolve().then(() => (client as NodeRedisClient).destroy()).catch(() => {});
      }
      if (operation === "get" || operation === "set" || operation === "delete") {
        this.#fallback(operation, error);
      }
      if (error instanceof ConfigurationError) throw error;
      throw new ConfigurationError(
        `The Redis token cache ${this.url ?? "(given client)"} failed to ${operation}: ${
          this.#describe(error)
        }`,
        { cause: redactCause(error) },
      );
    }
  }

  #client(): Promise<RedisCommandClient> {
    if (this.#given) return Promise.resolve(this.#given);
    if (this.#own?.isReady) return Promise.resolve(this.#own);
    if (this.#connecting) return this.#connecting;
    const wait = this.#retryAt - Date.now();
    if (wait > 0) {
      const message =
        `The Redis token cache ${this.url} is not reachable (trying again in ${wait} ms)`;
      return Promise.reject(new ConfigurationError(message));
    }
    const connecting = this.#connect();
    this.#connecting = connecting;
    connecting.then((client) => {
      if (this.#connecting === connecting) this.#own = client;
      else client.destroy();
    }, () => {
      this.#retryAt = Date.now() + (this.#options.retryDelay ?? 1_000);
    });
    return connecting.finally(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    });
  }

  async #connect(): Promise<NodeRedisClient> {
    const { createClient } = await loadRedis();
    const timeout = this.#options.connectTimeout ?? 2_000;
    const client = createClient({
      url: this.#url!.href,
      socket: { connectTimeout: timeout, reconnectStrategy: false },
      disableOfflineQueue: true,
    });
    client.on("error", () => {}); // Failures reach the caller of the command that met them.
    try {
      await withDeadline(timeout, () => client.connect(), {
        reason: () => new Error(`no connection within ${timeout} ms`),
      });
    } catch (error) {
      Promise.resolve().then(() => client.destroy()).catch(() => {});
      throw new ConfigurationError(
        `Could not connect to the Redis token cache ${this.url}: ${this.#describe(error)}`,
        { cause: redactCause(error) },
      );
    }
    // An idle connection must not keep a process alive (a pending command's timer does).
    client.unref();
    return client;
  }
}
inspectAsJson(RedisTokenCache, "RedisTokenCache");

/**
 * Checks a Redis URL: `redis(s)://`, a host, at most a database number as path.
 * @throws {ConfigurationError} Naming what is wrong, never the password.
 */
export function parseRedisUrl(text: string): URL {
  if (!URL.canParse(text)) {
    throw new ConfigurationError(
      `The Redis URL is not a URL; expected redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB]`,
    );
  }
  const url = new URL(text);
  rememberUrlSecrets(url); // its password is redacted from every text from now on
  const shown = redactRedisUrl(url);
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConfigurationError(
      `The Redis URL ${shown} must start with redis:// or rediss:// (TLS)`,
    );
  }
  if (!url.hostname) throw new ConfigurationError(`The Redis URL ${shown} has no host`);
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d{1,5}$/.test(url.pathname)) {
    throw new ConfigurationError(
      `The Redis URL ${shown} has the path "${url.pathname}"; only a database number (/0) may follow the host`,
    );
  }
  return url;
}

/** A Redis URL as it may be shown: the password replaced by `***`. */
export function redactRedisUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  else if (copy.username) copy.username = "***";
  copy.search = "";
  copy.hash = "";
  return copy.href;
}

type RedisModule = { createClient(options: Record<string, unknown>): NodeRedisClient };

function loadRedis(): Promise<RedisModule> {
  return loadOptionalModule<RedisModule>(
    "redis",
    { feature: "The Redis token cache", members: ["createClient"] },
    (message, cause) => new ConfigurationError(message, { cause }),
  );
}

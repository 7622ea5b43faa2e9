// The Redis token cache's connection: the optional `redis` client (or the client given), commands
// within their timeout, reconnecting after a delay, the lease's commands, and messages without a
// password. Loaded by RedisTokenCache at its first command.

import { ConfigurationError } from "../shared/errors.ts";
import { redactAndCut, redactCause } from "../shared/redact.ts";
import { withDeadline } from "../shared/deadline.ts";
import { loadOptionalModule } from "../credentials/keyring_binding.ts";
import type { LeaseStore } from "./_lease.ts";
import { tellFallback } from "./_store.ts";

// Compare-and-delete and compare-and-pexpire: only the owner may touch its lease.
const RELEASE = 'if redis.call("get", KEYS[1]) == ARGV[1] then ' +
  'return redis.call("del", KEYS[1]) else return 0 end';
const RENEW = 'if redis.call("get", KEYS[1]) == ARGV[1] then ' +
  'return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end';

/** A client's `sendCommand` (RedisCommandClient's shape, kept here so nothing is imported back). */
interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** The options of RedisTokenCache a connection reads. */
interface ConnectionSettings {
  connectTimeout?: number;
  commandTimeout?: number;
  retryDelay?: number;
  onFallback?: (event: { operation: string; message: string }) => void;
}

interface NodeRedisClient extends RedisCommandClient {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  unref(): void;
  on(event: "error", listener: (error: unknown) => void): unknown;
}

/** What a connection is made from: the cache's checked options. */
export interface RedisConnectionOptions {
  /** The server, checked; absent with `given`. */
  url: URL | undefined;
  /** The server's URL as it may be shown. */
  shownUrl: string | undefined;
  /** A client given instead of `url`. */
  given: RedisCommandClient | undefined;
  /** Parts of the URL never shown (its password and user, as given and decoded). */
  secrets: string[];
  /** The cache's options (timeouts, `onFallback`). */
  options: ConnectionSettings;
  /** A record's key under the cache's prefix. */
  key: (kind: string, key: string) => string;
}

/** One cache's connection to Redis. */
export class RedisConnection {
  #url: URL | undefined;
  #shownUrl: string | undefined;
  #given: RedisCommandClient | undefined;
  #own: NodeRedisClient | undefined;
  #connecting: Promise<NodeRedisClient> | undefined;
  #retryAt = 0;
  #secrets: string[];
  #options: ConnectionSettings;
  #key: (kind: string, key: string) => string;

  /** Makes the connection; nothing connects until a command is sent. */
  constructor(made: RedisConnectionOptions) {
    this.#url = made.url;
    this.#shownUrl = made.shownUrl;
    this.#given = made.given;
    this.#secrets = made.secrets;
    this.#options = made.options;
    this.#key = made.key;
  }

  /** The lease's store: `SET NX PX`, renewed and released by compare-and-set scripts. */
  readonly leases: LeaseStore = {
    acquire: async (key, owner, ttl) => {
      const lease = this.#key("lease", key);
      return await this.command("lock", ["SET", lease, owner, "NX", "PX", `${ttl}`]) === "OK";
    },
    renew: async (key, owner, ttl) => {
      const args = ["EVAL", RENEW, "1", this.#key("lease", key), owner, `${ttl}`];
      return Number(await this.command("renew", args)) === 1;
    },
    release: async (key, owner) =>
      void await this.command("release", ["EVAL", RELEASE, "1", this.#key("lease", key), owner]),
  };

  /** Closes the connection opened here (a given client is left open). */
  async close(): Promise<void> {
    const own = this.#own;
    this.#own = undefined;
    this.#connecting = undefined;
    if (own) await Promise.resolve().then(() => own.destroy()).catch(() => {});
  }

  /** Tells `onFallback` that Redis was not used for `operation`, and why (password-free). */
  fallback(operation: string, error: unknown): void {
    tellFallback(this.#options.onFallback, operation, this.#describe(error));
  }

  #describe(error: unknown): string {
    let message = error instanceof Error ? error.message : String(error);
    for (const secret of this.#secrets) if (secret) message = message.split(secret).join("***");
    return redactAndCut(message.replace(/\s+/g, " "), 300, "");
  }

  /** Sends a command within the command timeout; failures are ConfigurationErrors, password-free. */
  async command(operation: string, args: string[]): Promise<unknown> {
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
        this.fallback(operation, error);
      }
      if (error instanceof ConfigurationError) throw error;
      throw new ConfigurationError(
        `The Redis token cache ${this.#shownUrl ?? "(given client)"} failed to ${operation}: ${
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
        `The Redis token cache ${this.#shownUrl} is not reachable (trying again in ${wait} ms)`;
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
        `Could not connect to the Redis token cache ${this.#shownUrl}: ${this.#describe(error)}`,
        { cause: redactCause(error) },
      );
    }
    // An idle connection must not keep a process alive (a pending command's timer does).
    client.unref();
    return client;
  }
}

type RedisModule = { createClient(options: Record<string, unknown>): NodeRedisClient };

function loadRedis(): Promise<RedisModule> {
  return loadOptionalModule<RedisModule>(
    "redis",
    { feature: "The Redis token cache", members: ["createClient"] },
    (message, cause) => new ConfigurationError(message, { cause }),
  );
}

// BaseTokenCache, the public base of every token cache, through its entry point:
// a subclass over a store of its own gets checked writes and parsed reads.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  BaseTokenCache,
  type BaseTokenCacheOptions,
  DenoKvTokenCache,
  FileTokenCache,
  KeyringTokenCache,
  MemoryTokenCache,
  RedisTokenCache,
  type TokenRecordKind,
} from "../../config.ts";
import type { TokenSet } from "../../mod.ts";

const HOUR = 3_600_000;

/** A cache over a Map; `ttl` is what the store reports as a record's life left. */
class MapCache extends BaseTokenCache {
  readonly map = new Map<string, unknown>();
  readonly writes: [TokenRecordKind, string][] = [];
  ttl: number | undefined;
  failure: Error | undefined;

  constructor(options?: BaseTokenCacheOptions) {
    super({
      read: (kind, key) => {
        if (this.failure) return Promise.reject(this.failure);
        const key2 = `${kind} ${key}`;
        if (!this.map.has(key2)) return Promise.resolve(undefined);
        return Promise.resolve({ value: this.map.get(key2), ttl: this.ttl });
      },
      write: (kind, key, record) => {
        this.writes.push([kind, key]);
        return Promise.resolve(this.map.set(`${kind} ${key}`, structuredClone(record)));
      },
      remove: (kind, key) => Promise.resolve(this.map.delete(`${kind} ${key}`)),
    }, options);
  }

  clear(): Promise<void> {
    return Promise.resolve(this.map.clear());
  }

  withLock<T>(_key: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

function token(overrides: Partial<TokenSet> = {}): TokenSet {
  const now = Date.now();
  return {
    accessToken: "t",
    tokenType: "Bearer",
    issuedAt: now,
    expiresAt: now + HOUR,
    ...overrides,
  };
}

describe("BaseTokenCache", () => {
  it("is the base of every token cache of @kognic/auth/config", () => {
    const client = { sendCommand: () => Promise.resolve(null) };
    const caches = [
      new MemoryTokenCache(),
      new FileTokenCache({ path: "/nonexistent/tokens.json" }),
      new KeyringTokenCache(),
      new RedisTokenCache({ client }),
      new DenoKvTokenCache({ prefix: "p" }),
    ];
    for (const cache of caches) assert.ok(cache instanceof BaseTokenCache, cache.constructor.name);
  });

  it("a subclass reads back what it stored, and delete removes it", async () => {
    const cache = new MapCache();
    const stored = token({ refreshToken: "r", scope: "a b" });
    await cache.set("k", stored);
    assert.deepEqual(await cache.get("k"), stored);
    await cache.delete("k");
    assert.equal(await cache.get("k"), undefined);
  });

  it("set throws a TypeError for a value that is not a token, and writes nothing", async () => {
    const cache = new MapCache();
    const bad = [
      { ...token(), accessToken: "" },
      { ...token(), tokenType: "MAC" },
      { ...token(), expiresAt: Number.NaN },
      null,
    ];
    for (const value of bad) {
      await assert.rejects(cache.set("k", value as TokenSet), TypeError);
    }
    assert.deepEqual(cache.writes, []);
  });

  it("get reads a stored value that is not a token as a miss, never an error", async () => {
    const cache = new MapCache();
    for (const value of [42, "text", [], { accessToken: 1 }, { until: Date.now() + HOUR }]) {
      cache.map.set("token k", value);
      assert.equal(await cache.get("k"), undefined, JSON.stringify(value));
    }
  });

  it("a shared cache keeps no refresh token and reads an expired token as a miss", async () => {
    const shared = new MapCache({ shared: true });
    await shared.set("k", token({ refreshToken: "r" }));
    assert.equal((shared.map.get("token k") as TokenSet).refreshToken, undefined);
    await shared.set("old", token({ issuedAt: Date.now() - 2 * HOUR, expiresAt: Date.now() - 1 }));
    assert.equal(await shared.get("old"), undefined);

    const own = new MapCache();
    const expired = token({ issuedAt: Date.now() - 2 * HOUR, expiresAt: Date.now() - 1 });
    await own.set("old", { ...expired, refreshToken: "r" });
    assert.equal((await own.get("old"))?.refreshToken, "r", "kept to be refreshed");
  });

  it("the store's ttl decides when a token expires; none left is a miss", async () => {
    const cache = new MapCache({ shared: true });
    const stored = token();
    await cache.set("k", stored);
    cache.ttl = 60_000;
    const before = Date.now();
    const read = await cache.get("k");
    assert.ok(read && read.expiresAt >= before + 60_000 && read.expiresAt <= Date.now() + 60_000);
    assert.equal(read.expiresAt - read.issuedAt, stored.expiresAt - stored.issuedAt);
    cache.ttl = 0;
    assert.equal(await cache.get("k"), undefined);
  });

  it("hold-offs are records of their own, checked when written and read", async () => {
    const cache = new MapCache();
    const holdoff = { until: Date.now() + 60_000, status: 503 };
    await cache.setHoldoff("k", holdoff);
    assert.deepEqual(await cache.getHoldoff("k"), holdoff);
    assert.equal(await cache.get("k"), undefined);
    await cache.setHoldoff("over", { until: Date.now() - 1, status: 429 });
    assert.deepEqual(cache.writes, [["holdoff", "k"]], "a hold-off that is over is not written");
    cache.map.set("holdoff odd", { until: Date.now() + 60_000, status: 200 });
    assert.equal((await cache.getHoldoff("odd"))?.status, 429);
  });

  it("what the store throws reaches the caller as it is", async () => {
    const cache = new MapCache();
    cache.failure = new Error("store down");
    await assert.rejects(cache.get("k"), cache.failure);
    await assert.rejects(cache.getHoldoff("k"), cache.failure);
  });
});

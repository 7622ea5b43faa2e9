// A server's Retry-After, kept by a token cache as a record of its own and
// honoured by every session sharing the cache; Redis and Deno KV run the same
// check in tests/e2e/redis_test.ts and tests/e2e/deno_kv_test.ts.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { FileTokenCache, MemoryTokenCache, type TokenCache } from "../../config.ts";
import { tempDir } from "../_helpers/mod.ts";
import { assertHoldoffShared } from "../_helpers/holdoff.ts";

describe("a hold-off set by one session is honoured by another sharing the cache", () => {
  for (const status of [429, 503] as const) {
    it(`FileTokenCache: two cache objects on one file, as two processes (${status})`, async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        await assertHoldoffShared(() => new FileTokenCache({ path }), status);
      } finally {
        await dir.cleanup();
      }
    });

    it(`MemoryTokenCache: two sessions of one process (${status})`, async () => {
      const cache = new MemoryTokenCache();
      await assertHoldoffShared(() => cache, status);
    });
  }

  it("a cache without getHoldoff and setHoldoff shares none, and the session still works", async () => {
    const memory = new MemoryTokenCache();
    const plain: TokenCache = {
      get: (key) => memory.get(key),
      set: (key, token) => memory.set(key, token),
      delete: (key) => memory.delete(key),
      clear: () => memory.clear(),
      withLock: (key, fn, options) => memory.withLock(key, fn, options),
    };
    await assertHoldoffShared(() => plain, 429, { shared: false });
  });
});

describe("a hold-off record is never a token", () => {
  const now = Date.now();
  const holdoff = { until: now + 60_000, status: 429 };
  const caches: [string, () => Promise<[TokenCache, () => Promise<void>]>][] = [
    ["MemoryTokenCache", () => Promise.resolve([new MemoryTokenCache(), () => Promise.resolve()])],
    ["FileTokenCache", async () => {
      const dir = await tempDir();
      return [new FileTokenCache({ path: join(dir.path, "tokens.json") }), dir.cleanup];
    }],
  ];
  for (const [name, make] of caches) {
    it(`${name}: getHoldoff reads it back, get never does, and a token does not read as one`, async () => {
      const [cache, cleanup] = await make();
      try {
        await cache.setHoldoff!("k", holdoff);
        assert.deepEqual(await cache.getHoldoff!("k"), holdoff);
        assert.equal(await cache.get("k"), undefined);
        const token = {
          accessToken: "t",
          tokenType: "Bearer",
          issuedAt: now,
          expiresAt: now + 1e6,
        };
        await cache.set("k", token);
        assert.deepEqual(
          await cache.getHoldoff!("k"),
          holdoff,
          "the token left the hold-off alone",
        );
        await cache.clear();
        await cache.set("k", token);
        assert.equal(await cache.getHoldoff!("k"), undefined);
        // A hold-off that is over, or not one, is none.
        await cache.setHoldoff!("k", { until: now - 1, status: 429 });
        assert.equal(await cache.getHoldoff!("k"), undefined);
      } finally {
        await cleanup();
      }
    });
  }

  it("FileTokenCache drops a hold-off that is over from the file on the next write", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "tokens.json");
      const cache = new FileTokenCache({ path });
      await cache.setHoldoff("a", { until: Date.now() + 60_000, status: 503 });
      await cache.setHoldoff("b", { until: Date.now() + 60_000, status: 429 });
      const { readFile, writeFile } = await import("node:fs/promises");
      const file = JSON.parse(await readFile(path, "utf8"));
      file["retry-after b"].until = Date.now() - 1;
      await writeFile(path, JSON.stringify(file));
      await cache.delete("nothing");
      assert.deepEqual(Object.keys(JSON.parse(await readFile(path, "utf8"))), ["retry-after a"]);
    } finally {
      await dir.cleanup();
    }
  });
});

// One token shape for every source: an entry of a shared cache passes the
// checks of a fresh token, and one that fails them is a cache miss, never an
// error. Table: damaged or hostile entries x the ways a cache is read (any
// TokenCache through the session, the file cache's tokens.json, the stored
// form Redis and Deno KV share). The session runs against the local auth
// server on 127.0.0.1.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AuthSession, type TokenSet } from "../../mod.ts";
import { FileTokenCache, MemoryTokenCache, type TokenCache } from "../../config.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { parseTokenSet } from "../../src/core/token_cache.ts";
import { CLIENT_ID, CLIENT_SECRET, CLIENTS, reportCheck, tempDir } from "../_helpers/mod.ts";

const HOUR = 3_600_000;
const now = Date.now();
const good = {
  accessToken: "cached-Qz1-good",
  tokenType: "Bearer",
  issuedAt: now,
  expiresAt: now + HOUR,
};

/** Entries that must be a miss, each with what is wrong with it: every cache refuses to hand them out. */
const DAMAGED: [string, unknown][] = [
  ["times at the ends of the doubles", { ...good, issuedAt: -1.7e308, expiresAt: 1.7e308 }],
  ["an expiry past the end of dates", { ...good, expiresAt: 8.64e15 + 1 }],
  ["an issue time before 1970", { ...good, issuedAt: -1 }],
  ["a NaN expiry", { ...good, expiresAt: NaN }],
  ["an infinite expiry", { ...good, expiresAt: Infinity }],
  ["a lifetime of ten years", { ...good, expiresAt: now + 10 * 365 * 24 * HOUR }],
  ["times as strings", { ...good, issuedAt: String(now), expiresAt: String(now + HOUR) }],
  ["a token with a line break", { ...good, accessToken: "cached-Qz1\r\nX-Injected: yes" }],
  ["a token with a NUL", { ...good, accessToken: "cached-Qz1\u0000tail" }],
  ["an empty token", { ...good, accessToken: "" }],
  ["a token that is a number", { ...good, accessToken: 42 }],
  ["a refresh token with a line break", { ...good, refreshToken: "r-Qz1\nX: y" }],
  ["a token type that is not a string", { ...good, tokenType: 1 }],
  ["a token type other than Bearer", { ...good, tokenType: "MAC" }],
  ["a hold-off record", { until: now + HOUR, status: 429 }],
  ["null", null],
  ["an array", [good]],
  ["a string", "cached-Qz1-good"],
];

let server: LocalAuthServer;

before(async () => {
  server = await startAuthServer({ clients: CLIENTS });
});

after(async () => {
  await server.close();
});

/** A cache shared with a damaged or hostile writer: every key holds `entry`. */
function hostileCache(entry: unknown): TokenCache {
  const memory = new MemoryTokenCache();
  return {
    get: () => Promise.resolve(entry as TokenSet),
    set: (key, token) => memory.set(key, token),
    delete: (key) => memory.delete(key),
    clear: () => memory.clear(),
    withLock: (key, fn, options) => memory.withLock(key, fn, options),
  };
}

/** Asserts that a session on `cache` treats it as a miss: one token request, a server's token. */
let misses = 0;

async function assertMiss(cache: TokenCache, what: string): Promise<void> {
  misses++;
  server.resetCounts();
  const session = new AuthSession({
    authServer: server.url,
    auth: [CLIENT_ID, CLIENT_SECRET],
    tokenCache: cache,
  });
  const token = await session.getToken();
  assert.notEqual(token.accessToken, "cached-Qz1-good", what);
  assert.ok(!token.accessToken.startsWith("cached-Qz1"), what);
  assert.equal(server.counts.tokenRequests, 1, what);
}

describe("a damaged or hostile shared cache entry is a miss, never an error", () => {
  after(() => reportCheck("token shape: damaged cache entries x cache readers are misses", misses));
  it("a good entry is a hit (the table's control row)", async () => {
    server.resetCounts();
    const session = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      tokenCache: hostileCache(good),
    });
    assert.equal(await session.getAccessToken(), "cached-Qz1-good");
    assert.equal(server.counts.tokenRequests, 0);
    assert.deepEqual(parseTokenSet(JSON.parse(JSON.stringify(good))), good);
  });

  for (const [what, entry] of DAMAGED) {
    it(`with ${what}: any TokenCache, read through the session`, async () => {
      await assertMiss(hostileCache(entry), what);
    });

    it(`with ${what}: the file cache's tokens.json`, async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const key = `${server.url}:${CLIENT_ID}`;
        await writeFile(path, JSON.stringify({ version: 1, tokens: { [key]: entry } }));
        const cache = new FileTokenCache({ path });
        assert.equal(await cache.get(key), undefined, what);
        await assertMiss(cache, what);
      } finally {
        await dir.cleanup();
      }
    });

    it(`with ${what}: the one parser every cache reads through`, () => {
      // JSON has no NaN or Infinity: those are stored as null, which is refused too.
      assert.equal(parseTokenSet(JSON.parse(JSON.stringify(entry))), undefined, what);
    });
  }

  it("a cache whose get() throws is a miss", async () => {
    const cache = hostileCache(undefined);
    cache.get = () => {
      throw new Error("the cache broke");
    };
    await assertMiss(cache, "a throwing get()");
  });
});

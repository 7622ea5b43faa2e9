// AuthSession with a shared token cache (the `tokenCache` option), against
// the local auth server: sessions share one token, a token the API rejects is
// replaced once and never reused, and a cache that is corrupt or failing
// never makes a session fail.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { AuthSession } from "../../src/core/session.ts";
import { FileTokenCache, MemoryTokenCache, type TokenCache, tokenCacheKey } from "../../config.ts";
import type { TokenSet } from "../../mod.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { CLIENT_ID, CLIENT_SECRET, CLIENTS, countTokenRequests, tempDir } from "../_helpers/mod.ts";

const IS_WINDOWS = process.platform === "win32";

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };

/** A session against the local server with the test client. */
function session(cache: TokenCache | undefined, scopes?: string[]): AuthSession {
  return new AuthSession({
    authServer: server.url,
    auth: [CLIENT_ID, CLIENT_SECRET],
    scopes,
    tokenCache: cache,
  });
}

/** A fresh cache file path in the test's directory. */
function cachePath(): string {
  return join(dir.path, crypto.randomUUID().slice(0, 8), "tokens.json");
}

/** Runs `fn` and returns how many token requests the server received meanwhile. */
const tokenRequestsDuring = (fn: () => Promise<unknown>): Promise<number> =>
  countTokenRequests(server, fn);

/** The key the session uses for the test client without scopes. */
function key(scopes?: string[]): Promise<string> {
  return tokenCacheKey(server.url, CLIENT_ID, scopes);
}

describe("AuthSession with a shared token cache", () => {
  before(async () => {
    server = await startAuthServer({ clients: CLIENTS });
    dir = await tempDir();
  });

  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  describe("sharing a token", () => {
    const caches: [string, () => TokenCache][] = [
      ["MemoryTokenCache", () => new MemoryTokenCache()],
      ["FileTokenCache", () => new FileTokenCache({ path: cachePath() })],
    ];
    for (const [name, makeCache] of caches) {
      it(`two sessions with one ${name} make one token request and use the same token`, async () => {
        const cache = makeCache();
        let first = "";
        let second = "";
        const requests = await tokenRequestsDuring(async () => {
          first = await session(cache).getAccessToken();
          second = await session(cache).getAccessToken();
        });
        assert.equal(requests, 1);
        assert.equal(second, first);
        assert.equal((await cache.get(await key()))?.accessToken, first);
      });

      it(`five sessions starting together on a cold ${name} make one token request`, async () => {
        const cache = makeCache();
        let tokens: string[] = [];
        const requests = await tokenRequestsDuring(async () => {
          tokens = await Promise.all(
            Array.from({ length: 5 }, () => session(cache).getAccessToken()),
          );
        });
        assert.equal(requests, 1);
        assert.equal(new Set(tokens).size, 1);
      });

      it(`sessions with other scopes do not share a token through ${name}`, async () => {
        const cache = makeCache();
        const requests = await tokenRequestsDuring(async () => {
          await session(cache, ["a", "b"]).getAccessToken();
          await session(cache, ["b", "a"]).getAccessToken();
          await session(cache, ["c"]).getAccessToken();
          await session(cache).getAccessToken();
        });
        assert.equal(requests, 3, "scopes in another order share a token; other scopes do not");
      });
    }

    it("a session with a fresh token in memory does not read the cache again", async () => {
      const cache = new MemoryTokenCache();
      let reads = 0;
      const counting: TokenCache = {
        get: (k) => (reads++, cache.get(k)),
        set: (k, t) => cache.set(k, t),
        delete: (k) => cache.delete(k),
        clear: () => cache.clear(),
        withLock: (k, fn) => cache.withLock(k, fn),
      };
      const one = session(counting);
      await one.getAccessToken();
      // A miss reads twice: once without the lock, once more under it.
      assert.equal(reads, 2);
      await one.getAccessToken();
      await one.fetch(server.apiUrl).then((response) => response.body?.cancel());
      assert.equal(reads, 2);
    });

    it("a hit takes no lock; a miss takes it once and reads the cache again under it", async () => {
      const cache = new MemoryTokenCache();
      const log: string[] = [];
      const observed: TokenCache = {
        get: (k) => (log.push("get"), cache.get(k)),
        set: (k, t) => (log.push("set"), cache.set(k, t)),
        delete: (k) => cache.delete(k),
        clear: () => cache.clear(),
        withLock: (k, fn) => (log.push("lock"), cache.withLock(k, fn)),
      };
      await session(observed).getAccessToken();
      assert.deepEqual(log, ["get", "lock", "get", "set"]);
      log.length = 0;
      const requests = await tokenRequestsDuring(() => session(observed).getAccessToken());
      assert.equal(requests, 0);
      assert.deepEqual(log, ["get"], "a hit is one read, without the lock");
    });

    it("FileTokenCache writes the shared token in a 0600 file without the secret", {
      skip: IS_WINDOWS ? "POSIX file modes" : undefined,
    }, async () => {
      const path = cachePath();
      const token = await session(new FileTokenCache({ path })).getAccessToken();
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const text = await readFile(path, "utf8");
      assert.ok(text.includes(token));
      assert.ok(!text.includes(CLIENT_SECRET));
    });

    it("a cached token with less than 30 s left is not shared", async () => {
      const cache = new MemoryTokenCache();
      const lifetime = server.tokenLifetime;
      server.tokenLifetime = 20;
      try {
        const requests = await tokenRequestsDuring(async () => {
          await session(cache).getAccessToken();
          await session(cache).getAccessToken();
        });
        assert.equal(requests, 2);
      } finally {
        server.tokenLifetime = lifetime;
      }
    });

    it("a cached refresh token is used by the next session when the access token is too old", async () => {
      const refreshing = await startAuthServer({
        clients: CLIENTS,
        refreshTokens: true,
        tokenLifetime: 20,
      });
      try {
        const cache = new MemoryTokenCache();
        const make = (): AuthSession =>
          new AuthSession({
            authServer: refreshing.url,
            auth: [CLIENT_ID, CLIENT_SECRET],
            tokenCache: cache,
          });
        await make().getAccessToken();
        await make().getAccessToken();
        assert.equal(refreshing.counts.clientCredentialsGrants, 1);
        assert.equal(refreshing.counts.refreshTokenGrants, 1);
      } finally {
        await refreshing.close();
      }
    });
  });

  describe("a token the API rejects", () => {
    it("is replaced once, the cache overwritten, and the next session uses the new one", async () => {
      const cache = new FileTokenCache({ path: cachePath() });
      const old = await session(cache).getAccessToken();
      server.revokeAccessTokens();

      const second = session(cache);
      let status = 0;
      const requests = await tokenRequestsDuring(async () => {
        const response = await second.fetch(server.apiUrl);
        status = response.status;
        await response.body?.cancel();
      });
      assert.equal(status, 200);
      assert.equal(requests, 1, "one new token, from the server, not the rejected cached one");
      const replaced = (await cache.get(await key()))?.accessToken;
      assert.ok(replaced !== undefined && replaced !== old, "the cache still holds the old token");
      assert.equal(await second.getAccessToken(), replaced);

      const third = await tokenRequestsDuring(async () => {
        assert.equal(await session(cache).getAccessToken(), replaced);
      });
      assert.equal(third, 0);
    });

    it("does not loop when the API keeps answering 401", async () => {
      const cache = new MemoryTokenCache();
      await session(cache).getAccessToken();
      const rejecting = session(cache);
      server.failApiRequests({ status: 401, times: 2 });
      const apiBefore = server.counts.apiRequests;
      let status = 0;
      const requests = await tokenRequestsDuring(async () => {
        const response = await rejecting.fetch(server.apiUrl);
        status = response.status;
        await response.body?.cancel();
      });
      assert.equal(status, 401);
      assert.equal(requests, 1, "one token renewal, then the 401 is returned");
      assert.equal(server.counts.apiRequests - apiBefore, 2, "the request and one replay");
    });

    it("a session never takes back from the cache the token it saw rejected", async () => {
      const cache = new MemoryTokenCache();
      const one = session(cache);
      const rejected = await one.getAccessToken();
      one.invalidateToken();
      const requests = await tokenRequestsDuring(async () => {
        assert.notEqual(await one.getAccessToken(), rejected);
      });
      assert.equal(requests, 1);
    });
  });

  describe("a broken cache is never fatal", () => {
    for (
      const [name, content] of [
        ["text that is not JSON", "{ not json"],
        ["a JSON array", "[1, 2]"],
        ["an entry that is not a token", '{"version": 1, "tokens": {"k": {"accessToken": 5}}}'],
        ["an empty file", ""],
      ]
    ) {
      it(`a cache file holding ${name} is ignored and replaced`, async () => {
        const path = cachePath();
        await mkdir(join(path, ".."), { recursive: true });
        await writeFile(path, content);
        const token = await session(new FileTokenCache({ path })).getAccessToken();
        const json = JSON.parse(await readFile(path, "utf8"));
        assert.equal(json.version, undefined);
        assert.equal(json[await key()].access_token, token);
        const requests = await tokenRequestsDuring(() =>
          session(new FileTokenCache({ path })).getAccessToken()
        );
        assert.equal(requests, 0);
      });
    }

    it("a cache whose reads and writes fail is a cache miss", async () => {
      const failing: TokenCache = {
        get: () => Promise.reject(new Error("disk on fire")),
        set: () => Promise.reject(new Error("disk on fire")),
        delete: () => Promise.reject(new Error("disk on fire")),
        clear: () => Promise.reject(new Error("disk on fire")),
        withLock: (_key, fn) => fn(),
      };
      const requests = await tokenRequestsDuring(async () => {
        const response = await session(failing).fetch(server.apiUrl);
        assert.equal(response.status, 200);
        await response.body?.cancel();
        await session(failing).getAccessToken();
      });
      assert.equal(requests, 2);
    });

    it("a cached token past its expiry is replaced", async () => {
      const cache = new MemoryTokenCache();
      const expired: TokenSet = {
        accessToken: server.issueToken(),
        tokenType: "Bearer",
        issuedAt: Date.now() - 7_200_000,
        expiresAt: Date.now() - 3_600_000,
      };
      await cache.set(await key(), expired);
      const token = await session(cache).getAccessToken();
      assert.notEqual(token, expired.accessToken);
      assert.equal((await cache.get(await key()))?.accessToken, token);
    });
  });
});

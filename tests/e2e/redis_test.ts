// The Redis token cache against a real redis-server on 127.0.0.1 (started and
// stopped by these tests on a free port; scripts/with_redis.sh installs it when
// missing) and the local auth server: processes with separate homes act as
// separate machines. Where redis-server is not on PATH the tests are skipped,
// saying so. This file runs itself as a child (one process of a fleet) when
// KOGNIC_REDIS_CHILD is set.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { inspect } from "node:util";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { AuthSession } from "../../mod.ts";
import {
  RedisTokenCache,
  type TokenCacheFallbackEvent,
} from "../../src/config/redis_token_cache.ts";
import { createTokenCache } from "../../src/config/token_cache.ts";
import { startAuthServer } from "../../src/testing/auth_server.ts";
import {
  assertNoSecretSeen,
  CLI_DENO_PERMISSIONS,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  isolatedXdg,
  rejection,
  runCli,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";
import {
  type ChildReport,
  reportOneToken,
  spawnChild as spawnFleetChild,
  until,
} from "../_helpers/fleet.ts";
import { redisServerMissing, startRedis } from "../_helpers/redis.ts";
import { assertHoldoffShared } from "../_helpers/holdoff.ts";

const SKIP = redisServerMissing();
const IS_DENO = "Deno" in globalThis;
const thisFile = fileURLToPath(import.meta.url);
// Processes per wave of the fleet test: 20 unless KOGNIC_FLEET_SIZE says
// otherwise (the test command runs 10 on Deno and a sample of 4 on Node.js and
// Bun, which repeat the suite after Deno; see scripts/test.ts and
// scripts/test_npm.ts).
const FLEET = Math.max(2, Math.min(50, Math.floor(Number(process.env.KOGNIC_FLEET_SIZE) || 20)));

/** One process of a fleet: a session with its own RedisTokenCache gets one token. */
async function childMain(): Promise<void> {
  const options = JSON.parse(process.env.KOGNIC_REDIS_CHILD!);
  const fallbacks: string[] = [];
  const cache = new RedisTokenCache({
    url: options.redisUrl,
    leaseTime: options.leaseTime,
    // Generous: these processes test leases, not Redis's answer times, and a
    // busy machine may take a while to answer (the defaults are 2 s and 1 s).
    connectTimeout: 30_000,
    commandTimeout: 30_000,
    onFallback: (event) => fallbacks.push(event.operation),
  });
  await reportOneToken(cache, options.authServer, fallbacks);
}

function spawnChild(
  options: { redisUrl: string; authServer: string; leaseTime?: number },
): { result: Promise<ChildReport>; kill: () => void } {
  return spawnFleetChild(
    IS_DENO ? ["run", "-A", thisFile] : [thisFile],
    "KOGNIC_REDIS_CHILD",
    options,
  );
}

async function redisKeys(url: string): Promise<Map<string, { value: string; ttl: number }>> {
  const client = createClient({ url });
  client.on("error", () => {});
  await client.connect();
  try {
    const found = new Map<string, { value: string; ttl: number }>();
    for (const key of (await client.sendCommand(["KEYS", "*"])) as string[]) {
      const value = String(await client.sendCommand(["GET", key]));
      const ttl = Number(await client.sendCommand(["PTTL", key]));
      found.set(key, { value, ttl });
    }
    return found;
  } finally {
    client.destroy();
  }
}

async function redisCommand(url: string, args: string[]): Promise<unknown> {
  const client = createClient({ url });
  client.on("error", () => {});
  await client.connect();
  try {
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

function redisSet(url: string, key: string, value: string): Promise<unknown> {
  return redisCommand(url, ["SET", key, value]);
}

const CLI_PERMISSIONS = [...CLI_DENO_PERMISSIONS, "--allow-write", "--allow-sys"];

/** A machine of its own: a home with a credentials file and its own XDG directories. */
async function machine(
  root: string,
  n: number,
): Promise<{ env: Record<string, string>; credentials: string }> {
  const home = join(root, `machine-${n}`);
  await mkdir(home, { recursive: true });
  const credentials = await writeCredentials(home);
  return { env: { HOME: home, ...isolatedXdg(home) }, credentials };
}

if (process.env.KOGNIC_REDIS_CHILD) {
  await childMain();
} else {
  describe("RedisTokenCache, with a real redis-server", { skip: SKIP }, () => {
    it(`makes one token request for ${FLEET} processes with separate homes on a cold cache, and none for a second wave`, async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      const dir = await tempDir();
      try {
        server.failTokenRequests({ delay: 300 });
        // A process whose Redis command or lease wait overran its timeout
        // (1 s per command, by default) goes on with its own token request, or
        // leaves no token behind for the next lease holder, and says so in a
        // -v line: on a starved machine that is the documented behaviour, not
        // a failure. Each such reported fallback may add one token request and
        // one token; nothing else may.
        const fallback = /token cache: Redis failed to \w+ \(([^)]*)\)/;
        const timedOut = /within \d+ ms|waited \d+ ms for the lease|lost the lease|timed? ?out/i;
        const wave = async (first: number): Promise<number> => {
          const runs = await Promise.all(
            Array.from({ length: FLEET }, async (_, i) => {
              const n = first + i;
              const { env, credentials } = await machine(dir.path, n);
              // Half say it with the flag, half with the variable.
              const flag = n % 2 === 0 ? ["--token-cache", redis.url] : [];
              if (n % 2 === 1) env.KOGNIC_TOKEN_CACHE = redis.url;
              // Twenty processes starting at once on a busy machine may each
              // take long: the command's own --timeout is made generous (its
              // default is 20 s), a bound and not a speed requirement.
              return await runCli(
                [
                  "-v",
                  "get-access-token",
                  "--server",
                  server.url,
                  "--credentials",
                  credentials,
                  "--timeout",
                  "600",
                  ...flag,
                ],
                { env, denoPermissions: CLI_PERMISSIONS, killAfter: 900_000 },
              );
            }),
          );
          for (const run of runs) assert.equal(run.code, 0, run.stderr);
          const fellBack = runs.filter((run) => fallback.test(run.stderr));
          for (const run of fellBack) {
            assert.match(fallback.exec(run.stderr)![1], timedOut, run.stderr);
          }
          const tokens = new Set(runs.map((run) => run.stdout.trim()));
          assert.ok(
            tokens.size <= 1 + fellBack.length,
            `${tokens.size} tokens for ${fellBack.length} reported fallbacks: ${
              runs.flatMap((run) => run.stderr.split("\n").filter((line) => /cache/.test(line)))
                .join(" | ").slice(0, 4000)
            }`,
          );
          return fellBack.length;
        };
        const firstFallbacks = await wave(0);
        assert.ok(server.counts.tokenRequests >= 1);
        assert.ok(server.counts.tokenRequests <= 1 + firstFallbacks);
        const afterFirst = server.counts.tokenRequests;
        const secondFallbacks = await wave(FLEET);
        assert.ok(server.counts.tokenRequests <= afterFirst + secondFallbacks);
      } finally {
        await dir.cleanup();
      }
    });

    it("keeps every key under the prefix with a time to live, and no secret or refresh token in any", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS, refreshTokens: true });
      const cache = new RedisTokenCache({ url: redis.url });
      const session = new AuthSession({
        authServer: server.url,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        tokenCache: cache,
      });
      const token = await session.getToken();
      await cache.close();
      const keys = await redisKeys(redis.url);
      assert.ok(keys.size >= 1);
      for (const [key, { value, ttl }] of keys) {
        assert.ok(key.startsWith("kognic-auth:"), key);
        assert.ok(ttl > 0 && ttl <= 3_600_000, `${key} has the time to live ${ttl}`);
        assert.ok(!value.includes(CLIENT_SECRET));
        assert.ok(!/refresh/i.test(value), value);
      }
      const stored = [...keys.values()].map((entry) => entry.value).join("\n");
      assert.ok(stored.includes(token.accessToken));
    });

    for (const status of [429, 503] as const) {
      it(`honours a hold-off (${status}) one process stored in another's session, as a key of its own, never a token`, async () => {
        await using redis = await startRedis();
        const caches: RedisTokenCache[] = [];
        try {
          await assertHoldoffShared(() => {
            caches.push(new RedisTokenCache({ url: redis.url }));
            return caches.at(-1)!;
          }, status);
        } finally {
          for (const cache of caches) await cache.close();
        }
        const keys = [...(await redisKeys(redis.url)).entries()];
        const held = keys.filter(([key]) => key.startsWith("kognic-auth:holdoff:"));
        assert.equal(held.length, 1, keys.map(([key]) => key).join(", "));
        assert.ok(held[0][1].ttl > 0 && held[0][1].ttl <= 120_000);
        assert.ok(!keys.some(([key]) => key.startsWith("kognic-auth:token:")));
      });
    }

    it("lets an entry expire from Redis with its token", async () => {
      await using redis = await startRedis();
      const cache = new RedisTokenCache({ url: redis.url });
      const now = Date.now();
      await cache.set("short", {
        accessToken: "a",
        tokenType: "Bearer",
        issuedAt: now,
        // Long enough to be read back however slow the machine; the wait for
        // its expiry below is bounded by until()'s generous deadline.
        expiresAt: now + 5_000,
      });
      assert.equal((await cache.get("short"))?.accessToken, "a");
      await until(async () => (await cache.get("short")) === undefined, "the entry expires");
      assert.equal((await redisKeys(redis.url)).size, 0);
      await cache.close();
    });

    it("does not let a holder killed mid-request block the others past its lease", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      server.failTokenRequests({ delay: 15_000 });
      // Leases of 3 s renewed every second, as below: a renewal late by more
      // than 2 s on a starved machine is the only way to lose one.
      const holder = spawnChild({ redisUrl: redis.url, authServer: server.url, leaseTime: 3_000 });
      await until(() => server.counts.tokenRequests >= 1, "the holder asks for a token");
      holder.kill();
      const report = await holder.result;
      assert.equal(report.ok, false);
      const next = await spawnChild({
        redisUrl: redis.url,
        authServer: server.url,
        leaseTime: 3_000,
      })
        .result;
      assert.ok(next.ok, next.message);
      // It took the lease once the holder's ran out, rather than giving up waiting.
      assert.deepEqual(next.fallbacks, []);
      assert.equal(server.counts.tokenRequests, 2);
    });

    it("renews the lease of a holder whose token server is slower than the lease, so one request is made", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      // A lease of 3 s renewed every second, and a token server slower than two
      // leases: the renewal must keep it; a renewal late by more than 2 s on a
      // starved machine is the only way to lose it.
      server.failTokenRequests({ delay: 8_000 });
      const reports = await Promise.all(
        Array.from(
          { length: 3 },
          () =>
            spawnChild({ redisUrl: redis.url, authServer: server.url, leaseTime: 3_000 }).result,
        ),
      );
      for (const report of reports) assert.ok(report.ok, report.message);
      assert.equal(new Set(reports.map((report) => report.token)).size, 1);
      assert.equal(server.counts.tokenRequests, 1);
    });

    it("still gives every CLI call a token when Redis stops mid-run, and shares again once it is back", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      const dir = await tempDir();
      try {
        const call = async (n: number): Promise<{ code: number | null; stderr: string }> => {
          const { env, credentials } = await machine(dir.path, n);
          return await runCli(
            ["-v", "get-access-token", "--server", server.url, "--credentials", credentials],
            {
              env: { ...env, KOGNIC_TOKEN_CACHE: redis.url },
              denoPermissions: CLI_PERMISSIONS,
              killAfter: 120_000,
            },
          );
        };
        const before = await Promise.all([0, 1].map(call));
        const stopping = redis.stop();
        const during = await Promise.all([2, 3].map(call));
        await stopping;
        const down = await Promise.all([4, 5].map(call));
        for (const run of [...before, ...during, ...down]) assert.equal(run.code, 0, run.stderr);
        assert.ok(down.every((run) => /Redis failed to/.test(run.stderr)), down[0].stderr);
        await redis.start();
        const requestsBefore = server.counts.tokenRequests;
        const after = await Promise.all([6, 7].map(call));
        for (const run of after) assert.equal(run.code, 0, run.stderr);
        assert.equal(server.counts.tokenRequests, requestsBefore + 1);
      } finally {
        await dir.cleanup();
      }
    });

    it("falls back to this process's own single flight when Redis is paused, within the timeouts, and tells onFallback", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      const events: TokenCacheFallbackEvent[] = [];
      const options = {
        url: redis.url,
        commandTimeout: 300,
        onFallback: (event: TokenCacheFallbackEvent) => {
          events.push(event);
          throw new Error("a listener that throws changes nothing");
        },
      };
      const session = (tokenCache: RedisTokenCache): AuthSession =>
        new AuthSession({
          authServer: server.url,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          tokenCache,
        });
      const warm = new RedisTokenCache(options);
      await session(warm).getToken();
      redis.pause(true);
      const cold = new RedisTokenCache(options);
      try {
        // The instance that stored a token keeps using it while Redis is away.
        await session(warm).getToken();
        assert.equal(server.counts.tokenRequests, 1);
        // A new one makes one request for its two sessions: its own single flight.
        const tokens = await Promise.all([session(cold).getToken(), session(cold).getToken()]);
        assert.equal(tokens[0].accessToken, tokens[1].accessToken);
        assert.equal(server.counts.tokenRequests, 2);
        assert.ok(events.some((event) => event.operation === "lock"), JSON.stringify(events));
        assert.ok(events.every((event) => /within \d+ ms|not reachable/.test(event.message)));
      } finally {
        redis.pause(false);
      }
      await warm.close();
      await cold.close();
    });

    it("clear-cache removes this cache's keys and nothing else in the database", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      const cache = new RedisTokenCache({ url: redis.url });
      await new AuthSession({
        authServer: server.url,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        tokenCache: cache,
      }).getToken();
      await cache.close();
      await redisSet(redis.url, "someone-else:key", "keep me");
      await redisSet(redis.url, "kognic-auth-not-ours", "keep me too");
      const run = await runCli(["clear-cache", "--token-cache", `${redis.url}/0`], {
        denoPermissions: CLI_PERMISSIONS,
        killAfter: 60_000,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /Removed 1 key under kognic-auth:/);
      assert.deepEqual([...(await redisKeys(redis.url)).keys()].sort(), [
        "kognic-auth-not-ours",
        "someone-else:key",
      ]);
    });

    it("never shows the password of the Redis URL, in -v lines, errors, JSON or inspect", async () => {
      await using redis = await startRedis();
      await using server = await startAuthServer({ clients: CLIENTS });
      const password = "hunter2-Redis-pw";
      const url = `redis://:${password}@127.0.0.1:${redis.port}/0`;
      await redisCommand(redis.url, ["CONFIG", "SET", "requirepass", "another-password"]);
      const cache = await createTokenCache(url as `redis://${string}`);
      assert.ok(cache instanceof RedisTokenCache);
      const shown = [JSON.stringify(cache), inspect(cache), String(cache.url)].join("\n");
      assert.ok(shown.includes("***"));
      assert.ok(!shown.includes(password));
      const error = await rejection(cache.get("key"));
      assert.ok(!error.message.includes(password), error.message);
      await cache.close();
      const dir = await tempDir();
      try {
        const { env, credentials } = await machine(dir.path, 0);
        const run = await runCli(
          [
            "-v",
            "get-access-token",
            "--server",
            server.url,
            "--credentials",
            credentials,
            "--token-cache",
            url,
          ],
          { env, denoPermissions: CLI_PERMISSIONS, killAfter: 60_000 },
        );
        assert.equal(run.code, 0, run.stderr);
        assert.ok(run.stderr.includes("redis://:***@127.0.0.1"), run.stderr);
        assert.ok(!(run.stdout + run.stderr).includes(password));
        const bad = await runCli([
          "get-access-token",
          "--credentials",
          credentials,
          "--token-cache",
          "redis://:x@/no-host",
        ], {
          env,
          denoPermissions: CLI_PERMISSIONS,
          killAfter: 60_000,
        });
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /no host|not a URL/);
      } finally {
        await dir.cleanup();
      }
    });

    it("stops a wait for another holder's lease when the signal aborts", async () => {
      await using redis = await startRedis();
      const holder = new RedisTokenCache({ url: redis.url });
      const waiter = new RedisTokenCache({ url: redis.url });
      let release!: () => void;
      const held = holder.withLock("k", () => new Promise<void>((resolve) => (release = resolve)));
      await until(
        async () => (await redisKeys(redis.url)).has("kognic-auth:lease:k"),
        "the lease is held",
      );
      const controller = new AbortController();
      const waiting = waiter.withLock("k", () => Promise.resolve("ran"), {
        signal: controller.signal,
      });
      controller.abort(new Error("stopped by the caller"));
      assert.equal((await rejection(waiting)).message, "stopped by the caller");
      release();
      await held;
      assert.equal((await redisKeys(redis.url)).size, 0);
      await holder.close();
      await waiter.close();
    });

    it("works on a client the user already has, and leaves it open", async () => {
      await using redis = await startRedis();
      const client = createClient({ url: redis.url });
      client.on("error", () => {});
      await client.connect();
      const cache = new RedisTokenCache({ client, prefix: "app:" });
      const now = Date.now();
      await cache.set("k", {
        accessToken: "a",
        tokenType: "Bearer",
        issuedAt: now,
        expiresAt: now + 60_000,
      });
      assert.equal((await cache.get("k"))?.accessToken, "a");
      await cache.close();
      assert.equal(await client.sendCommand(["EXISTS", "app:token:k"]), 1);
      client.destroy();
    });
  });

  describe("RedisTokenCache without a server", () => {
    it("rejects URLs that are not redis:// or rediss://, naming the problem", () => {
      assert.throws(
        () => new RedisTokenCache({ url: "http://:pw@host" }),
        /redis:\/\/ or rediss:\/\//,
      );
      assert.throws(() => new RedisTokenCache({ url: "redis://host/x" }), /database number/);
      assert.throws(() => new RedisTokenCache({} as never), /needs a url/);
    });

    it("fails within the connect timeout when nothing listens, and withLock still runs its work", async () => {
      const cache = new RedisTokenCache({ url: "redis://127.0.0.1:1", connectTimeout: 500 });
      assert.match((await rejection(cache.get("k"))).message, /Could not connect|not reachable/);
      assert.equal(await cache.withLock("k", () => Promise.resolve(7)), 7);
      await cache.close();
    });

    for (const failure of ["throws", "rejects"] as const) {
      it(`is not broken by an onFallback that ${failure}`, async () => {
        const unhandled: unknown[] = [];
        const note = (reason: unknown) => void unhandled.push(reason);
        process.on("unhandledRejection", note);
        let told = 0;
        const cache = new RedisTokenCache({
          url: "redis://127.0.0.1:1",
          connectTimeout: 500,
          onFallback: () => {
            told++;
            if (failure === "throws") throw new Error("the listener broke");
            return Promise.reject(new Error("the listener broke")) as unknown as void;
          },
        });
        try {
          assert.equal(await cache.withLock("k", () => Promise.resolve(7)), 7);
          assert.ok(told > 0, "onFallback was told");
          // Rejections are reported after a macrotask at the latest.
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.deepEqual(unhandled, []);
        } finally {
          process.off("unhandledRejection", note);
          await cache.close();
        }
      });
    }

    it("takes the cache mode from KOGNIC_TOKEN_CACHE in createTokenCache without a mode", async () => {
      assert.equal(
        await createTokenCache(undefined, { env: { KOGNIC_TOKEN_CACHE: "none" } }),
        undefined,
      );
      const cache = await createTokenCache(undefined, {
        env: { KOGNIC_TOKEN_CACHE: "rediss://:pw@redis.example:6380/2" },
      });
      assert.ok(cache instanceof RedisTokenCache);
      assert.equal(cache.url, "rediss://:***@redis.example:6380/2");
      await assert.rejects(
        () => createTokenCache(undefined, { env: { KOGNIC_TOKEN_CACHE: "memcached" } }),
        /KOGNIC_TOKEN_CACHE must be one of .*redis:\/\//,
      );
    });

    it("lets the --token-cache flag win over KOGNIC_TOKEN_CACHE, and names the variable when it is wrong", async () => {
      const dir = await tempDir();
      try {
        const { env, credentials } = await machine(dir.path, 0);
        await using server = await startAuthServer({ clients: CLIENTS });
        const run = await runCli(
          [
            "-v",
            "get-access-token",
            "--server",
            server.url,
            "--credentials",
            credentials,
            "--token-cache",
            "none",
          ],
          {
            env: { ...env, KOGNIC_TOKEN_CACHE: "redis://127.0.0.1:1" },
            denoPermissions: CLI_PERMISSIONS,
            killAfter: 60_000,
          },
        );
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /token cache: none/);
        const bad = await runCli(["get-access-token", "--credentials", credentials], {
          env: { ...env, KOGNIC_TOKEN_CACHE: "sometimes" },
          denoPermissions: CLI_PERMISSIONS,
          killAfter: 60_000,
        });
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /KOGNIC_TOKEN_CACHE must be one of/);
      } finally {
        await dir.cleanup();
      }
    });

    it("does not print the client secret", () => {
      assertNoSecretSeen();
    });
  });
}

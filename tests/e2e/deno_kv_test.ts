// The Deno KV token cache on a local KV file shared by separate processes,
// against the local auth server. Deno 2.9 opens KV only with --unstable-kv,
// so scripts/test.ts runs this file in a step of its own with that flag;
// elsewhere (without the flag, or on Node and Bun) the lease tests are
// skipped, saying why. This file runs itself as a child (one process sharing
// the file) when KOGNIC_KV_CHILD is set.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DenoKvTokenCache } from "../../src/config/deno_kv_token_cache.ts";
import { startAuthServer } from "../../src/testing/auth_server.ts";
import { assertHoldoffShared } from "../_helpers/holdoff.ts";
import { assertNoSecretSeen, CLIENT_SECRET, CLIENTS, rejection, tempDir } from "../_helpers/mod.ts";
import {
  type ChildReport,
  reportOneToken,
  spawnChild as spawnFleetChild,
  until,
} from "../_helpers/fleet.ts";

const deno = (globalThis as { Deno?: { openKv?: (path?: string) => Promise<KvForTests> } }).Deno;
const SKIP = !deno
  ? "Deno KV exists only on Deno"
  : typeof deno.openKv !== "function"
  ? "Deno 2.9 opens KV only with --unstable-kv (scripts/test.ts runs this file with it)"
  : undefined;
const thisFile = fileURLToPath(import.meta.url);

interface KvForTests {
  list(selector: { prefix: unknown[] }): AsyncIterable<{ key: unknown[]; value: unknown }>;
  close(): void;
}

async function childMain(): Promise<void> {
  const options = JSON.parse(process.env.KOGNIC_KV_CHILD!);
  const fallbacks: string[] = [];
  const cache = new DenoKvTokenCache({
    path: options.path,
    leaseTime: options.leaseTime,
    onFallback: (event) => fallbacks.push(event.operation),
  });
  await reportOneToken(cache, options.authServer, fallbacks);
}

function spawnChild(
  options: { path: string; authServer: string; leaseTime?: number },
): { result: Promise<ChildReport>; kill: () => void } {
  return spawnFleetChild(["run", "-A", "--unstable-kv", thisFile], "KOGNIC_KV_CHILD", options);
}

async function entries(path: string): Promise<{ key: unknown[]; value: unknown }[]> {
  const kv = await deno!.openKv!(path);
  try {
    const found = [];
    for await (const entry of kv.list({ prefix: [] })) found.push(entry);
    return found;
  } finally {
    kv.close();
  }
}

if (process.env.KOGNIC_KV_CHILD) {
  await childMain();
} else {
  describe("DenoKvTokenCache, on a local KV file", { skip: SKIP }, () => {
    it("makes one token request for 8 processes on a cold file, and none for a second wave", async () => {
      await using server = await startAuthServer({ clients: CLIENTS });
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.kv");
        server.failTokenRequests({ delay: 300 });
        const wave = (): Promise<ChildReport[]> =>
          Promise.all(
            Array.from({ length: 8 }, () => spawnChild({ path, authServer: server.url }).result),
          );
        const first = await wave();
        for (const report of first) assert.ok(report.ok, report.message);
        assert.equal(new Set(first.map((report) => report.token)).size, 1);
        assert.equal(server.counts.tokenRequests, 1);
        const second = await wave();
        for (const report of second) assert.ok(report.ok, report.message);
        assert.equal(server.counts.tokenRequests, 1);
        // Only the token is kept: no secret, no lease left behind.
        const stored = await entries(path);
        assert.deepEqual(stored.map((entry) => entry.key[1]), ["token"]);
        assert.ok(!JSON.stringify(stored).includes(CLIENT_SECRET));
      } finally {
        await dir.cleanup();
      }
    });

    it("does not let a holder killed mid-request block the others past its lease", async () => {
      await using server = await startAuthServer({ clients: CLIENTS });
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.kv");
        server.failTokenRequests({ delay: 15_000 });
        // Leases of 3 s renewed every second: only a renewal late by more than
        // 2 s on a starved machine loses one.
        const holder = spawnChild({ path, authServer: server.url, leaseTime: 3_000 });
        await until(() => server.counts.tokenRequests >= 1, "the holder asks for a token");
        holder.kill();
        assert.equal((await holder.result).ok, false);
        const next = await spawnChild({ path, authServer: server.url, leaseTime: 3_000 }).result;
        assert.ok(next.ok, next.message);
        assert.deepEqual(next.fallbacks, []);
        assert.equal(server.counts.tokenRequests, 2);
      } finally {
        await dir.cleanup();
      }
    });

    it("renews the lease of a holder whose token server is slower than the lease, so one request is made", async () => {
      await using server = await startAuthServer({ clients: CLIENTS });
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.kv");
        // A lease of 3 s renewed every second, and a token server slower than two
        // leases: the renewal must keep it; a renewal late by more than 2 s on a
        // starved machine is the only way to lose it.
        server.failTokenRequests({ delay: 8_000 });
        const reports = await Promise.all(
          Array.from(
            { length: 4 },
            () => spawnChild({ path, authServer: server.url, leaseTime: 3_000 }).result,
          ),
        );
        for (const report of reports) assert.ok(report.ok, report.message);
        assert.equal(server.counts.tokenRequests, 1, JSON.stringify(reports));
      } finally {
        await dir.cleanup();
      }
    });

    it("honours a hold-off one process stored in another's session, never as a token", async () => {
      const dir = await tempDir();
      const caches: DenoKvTokenCache[] = [];
      try {
        const path = join(dir.path, "tokens.kv");
        await assertHoldoffShared(() => {
          caches.push(new DenoKvTokenCache({ path }));
          return caches.at(-1)!;
        }, 503);
      } finally {
        for (const cache of caches) await cache.close();
        await dir.cleanup();
      }
    });

    it("treats an entry past the expiry in its value as absent, and stores no refresh token", async () => {
      const dir = await tempDir();
      try {
        const cache = new DenoKvTokenCache({ path: join(dir.path, "tokens.kv") });
        const now = Date.now();
        await cache.set("k", {
          accessToken: "a",
          tokenType: "Bearer",
          issuedAt: now,
          // Long enough to be read back however slow the machine; the wait
          // for its expiry below is bounded by until()'s generous deadline.
          expiresAt: now + 5_000,
          refreshToken: "never-shared",
        });
        assert.equal((await cache.get("k"))?.refreshToken, undefined);
        assert.equal((await cache.get("k"))?.accessToken, "a");
        await until(async () => (await cache.get("k")) === undefined, "the entry expires");
        await cache.clear();
        await cache.close();
        assert.deepEqual(await entries(join(dir.path, "tokens.kv")), []);
      } finally {
        await dir.cleanup();
      }
    });
  });

  describe("DenoKvTokenCache where there is no Deno KV", () => {
    it("fails with an error that says what is needed", {
      skip: deno?.openKv ? "Deno KV is here" : undefined,
    }, async () => {
      const cache = new DenoKvTokenCache();
      assert.match((await rejection(cache.get("k"))).message, /DenoKvTokenCache needs Deno KV/);
    });

    it("does not print the client secret", () => {
      assertNoSecretSeen();
    });
  });
}

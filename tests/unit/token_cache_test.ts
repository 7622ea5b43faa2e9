// The token caches. Cross-process behaviour is tested with real processes:
// this file runs itself as a child (on the same runtime) when
// KOGNIC_TOKEN_CACHE_CHILD names a role.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFile,
  chmod,
  mkdir,
  readdir,
  readFile,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  createTokenCache,
  FileTokenCache,
  isUsable,
  KeyringTokenCache,
  MemoryTokenCache,
  TOKEN_CACHE_MARGIN,
  tokenCacheKey,
} from "../../config.ts";
import type { TokenSet } from "../../mod.ts";
import { ConfigurationError } from "../../src/shared/errors.ts";
import { tempDir } from "../_helpers/mod.ts";

const HOUR = 3_600_000;

/**
 * A token issued now, to the whole second: the file and keyring caches keep
 * times in whole seconds, as the Python package does.
 */
function token(accessToken: string, overrides: Partial<TokenSet> = {}): TokenSet {
  const now = Math.floor(Date.now() / 1000) * 1000;
  return { accessToken, tokenType: "Bearer", issuedAt: now, expiresAt: now + HOUR, ...overrides };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Child roles

async function runChild(role: string, args: string[]): Promise<void> {
  const [path] = args;
  const cache = new FileTokenCache({ path });
  if (role === "write") {
    // Writes `count` keys named `<prefix>-<i>`, one after the other.
    const [, prefix, count] = args;
    for (let i = 0; i < Number(count); i++) {
      await cache.set(`${prefix}-${i}`, token(`${prefix}-${i}`));
    }
  } else if (role === "set-once") {
    // Stores one token, waiting at most `lockTimeout` ms for the lock.
    const [, key, lockTimeout] = args;
    await new FileTokenCache({ path, lockTimeout: Number(lockTimeout) }).set(key, token(key));
  } else if (role === "loop") {
    // Writes large tokens until killed, saying "ready" after the first write.
    const big = "x".repeat(256 * 1024);
    for (let i = 0;; i++) {
      await cache.set(`loop-${i % 8}`, token(`${big}${i}`));
      if (i === 0) process.stdout.write("ready\n");
    }
  } else if (role === "race") {
    // Waits until every racer is ready, then takes the lock on a cold key and
    // logs its steps; only a racer that finds no token "fetches" one.
    const [, key, log, barrier, racers] = args;
    await writeFile(join(barrier, String(process.pid)), "");
    while ((await readdir(barrier)).length < Number(racers)) await sleep(5);
    await cache.withLock(key, async () => {
      await appendFile(log, `enter ${process.pid}\n`);
      const cached = await cache.get(key);
      if (cached && isUsable(cached)) {
        await appendFile(log, `hit ${process.pid}\n`);
      } else {
        await appendFile(log, `fetch ${process.pid}\n`);
        await sleep(200);
        await cache.set(key, token(`from-${process.pid}`));
      }
      await appendFile(log, `exit ${process.pid}\n`);
    });
  } else {
    throw new Error(`unknown child role ${role}`);
  }
}

const CHILD_ROLE = process.env.KOGNIC_TOKEN_CACHE_CHILD;
const thisFile = fileURLToPath(import.meta.url);

/** Starts this file as a child process in `role`, on the current runtime. */
function startChild(
  role: string,
  args: string[],
  options: { allowRun?: boolean } = {},
): ChildProcess {
  const runtimeArgs = "Deno" in globalThis
    ? [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      ...(options.allowRun === false ? [] : ["--allow-run"]),
      thisFile,
    ]
    : [thisFile];
  return spawn(process.execPath, [...runtimeArgs, ...args], {
    env: { ...process.env, KOGNIC_TOKEN_CACHE_CHILD: role },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs a child to its end; rejects when it fails. */
function runChildProcess(
  role: string,
  args: string[],
  options: { allowRun?: boolean } = {},
): Promise<void> {
  const child = startChild(role, args, options);
  let stderr = "";
  child.stderr?.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`child ${role} exited with ${code}: ${stderr}`));
    });
  });
}

/** The pid of a process that has ended. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--version"], { stdio: "ignore" });
    child.on("error", reject);
    child.on("close", () => resolve(child.pid!));
  });
}

/** A cache file's entries: key -> token in the Python package's shape. */
type CacheFile = Record<string, Record<string, unknown> & { access_token: string }>;

async function readCacheFile(path: string): Promise<CacheFile> {
  return JSON.parse(await readFile(path, "utf8"));
}

// ---------------------------------------------------------------------------
// Tests

if (CHILD_ROLE) {
  runChild(CHILD_ROLE, process.argv.slice(2)).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  describe("tokenCacheKey()", () => {
    const server = "https://auth.app.kognic.com";
    // Hashes from `printf 'a b' | sha256sum` and `printf 'api:read api:write' | sha256sum`.
    const cases: Array<[string, readonly string[] | undefined, string]> = [
      ["no scopes", undefined, `${server}:id`],
      ["an empty scope list, which requests no scope either", [], `${server}:id`],
      ["two scopes", ["a", "b"], `${server}:id:s-c8687a08aa5d`],
      ["the same scopes in another order", ["b", "a"], `${server}:id:s-c8687a08aa5d`],
      ["Kognic scopes", ["api:write", "api:read"], `${server}:id:s-47376d7f4916`],
    ];
    for (const [name, scopes, expected] of cases) {
      it(`makes the reference's key for ${name}`, async () => {
        assert.equal(await tokenCacheKey(server, "id", scopes), expected);
      });
    }

    it("does not reorder the caller's scope list", async () => {
      const scopes = ["b", "a"];
      await tokenCacheKey(server, "id", scopes);
      assert.deepEqual(scopes, ["b", "a"]);
    });
  });

  describe("isUsable()", () => {
    const expiresAt = 10 * HOUR;
    const cases: Array<[string, number, boolean]> = [
      ["long before expiry", 0, true],
      ["just over 30 s before expiry", expiresAt - TOKEN_CACHE_MARGIN - 1, true],
      ["exactly 30 s before expiry", expiresAt - TOKEN_CACHE_MARGIN, false],
      ["10 s before expiry", expiresAt - 10_000, false],
      ["after expiry", expiresAt + 1, false],
    ];
    for (const [name, now, expected] of cases) {
      it(`says ${expected} ${name}`, () => {
        assert.equal(isUsable(token("t", { expiresAt }), now), expected);
      });
    }
  });

  describe("MemoryTokenCache", () => {
    it("stores, returns copies, deletes and clears", async () => {
      const cache = new MemoryTokenCache();
      const stored = token("a", { refreshToken: "r", scope: "api:read" });
      await cache.set("k", stored);
      const read = await cache.get("k");
      assert.deepEqual(read, stored);
      read!.accessToken = "changed";
      assert.equal((await cache.get("k"))?.accessToken, "a");
      await cache.delete("k");
      assert.equal(await cache.get("k"), undefined);
      await cache.set("k1", token("1"));
      await cache.set("k2", token("2"));
      await cache.clear();
      assert.equal(await cache.get("k1"), undefined);
    });

    it("rejects a value that is not a cached token", async () => {
      const cache = new MemoryTokenCache();
      await assert.rejects(cache.set("k", { accessToken: "" } as TokenSet), TypeError);
    });

    it("runs withLock callers for one key one at a time, and other keys alongside", async () => {
      const cache = new MemoryTokenCache();
      const events: string[] = [];
      const step = (name: string) => async () => {
        events.push(`enter ${name}`);
        await sleep(10);
        events.push(`exit ${name}`);
        return name;
      };
      const results = await Promise.all([
        cache.withLock("k", step("a")),
        cache.withLock("k", step("b")),
        cache.withLock("other", step("c")),
      ]);
      assert.deepEqual(results, ["a", "b", "c"]);
      assert.ok(events.indexOf("exit a") < events.indexOf("enter b"));
      assert.ok(events.indexOf("enter c") < events.indexOf("exit a"));
    });

    it("stops a withLock caller's wait when its signal aborts, and never runs its fn", async () => {
      const cache = new MemoryTokenCache();
      let release!: () => void;
      const holding = cache.withLock("k", () => new Promise<void>((r) => (release = r)));
      const controller = new AbortController();
      let ran = false;
      const waiting = cache.withLock("k", () => Promise.resolve(void (ran = true)), {
        signal: controller.signal,
      });
      const reason = new Error("gave up");
      controller.abort(reason);
      assert.equal(await waiting.catch((error) => error), reason);
      release();
      await holding;
      assert.equal(ran, false);
      assert.equal(await cache.withLock("k", () => Promise.resolve(2)), 2, "the lock is free");
    });

    it("releases the lock when fn throws", async () => {
      const cache = new MemoryTokenCache();
      await assert.rejects(cache.withLock("k", () => Promise.reject(new Error("boom"))), /boom/);
      assert.equal(await cache.withLock("k", () => Promise.resolve(1)), 1);
    });
  });

  describe("FileTokenCache", () => {
    it("round-trips a token through the file", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const stored = token("abc", { refreshToken: "r", scope: "api:read" });
        await new FileTokenCache({ path }).set("key", stored);
        assert.deepEqual(await new FileTokenCache({ path }).get("key"), stored);
        assert.equal(await new FileTokenCache({ path }).get("other"), undefined);
        assert.deepEqual(await readCacheFile(path), {
          key: {
            access_token: "abc",
            token_type: "bearer",
            expires_in: 3600,
            expires_at: stored.expiresAt / 1000,
            refresh_token: "r",
            scope: "api:read",
          },
        });
      } finally {
        await dir.cleanup();
      }
    });

    it("creates the file with mode 0600 in a directory with mode 0700", {
      skip: process.platform === "win32" ? "POSIX modes" : undefined,
    }, async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "cache", "kognic-auth", "tokens.json");
        await new FileTokenCache({ path }).set("key", token("abc"));
        assert.equal((await stat(path)).mode & 0o777, 0o600);
        assert.equal((await stat(join(dir.path, "cache", "kognic-auth"))).mode & 0o777, 0o700);
      } finally {
        await dir.cleanup();
      }
    });

    it("replaces a file with looser permissions by a 0600 one", {
      skip: process.platform === "win32" ? "POSIX modes" : undefined,
    }, async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        await writeFile(path, "{}");
        await chmod(path, 0o644);
        await new FileTokenCache({ path }).set("key", token("abc"));
        assert.equal((await stat(path)).mode & 0o777, 0o600);
      } finally {
        await dir.cleanup();
      }
    });

    it("uses $XDG_CACHE_HOME/kognic-auth/tokens.json, else ~/.cache", async () => {
      assert.equal(
        await new FileTokenCache({ env: { HOME: "/home/u", XDG_CACHE_HOME: "/xdg" } })
          .resolvePath(),
        "/xdg/kognic-auth/tokens.json",
      );
      assert.equal(
        await new FileTokenCache({ env: { HOME: "/home/u" } }).resolvePath(),
        "/home/u/.cache/kognic-auth/tokens.json",
      );
    });

    const corrupt: Array<[string, string]> = [
      ["broken JSON", '{"version": 1, "tokens": {'],
      ["an empty file", ""],
      ["a JSON array", "[1, 2]"],
      ["a JSON string", '"tokens"'],
      ["JSON null", "null"],
      ["binary junk", "\u0000\u0001\u00ff"],
    ];
    for (const [name, content] of corrupt) {
      it(`ignores a cache file holding ${name} and replaces it on the next write`, async () => {
        const dir = await tempDir();
        try {
          const path = join(dir.path, "tokens.json");
          await writeFile(path, content);
          const cache = new FileTokenCache({ path });
          assert.equal(await cache.get("key"), undefined);
          await cache.set("new", token("new"));
          assert.deepEqual(Object.keys(await readCacheFile(path)), ["new"]);
        } finally {
          await dir.cleanup();
        }
      });
    }

    it("migrates a file in the earlier shape, dropping malformed and expired entries", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const good = token("good");
        const refreshable = token("old", { expiresAt: 1, refreshToken: "r" });
        await writeFile(
          path,
          JSON.stringify({
            version: 1,
            tokens: {
              good,
              refreshable,
              expired: token("expired", { expiresAt: 1 }),
              noToken: { tokenType: "Bearer", issuedAt: 0, expiresAt: Date.now() + HOUR },
              badTime: { accessToken: "x", tokenType: "Bearer", issuedAt: 0, expiresAt: "soon" },
            },
          }),
        );
        const cache = new FileTokenCache({ path });
        assert.deepEqual(await cache.get("good"), good);
        assert.equal(await cache.get("noToken"), undefined);
        assert.equal(await cache.get("badTime"), undefined);
        await cache.set("new", token("new"));
        assert.deepEqual(
          Object.keys(await readCacheFile(path)).sort(),
          ["good", "new", "refreshable"],
        );
      } finally {
        await dir.cleanup();
      }
    });

    it("deletes one key and clears the whole file", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const cache = new FileTokenCache({ path });
        await cache.set("a", token("a"));
        await cache.set("b", token("b"));
        await cache.delete("a");
        assert.equal(await cache.get("a"), undefined);
        assert.equal((await cache.get("b"))?.accessToken, "b");
        await cache.clear();
        assert.equal(await cache.get("b"), undefined);
        await assert.rejects(stat(path), { code: "ENOENT" });
        await cache.clear();
        await cache.delete("nothing");
      } finally {
        await dir.cleanup();
      }
    });

    it("keeps every key when many set() calls run at once", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        await Promise.all(
          Array.from(
            { length: 40 },
            (_, i) => new FileTokenCache({ path }).set(`k${i}`, token(`t${i}`)),
          ),
        );
        const file = await readCacheFile(path);
        assert.equal(Object.keys(file).length, 40);
        assert.deepEqual(await readdir(dir.path), ["tokens.json"]);
      } finally {
        await dir.cleanup();
      }
    });

    it("keeps every key when several processes write at once", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const writers = ["p0", "p1", "p2", "p3"];
        await Promise.all(writers.map((prefix) => runChildProcess("write", [path, prefix, "15"])));
        const file = await readCacheFile(path);
        const expected = writers.flatMap((prefix) =>
          Array.from({ length: 15 }, (_, i) => `${prefix}-${i}`)
        );
        assert.deepEqual(Object.keys(file).sort(), expected.sort());
        for (const [key, value] of Object.entries(file)) {
          assert.equal(value.access_token, key);
        }
      } finally {
        await dir.cleanup();
      }
    });

    it("stays valid when a writer is killed mid-write, and its lock does not block the next", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        for (let round = 0; round < 6; round++) {
          const child = startChild("loop", [path]);
          const exited = new Promise((resolve) => child.on("close", resolve));
          await new Promise<void>((resolve, reject) => {
            child.stdout?.on("data", () => resolve());
            child.on("close", (code) => reject(new Error(`writer exited early with ${code}`)));
          });
          if (round % 2 === 0) {
            // Kill as soon as a temporary file shows the writer is between open and rename.
            const temporary = /^\.tokens\.json\..*\.tmp$/;
            const before = new Set(await readdir(dir.path));
            for (let i = 0; i < 2000; i++) {
              const names = await readdir(dir.path);
              if (names.some((name) => temporary.test(name) && !before.has(name))) break;
            }
          } else {
            await sleep(20 + Math.random() * 80);
          }
          child.kill("SIGKILL");
          await exited;

          const file = await readCacheFile(path);
          assert.ok(Object.keys(file).length >= 1);
          for (const value of Object.values(file)) {
            assert.match(value.access_token, /^(x{262144}\d+|after-\d)$/);
          }

          // A lock left by the killed writer names a dead process: it is broken at once.
          const cache = new FileTokenCache({ path, lockTimeout: 60_000 });
          await cache.set(`after-${round}`, token(`after-${round}`));
          assert.equal((await cache.get(`after-${round}`))?.accessToken, `after-${round}`);
        }
      } finally {
        await dir.cleanup();
      }
    });

    it("lets one of several processes racing withLock() on a cold key fetch, one at a time", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const log = join(dir.path, "log.txt");
        const barrier = join(dir.path, "barrier");
        await mkdir(barrier);
        await writeFile(log, "");
        const racers = 3;
        await Promise.all(
          Array.from(
            { length: racers },
            () => runChildProcess("race", [path, "cold-key", log, barrier, String(racers)]),
          ),
        );
        const lines = (await readFile(log, "utf8")).trim().split("\n");
        assert.equal(lines.filter((line) => line.startsWith("fetch ")).length, 1, lines.join("\n"));
        assert.equal(
          lines.filter((line) => line.startsWith("hit ")).length,
          racers - 1,
          lines.join("\n"),
        );
        // No two racers inside at once: every "enter" is followed by its own "exit".
        for (let i = 0; i < lines.length; i += 3) {
          const pid = lines[i].split(" ")[1];
          assert.deepEqual(
            [lines[i].split(" ")[0], lines[i + 2]],
            ["enter", `exit ${pid}`],
            lines.join("\n"),
          );
        }
        assert.equal((await readdir(dir.path)).filter((name) => name.endsWith(".lock")).length, 0);
      } finally {
        await dir.cleanup();
      }
    });

    it("serialises withLock() callers within one process", async () => {
      const dir = await tempDir();
      try {
        const cache = new FileTokenCache({ path: join(dir.path, "tokens.json") });
        let inside = 0;
        let most = 0;
        await Promise.all(Array.from({ length: 5 }, () =>
          cache.withLock("k", async () => {
            most = Math.max(most, ++inside);
            await sleep(5);
            inside--;
          })));
        assert.equal(most, 1);
      } finally {
        await dir.cleanup();
      }
    });

    it("breaks a lock whose owner has died, without waiting for it to age", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        await writeFile(`${path}.lock`, JSON.stringify({ pid: await deadPid(), nonce: "dead" }));
        // Were the owner not seen as dead, the lock would be kept and the
        // write would go ahead without it after lockTimeout, leaving the lock file.
        await new FileTokenCache({ path, lockTimeout: 1_000 }).set("k", token("t"));
        await assert.rejects(stat(`${path}.lock`), { code: "ENOENT" });
        assert.equal((await new FileTokenCache({ path }).get("k"))?.accessToken, "t");
      } finally {
        await dir.cleanup();
      }
    });

    it("breaks a dead owner's lock once it is old where Deno may not signal processes", {
      skip: "Deno" in globalThis ? undefined : "a Deno permission",
    }, async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        await writeFile(`${path}.lock`, JSON.stringify({ pid: await deadPid(), nonce: "dead" }));
        // Without --allow-run the child cannot tell the owner is dead; the
        // lock, no longer refreshed, goes stale after 5 s, well within lockTimeout.
        await runChildProcess("set-once", [path, "k", "60000"], { allowRun: false });
        await assert.rejects(stat(`${path}.lock`), { code: "ENOENT" });
        assert.equal((await new FileTokenCache({ path }).get("k"))?.accessToken, "k");
      } finally {
        await dir.cleanup();
      }
    });

    it("breaks a lock left by this process's pid that no caller holds", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        await writeFile(`${path}.lock`, JSON.stringify({ pid: process.pid, nonce: "gone" }));
        await new FileTokenCache({ path, lockTimeout: 60_000 }).set("k", token("t"));
        await assert.rejects(stat(`${path}.lock`), { code: "ENOENT" });
      } finally {
        await dir.cleanup();
      }
    });

    it("breaks a lock that has not been refreshed for a long time", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        // A live process (this test's parent) but an old lock: its owner stalled or is elsewhere.
        await writeFile(`${path}.lock`, JSON.stringify({ pid: process.ppid, nonce: "old" }));
        const old = new Date(Date.now() - 120_000);
        await utimes(`${path}.lock`, old, old);
        await new FileTokenCache({ path, lockTimeout: 60_000 }).set("k", token("t"));
        assert.equal((await new FileTokenCache({ path }).get("k"))?.accessToken, "t");
      } finally {
        await dir.cleanup();
      }
    });

    it("goes ahead without the lock after lockTimeout when a live owner keeps it", async () => {
      const dir = await tempDir();
      try {
        const path = join(dir.path, "tokens.json");
        const lock = JSON.stringify({ pid: process.ppid, nonce: "busy" });
        await writeFile(`${path}.lock`, lock);
        const cache = new FileTokenCache({ path, lockTimeout: 100 });
        await cache.set("k", token("t"));
        assert.equal((await cache.get("k"))?.accessToken, "t");
        assert.equal(await cache.withLock("k2", () => Promise.resolve("ran")), "ran");
        // The owner's lock is left alone.
        assert.equal(await readFile(`${path}.lock`, "utf8"), lock);
      } finally {
        await dir.cleanup();
      }
    });

    it("runs withLock's fn even where no lock file can be made", async () => {
      const dir = await tempDir();
      try {
        // The cache's directory would be inside a regular file: nothing can be created there.
        await writeFile(join(dir.path, "file"), "");
        const cache = new FileTokenCache({ path: join(dir.path, "file", "tokens.json") });
        assert.equal(await cache.withLock("k", () => Promise.resolve("ran")), "ran");
        await assert.rejects(
          cache.set("k", token("t")),
          (error: unknown) =>
            error instanceof ConfigurationError &&
            error.message.startsWith("Could not write the token cache "),
        );
        assert.equal(await cache.get("k"), undefined);
      } finally {
        await dir.cleanup();
      }
    });

    it("never puts a token in its errors", async () => {
      const dir = await tempDir();
      try {
        // The cache path is a directory: reading fails.
        await mkdir(join(dir.path, "tokens.json"));
        const cache = new FileTokenCache({ path: join(dir.path, "tokens.json") });
        const secret = "tok-Zq8vX2-never-print-me";
        const error = await cache.set("k", token(secret)).then(() => undefined, (e: Error) => e);
        assert.ok(error instanceof Error);
        assert.ok(!String(error.message).includes(secret));
      } finally {
        await dir.cleanup();
      }
    });

    it("rejects a value that is not a cached token", async () => {
      await assert.rejects(
        new FileTokenCache({ path: "/nonexistent/tokens.json" }).set(
          "k",
          { accessToken: 1 } as unknown as TokenSet,
        ),
        TypeError,
      );
      assert.throws(() => new FileTokenCache({ path: "" }), TypeError);
    });
  });

  describe("createTokenCache()", () => {
    it("gives no cache for none and a file cache for file", async () => {
      assert.equal(await createTokenCache("none"), undefined);
      const file = await createTokenCache("file", { path: "/tmp/x/tokens.json" });
      assert.ok(file instanceof FileTokenCache);
      assert.equal(await file.resolvePath(), "/tmp/x/tokens.json");
    });

    it("rejects an unknown mode", async () => {
      await assert.rejects(createTokenCache("disk" as "file"), TypeError);
    });

    it("falls back to the file in auto mode where no keyring answers", {
      skip: process.env.KOGNIC_TEST_KEYRING === "1"
        ? "a Secret Service is running (tests/e2e/keyring_test.ts covers both cases)"
        : undefined,
    }, async () => {
      const cache = await createTokenCache("auto", { path: "/tmp/x/tokens.json" });
      assert.ok(cache instanceof FileTokenCache);
      assert.ok(!(cache instanceof KeyringTokenCache));
    });
  });
}

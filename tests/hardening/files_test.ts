// Files that are not what they claim to be: a credentials file, an
// environments file or a token cache that is a FIFO, a device (/dev/zero
// behind a symbolic link), a directory or a 1 GiB sparse file. None of them
// may hang a call, exhaust memory or leave a lock file behind: credentials
// and environments files give a clear error naming the file, a token cache
// is a cache miss. Each case runs in this process under a generous guard
// that fails it instead of hanging, and through the kognic-auth CLI as a
// subprocess that is killed if it hangs.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { AuthSession, ConfigurationError, CredentialsError } from "../../mod.ts";
import { FileTokenCache, loadCredentials, loadEnvironments } from "../../config.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  credentialsJson,
  isolatedXdg,
  record,
  rejection,
  runCli,
  tempDir,
} from "../_helpers/mod.ts";

/** Fails a call that has not settled after this long, instead of hanging (not a timing check). */
const HANG = 120_000;

/** Why the odd files cannot be made here, or `undefined` when they can. */
function unsupported(): string | undefined {
  if (process.platform === "win32") return "Windows has no mkfifo, /dev/zero or POSIX symlinks";
  const probe = spawnSync("mkfifo", ["--version"], { stdio: "ignore" });
  if (probe.error) return "this system has no mkfifo command";
  return undefined;
}

/** The odd files, by the name of their kind. */
interface OddFiles {
  fifo: string;
  device: string;
  directory: string;
  huge: string;
}

/** Makes the odd files in `dir`, each named `<kind><suffix>`. */
async function makeOddFiles(dir: string, suffix: string): Promise<OddFiles> {
  const files = {
    fifo: join(dir, `fifo${suffix}`),
    device: join(dir, `device${suffix}`),
    directory: join(dir, `directory${suffix}`),
    huge: join(dir, `huge${suffix}`),
  };
  const made = spawnSync("mkfifo", [files.fifo]);
  assert.equal(made.status, 0, `mkfifo failed: ${made.stderr}`);
  // With ln: Deno makes symbolic links only with unscoped read and write permissions.
  const linked = spawnSync("ln", ["-s", "/dev/zero", files.device]);
  assert.equal(linked.status, 0, `ln -s failed: ${linked.stderr}`);
  await mkdir(files.directory);
  await writeFile(files.huge, "");
  await truncate(files.huge, 1024 * 1024 * 1024);
  return files;
}

/** What each kind of odd file is called in messages. */
const KIND: Record<keyof OddFiles, RegExp> = {
  fifo: /it is not a regular file \(a FIFO\)/,
  device: /it is not a regular file \(a device\)/,
  directory: /it is not a regular file \(a directory\)/,
  huge: /it is larger than 1 MiB/,
};

/** How each kind of odd file reads in a test name. */
const NAME: Record<keyof OddFiles, string> = {
  fifo: "a FIFO",
  device: "/dev/zero (through a symbolic link)",
  directory: "a directory",
  huge: "a 1 GiB sparse file",
};

/** `promise`, or a rejection after {@linkcode HANG} ms saying what hung. */
async function settles<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle (it hangs)`)), HANG);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** The lock files left in `dir` and its subfolders. */
async function lockFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).filter((name) => name.endsWith(".lock"));
}

const skip = unsupported();

describe("files that are not regular files of sane size", { skip }, () => {
  let server: LocalAuthServer;
  let dir: { path: string; cleanup: () => Promise<void> };

  before(async () => {
    server = await startAuthServer({ clients: CLIENTS });
    dir = await tempDir();
  });

  after(async () => {
    await server.close();
    await dir.cleanup();
  });

  const kinds = Object.keys(KIND) as (keyof OddFiles)[];

  describe("a credentials file", () => {
    let files: OddFiles;
    before(async () => {
      const folder = join(dir.path, "credentials");
      await mkdir(folder);
      files = await makeOddFiles(folder, ".json");
    });

    for (const kind of kinds) {
      it(`that is ${NAME[kind]} is refused as invalid, naming it`, async () => {
        const error = await rejection(settles(loadCredentials(files[kind]), "loadCredentials"));
        assert.ok(error instanceof CredentialsError, String(error));
        assert.equal(error.code, "credentials_invalid");
        assert.ok(error.message.includes(files[kind]), record(error.message));
        assert.match(error.message, KIND[kind]);
      });
    }

    it("that is a FIFO fails a session with a token cache at once, and leaves no lock", async () => {
      const cacheDir = join(dir.path, "credentials-cache");
      const session = new AuthSession({
        authServer: server.url,
        auth: files.fifo,
        tokenCache: new FileTokenCache({ path: join(cacheDir, "tokens.json") }),
      });
      const before = server.counts.tokenRequests;
      const error = await rejection(settles(session.getAccessToken(), "getAccessToken"));
      assert.ok(error instanceof CredentialsError, String(error));
      assert.equal(error.code, "credentials_invalid");
      assert.equal(server.counts.tokenRequests, before);
      await mkdir(cacheDir, { recursive: true });
      assert.deepEqual(await lockFiles(cacheDir), []);
    });

    it("whose parent is a regular file is not found", async () => {
      const parent = join(dir.path, "credentials", "plain.json");
      await writeFile(parent, JSON.stringify(credentialsJson()));
      const error = await rejection(loadCredentials(join(parent, "inner.json")));
      assert.ok(error instanceof CredentialsError, String(error));
      assert.equal(error.code, "credentials_not_found");
    });

    for (const kind of ["fifo", "device", "huge"] as const) {
      it(`that is ${NAME[kind]} makes kognic-auth exit 1 naming it`, async () => {
        const result = await runCli(
          ["get-access-token", "--server", server.url, "--credentials", files[kind]],
          { env: isolatedXdg(join(dir.path, `cli-${kind}`)), killAfter: HANG },
        );
        assert.equal(result.killed, undefined, "kognic-auth hung");
        assert.equal(result.code, 1, result.stderr);
        assert.ok(result.stderr.includes(files[kind]), result.stderr);
        assert.match(result.stderr, KIND[kind]);
        assert.equal(result.stdout, "");
      });
    }
  });

  describe("an environments file", () => {
    let files: OddFiles;
    before(async () => {
      const folder = join(dir.path, "environments");
      await mkdir(folder);
      files = await makeOddFiles(folder, ".json");
    });

    for (const kind of kinds) {
      it(`that is ${NAME[kind]} is a configuration error naming it`, async () => {
        const error = await rejection(settles(loadEnvironments(files[kind]), "loadEnvironments"));
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.equal(error.code, "configuration_invalid");
        assert.ok(error.message.includes(files[kind]), record(error.message));
        assert.match(error.message, /^Could not read environments file /);
        assert.match(error.message, KIND[kind]);
      });
    }

    it("whose parent is a regular file is an empty configuration, as a missing one is", async () => {
      const parent = join(dir.path, "environments", "plain");
      await writeFile(parent, "");
      const config = await loadEnvironments(join(parent, "environments.json"));
      assert.deepEqual(config.environments, {});
    });

    for (const kind of ["fifo", "device", "huge"] as const) {
      it(`that is ${NAME[kind]} makes kognic-auth exit 1 naming it`, async () => {
        const home = join(dir.path, `cli-env-${kind}`);
        const result = await runCli(
          ["get-access-token", "--server", server.url, "--env-config-file-path", files[kind]],
          {
            env: {
              ...isolatedXdg(home),
              KOGNIC_CLIENT_ID: CLIENT_ID,
              KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
            },
            killAfter: HANG,
          },
        );
        assert.equal(result.killed, undefined, "kognic-auth hung");
        assert.equal(result.code, 1, result.stderr);
        assert.ok(result.stderr.includes(files[kind]), result.stderr);
        assert.match(result.stderr, KIND[kind]);
      });
    }
  });

  describe("a token cache file", () => {
    for (const kind of kinds) {
      it(`that is ${NAME[kind]} is a cache miss, and leaves no lock`, async () => {
        const folder = join(dir.path, `cache-${kind}`);
        await mkdir(folder);
        const files = await makeOddFiles(folder, ".tokens");
        const path = files[kind];
        const cache = new FileTokenCache({ path });
        assert.equal(await settles(cache.get("k"), "FileTokenCache.get"), undefined);

        const before = server.counts.tokenRequests;
        const session = new AuthSession({
          authServer: server.url,
          auth: [CLIENT_ID, CLIENT_SECRET],
          tokenCache: cache,
        });
        const token = await settles(session.getAccessToken(), "getAccessToken");
        assert.ok(token.length > 0);
        assert.equal(server.counts.tokenRequests, before + 1);
        assert.deepEqual(await lockFiles(folder), []);
        if (kind !== "directory") {
          // The new token replaced the odd file with a small regular one.
          const info = await stat(path);
          assert.ok(info.isFile() && info.size < 64 * 1024, `size ${info.size}`);
          assert.equal(typeof (await cache.get(await onlyKey(path))), "object");
        }
      });
    }

    for (const kind of ["fifo", "device", "huge"] as const) {
      it(`whose lock file is ${NAME[kind]} left long ago is written once that lock is broken, never blocked on or read whole`, async () => {
        const folder = join(dir.path, `lock-${kind}`);
        await mkdir(folder);
        // The lock of the cache file <kind> is <kind>.lock.
        const files = await makeOddFiles(folder, ".lock");
        // An hour old, so stale (the device's is its own, from boot).
        const old = new Date(Date.now() - 3_600_000);
        if (kind !== "device") await utimes(files[kind], old, old);
        const path = join(folder, kind);
        const cache = new FileTokenCache({ path });
        const before = server.counts.tokenRequests;
        const session = new AuthSession({
          authServer: server.url,
          auth: [CLIENT_ID, CLIENT_SECRET],
          tokenCache: cache,
        });
        const token = await settles(session.getAccessToken(), "getAccessToken");
        assert.ok(token.length > 0);
        assert.equal(server.counts.tokenRequests, before + 1);
        assert.equal(typeof (await cache.get(await onlyKey(path))), "object");
        const left = (await readdir(folder)).filter((name) => name.startsWith(`${kind}.lock`));
        assert.deepEqual(left, [], "the odd lock, or a lock of ours, was left");
      });
    }

    it("that is a FIFO is a cache miss for kognic-auth, which exits 0 and leaves no lock", async () => {
      const home = join(dir.path, "cli-cache");
      const folder = join(home, "cache", "kognic-auth");
      await mkdir(folder, { recursive: true });
      const made = spawnSync("mkfifo", [join(folder, "tokens.json")]);
      assert.equal(made.status, 0);
      const result = await runCli(
        ["get-access-token", "--server", server.url, "--token-cache", "file"],
        {
          env: {
            ...isolatedXdg(home),
            KOGNIC_CLIENT_ID: CLIENT_ID,
            KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
          },
          denoPermissions: [
            "--allow-net=127.0.0.1",
            "--allow-env",
            "--allow-read",
            "--allow-write",
          ],
          killAfter: HANG,
        },
      );
      assert.equal(result.killed, undefined, "kognic-auth hung");
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.trim().length > 0);
      assert.deepEqual(await lockFiles(folder), []);
    });
  });

  describe("secret hygiene", () => {
    it("no message or output in this file contained the client secret", () => {
      assert.ok(assertNoSecretSeen() > 3, "the tests recorded their outputs");
    });
  });
});

/** The one key stored in a cache file. */
async function onlyKey(path: string): Promise<string> {
  const keys = Object.keys(JSON.parse(await readFile(path, "utf8")));
  assert.equal(keys.length, 1);
  return keys[0];
}

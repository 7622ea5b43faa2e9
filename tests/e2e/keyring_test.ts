// Credentials and tokens in the system keyring.
//
// The tests that need a real Secret Service run only under
// scripts/with_keyring.sh, which starts one and sets KOGNIC_TEST_KEYRING=1;
// elsewhere they are reported as skipped, with the reason. The tests of what
// happens without a usable keyring (no bus, a dead bus, a bus that never
// answers) always run, in child processes given such an environment: this
// file runs itself as a child when KOGNIC_KEYRING_CHILD is set.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ApiCredentials } from "../../src/core/api_credentials.ts";
import { CredentialsError } from "../../src/shared/errors.ts";
import {
  DEFAULT_PROFILE,
  deleteKeyringCredentials,
  KEYRING_CREDENTIALS_SERVICE,
  keyringAvailable,
  parseKeyringUrl,
  readKeyringCredentials,
  storeKeyringCredentials,
} from "../../src/credentials/keyring.ts";
import {
  createTokenCache,
  FileTokenCache,
  KEYRING_TOKEN_CACHE_SERVICE,
  KeyringTokenCache,
} from "../../src/config/token_cache.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  countTokenRequests,
  credentialsJson,
  NEEDS_SERVICE,
  record,
  rejection,
  tempDir,
} from "../_helpers/mod.ts";
import { bareBusConfig } from "../_helpers/dbus.ts";
import { pythonIsValid, pythonKey, pythonToken } from "../_helpers/python_cache.ts";
import { AuthSession } from "../../mod.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { assertHoldoffShared } from "../_helpers/holdoff.ts";
import { findKeyringAccounts } from "../../config.ts";

const IS_DENO = "Deno" in globalThis;

// ---------------------------------------------------------------------------
// Child: report what the keyring functions do in this process's environment.

interface Outcome {
  ok: boolean;
  name?: string;
  code?: string;
  message?: string;
}

async function outcome(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    await fn();
    return { ok: true };
  } catch (error) {
    const { name, message, code } = error as { name: string; message: string; code?: string };
    return { ok: false, name, code, message };
  }
}

interface Report {
  available: boolean;
  read: Outcome;
  autoMode: string | undefined;
  store?: Outcome;
  delete?: Outcome;
  tokenGet?: Outcome;
  keyringMode?: Outcome;
}

/**
 * What the keyring functions do in this process's environment. Behind a bus
 * that never answers each call waits for its timeout, so the "frozen" role
 * tries fewer of them.
 */
async function childReport(role: string): Promise<Report> {
  const report: Report = {
    available: await keyringAvailable({ timeout: 500 }),
    read: await outcome(() => readKeyringCredentials("test-profile")),
    autoMode: (await createTokenCache("auto", { path: "/nonexistent/tokens.json" }))
      ?.constructor.name,
  };
  if (role !== "frozen") {
    report.store = await outcome(() =>
      storeKeyringCredentials(JSON.stringify(credentialsJson()), "test-profile")
    );
    report.delete = await outcome(() => deleteKeyringCredentials("test-profile"));
    report.tokenGet = await outcome(() => new KeyringTokenCache().get("key"));
    report.keyringMode = await outcome(() => createTokenCache("keyring"));
  }
  return report;
}

const CHILD_ROLE = process.env.KOGNIC_KEYRING_CHILD;
const thisFile = fileURLToPath(import.meta.url);

/**
 * Runs this file as a child in `role` with `env` replacing the keyring-related
 * variables, and returns its report. A child that does not finish within 60 s
 * is killed and fails the test: the code under test must never hang.
 */
function runChild(
  role: string,
  env: Record<string, string | undefined>,
  options: { allowFfi?: boolean; allowNet?: boolean } = {},
): Promise<Report> {
  const runtimeArgs = IS_DENO
    ? [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      ...(options.allowFfi === false ? [] : ["--allow-ffi"]),
      ...(options.allowNet ? ["--allow-net"] : []),
      thisFile,
    ]
    : [thisFile];
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...env })) {
    if (value !== undefined) childEnv[name] = value;
  }
  childEnv.KOGNIC_KEYRING_CHILD = role;
  childEnv.NO_COLOR = "1";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, runtimeArgs, {
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      record(stdout);
      record(stderr);
      if (code !== 0) {
        reject(new Error(`child ${role} ended with ${code ?? signal}: ${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout));
    });
  });
}

/** Asserts the report of a process that has no usable keyring. */
function assertUnavailable(report: Report, reason: RegExp): void {
  assert.equal(report.available, false);
  assert.equal(report.autoMode, "FileTokenCache");
  const failures = [report.read, report.store, report.delete, report.tokenGet, report.keyringMode]
    .filter((entry): entry is Outcome => entry !== undefined);
  for (const failure of failures) {
    assert.equal(failure.ok, false);
    assert.equal(failure.name, "KeyringError");
    assert.equal(failure.code, "keyring_unavailable");
    assert.match(failure.message ?? "", /^The system keyring /);
    assert.match(failure.message ?? "", reason);
  }
}

/** A Unix socket that accepts connections and never says a word, like a hung bus. */
async function silentSocket(path: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.on("data", () => {});
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

/** A Unix socket that answers the first line like a bus that rejects the client. */
async function rejectingSocket(path: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.on("data", () => socket.end("REJECTED EXTERNAL\r\n"));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Runs a program to its end and returns its stdout; rejects when it fails. */
function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ended with ${code}: ${stderr}`));
    });
    child.stdin.end(input ?? "");
  });
}

function uniqueProfile(): string {
  return `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

// ---------------------------------------------------------------------------
// Tests

if (CHILD_ROLE) {
  childReport(CHILD_ROLE).then(
    (report) => {
      process.stdout.write(JSON.stringify(report));
      // Exit at once: a native keyring call left running must not keep the child alive.
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  describe("parseKeyringUrl()", () => {
    const cases: Array<[string, string | undefined]> = [
      ["keyring://prod", "prod"],
      ["keyring://default", "default"],
      ["keyring://", DEFAULT_PROFILE],
      ["keyring:///", DEFAULT_PROFILE],
      ["keyring://prod/", "prod"],
      ["KEYRING://Prod", "Prod"],
      [" keyring://prod ", "prod"],
      ["keyring://team prod", "team prod"],
      ["keyring:prod", undefined],
      ["~/.config/kognic/credentials.json", undefined],
      ["keyring.json", undefined],
      ["", undefined],
    ];
    for (const [input, expected] of cases) {
      it(`reads ${JSON.stringify(input)} as ${String(expected)}`, () => {
        assert.equal(parseKeyringUrl(input), expected);
      });
    }
  });

  describe("storeKeyringCredentials() checks its input before touching the keyring", () => {
    it("rejects text that is not JSON without quoting it", async () => {
      const error = await rejection(
        storeKeyringCredentials(`{"clientSecret": "${CLIENT_SECRET}", oops}`, "p"),
      );
      assert.ok(error instanceof CredentialsError);
      assert.equal(error.code, "credentials_invalid");
      assert.equal(error.message, "Bad auth credentials file, must be json: keyring://p");
    });

    it("rejects a credentials file that misses a key, naming it", async () => {
      const { email: _, ...rest } = credentialsJson();
      const error = await rejection(storeKeyringCredentials(JSON.stringify(rest), "p"));
      assert.ok(error instanceof CredentialsError);
      assert.match(error.message, /Missing key email in credentials file keyring:\/\/p/);
    });

    it("rejects credentials without the keys a credentials file needs", async () => {
      const error = await rejection(
        storeKeyringCredentials(
          new ApiCredentials({ clientId: "id", clientSecret: CLIENT_SECRET }),
        ),
      );
      assert.ok(error instanceof CredentialsError);
      assert.match(error.message, /Missing key email/);
    });

    it("rejects a profile that is not a non-empty string, and other inputs", async () => {
      await assert.rejects(readKeyringCredentials(""), TypeError);
      await assert.rejects(deleteKeyringCredentials(""), TypeError);
      await assert.rejects(
        storeKeyringCredentials(JSON.stringify(credentialsJson()), ""),
        TypeError,
      );
      await assert.rejects(storeKeyringCredentials(42 as unknown as string), TypeError);
    });
  });

  describe("without a usable keyring", () => {
    it("fails clearly, and auto mode uses the file, when no session bus is set", async () => {
      const report = await runChild("no-bus", { DBUS_SESSION_BUS_ADDRESS: undefined });
      assertUnavailable(report, /DBUS_SESSION_BUS_ADDRESS is not set/);
    });

    it("fails clearly, and auto mode uses the file, when the session bus is gone", async () => {
      const dir = await tempDir();
      try {
        const report = await runChild("dead-bus", {
          DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir.path, "no-such-bus")}`,
        });
        // The bus check reports ENOENT; where it cannot run (Deno without
        // --allow-net), the native library's own error names the socket.
        assertUnavailable(report, /cannot be reached \(ENOENT\)|Failed to connect to socket/);
      } finally {
        await dir.cleanup();
      }
    });

    it("does not hang, and auto mode uses the file, when the session bus never answers", {
      timeout: 60_000,
    }, async () => {
      const dir = await tempDir();
      const socket = join(dir.path, "silent-bus");
      const server = await silentSocket(socket);
      try {
        // Deno lets the bus check open the socket only with --allow-net.
        const report = await runChild("frozen", {
          DBUS_SESSION_BUS_ADDRESS: `unix:path=${socket},guid=0123`,
        }, { allowNet: true });
        assertUnavailable(report, /did not answer within \d+ ms/);
      } finally {
        await closeServer(server);
        await dir.cleanup();
      }
    });

    it("says Deno needs --allow-ffi when it lacks it", {
      skip: IS_DENO ? undefined : "a Deno permission",
    }, async () => {
      const dir = await tempDir();
      const socket = join(dir.path, "bus");
      const server = await rejectingSocket(socket);
      try {
        const report = await runChild("no-ffi", {
          DBUS_SESSION_BUS_ADDRESS: `unix:path=${socket}`,
        }, { allowFfi: false });
        assertUnavailable(report, /needs Deno's --allow-ffi permission/);
      } finally {
        await closeServer(server);
        await dir.cleanup();
      }
    });

    it("fails clearly, and auto mode uses the file, on a bus without a Secret Service", {
      skip: NEEDS_SERVICE && "needs dbus-run-session: run under scripts/with_keyring.sh",
    }, async () => {
      // A second, private bus that knows no services, so that nothing (such as
      // gnome-keyring) is started on demand when the Secret Service is asked for.
      const dir = await tempDir();
      try {
        const config = join(dir.path, "bus.conf");
        await writeFile(
          config,
          bareBusConfig(dir.path),
        );
        const inner = IS_DENO
          ? [
            "run",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-run",
            "--allow-ffi",
            thisFile,
          ]
          : [thisFile];
        const stdout = await new Promise<string>((resolve, reject) => {
          const child = spawn(
            "dbus-run-session",
            [`--config-file=${config}`, "--", process.execPath, ...inner],
            {
              env: { ...process.env, KOGNIC_KEYRING_CHILD: "no-secrets" },
              stdio: ["ignore", "pipe", "pipe"],
            },
          );
          let out = "";
          let err = "";
          child.stdout.on("data", (chunk) => (out += chunk));
          child.stderr.on("data", (chunk) => (err += chunk));
          const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
          child.on("error", reject);
          child.on("close", (code) => {
            clearTimeout(guard);
            if (code === 0) resolve(out);
            else reject(new Error(`dbus-run-session ended with ${code}: ${err}`));
          });
        });
        record(stdout);
        assertUnavailable(JSON.parse(stdout), /org\.freedesktop\.secrets|Secret Service|DBus/i);
      } finally {
        await dir.cleanup();
      }
    });

    it("never shows the secret in what it printed", () => {
      assertNoSecretSeen();
    });
  });

  describe("with a real Secret Service", () => {
    it("finds the keyring available", { skip: NEEDS_SERVICE }, async () => {
      assert.equal(await keyringAvailable(), true);
    });

    it("stores, reads and deletes a profile's credentials file, keeping scopes", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const profile = uniqueProfile();
      const text = JSON.stringify(credentialsJson({ scopes: ["api:read", "api:write"] }), null, 2);
      try {
        assert.equal(await readKeyringCredentials(profile), undefined);
        await storeKeyringCredentials(text, profile);
        const read = await readKeyringCredentials(profile);
        assert.ok(read instanceof ApiCredentials);
        assert.equal(read.clientId, "test-client");
        assert.equal(read.clientSecret, CLIENT_SECRET);
        assert.equal(read.email, "dev@example.com");
        assert.deepEqual(read.scopes, ["api:read", "api:write"]);
        assert.equal(read.source, `keyring://${profile}`);
        assert.equal(await deleteKeyringCredentials(profile), true);
        assert.equal(await readKeyringCredentials(profile), undefined);
        assert.equal(await deleteKeyringCredentials(profile), false);
      } finally {
        await deleteKeyringCredentials(profile);
      }
    });

    it("stores the file's text where the Python kognic-auth looks for it", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const profile = uniqueProfile();
      const text = JSON.stringify(credentialsJson());
      try {
        await storeKeyringCredentials(text, profile);
        // Python's keyring library searches the Secret Service by service and username.
        const found = await run("secret-tool", [
          "lookup",
          "service",
          KEYRING_CREDENTIALS_SERVICE,
          "username",
          profile,
        ]);
        assert.equal(found, text);
      } finally {
        await deleteKeyringCredentials(profile);
      }
    });

    it("reads credentials stored by other tools under service and username", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const profile = uniqueProfile();
      try {
        await run("secret-tool", [
          "store",
          "--label=kognic-credentials",
          "service",
          KEYRING_CREDENTIALS_SERVICE,
          "username",
          profile,
        ], JSON.stringify(credentialsJson({ clientId: "from-python" })));
        assert.equal((await readKeyringCredentials(profile))?.clientId, "from-python");
      } finally {
        await deleteKeyringCredentials(profile);
      }
    });

    it("stores ApiCredentials as a credentials file and replaces what was there", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const profile = uniqueProfile();
      try {
        await storeKeyringCredentials(
          JSON.stringify(credentialsJson({ clientId: "old" })),
          profile,
        );
        const credentials = new ApiCredentials({
          clientId: "new",
          clientSecret: CLIENT_SECRET,
          email: "dev@example.com",
          userId: 7,
          issuer: "auth.app.kognic.com",
          expires: new Date("2099-01-01T00:00:00Z"),
          scopes: [],
        });
        await storeKeyringCredentials(credentials, profile);
        const read = await readKeyringCredentials(profile);
        assert.equal(read?.clientId, "new");
        assert.equal(read?.userId, 7);
        assert.equal(read?.expires?.toISOString(), "2099-01-01T00:00:00.000Z");
        assert.deepEqual(read?.scopes, []);
      } finally {
        await deleteKeyringCredentials(profile);
      }
    });

    it("uses the default profile when none is named", { skip: NEEDS_SERVICE }, async () => {
      const before = await readKeyringCredentials();
      try {
        await storeKeyringCredentials(JSON.stringify(credentialsJson({ clientId: "dflt" })));
        assert.equal((await readKeyringCredentials(DEFAULT_PROFILE))?.clientId, "dflt");
        assert.equal((await readKeyringCredentials())?.source, "keyring://default");
      } finally {
        if (before) await storeKeyringCredentials(before);
        else await deleteKeyringCredentials();
      }
    });

    it("rejects a stored value that is not a credentials file, without quoting it", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const profile = uniqueProfile();
      try {
        await run("secret-tool", [
          "store",
          "--label=broken",
          "service",
          KEYRING_CREDENTIALS_SERVICE,
          "username",
          profile,
        ], `{"clientSecret": "${CLIENT_SECRET}"`);
        const error = await rejection(readKeyringCredentials(profile));
        assert.ok(error instanceof CredentialsError);
        assert.equal(
          error.message,
          `Bad auth credentials file, must be json: keyring://${profile}`,
        );
        assertNoSecretSeen();
      } finally {
        await deleteKeyringCredentials(profile);
      }
    });

    it("caches tokens under the kognic-auth service", { skip: NEEDS_SERVICE }, async () => {
      const dir = await tempDir();
      const cache = new KeyringTokenCache({ lockDirectory: dir.path });
      const key = `https://auth.example.com:${uniqueProfile()}`;
      // Whole seconds: the value keeps times as the Python package does.
      const now = Math.floor(Date.now() / 1000) * 1000;
      const token = {
        accessToken: "tok",
        tokenType: "Bearer",
        issuedAt: now,
        expiresAt: now + 3_600_000,
        refreshToken: "ref",
      };
      try {
        assert.equal(await cache.get(key), undefined);
        await cache.set(key, token);
        assert.deepEqual(await cache.get(key), token);
        const stored = await run("secret-tool", [
          "lookup",
          "service",
          KEYRING_TOKEN_CACHE_SERVICE,
          "username",
          key,
        ]);
        assert.deepEqual(JSON.parse(stored), {
          access_token: "tok",
          token_type: "bearer",
          expires_in: 3600,
          expires_at: (now + 3_600_000) / 1000,
          refresh_token: "ref",
        });
        assert.equal(await cache.withLock(key, () => Promise.resolve("locked")), "locked");
        await cache.delete(key);
        assert.equal(await cache.get(key), undefined);
        await cache.delete(key);
      } finally {
        await cache.delete(key).catch(() => {});
        await dir.cleanup();
      }
    });

    it("honours a hold-off one session stored in another's, as an entry of its own", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const dir = await tempDir();
      let key: string | undefined;
      try {
        key = await assertHoldoffShared(
          () => new KeyringTokenCache({ lockDirectory: dir.path }),
          429,
        );
        const stored = await run("secret-tool", [
          "lookup",
          "service",
          KEYRING_TOKEN_CACHE_SERVICE,
          "username",
          `retry-after ${key}`,
        ]);
        assert.deepEqual(Object.keys(JSON.parse(stored)).sort(), ["status", "until"]);
      } finally {
        if (key) {
          const account = `retry-after ${key}`;
          await run("secret-tool", [
            "clear",
            "service",
            KEYRING_TOKEN_CACHE_SERVICE,
            "username",
            account,
          ])
            .catch(() => {});
        }
        await dir.cleanup();
      }
    });

    it("findKeyringAccounts() from @kognic/auth/config lists the profiles stored and deleted", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const profiles = [uniqueProfile(), uniqueProfile()];
      try {
        for (const profile of profiles) {
          await storeKeyringCredentials(JSON.stringify(credentialsJson()), profile);
        }
        const listed = await findKeyringAccounts(KEYRING_CREDENTIALS_SERVICE);
        for (const profile of profiles) assert.ok(listed.includes(profile), profile);
        await deleteKeyringCredentials(profiles[0]);
        const after = await findKeyringAccounts(KEYRING_CREDENTIALS_SERVICE);
        assert.equal(after.includes(profiles[0]), false);
        assert.equal(after.includes(profiles[1]), true);
      } finally {
        for (const profile of profiles) await deleteKeyringCredentials(profile);
      }
    });

    it("clears only the token cache's entries", { skip: NEEDS_SERVICE }, async () => {
      const dir = await tempDir();
      const cache = new KeyringTokenCache({ lockDirectory: dir.path });
      const profile = uniqueProfile();
      const token = { accessToken: "t", tokenType: "Bearer", issuedAt: 0, expiresAt: 1 };
      try {
        await storeKeyringCredentials(JSON.stringify(credentialsJson()), profile);
        await cache.set("a", token);
        await cache.set("b", token);
        await cache.clear();
        assert.equal(await cache.get("a"), undefined);
        assert.equal(await cache.get("b"), undefined);
        assert.equal((await readKeyringCredentials(profile))?.clientId, "test-client");
      } finally {
        await deleteKeyringCredentials(profile);
        await dir.cleanup();
      }
    });

    it("picks the keyring in auto and keyring modes", { skip: NEEDS_SERVICE }, async () => {
      assert.ok((await createTokenCache("auto")) instanceof KeyringTokenCache);
      assert.ok((await createTokenCache("keyring")) instanceof KeyringTokenCache);
      assert.ok((await createTokenCache("file")) instanceof FileTokenCache);
    });

    it("reports the keyring unavailable to a child whose bus is gone, while it runs", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const report = await runChild("dead-bus", {
        DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/kognic-bus",
      });
      assertUnavailable(report, /cannot be reached \(ENOENT\)|Failed to connect to socket/);
    });

    it("never shows the secret in messages", { skip: NEEDS_SERVICE }, () => {
      assertNoSecretSeen();
    });
  });

  describe("the token cache shared with the Python package in the keyring", () => {
    let server: LocalAuthServer;
    let dir: { path: string; cleanup: () => Promise<void> };

    before(async () => {
      server = await startAuthServer({ clients: CLIENTS });
      dir = await tempDir();
    });

    after(async () => {
      await server?.close();
      await dir?.cleanup();
    });

    /** A session on the keyring cache, with scopes that make a key of its own for each test. */
    function keyringSession(scopes: string[]): AuthSession {
      return new AuthSession({
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        scopes,
        tokenCache: new KeyringTokenCache({ lockDirectory: dir.path }),
      });
    }

    /** Stores a value as the Python package's keyring library does (service and username). */
    function storeAsPython(key: string, value: string): Promise<string> {
      return run("secret-tool", [
        "store",
        `--label=Password for '${key}' on '${KEYRING_TOKEN_CACHE_SERVICE}'`,
        "service",
        KEYRING_TOKEN_CACHE_SERVICE,
        "username",
        key,
        "application",
        "Python keyring library",
      ], value);
    }

    it("uses a token the Python package stored, without a token request", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const scope = uniqueProfile();
      const key = pythonKey(server.url, CLIENT_ID, scope);
      const entry = await pythonToken(server, scope);
      try {
        await storeAsPython(key, JSON.stringify(entry));
        const authSession = keyringSession([scope]);
        const requests = await countTokenRequests(server, async () => {
          const response = await authSession.fetch(server.apiUrl);
          assert.equal(response.status, 200);
          await response.body?.cancel();
        });
        assert.equal(requests, 0);
        assert.equal(await authSession.getAccessToken(), entry.access_token);
      } finally {
        await new KeyringTokenCache().delete(key).catch(() => {});
      }
    });

    it("stores the token as the Python package reads it", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const scope = uniqueProfile();
      const key = pythonKey(server.url, CLIENT_ID, scope);
      try {
        const token = await keyringSession([scope]).getAccessToken();
        const stored = JSON.parse(
          await run("secret-tool", [
            "lookup",
            "service",
            KEYRING_TOKEN_CACHE_SERVICE,
            "username",
            key,
          ]),
        );
        assert.deepEqual(
          Object.keys(stored),
          ["access_token", "token_type", "expires_in", "expires_at", "scope"],
        );
        assert.equal(stored.access_token, token);
        assert.equal(stored.token_type, "bearer");
        assert.equal(stored.expires_in, server.tokenLifetime);
        assert.ok(Number.isInteger(stored.expires_at), "whole seconds since the epoch");
        assert.ok(Math.abs(stored.expires_at - (Date.now() / 1000 + server.tokenLifetime)) < 60);
        assert.ok(pythonIsValid(stored));
      } finally {
        await new KeyringTokenCache().delete(key).catch(() => {});
      }
    });

    it("uses a token stored in this package's earlier shape", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const scope = uniqueProfile();
      const key = pythonKey(server.url, CLIENT_ID, scope);
      const entry = await pythonToken(server, scope);
      try {
        await storeAsPython(
          key,
          JSON.stringify({
            accessToken: entry.access_token,
            tokenType: "Bearer",
            issuedAt: Date.now(),
            expiresAt: Date.now() + 3_600_000,
          }),
        );
        const requests = await countTokenRequests(server, async () => {
          assert.equal(await keyringSession([scope]).getAccessToken(), entry.access_token);
        });
        assert.equal(requests, 0);
      } finally {
        await new KeyringTokenCache().delete(key).catch(() => {});
      }
    });

    const now = Math.floor(Date.now() / 1000);
    const valid = { token_type: "bearer", expires_in: 3600, expires_at: now + 3000 };
    const hostile: Array<[string, string]> = [
      ["text that is not JSON", "{not json"],
      [
        "a token type other than bearer",
        JSON.stringify({ ...valid, access_token: "t", token_type: "mac" }),
      ],
      ["an access token with a line break", JSON.stringify({ ...valid, access_token: "t\nX: 1" })],
      ["an expired token", JSON.stringify({ ...valid, access_token: "t", expires_at: now - 10 })],
      [
        "an expires_at that is a string",
        JSON.stringify({ ...valid, access_token: "t", expires_at: "soon" }),
      ],
      ["a JSON array", JSON.stringify(["t"])],
    ];
    for (const [name, value] of hostile) {
      it(`reads ${name} as a miss and replaces it`, { skip: NEEDS_SERVICE }, async () => {
        const scope = uniqueProfile();
        const key = pythonKey(server.url, CLIENT_ID, scope);
        try {
          await storeAsPython(key, value);
          let token = "";
          const requests = await countTokenRequests(server, async () => {
            token = await keyringSession([scope]).getAccessToken();
          });
          assert.equal(requests, 1);
          const stored = await new KeyringTokenCache().get(key);
          assert.equal(stored?.accessToken, token);
        } finally {
          await new KeyringTokenCache().delete(key).catch(() => {});
        }
      });
    }
  });
}

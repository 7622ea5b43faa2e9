// The system keyring end to end through the `kognic-auth` CLI and
// AuthSession: `credentials put/get/delete`, `keyring://PROFILE`, the keyring's
// `default` profile as the third credentials source, and the keyring token
// cache (`--token-cache keyring`, `auto`, `clear-cache`).
//
// The tests that need a real Secret Service run only under
// scripts/with_keyring.sh, which starts one on a private D-Bus session bus
// and sets KOGNIC_TEST_KEYRING=1:
//
//   bash scripts/with_keyring.sh npx -y deno@2.9.6 test --allow-all tests/e2e/keyring_chain_test.ts
//
// Elsewhere they are skipped with that reason. The tests of what the CLI
// does without a keyring always run: their subprocesses get no D-Bus session
// bus (or one that never answers), whatever the test process has. Every
// subprocess is killed if it runs for a minute, so "does not hang" fails
// instead of hanging.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { resolveCredentials } from "../../mod.ts";
import { CredentialsError } from "../../src/shared/errors.ts";
import { deleteKeyringCredentials, readKeyringCredentials } from "../../src/credentials/keyring.ts";
import { AuthSession } from "../../mod.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  cacheFile,
  CLI_DENO_PERMISSIONS,
  CLIENT_ID,
  CLIENT_SECRET,
  countTokenRequests,
  credentialsJson,
  exists,
  homeUnder,
  isolatedXdg,
  NEEDS_SERVICE,
  rejection,
  runCli,
  type RunResult,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

const IS_DENO = "Deno" in globalThis;
const IS_WINDOWS = process.platform === "win32";
/** Long enough for any healthy run; only a hang reaches it. */
const KILL_AFTER = 60_000;

/** A secret that `credentials get --show-secret` prints on purpose; never checked for. */
const SHOWN_SECRET = "sh0wn-on-purpose-Fx72";
/** Another client the server knows, for the sources that must lose. */
const OTHER_ID = "other-client";
const OTHER_SECRET = "0ther-Jc5rN1-never-print-me";
const SECRETS = [CLIENT_SECRET, OTHER_SECRET];

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
/** The test client's credentials file, with scopes ["file:scope"]. */
let credentialsFile: string;
/** Profiles are unique to this run, so a keyring shared with other tests is left as it was. */
const run = crypto.randomUUID().slice(0, 8);
const profile = (name: string): string => `chain-${name}-${run}`;

/** The session bus of the test process, for subprocesses that should reach the keyring. */
function keyringEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"]) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

/** A fresh directory for one test's HOME and XDG directories. */
const freshHome = (): Promise<string> => homeUnder(dir.path);

/**
 * Runs the CLI as a subprocess with every Deno permission (the keyring needs
 * --allow-ffi), the XDG directories of `home` and the given variables only.
 */
async function cli(
  args: string[],
  home: string,
  env: Record<string, string> = {},
  denoPermissions: readonly string[] = ["-A"],
): Promise<RunResult> {
  const result = await runCli(args, {
    env: { HOME: home, ...isolatedXdg(home), ...env },
    denoPermissions,
    killAfter: KILL_AFTER,
  });
  assert.ok(!result.killed, `kognic-auth ${args.join(" ")} ran for a minute: it hangs`);
  return result;
}

/** Runs `fn` and returns how many token requests the server received meanwhile. */
const requestsDuring = (fn: () => Promise<unknown>): Promise<number> =>
  countTokenRequests(server, fn);

function assertError(result: RunResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `stderr: ${result.stderr}`);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^Error: [^\n]+\n$/);
  assert.match(result.stderr, pattern);
}

/**
 * Starts a Unix socket at `path` that accepts connections and never answers,
 * like a frozen session bus, in a child process; returns a function that stops it.
 */
async function silentBus(path: string): Promise<() => Promise<void>> {
  const script = fileURLToPath(new URL("../testdata/keyring/silent_bus.mjs", import.meta.url));
  const args = IS_DENO ? ["run", "-A", script, path] : [script, path];
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("listening")) resolve();
    });
    child.on("error", reject);
    child.on("close", (code) => reject(new Error(`silent_bus.mjs exited with ${code}`)));
  });
  return async () => {
    child.stdin.end();
    await closed;
  };
}

describe("the system keyring through kognic-auth and AuthSession", () => {
  before(async () => {
    server = await startAuthServer({
      clients: { [CLIENT_ID]: CLIENT_SECRET, [OTHER_ID]: OTHER_SECRET },
    });
    dir = await tempDir();
    credentialsFile = await writeCredentials(dir.path, credentialsJson({ scopes: ["file:scope"] }));
  });

  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  describe("without a system keyring", () => {
    const getToken = (...extra: string[]): string[] => [
      "get-access-token",
      "--server",
      server.url,
      "--credentials",
      credentialsFile,
      ...extra,
    ];

    it("--token-cache auto falls back to the file cache", async () => {
      const home = await freshHome();
      let first: RunResult | undefined;
      assert.equal(
        await requestsDuring(async () => (first = await cli(["-v", ...getToken()], home))),
        1,
      );
      assert.equal(first!.code, 0, first!.stderr);
      assert.ok(
        first!.stderr.includes(
          `debug: token cache: file ${cacheFile(home)} (chosen by --token-cache auto)`,
        ),
        first!.stderr,
      );
      assert.ok(await exists(cacheFile(home)), "no cache file was written");
      let second: RunResult | undefined;
      assert.equal(await requestsDuring(async () => (second = await cli(getToken(), home))), 0);
      assert.equal(second!.stdout, first!.stdout);
    });

    it("--token-cache keyring exits 1 saying why and how to fix it, before any request", async () => {
      const home = await freshHome();
      let result: RunResult | undefined;
      const requests = await requestsDuring(async () => {
        result = await cli(getToken("--token-cache", "keyring"), home);
      });
      assertError(result!, /^Error: The system keyring is not available: no D-Bus session bus/);
      assert.match(result!.stderr, /Start a Secret Service/);
      assert.match(result!.stderr, /--token-cache file/);
      assert.equal(requests, 0);
    });

    it(
      "with a session bus that never answers, auto uses the file and keyring fails, without hanging",
      {
        skip: IS_WINDOWS ? "Unix sockets" : undefined,
        timeout: 4 * KILL_AFTER,
      },
      async () => {
        const home = await freshHome();
        const socket = join(home, "silent-bus");
        const stopBus = await silentBus(socket);
        try {
          const env = { DBUS_SESSION_BUS_ADDRESS: `unix:path=${socket},guid=0123` };
          const auto = await cli(getToken(), home, env);
          assert.equal(auto.code, 0, auto.stderr);
          assert.ok(await exists(cacheFile(home)), "auto did not use the file");
          const keyring = await cli(getToken("--token-cache", "keyring"), home, env);
          assertError(keyring, /^Error: The system keyring is not available: .*did not answer/);
          const get = await cli(["credentials", "get"], home, env);
          assertError(get, /^Error: The system keyring is not available: .*did not answer/);
        } finally {
          await stopBus();
        }
      },
    );

    it("Deno without --allow-ffi: keyring says to allow it, and auto uses the file", {
      skip: IS_DENO && !process.env.KOGNIC_AUTH_CLI ? undefined : "a Deno permission",
    }, async () => {
      const home = await freshHome();
      // A bus address the CLI may not check without --allow-net, so the module load is reached.
      const env = { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(home, "no-bus")}` };
      const permissions = [...CLI_DENO_PERMISSIONS, "--allow-write"];
      const keyring = await cli(getToken("--token-cache", "keyring"), home, env, permissions);
      assertError(keyring, /--allow-ffi/);
      const auto = await cli(getToken(), home, env, permissions);
      assert.equal(auto.code, 0, auto.stderr);
      assert.ok(await exists(cacheFile(home)), "auto did not use the file");
    });

    const commands: [string, (home: string) => string[], RegExp][] = [
      ["credentials put", () => ["credentials", "put", credentialsFile], /--credentials FILE/],
      ["credentials get", () => ["credentials", "get", "--env", "prod"], /--credentials FILE/],
      ["credentials delete", () => ["credentials", "delete"], /--credentials FILE/],
      [
        "clear-cache --token-cache keyring",
        () => ["clear-cache", "--token-cache", "keyring"],
        /--token-cache file/,
      ],
      [
        "get-access-token --credentials keyring://prod",
        () => ["get-access-token", "--server", server.url, "--credentials", "keyring://prod"],
        /--credentials FILE/,
      ],
    ];
    for (const [name, args, alternative] of commands) {
      it(`${name} exits 1 saying why the keyring is unavailable and what to do`, async () => {
        const home = await freshHome();
        let result: RunResult | undefined;
        const requests = await requestsDuring(async () => (result = await cli(args(home), home)));
        assertError(result!, /^Error: The system keyring is not available: /);
        assert.match(
          result!.stderr,
          /Start a Secret Service \(such as gnome-keyring or KeePassXC\)/,
        );
        assert.match(result!.stderr, alternative);
        assert.equal(requests, 0);
      });
    }

    it("clear-cache clears the file and skips the missing keyring", async () => {
      const home = await freshHome();
      assert.equal((await cli(getToken(), home)).code, 0);
      const result = await cli(["-v", "clear-cache"], home);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `Removed the token cache file ${cacheFile(home)} (1 token)\n`);
      assert.match(
        result.stderr,
        /debug: no system keyring answered; only the file cache was cleared/,
      );
    });

    it("the credentials search names the keyring's default profile as unavailable", async () => {
      const home = await freshHome();
      const result = await cli(["get-access-token", "--server", server.url], home);
      assertError(result, /No credentials found\. Tried: --credentials, KOGNIC_CREDENTIALS/);
      assert.match(result.stderr, /the keyring profile 'default' \(no keyring available\)/);
    });
  });

  describe("with a real Secret Service", () => {
    /** Subprocess variables that reach the test's Secret Service. */
    const withKeyring = (): Record<string, string> => keyringEnv();

    it("credentials put, get, get --show-secret and delete round-trip a profile", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const name = profile("roundtrip");
      try {
        const put = await cli(
          ["credentials", "put", credentialsFile, "--env", name],
          home,
          withKeyring(),
        );
        assert.equal(put.code, 0, put.stderr);
        assert.equal(
          put.stdout,
          `Stored the credentials of client ${CLIENT_ID} in the system keyring (profile '${name}'); ` +
            `use them with --credentials keyring://${name}\n`,
        );

        const get = await cli(["credentials", "get", "--env", name], home, withKeyring());
        assert.equal(get.code, 0, get.stderr);
        assert.ok(!get.stdout.includes(CLIENT_SECRET), "get printed the secret");
        const json = JSON.parse(get.stdout);
        assert.equal(json.clientId, CLIENT_ID);
        assert.equal(json.clientSecret, "[hidden]");
        assert.equal(json.email, "dev@example.com");
        assert.equal(json.userId, 42);
        assert.deepEqual(json.scopes, ["file:scope"], "put did not keep the scopes");

        const deleted = await cli(["credentials", "delete", "--env", name], home, withKeyring());
        assert.equal(deleted.code, 0, deleted.stderr);
        assert.equal(
          deleted.stdout,
          `Deleted the credentials of profile '${name}' from the system keyring\n`,
        );
        const again = await cli(["credentials", "delete", "--env", name], home, withKeyring());
        assert.equal(again.code, 0, again.stderr);
        assert.equal(
          again.stdout,
          `No credentials stored for profile '${name}' in the system keyring; nothing to delete\n`,
        );
        const gone = await cli(["credentials", "get", "--env", name], home, withKeyring());
        assertError(gone, new RegExp(`No credentials found in keyring for profile '${name}'`));
      } finally {
        await deleteKeyringCredentials(name).catch(() => {});
      }
    });

    it("credentials get --show-secret prints the stored secret", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const name = profile("shown");
      const file = await writeCredentials(
        home,
        credentialsJson({ clientId: "shown-client", clientSecret: SHOWN_SECRET }),
        "shown.json",
      );
      try {
        assert.equal(
          (await cli(["credentials", "put", file, "--env", name], home, withKeyring())).code,
          0,
        );
        const shown = await cli(
          ["credentials", "get", "--env", name, "--show-secret"],
          home,
          withKeyring(),
        );
        assert.equal(shown.code, 0, shown.stderr);
        assert.equal(JSON.parse(shown.stdout).clientSecret, SHOWN_SECRET);
      } finally {
        await deleteKeyringCredentials(name).catch(() => {});
      }
    });

    it("credentials put of a bad file stores nothing", { skip: NEEDS_SERVICE }, async () => {
      const home = await freshHome();
      const name = profile("bad");
      const bad = await writeCredentials(home, "{ not json", "bad.json");
      const put = await cli(["credentials", "put", bad, "--env", name], home, withKeyring());
      assertError(put, new RegExp(`Bad auth credentials file, must be json: ${bad}`));
      assert.equal(await readKeyringCredentials(name), undefined);
    });

    it("keyring://PROFILE works in --credentials, in an environment and in AuthSession", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const name = profile("url");
      try {
        assert.equal(
          (await cli(["credentials", "put", credentialsFile, "--env", name], home, withKeyring()))
            .code,
          0,
        );

        const flag = await cli(
          [
            "get-access-token",
            "--server",
            server.url,
            "--credentials",
            `keyring://${name}`,
            "--token-cache",
            "none",
          ],
          home,
          withKeyring(),
        );
        assert.equal(flag.code, 0, flag.stderr);
        assert.equal(server.tokenRequests.at(-1)?.clientId, CLIENT_ID);
        assert.equal(
          server.tokenRequests.at(-1)?.scope,
          "file:scope",
          "the stored scopes were not used",
        );

        const environments = join(home, "environments.json");
        const { writeFile } = await import("node:fs/promises");
        await writeFile(
          environments,
          JSON.stringify({
            environments: {
              keyring: {
                host: "127.0.0.1",
                auth_server: server.url,
                credentials: `keyring://${name}`,
              },
            },
          }),
        );
        const env = await cli(
          [
            "get-access-token",
            "--env",
            "keyring",
            "--env-config-file-path",
            environments,
            "--token-cache",
            "none",
          ],
          home,
          withKeyring(),
        );
        assert.equal(env.code, 0, env.stderr);
        assert.equal(server.tokenRequests.at(-1)?.clientId, CLIENT_ID);

        const session = new AuthSession({ authServer: server.url, auth: `keyring://${name}` });
        const response = await session.fetch(server.apiUrl);
        assert.equal(response.status, 200);
        assert.equal((await response.json()).clientId, CLIENT_ID);

        const missing = await rejection(
          new AuthSession({ authServer: server.url, auth: `keyring://${profile("none")}` })
            .getAccessToken(),
        );
        assert.ok(missing instanceof CredentialsError);
        assert.equal(
          missing.message,
          `No credentials found in keyring for profile '${profile("none")}'`,
        );
      } finally {
        await deleteKeyringCredentials(name).catch(() => {});
      }
    });

    it("the keyring's default profile is the third credentials source", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const before = await readKeyringCredentials("default");
      assert.equal(before, undefined, "the test keyring already has a default profile");
      try {
        const put = await cli(["credentials", "put", credentialsFile], home, withKeyring());
        assert.equal(put.code, 0, put.stderr);
        assert.match(put.stdout, /\(profile 'default'\)/);

        // No KOGNIC_* variable is passed to the subprocess.
        const result = await cli(
          ["-v", "get-access-token", "--server", server.url, "--token-cache", "none"],
          home,
          withKeyring(),
        );
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stderr,
          /debug: credentials: client test-client from keyring:\/\/default/,
        );
        assert.equal(server.tokenRequests.at(-1)?.clientId, CLIENT_ID);

        const library = await resolveCredentials({ env: {} });
        assert.equal(library.source, "keyring://default");
        assert.equal(library.clientId, CLIENT_ID);

        // The variables come first.
        const variables = await cli(
          ["get-access-token", "--server", server.url, "--token-cache", "none"],
          home,
          { ...withKeyring(), KOGNIC_CLIENT_ID: OTHER_ID, KOGNIC_CLIENT_SECRET: OTHER_SECRET },
        );
        assert.equal(variables.code, 0, variables.stderr);
        assert.equal(server.tokenRequests.at(-1)?.clientId, OTHER_ID);
      } finally {
        await deleteKeyringCredentials("default").catch(() => {});
      }
    });

    it("--token-cache keyring keeps the token in the keyring, not a file; clear-cache removes it", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const args = [
        "get-access-token",
        "--server",
        server.url,
        "--credentials",
        credentialsFile,
        "--token-cache",
        "keyring",
      ];
      const cleared = await cli(["clear-cache", "--token-cache", "keyring"], home, withKeyring());
      assert.equal(cleared.code, 0, cleared.stderr);

      let first: RunResult | undefined;
      let second: RunResult | undefined;
      assert.equal(
        await requestsDuring(async () => (first = await cli(args, home, withKeyring()))),
        1,
      );
      assert.equal(first!.code, 0, first!.stderr);
      assert.equal(
        await requestsDuring(async () => (second = await cli(args, home, withKeyring()))),
        0,
      );
      assert.equal(second!.stdout, first!.stdout);
      assert.equal(await exists(cacheFile(home)), false, "the keyring mode wrote the file");

      const clear = await cli(["clear-cache", "--token-cache", "keyring"], home, withKeyring());
      assert.equal(clear.code, 0, clear.stderr);
      assert.equal(
        clear.stdout,
        "Removed 1 cached token from the system keyring (service kognic-auth)\n",
      );
      assert.equal(await requestsDuring(() => cli(args, home, withKeyring())), 1);
    });

    it("two processes racing on a cold keyring cache make one token request", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const args = [
        "get-access-token",
        "--server",
        server.url,
        "--credentials",
        credentialsFile,
        "--scopes",
        `race-${run}`,
        "--token-cache",
        "keyring",
      ];
      let results: RunResult[] = [];
      const requests = await requestsDuring(async () => {
        results = await Promise.all([
          cli(args, home, withKeyring()),
          cli(args, home, withKeyring()),
        ]);
      });
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      assert.equal(requests, 1);
      assert.equal(results[0].stdout, results[1].stdout);
    });

    it("--token-cache auto picks the keyring, and clear-cache clears the keyring and the file", {
      skip: NEEDS_SERVICE,
    }, async () => {
      const home = await freshHome();
      const args = ["get-access-token", "--server", server.url, "--credentials", credentialsFile];
      const first = await cli(["-v", ...args, "--scopes", `auto-${run}`], home, withKeyring());
      assert.equal(first.code, 0, first.stderr);
      assert.ok(
        first.stderr.includes(
          "debug: token cache: system keyring (service kognic-auth) (chosen by --token-cache auto)",
        ),
        first.stderr,
      );
      assert.equal(await exists(cacheFile(home)), false);
      assert.equal(
        await requestsDuring(() => cli([...args, "--scopes", `auto-${run}`], home, withKeyring())),
        0,
      );

      assert.equal((await cli([...args, "--token-cache", "file"], home, withKeyring())).code, 0);
      const clear = await cli(["clear-cache"], home, withKeyring());
      assert.equal(clear.code, 0, clear.stderr);
      const lines = clear.stdout.trimEnd().split("\n");
      assert.equal(lines[0], `Removed the token cache file ${cacheFile(home)} (1 token)`);
      assert.match(
        lines[1],
        /^Removed [1-9]\d* cached tokens? from the system keyring \(service kognic-auth\)$/,
      );
      assert.equal(await exists(cacheFile(home)), false);
      assert.equal(
        await requestsDuring(() => cli([...args, "--scopes", `auto-${run}`], home, withKeyring())),
        1,
      );
    });
  });

  it("never printed a secret, apart from the one shown on purpose", () => {
    assert.ok(assertNoSecretSeen(SECRETS) > 10, "the tests recorded their output");
  });
});

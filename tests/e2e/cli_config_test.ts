// The `kognic-auth get-access-token` configuration end to end: environments
// from environments.json (--env, --env-config-file-path), scope precedence
// in the CLI and in AuthSession.forEnvironment(), and the token cache shared
// across processes (--token-cache, clear-cache), against local auth servers.
//
// In-process runs get their environment only through `io.env`; subprocess
// runs get only PATH, HOME and what is passed. Both point XDG_CONFIG_HOME and
// XDG_CACHE_HOME into a temporary directory, so the user's files are never
// read or written. The keyring is left out here (keyring_chain_test.ts):
// in-process runs name their cache mode, and subprocesses have no D-Bus
// session bus, so `auto` is the file.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { watch } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { EXIT_ERROR, EXIT_OK, main } from "../../cli.ts";
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
  record,
  rejection,
  runCli,
  runMain,
  type RunResult,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

/** A second client the servers know, to show which credentials were used. */
const OTHER_ID = "other-client";
const OTHER_SECRET = "0ther-Wq3zT8-never-print-me";
const SECRETS = [CLIENT_SECRET, OTHER_SECRET];
const clients = { [CLIENT_ID]: CLIENT_SECRET, [OTHER_ID]: OTHER_SECRET };

const testdata = fileURLToPath(new URL("../testdata/environments/", import.meta.url));
/** The CLI as a subprocess may write its token cache. */
const WRITE = [...CLI_DENO_PERMISSIONS, "--allow-write"];
const IS_WINDOWS = process.platform === "win32";

/** Every access token issued in this file, to check none reached stderr. */
const issuedTokens = new Set<string>();
const stderrOutputs: string[] = [];

/** The local auth server the environments point at. */
let server: LocalAuthServer;
/** Another local auth server, for the environment that --server overrides. */
let otherServer: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
/** Credentials of CLIENT_ID whose file has scopes ["file:scope"]. */
let scopedCredentials: string;
/** Credentials of OTHER_ID without scopes. */
let otherCredentials: string;
/** An environments file naming both servers. */
let environmentsFile: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main` in-process with the XDG directories of `home` and the given variables. */
async function run(
  args: string[],
  env: Record<string, string> = {},
  home = dir.path,
): Promise<Run> {
  const { code, stdout, stderr } = await runMain(main, args, {
    env: { HOME: home, ...isolatedXdg(home), ...env },
  });
  record(stdout);
  record(stderr);
  stderrOutputs.push(stderr);
  if (code === EXIT_OK && /^\S+\n$/.test(stdout)) issuedTokens.add(stdout.trimEnd());
  return { code, stdout, stderr };
}

/** Runs the CLI as a subprocess that may write its cache, with the XDG directories of `home`. */
async function runProcess(
  args: string[],
  home: string,
  env: Record<string, string> = {},
): Promise<RunResult> {
  const result = await runCli(args, {
    env: { HOME: home, ...isolatedXdg(home), ...env },
    denoPermissions: WRITE,
  });
  stderrOutputs.push(result.stderr);
  if (result.code === 0 && /^\S+\n$/.test(result.stdout)) issuedTokens.add(result.stdout.trimEnd());
  return result;
}

/** Runs `fn` and returns how many token requests `target` received meanwhile. */
const requestsDuring = (fn: () => Promise<unknown>, target = server): Promise<number> =>
  countTokenRequests(target, fn);

function assertError(result: Run | RunResult, fragment: string): void {
  assert.equal(result.code, EXIT_ERROR, `stderr: ${result.stderr}`);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^Error: [^\n]+\n$/);
  assert.ok(result.stderr.includes(fragment), `"${fragment}" not in: ${result.stderr}`);
}

async function assertAccepted(token: string, clientId = CLIENT_ID): Promise<void> {
  const response = await fetch(server.apiUrl, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.clientId, clientId);
}

/**
 * The names created in the token cache directory of `home` while `fn` runs,
 * seen by a directory watch. A marker file written after `fn` ends is the
 * last event: once it is seen, every earlier one has been delivered.
 */
async function namesCreatedDuring(
  home: string,
  fn: () => Promise<RunResult>,
): Promise<{ result: RunResult; names: string[] }> {
  const directory = dirname(cacheFile(home));
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const names: string[] = [];
  const marker = `marker-${crypto.randomUUID()}`;
  let seen!: () => void;
  const markerSeen = new Promise<void>((resolve) => (seen = resolve));
  const watcher = watch(directory, (_event, name) => {
    const text = String(name ?? "");
    if (text === marker) seen();
    else if (text) names.push(text);
  });
  try {
    const result = await fn();
    await writeFile(join(directory, marker), "");
    await markerSeen;
    await rm(join(directory, marker));
    return { result, names };
  } finally {
    watcher.close();
  }
}

/** A fresh directory for one test's HOME and XDG directories. */
const freshHome = (): Promise<string> => homeUnder(dir.path);

describe("kognic-auth configuration and token cache", () => {
  before(async () => {
    server = await startAuthServer({ clients });
    otherServer = await startAuthServer({ clients });
    dir = await tempDir();
    scopedCredentials = await writeCredentials(
      dir.path,
      credentialsJson({ scopes: ["file:scope"] }),
      "scoped.json",
    );
    otherCredentials = await writeCredentials(
      dir.path,
      credentialsJson({ clientId: OTHER_ID, clientSecret: OTHER_SECRET }),
      "other.json",
    );
    environmentsFile = join(dir.path, "environments.json");
    await writeFile(
      environmentsFile,
      JSON.stringify({
        default_environment: "local",
        environments: {
          local: {
            host: "127.0.0.1",
            auth_server: server.url,
            credentials: scopedCredentials,
            scopes: ["env:read", "env:write"],
          },
          "file-scopes": {
            host: "file-scopes.localhost",
            auth_server: server.url,
            credentials: scopedCredentials,
          },
          "no-scopes": {
            host: "no-scopes.localhost",
            auth_server: server.url,
            credentials: scopedCredentials,
            scopes: [],
          },
          "system-credentials": { host: "system.localhost", auth_server: server.url },
          "other-server": {
            host: "other.localhost",
            auth_server: otherServer.url,
            credentials: scopedCredentials,
          },
          "home-credentials": {
            host: "home.localhost",
            auth_server: server.url,
            credentials: "~/other.json",
          },
        },
      }),
    );
  });

  after(async () => {
    await server?.close();
    await otherServer?.close();
    await dir?.cleanup();
  });

  describe("get-access-token --env", () => {
    it("takes the auth server, credentials and scopes from the named environment", async () => {
      let result: Run | undefined;
      const requests = await requestsDuring(async () => {
        result = await run([
          "get-access-token",
          "--env",
          "local",
          "--env-config-file-path",
          environmentsFile,
          "--token-cache",
          "none",
        ]);
      });
      assert.equal(result!.code, EXIT_OK, result!.stderr);
      assert.equal(requests, 1);
      assert.equal(server.tokenRequests.at(-1)?.clientId, CLIENT_ID);
      assert.equal(server.tokenRequests.at(-1)?.scope, "env:read env:write");
      await assertAccepted(result!.stdout.trimEnd());
    });

    it("reads $XDG_CONFIG_HOME/kognic/environments.json when no file is given", async () => {
      const home = await freshHome();
      const configDir = join(isolatedXdg(home).XDG_CONFIG_HOME, "kognic");
      await mkdir(configDir, { recursive: true });
      await writeFile(join(configDir, "environments.json"), await readFile(environmentsFile));
      const result = await run(
        ["get-access-token", "--env", "local", "--token-cache", "none"],
        {},
        home,
      );
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.scope, "env:read env:write");
    });

    it("--server overrides the environment's auth server", async () => {
      let result: Run | undefined;
      const toOther = await requestsDuring(async () => {
        const toLocal = await requestsDuring(async () => {
          result = await run([
            "get-access-token",
            "--env",
            "other-server",
            "--env-config-file-path",
            environmentsFile,
            "--server",
            server.url,
            "--token-cache",
            "none",
          ]);
        });
        assert.equal(toLocal, 1);
      }, otherServer);
      assert.equal(result!.code, EXIT_OK, result!.stderr);
      assert.equal(toOther, 0, "the environment's server was asked despite --server");
    });

    it("uses the environment's auth server when --server is not given", async () => {
      const requests = await requestsDuring(async () => {
        const result = await run([
          "get-access-token",
          "--env",
          "other-server",
          "--env-config-file-path",
          environmentsFile,
          "--token-cache",
          "none",
        ]);
        assert.equal(result.code, EXIT_OK, result.stderr);
      }, otherServer);
      assert.equal(requests, 1);
    });

    it("--credentials overrides the environment's credentials", async () => {
      const result = await run([
        "get-access-token",
        "--env",
        "local",
        "--env-config-file-path",
        environmentsFile,
        "--credentials",
        otherCredentials,
        "--token-cache",
        "none",
      ]);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.clientId, OTHER_ID);
      await assertAccepted(result.stdout.trimEnd(), OTHER_ID);
    });

    it("an environment without credentials uses KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET", async () => {
      const result = await run([
        "get-access-token",
        "--env",
        "system-credentials",
        "--env-config-file-path",
        environmentsFile,
        "--token-cache",
        "none",
      ], { KOGNIC_CLIENT_ID: OTHER_ID, KOGNIC_CLIENT_SECRET: OTHER_SECRET });
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.clientId, OTHER_ID);
    });

    it("expands ~ in the environment's credentials path with HOME", async () => {
      const result = await run([
        "get-access-token",
        "--env",
        "home-credentials",
        "--env-config-file-path",
        environmentsFile,
        "--token-cache",
        "none",
      ]);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.clientId, OTHER_ID);
    });

    it("--env-config-file-path without --env uses the file's default_environment", async () => {
      const result = await run([
        "get-access-token",
        "--env-config-file-path",
        environmentsFile,
        "--token-cache",
        "none",
      ]);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.scope, "env:read env:write");
    });

    it("without --env or --env-config-file-path the environments file is not read", async () => {
      const home = await freshHome();
      const configDir = join(isolatedXdg(home).XDG_CONFIG_HOME, "kognic");
      await mkdir(configDir, { recursive: true });
      await writeFile(join(configDir, "environments.json"), "{ not json");
      const result = await run(
        [
          "get-access-token",
          "--server",
          server.url,
          "--credentials",
          scopedCredentials,
          "--token-cache",
          "none",
        ],
        {},
        home,
      );
      assert.equal(result.code, EXIT_OK, result.stderr);
    });

    it("-v names the environment and the file it came from", async () => {
      const result = await run([
        "-v",
        "get-access-token",
        "--env",
        "local",
        "--env-config-file-path",
        environmentsFile,
        "--token-cache",
        "none",
      ]);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.ok(
        result.stderr.includes(`debug: environment: local from ${environmentsFile}`),
        result.stderr,
      );
      assert.ok(result.stderr.includes("debug: scopes: env:read env:write (environment local)"));
    });
  });

  describe("get-access-token --env errors", () => {
    it("an unknown environment exits 1 naming it and the config path, before any request", async () => {
      let result: Run | undefined;
      const requests = await requestsDuring(async () => {
        result = await run([
          "get-access-token",
          "--env",
          "staging",
          "--env-config-file-path",
          environmentsFile,
        ]);
      });
      assertError(
        result!,
        `Unknown environment: staging not found in config at ${environmentsFile}`,
      );
      assert.equal(requests, 0);
    });

    it("an unknown environment with no file names the default path", async () => {
      const home = await freshHome();
      const expected = join(isolatedXdg(home).XDG_CONFIG_HOME, "kognic", "environments.json");
      const result = await run(["get-access-token", "--env", "staging"], {}, home);
      assertError(result, `Unknown environment: staging not found in config at ${expected}`);
    });

    it("a file that is not JSON exits 1 naming the file", async () => {
      const broken = join(testdata, "broken.json");
      const result = await run([
        "get-access-token",
        "--env",
        "local",
        "--env-config-file-path",
        broken,
      ]);
      assertError(result, `Bad environments file, must be JSON: ${broken}`);
    });

    it("a file with a value of the wrong type exits 1 naming the file and the key", async () => {
      const wrong = join(testdata, "wrong_types.json");
      const result = await run([
        "get-access-token",
        "--env",
        "local",
        "--env-config-file-path",
        wrong,
      ]);
      assertError(result, `Invalid environments file ${wrong}: `);
    });

    it("as a subprocess, an unknown environment exits 1 with one Error: line", async () => {
      const home = await freshHome();
      const result = await runProcess(
        ["get-access-token", "--env", "staging", "--env-config-file-path", environmentsFile],
        home,
      );
      assertError(
        result,
        `Unknown environment: staging not found in config at ${environmentsFile}`,
      );
    });
  });

  describe("get-access-token --env names what there is", () => {
    it("as a subprocess, an unknown environment lists the file's environments, names only", async () => {
      const home = await freshHome();
      const result = await runProcess(
        ["get-access-token", "--env", "locl", "--env-config-file-path", environmentsFile],
        home,
      );
      assertError(
        result,
        `Unknown environment: locl not found in config at ${environmentsFile}; its environments: ` +
          "local, file-scopes, no-scopes, system-credentials, other-server, home-credentials\n",
      );
      assert.ok(!result.stderr.includes(server.url), "an environment's auth server was printed");
      assert.ok(!result.stderr.includes("127.0.0.1"), "an environment's host was printed");
    });

    it("as a subprocess, an unknown environment without a file says there is no such file", async () => {
      const home = await freshHome();
      const expected = join(isolatedXdg(home).XDG_CONFIG_HOME, "kognic", "environments.json");
      const result = await runProcess(["get-access-token", "--env", "staging"], home);
      assert.equal(
        result.stderr,
        `Error: Unknown environment: staging not found in config at ${expected}; ` +
          "there is no such file\n",
      );
      assert.equal(result.code, EXIT_ERROR);
    });

    it("an unknown environment in a file without environments says it has none", async () => {
      const home = await freshHome();
      const empty = join(home, "empty.json");
      await writeFile(empty, "{}");
      const result = await run(
        ["get-access-token", "--env", "staging", "--env-config-file-path", empty],
        {},
        home,
      );
      assertError(result, `not found in config at ${empty}; it has no environments\n`);
    });

    it("-v says the built-in default is used when the file names no default_environment", async () => {
      const home = await freshHome();
      const noDefault = join(home, "no-default.json");
      await writeFile(
        noDefault,
        JSON.stringify({ environments: { x: { host: "x.localhost", auth_server: server.url } } }),
      );
      const result = await runProcess([
        "get-access-token",
        "-v",
        "--env-config-file-path",
        noDefault,
        "--server",
        server.url,
        "--credentials",
        scopedCredentials,
        "--token-cache",
        "none",
      ], home);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.ok(
        result.stderr.startsWith(
          `debug: environment: default, the built-in default (no environment in ${noDefault} ` +
            "applies): auth server https://auth.app.kognic.com, credentials from the usual search\n",
        ),
        result.stderr,
      );
    });
  });

  // One table, run through the CLI and through the library: --scopes / the
  // scopes option beats the environment's scopes, which beat the file's; an
  // environment's empty list requests no scope and stops the fall-back.
  describe("scope precedence, end to end", () => {
    const cases: {
      name: string;
      environment?: string;
      credentials?: () => string;
      scopes?: string[];
      expected: string | undefined;
    }[] = [
      {
        name: "explicit scopes beat the environment's",
        environment: "local",
        scopes: ["cli:a", "cli:b"],
        expected: "cli:a cli:b",
      },
      {
        name: "the environment's scopes beat the file's",
        environment: "local",
        expected: "env:read env:write",
      },
      {
        name: "the file's scopes apply when the environment sets none",
        environment: "file-scopes",
        expected: "file:scope",
      },
      {
        name: "an environment's empty list requests no scope, despite the file's",
        environment: "no-scopes",
        expected: undefined,
      },
      {
        name: "explicit scopes beat an environment's empty list",
        environment: "no-scopes",
        scopes: ["cli:a"],
        expected: "cli:a",
      },
      {
        name: "explicit scopes beat the file's without an environment",
        credentials: () => scopedCredentials,
        scopes: ["cli:a"],
        expected: "cli:a",
      },
      {
        name: "the file's scopes apply without an environment",
        credentials: () => scopedCredentials,
        expected: "file:scope",
      },
    ];

    for (const { name, environment, credentials, scopes, expected } of cases) {
      it(`kognic-auth get-access-token: ${name}`, async () => {
        const args = ["get-access-token", "--token-cache", "none"];
        if (environment) {
          args.push("--env", environment, "--env-config-file-path", environmentsFile);
        } else args.push("--server", server.url);
        if (credentials) args.push("--credentials", credentials());
        if (scopes) args.push("--scopes", ...scopes);
        const result = await run(args);
        assert.equal(result.code, EXIT_OK, result.stderr);
        assert.equal(server.tokenRequests.at(-1)?.scope, expected);
      });

      it(`AuthSession${environment ? ".forEnvironment()" : ""}: ${name}`, async () => {
        const requests = await requestsDuring(async () => {
          const session = environment
            ? await AuthSession.forEnvironment({
              environment,
              environmentsFile,
              scopes,
              env: { HOME: dir.path },
            })
            : new AuthSession({ authServer: server.url, auth: credentials!(), scopes });
          const token = await session.getAccessToken();
          issuedTokens.add(token);
        });
        assert.equal(requests, 1);
        assert.equal(server.tokenRequests.at(-1)?.scope, expected);
      });
    }

    it("AuthSession.forEnvironment() picks the environment by URL host and sends the token there", async () => {
      const session = await AuthSession.forEnvironment({
        url: server.apiUrl,
        environmentsFile,
        env: { HOME: dir.path },
      });
      const response = await session.fetch(server.apiUrl);
      assert.equal(response.status, 200);
      const body = await response.json();
      assert.equal(body.clientId, CLIENT_ID);
      assert.equal(body.scope, "env:read env:write");
    });

    it("AuthSession.forEnvironment() with an unknown environment names the config path", async () => {
      const error = await rejection(
        AuthSession.forEnvironment({ environment: "staging", environmentsFile }),
      );
      assert.equal(
        error.message,
        `Unknown environment: staging not found in config at ${environmentsFile}`,
      );
    });
  });

  describe("get-access-token token cache", () => {
    /** The arguments of get-access-token against the local server with the scoped credentials. */
    const getToken = (...extra: string[]): string[] => [
      "get-access-token",
      "--server",
      server.url,
      "--credentials",
      scopedCredentials,
      ...extra,
    ];

    it("a second run within the token's life prints the same token without a request (subprocesses)", async () => {
      const home = await freshHome();
      let first: RunResult | undefined;
      let second: RunResult | undefined;
      assert.equal(
        await requestsDuring(async () => (first = await runProcess(getToken(), home))),
        1,
      );
      assert.equal(first!.code, 0, first!.stderr);
      assert.equal(first!.stderr, "");
      assert.equal(
        await requestsDuring(async () => (second = await runProcess(getToken(), home))),
        0,
        "the second run asked the auth server",
      );
      assert.equal(second!.code, 0, second!.stderr);
      assert.equal(second!.stdout, first!.stdout);
      await assertAccepted(second!.stdout.trimEnd());
    });

    it("two processes racing on a cold file cache make one token request", async () => {
      const home = await freshHome();
      let results: RunResult[] = [];
      const requests = await requestsDuring(async () => {
        results = await Promise.all([
          runProcess(getToken("--token-cache", "file"), home),
          runProcess(getToken("--token-cache", "file"), home),
        ]);
      });
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      assert.equal(requests, 1);
      assert.equal(results[0].stdout, results[1].stdout);
    });

    it("four processes racing on a cold file cache make one token request", async () => {
      const home = await freshHome();
      let results: RunResult[] = [];
      const requests = await requestsDuring(async () => {
        results = await Promise.all(
          Array.from({ length: 4 }, () => runProcess(getToken("--token-cache", "file"), home)),
        );
      });
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      assert.equal(requests, 1);
      assert.equal(new Set(results.map((result) => result.stdout)).size, 1);
    });

    it("a warm run (default cache mode) makes no lock file; a cold one does", async () => {
      const home = await freshHome();
      const cold = await namesCreatedDuring(home, () => runProcess(getToken(), home));
      assert.equal(cold.result.code, 0, cold.result.stderr);
      assert.ok(cold.names.some((name) => name.endsWith(".lock")), cold.names.join());
      let warm: Awaited<ReturnType<typeof namesCreatedDuring>> | undefined;
      const requests = await requestsDuring(async () => {
        warm = await namesCreatedDuring(home, () => runProcess(getToken(), home));
      });
      assert.equal(warm!.result.code, 0, warm!.result.stderr);
      assert.equal(requests, 0);
      assert.equal(warm!.result.stdout, cold.result.stdout);
      assert.deepEqual(warm!.names.filter((name) => name.endsWith(".lock")), []);
    });

    it("writes the cache file with mode 0600 and no secret in it", {
      skip: IS_WINDOWS ? "POSIX file modes" : undefined,
    }, async () => {
      const home = await freshHome();
      const result = await runProcess(getToken("--token-cache", "file"), home);
      assert.equal(result.code, 0, result.stderr);
      const path = cacheFile(home);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const text = await readFile(path, "utf8");
      assert.ok(text.includes(result.stdout.trimEnd()), "the token is not in the cache file");
      assert.ok(!text.includes(CLIENT_SECRET), "the client secret is in the cache file");
    });

    it("keeps tokens for other scopes apart", async () => {
      const home = await freshHome();
      const requests = await requestsDuring(async () => {
        for (const scopes of [["a"], ["b"], ["a"], ["b"]]) {
          const result = await run(
            getToken("--token-cache", "file", "--scopes", ...scopes),
            {},
            home,
          );
          assert.equal(result.code, EXIT_OK, result.stderr);
        }
      });
      assert.equal(requests, 2);
    });

    it("--token-cache none asks every time and writes no file", async () => {
      const home = await freshHome();
      const requests = await requestsDuring(async () => {
        for (let i = 0; i < 2; i++) {
          const result = await run(getToken("--token-cache", "none"), {}, home);
          assert.equal(result.code, EXIT_OK, result.stderr);
        }
      });
      assert.equal(requests, 2);
      assert.equal(await exists(cacheFile(home)), false);
    });

    it("a cached token with less than 30 s left is not used", async () => {
      const home = await freshHome();
      const lifetime = server.tokenLifetime;
      server.tokenLifetime = 20;
      try {
        const requests = await requestsDuring(async () => {
          for (let i = 0; i < 2; i++) {
            const result = await run(getToken("--token-cache", "file"), {}, home);
            assert.equal(result.code, EXIT_OK, result.stderr);
          }
        });
        assert.equal(requests, 2);
      } finally {
        server.tokenLifetime = lifetime;
      }
    });

    for (
      const [name, content] of [
        ["text that is not JSON", "{ not json"],
        ["a JSON array", "[1, 2, 3]"],
        ["an empty file", ""],
      ]
    ) {
      it(`works with a cache file holding ${name}, and replaces it`, async () => {
        const home = await freshHome();
        const path = cacheFile(home);
        await mkdir(join(path, ".."), { recursive: true });
        await writeFile(path, content);
        const result = await runProcess(getToken("--token-cache", "file"), home);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, "");
        const json = JSON.parse(await readFile(path, "utf8"));
        assert.equal(Object.values(json).length, 1);
        assert.equal(
          typeof Object.values<{ access_token: string }>(json)[0].access_token,
          "string",
        );
        const again = await requestsDuring(() =>
          runProcess(getToken("--token-cache", "file"), home)
        );
        assert.equal(again, 0);
      });
    }

    it("works, without caching, when the cache directory cannot be made", async () => {
      const home = await freshHome();
      // XDG_CACHE_HOME is a file, so nothing can be made under it, even by root.
      await writeFile(isolatedXdg(home).XDG_CACHE_HOME, "not a directory");
      for (let i = 0; i < 2; i++) {
        const result = await run(getToken("--token-cache", "file"), {}, home);
        assert.equal(result.code, EXIT_OK, result.stderr);
        assert.equal(result.stderr, "");
      }
    });

    it("-v says whether the token came from the cache, without the token", async () => {
      const home = await freshHome();
      const first = await run(["-v", ...getToken("--token-cache", "file")], {}, home);
      const second = await run(["-v", ...getToken("--token-cache", "file")], {}, home);
      for (const result of [first, second]) {
        assert.equal(result.code, EXIT_OK, result.stderr);
        for (const line of result.stderr.trimEnd().split("\n")) assert.match(line, /^debug: /);
        assert.ok(!result.stderr.includes(result.stdout.trimEnd()), "the token is on stderr");
        assert.ok(result.stderr.includes(`debug: token cache: file ${cacheFile(home)}`));
      }
      assert.match(first.stderr, /debug: token cache miss for /);
      assert.match(first.stderr, /debug: token cache: stored the new token for /);
      assert.match(first.stderr, /debug: token received from the auth server/);
      assert.match(second.stderr, /debug: token cache hit for /);
      assert.match(second.stderr, /debug: token taken from the cache without a request/);
    });
  });

  describe("clear-cache", () => {
    const getToken = (): string[] => [
      "get-access-token",
      "--server",
      server.url,
      "--credentials",
      scopedCredentials,
      "--token-cache",
      "file",
    ];

    it("--token-cache file removes the cache file and says so; the next run asks again", async () => {
      const home = await freshHome();
      assert.equal((await run(getToken(), {}, home)).code, EXIT_OK);
      assert.equal((await run([...getToken(), "--scopes", "x"], {}, home)).code, EXIT_OK);
      const cleared = await run(["clear-cache", "--token-cache", "file"], {}, home);
      assert.equal(cleared.code, EXIT_OK, cleared.stderr);
      assert.equal(cleared.stdout, `Removed the token cache file ${cacheFile(home)} (2 tokens)\n`);
      assert.equal(await exists(cacheFile(home)), false);
      const requests = await requestsDuring(() => run(getToken(), {}, home));
      assert.equal(requests, 1);
    });

    it("says when there is no cache file to remove", async () => {
      const home = await freshHome();
      const result = await run(["clear-cache", "--token-cache", "file"], {}, home);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(result.stdout, `No token cache file at ${cacheFile(home)}; nothing to remove\n`);
    });

    it("as a subprocess without a keyring, the default mode clears the file", async () => {
      const home = await freshHome();
      assert.equal((await runProcess(getToken(), home)).code, 0);
      const result = await runProcess(["clear-cache"], home);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `Removed the token cache file ${cacheFile(home)} (1 token)\n`);
      assert.equal(result.stderr, "");
      assert.equal(await exists(cacheFile(home)), false);
    });
  });

  it("never printed a secret, or a token on stderr", () => {
    assert.ok(assertNoSecretSeen(SECRETS) > 10, "the tests recorded their output");
    assert.ok(issuedTokens.size > 5);
    for (const stderr of stderrOutputs) {
      for (const token of issuedTokens) {
        assert.ok(!stderr.includes(token), `a token appeared on stderr: ${stderr.slice(0, 200)}`);
      }
    }
  });
});

// The `kognic-auth` CLI, in-process through `main(args, io)` and as a real
// subprocess, against the local auth server from testing.ts.
//
// In-process runs get their environment through `io.env` (the process
// environment is never read or changed) and a pass-through `io.fetch` that
// notes every access token the server hands out, so the `after` hook can check
// that no token and no secret ever reached stderr.
//
// Every run here asks for a token with `--token-cache none` and points
// XDG_CACHE_HOME and XDG_CONFIG_HOME into a temporary directory, so no run
// shares a token with another (or with the user's ~/.cache) and each one that
// succeeds makes its own token request. The token cache, environments and
// the keyring are tested in cli_config_test.ts and keyring_chain_test.ts.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, main } from "../../cli.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  countTokenRequests,
  credentialsJson,
  isolatedXdg,
  record,
  runCli,
  runMain,
  type RunResult,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

/** A secret the server does not accept; it must not leak either. */
const WRONG_SECRET = "wr0ng-Kp4nY7-never-print-me";
/** The secret of a client the server does not know, used to show which source won. */
const OTHER_SECRET = "0ther-Hd9mB3-never-print-me";
const SECRETS = [CLIENT_SECRET, WRONG_SECRET, OTHER_SECRET];

/** Every access token the server issued to code under test in this file. */
const issuedTokens = new Set<string>();
/** Every stderr output of this file's runs, in-process and subprocess. */
const stderrOutputs: string[] = [];

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
/** A valid credentials file for CLIENT_ID. */
let credentialsFile: string;

/** A pass-through fetch that notes the access token of each token response. */
const noteTokens: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  if (response.ok) {
    const body = await response.clone().json().catch(() => undefined);
    if (typeof body?.access_token === "string") issuedTokens.add(body.access_token);
  }
  return response;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `main` in-process with only the given environment variables (and the
 * XDG directories in the test's temporary directory).
 */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const result = await runMain(main, args, {
    env: { ...isolatedXdg(dir.path), ...env },
    fetch: noteTokens,
  });
  record(result.stdout);
  record(result.stderr);
  stderrOutputs.push(result.stderr);
  return result;
}

/** The arguments of `get-access-token` against the local server, without a token cache. */
function getToken(...extra: string[]): string[] {
  return ["get-access-token", "--server", server.url, "--token-cache", "none", ...extra];
}

/** Asserts that the server's echo API accepts the token. */
async function assertAccepted(token: string): Promise<void> {
  const response = await fetch(server.apiUrl, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.json();
  assert.equal(response.status, 200, `the API refused the token: ${JSON.stringify(body)}`);
  assert.equal(body.clientId, CLIENT_ID);
}

/** Asserts exactly one stderr line starting "Error:", nothing on stdout, exit 1. */
function assertError(result: Run, fragment: string | RegExp): void {
  assert.equal(result.code, EXIT_ERROR, `stderr: ${result.stderr}`);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^Error: [^\n]+\n$/);
  if (typeof fragment === "string") assert.ok(result.stderr.includes(fragment), result.stderr);
  else assert.match(result.stderr, fragment);
}

/** The pointer to the help that follows a usage error's line. */
const HELP_POINTER = /\nRun "kognic-auth(?: [a-z-]+)*? --help" for the usage\.\n$/;

/**
 * Asserts a usage error: exit 2, nothing on stdout, and on stderr one line
 * saying what is wrong followed by the pointer to `--help`, not the help itself.
 */
function assertUsage(result: Run | RunResult): void {
  assert.equal(result.code, EXIT_USAGE, `stderr: ${result.stderr}`);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^Error: [^\n]+\nRun "[^\n]+" for the usage\.\n$/);
  assert.match(result.stderr, HELP_POINTER);
  assert.ok(!result.stderr.includes("Usage:"), result.stderr);
}

/** Runs `fn` and returns how many token requests the server received meanwhile. */
const tokenRequestsDuring = (fn: () => Promise<void>): Promise<number> =>
  countTokenRequests(server, fn);

// One outer describe: Deno 2.9 ignores a failing top-level `after` hook, not a describe-level one.
describe("kognic-auth CLI", () => {
  before(async () => {
    server = await startAuthServer({ clients: CLIENTS });
    dir = await tempDir();
    credentialsFile = await writeCredentials(dir.path);
  });

  after(async () => {
    try {
      const checked = assertNoSecretSeen(SECRETS);
      assert.ok(checked > 0, "no output was recorded");
      // Every token the server issued is known here, from a token response or the CLI's stdout.
      assert.equal(issuedTokens.size, server.counts.tokensIssued);
      for (const stderr of stderrOutputs) {
        for (const token of issuedTokens) {
          assert.ok(!stderr.includes(token), `a token appeared on stderr: ${stderr.slice(0, 200)}`);
        }
      }
    } finally {
      await server?.close();
      await dir?.cleanup();
    }
  });

  describe("kognic-auth --version and --help", () => {
    it("kognic-auth --version prints the version from deno.json", async () => {
      const denoJson = JSON.parse(
        await readFile(new URL("../../deno.json", import.meta.url), "utf8"),
      );
      const result = await run(["--version"]);
      assert.equal(result.code, EXIT_OK);
      assert.equal(result.stdout, `kognic-auth ${denoJson.version}\n`);
      assert.equal(result.stderr, "");
    });

    it("kognic-auth --help lists every command and option", async () => {
      const result = await run(["--help"]);
      for (
        const text of [
          "get-access-token",
          "credentials put FILE",
          "credentials get",
          "credentials delete",
          "clear-cache",
          "--server URL",
          "--credentials FILE",
          "keyring://PROFILE",
          "--env NAME",
          "--env-config-file-path FILE",
          "--token-cache MODE",
          "auto",
          "keyring",
          "--scopes",
          "--decode",
          "--json",
          "--env PROFILE",
          "--show-secret",
          "-v, --verbose",
          "--version",
          "Exit codes",
        ]
      ) {
        assert.ok(result.stdout.includes(text), `--help does not mention ${text}`);
      }
    });

    for (const args of [["--help"], ["-h"], ["help"], ["-v", "--help"]]) {
      it(`kognic-auth ${args.join(" ")} prints the whole usage on stdout and exits 0`, async () => {
        const result = await run(args);
        assert.equal(result.code, EXIT_OK);
        assert.match(result.stdout, /^Usage: kognic-auth \[-v\] <command>/);
        for (const command of ["get-access-token", "credentials put FILE", "clear-cache"]) {
          assert.ok(result.stdout.includes(command), `${command} not in:\n${result.stdout}`);
        }
        assert.equal(result.stderr, "");
      });
    }

    // Each command's help: its usage line, its own options and the common ones, not the others'.
    const commandHelps: { args: string[]; usage: string; has: string[]; lacks: string[] }[] = [
      {
        args: ["get-access-token", "--help"],
        usage: "Usage: kognic-auth get-access-token [options]\n",
        has: ["--server URL", "--credentials FILE", "--token-cache MODE", "--scopes", "--json"],
        lacks: ["--show-secret", "credentials put"],
      },
      {
        args: ["get-access-token", "--server", "http://127.0.0.1:1", "-h"],
        usage: "Usage: kognic-auth get-access-token [options]\n",
        has: ["--decode"],
        lacks: ["--show-secret"],
      },
      {
        args: ["help", "get-access-token"],
        usage: "Usage: kognic-auth get-access-token [options]\n",
        has: ["--env-config-file-path FILE"],
        lacks: ["--show-secret"],
      },
      {
        args: ["credentials", "put", "--help"],
        usage: "Usage: kognic-auth credentials put FILE [options]\n",
        has: ["--env PROFILE"],
        lacks: ["--show-secret", "--server"],
      },
      {
        args: ["credentials", "get", "--help"],
        usage: "Usage: kognic-auth credentials get [options]\n",
        has: ["--env PROFILE", "--show-secret"],
        lacks: ["--server"],
      },
      {
        args: ["credentials", "delete", "-h"],
        usage: "Usage: kognic-auth credentials delete [options]\n",
        has: ["--env PROFILE"],
        lacks: ["--show-secret", "--server"],
      },
      {
        args: ["credentials", "--help"],
        usage: "Usage: kognic-auth credentials <put|get|delete> [options]\n",
        has: ["credentials put FILE", "credentials get", "credentials delete"],
        lacks: ["--server", "get-access-token"],
      },
      {
        args: ["clear-cache", "--help"],
        usage: "Usage: kognic-auth clear-cache [options]\n",
        has: ["--token-cache MODE", "keyring, file, or redis://HOST:PORT[/DB]"],
        lacks: ["--server", "--show-secret"],
      },
    ];
    for (const { args, usage, has, lacks } of commandHelps) {
      it(`kognic-auth ${args.join(" ")} prints that command's help on stdout and exits 0`, async () => {
        const result = await run(args);
        assert.equal(result.code, EXIT_OK, result.stderr);
        assert.equal(result.stderr, "");
        assert.ok(result.stdout.startsWith(usage), result.stdout);
        for (const text of [...has, "-v, --verbose", "-h, --help"]) {
          assert.ok(result.stdout.includes(text), `${text} not in:\n${result.stdout}`);
        }
        for (const text of lacks) {
          assert.ok(!result.stdout.includes(text), `${text} in:\n${result.stdout}`);
        }
      });
    }
  });

  describe("kognic-auth usage errors", () => {
    const cases: { name: string; args: () => string[] }[] = [
      { name: "no command", args: () => [] },
      { name: "only -v and no command", args: () => ["-v"] },
      { name: "an unknown command", args: () => ["get-refresh-token"] },
      { name: "an unknown flag", args: () => getToken("--bogus") },
      { name: "a positional argument", args: () => getToken("extra") },
      { name: "--scopes with no value at the end", args: () => getToken("--scopes") },
      { name: "--scopes followed by another flag", args: () => getToken("--scopes", "--json") },
      { name: "--decode with --json", args: () => getToken("--decode", "--json") },
      { name: "--server with no value", args: () => ["get-access-token", "--server"] },
      { name: "--credentials with no value", args: () => getToken("--credentials") },
      {
        name: "an unknown --token-cache mode",
        args: () => ["get-access-token", "--server", server.url, "--token-cache", "disk"],
      },
      { name: "--token-cache with no value", args: () => ["get-access-token", "--token-cache"] },
      { name: "--env with no value", args: () => getToken("--env") },
      { name: "an empty --env", args: () => getToken("--env", "") },
      {
        name: "--env-config-file-path with no value",
        args: () => getToken("--env-config-file-path"),
      },
      { name: "credentials without put, get or delete", args: () => ["credentials"] },
      { name: "an unknown credentials command", args: () => ["credentials", "list"] },
      { name: "credentials put without a FILE", args: () => ["credentials", "put"] },
      {
        name: "credentials put with two files",
        args: () => ["credentials", "put", credentialsFile, credentialsFile],
      },
      { name: "credentials get with a FILE", args: () => ["credentials", "get", credentialsFile] },
      { name: "credentials get --env with no value", args: () => ["credentials", "get", "--env"] },
      {
        name: "credentials delete --show-secret",
        args: () => ["credentials", "delete", "--show-secret"],
      },
      {
        name: "clear-cache --token-cache none",
        args: () => ["clear-cache", "--token-cache", "none"],
      },
      {
        name: "clear-cache --token-cache disk",
        args: () => ["clear-cache", "--token-cache", "disk"],
      },
      { name: "clear-cache with an argument", args: () => ["clear-cache", "all"] },
    ];
    for (const { name, args } of cases) {
      it(`kognic-auth with ${name} exits 2 with one line and a pointer to --help on stderr`, async () => {
        let result: Run | undefined;
        const requests = await tokenRequestsDuring(async () => {
          result = await run(args(), { KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: "x" });
        });
        assertUsage(result!);
        assert.equal(requests, 0);
      });
    }
  });

  describe("kognic-auth get-access-token output", () => {
    it("prints the token alone on stdout, and the API accepts it", async () => {
      const result = await run(getToken("--credentials", credentialsFile));
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(result.stderr, "");
      assert.match(result.stdout, /^\S+\n$/);
      const token = result.stdout.trimEnd();
      assert.ok(issuedTokens.has(token), "stdout is not the token the server issued");
      await assertAccepted(token);
    });

    it("--json prints exactly access_token, token_type Bearer and a future ISO expires_at", async () => {
      const result = await run(getToken("--credentials", credentialsFile, "--json"));
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(result.stderr, "");
      assert.ok(result.stdout.endsWith("\n"));
      const json = JSON.parse(result.stdout);
      assert.deepEqual(Object.keys(json).sort(), ["access_token", "expires_at", "token_type"]);
      assert.equal(json.token_type, "Bearer");
      assert.match(json.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.ok(Date.parse(json.expires_at) > Date.now(), `expires_at ${json.expires_at} is past`);
      await assertAccepted(json.access_token);
    });

    it("--decode prints the JWT header and payload, with the client id as sub and no signature", async () => {
      const requests = server.tokenRequests.length;
      const result = await run(getToken("--credentials", credentialsFile, "--decode"));
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(result.stderr, "");
      assert.equal(server.tokenRequests.length, requests + 1);
      const json = JSON.parse(result.stdout);
      assert.deepEqual(Object.keys(json).sort(), ["header", "payload"]);
      assert.equal(json.header.typ, "JWT");
      assert.equal(json.payload.sub, CLIENT_ID);
      // The output is not a usable token: neither the token nor its signature is printed.
      for (const token of issuedTokens) {
        assert.ok(!result.stdout.includes(token));
        assert.ok(!result.stdout.includes(token.split(".")[2]), "the signature was printed");
      }
    });

    it('--scopes a b requests the space-joined scope "a b"', async () => {
      const result = await run(getToken("--credentials", credentialsFile, "--scopes", "a", "b"));
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.scope, "a b");
      await assertAccepted(result.stdout.trimEnd());
    });

    it("--scope a --scope b (kog's spelling) requests the same scope as --scopes a b, and both mix", async () => {
      const repeated = await run(
        getToken("--credentials", credentialsFile, "--scope", "a", "--scope", "b"),
      );
      assert.equal(repeated.code, EXIT_OK, repeated.stderr);
      assert.equal(server.tokenRequests.at(-1)?.scope, "a b");
      const mixed = await run(
        getToken(
          "--scope",
          "c",
          "--credentials",
          credentialsFile,
          "--scopes",
          "a",
          "b",
          "--scope",
          "a",
        ),
      );
      assert.equal(mixed.code, EXIT_OK, mixed.stderr);
      assert.equal(server.tokenRequests.at(-1)?.scope, "a b c");
    });

    it("--scopes stops at the next flag, so --scopes a b --json still prints JSON", async () => {
      const result = await run(
        getToken("--scopes", "a", "b", "--json", "--credentials", credentialsFile),
      );
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(server.tokenRequests.at(-1)?.scope, "a b");
      assert.equal(JSON.parse(result.stdout).token_type, "Bearer");
    });

    it("-v prints debug lines on stderr without the secret or the token", async () => {
      for (const flag of ["-v", "--verbose"]) {
        const result = await run([flag, ...getToken("--credentials", credentialsFile)]);
        assert.equal(result.code, EXIT_OK, result.stderr);
        const token = result.stdout.trimEnd();
        assert.ok(issuedTokens.has(token));
        const lines = result.stderr.trimEnd().split("\n");
        assert.ok(lines.length >= 1 && lines[0] !== "", "no debug output");
        for (const line of lines) assert.match(line, /^debug: /);
        assert.ok(result.stderr.includes(CLIENT_ID), "the debug output does not name the client");
        assert.ok(!result.stderr.includes(token), "the token is in the debug output");
        assert.ok(!result.stderr.includes(CLIENT_SECRET), "the secret is in the debug output");
      }
    });
  });

  describe("kognic-auth get-access-token credential sources", () => {
    /** The client id of the latest token request. */
    const lastClientId = (): string | undefined => server.tokenRequests.at(-1)?.clientId;

    it("reads the --credentials file", async () => {
      const result = await run(getToken("--credentials", credentialsFile));
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(lastClientId(), CLIENT_ID);
      await assertAccepted(result.stdout.trimEnd());
    });

    it("reads the file named by KOGNIC_CREDENTIALS", async () => {
      const result = await run(getToken(), { KOGNIC_CREDENTIALS: credentialsFile });
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(lastClientId(), CLIENT_ID);
      await assertAccepted(result.stdout.trimEnd());
    });

    it("reads KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET", async () => {
      const result = await run(getToken(), {
        KOGNIC_CLIENT_ID: CLIENT_ID,
        KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
      });
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(lastClientId(), CLIENT_ID);
      await assertAccepted(result.stdout.trimEnd());
    });

    it("prefers --credentials to KOGNIC_CREDENTIALS and KOGNIC_CLIENT_ID/SECRET", async () => {
      const otherFile = await writeCredentials(
        dir.path,
        credentialsJson({ clientId: "other-client", clientSecret: OTHER_SECRET }),
        "other.json",
      );
      const result = await run(getToken("--credentials", credentialsFile), {
        KOGNIC_CREDENTIALS: otherFile,
        KOGNIC_CLIENT_ID: "other-client",
        KOGNIC_CLIENT_SECRET: OTHER_SECRET,
      });
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(lastClientId(), CLIENT_ID);
    });

    it("prefers --credentials even when KOGNIC_CREDENTIALS names a missing file", async () => {
      const result = await run(getToken("--credentials", credentialsFile), {
        KOGNIC_CREDENTIALS: join(dir.path, "missing.json"),
      });
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(lastClientId(), CLIENT_ID);
    });

    it("prefers KOGNIC_CREDENTIALS to KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET", async () => {
      const result = await run(getToken(), {
        KOGNIC_CREDENTIALS: credentialsFile,
        KOGNIC_CLIENT_ID: "other-client",
        KOGNIC_CLIENT_SECRET: OTHER_SECRET,
      });
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(lastClientId(), CLIENT_ID);
    });
  });

  describe("kognic-auth get-access-token errors", () => {
    it("without credentials exits 1 with one Error: line listing the sources tried, before any token request", async () => {
      let result: Run | undefined;
      const requests = await tokenRequestsDuring(async () => {
        result = await run(getToken());
      });
      assertError(result!, "No credentials found");
      for (const source of ["KOGNIC_CREDENTIALS", "KOGNIC_CLIENT_ID", "KOGNIC_CLIENT_SECRET"]) {
        assert.ok(result!.stderr.includes(source), `${source} is not listed: ${result!.stderr}`);
      }
      assert.equal(requests, 0);
    });

    // Guards a bug found at ce1f1fe (reported to the lead, not skipped): cli.ts passed on the
    // library's "No credentials found" message, which lists "the auth option" and "the clientId
    // and clientSecret options" (AuthSession options a CLI user cannot set) and not --credentials.
    // It fails against ce1f1fe's cli.ts and passes once cli.ts names its own sources.
    it("without credentials names --credentials among the sources tried, not library options", async () => {
      const result = await run(getToken());
      assertError(result, "No credentials found");
      assert.ok(
        result.stderr.includes("--credentials"),
        `--credentials is not listed: ${result.stderr}`,
      );
      assert.ok(
        !result.stderr.includes("auth option"),
        `a library option is listed: ${result.stderr}`,
      );
    });

    // Table-driven: each bad input exits 1 with a message naming the file or variable, and no
    // token request is sent.
    const cases: {
      name: string;
      args: () => string[] | Promise<string[]>;
      env?: () => Record<string, string>;
      message: () => string | RegExp;
    }[] = [
      {
        name: "a missing --credentials file",
        args: () => getToken("--credentials", join(dir.path, "missing.json")),
        message: () => `Could not find API Credentials file at ${join(dir.path, "missing.json")}`,
      },
      {
        name: "a missing file named by KOGNIC_CREDENTIALS",
        args: () => getToken(),
        env: () => ({ KOGNIC_CREDENTIALS: join(dir.path, "missing.json") }),
        message: () => `Could not find API Credentials file at ${join(dir.path, "missing.json")}`,
      },
      {
        name: "a credentials file that is not JSON",
        args: async () =>
          getToken("--credentials", await writeCredentials(dir.path, "{", "bad.json")),
        message: () => `Bad auth credentials file, must be json: ${join(dir.path, "bad.json")}`,
      },
      {
        name: "a credentials file without clientSecret",
        args: async () => {
          const json = credentialsJson();
          delete json.clientSecret;
          return getToken("--credentials", await writeCredentials(dir.path, json, "nosecret.json"));
        },
        message: () => "Missing key clientSecret in credentials file",
      },
      {
        name: "expired credentials",
        args: async () =>
          getToken(
            "--credentials",
            await writeCredentials(
              dir.path,
              credentialsJson({ expires: "2001-01-01T00:00:00Z" }),
              "expired.json",
            ),
          ),
        message: () => "Credentials expired at 2001-01-01T00:00:00.000Z",
      },
      {
        name: "KOGNIC_CLIENT_ID without KOGNIC_CLIENT_SECRET",
        args: () => getToken(),
        env: () => ({ KOGNIC_CLIENT_ID: CLIENT_ID }),
        message: () => /KOGNIC_CLIENT_ID is set but KOGNIC_CLIENT_SECRET is not/,
      },
      {
        name: "KOGNIC_CLIENT_SECRET without KOGNIC_CLIENT_ID",
        args: () => getToken(),
        env: () => ({ KOGNIC_CLIENT_SECRET: CLIENT_SECRET }),
        message: () => /KOGNIC_CLIENT_SECRET is set but KOGNIC_CLIENT_ID is not/,
      },
    ];
    for (const { name, args, env, message } of cases) {
      it(`with ${name} exits 1 with one Error: line naming it, before any token request`, async () => {
        const argv = await args();
        let result: Run | undefined;
        const requests = await tokenRequestsDuring(async () => {
          result = await run(argv, env?.() ?? {});
        });
        assertError(result!, message());
        assert.equal(requests, 0);
      });
    }

    it("with a wrong secret exits 1 with invalid_client and never prints the secret", async () => {
      const wrongFile = await writeCredentials(
        dir.path,
        credentialsJson({ clientSecret: WRONG_SECRET }),
        "wrong.json",
      );
      let result: Run | undefined;
      const requests = await tokenRequestsDuring(async () => {
        result = await run(getToken("--credentials", wrongFile));
      });
      assertError(result!, "invalid_client");
      assert.ok(!result!.stderr.includes(WRONG_SECRET));
      assert.equal(requests, 1, "invalid_client must not be retried");
    });

    it("keeps a server's line breaks and terminal escapes out of the one Error: line", async () => {
      server.failTokenRequests({
        status: 400,
        body: JSON.stringify({
          error: "invalid_request\u001b[2J",
          error_description: "Bad\nError: all good\r\n\u001b]0;title\u0007\u009b31m",
        }),
      });
      const result = await run(getToken("--credentials", credentialsFile));
      assertError(result, "invalid_request\\x1b[2J");
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(result.stderr.slice(0, -1), /[\u0000-\u001f\u007f-\u009f]/);
    });

    it("with an http server that is not loopback exits 1 and says https, before any request", async () => {
      const result = await run([
        "get-access-token",
        "--server",
        "http://auth.example.com",
        "--credentials",
        credentialsFile,
      ]);
      assertError(result, "https");
      assert.ok(result.stderr.includes("auth.example.com"), result.stderr);
    });
  });

  // `credentials put` checks the file before it touches the keyring, so these run without one.
  describe("kognic-auth credentials put checks the file first", () => {
    const cases: { name: string; file: () => Promise<string> | string; message: () => string }[] = [
      {
        name: "a missing file",
        file: () => join(dir.path, "missing.json"),
        message: () => `Could not find API Credentials file at ${join(dir.path, "missing.json")}`,
      },
      {
        name: "a file that is not JSON",
        file: () => writeCredentials(dir.path, "{", "put-bad.json"),
        message: () => `Bad auth credentials file, must be json: ${join(dir.path, "put-bad.json")}`,
      },
      {
        name: "a file without clientSecret",
        file: () => {
          const json = credentialsJson();
          delete json.clientSecret;
          return writeCredentials(dir.path, json, "put-nosecret.json");
        },
        message: () =>
          `Missing key clientSecret in credentials file ${join(dir.path, "put-nosecret.json")}`,
      },
      {
        name: "a file not named .json",
        file: () => writeCredentials(dir.path, credentialsJson(), "credentials.txt"),
        message: () =>
          `Bad auth credentials file, must be json: ${join(dir.path, "credentials.txt")}`,
      },
    ];
    for (const { name, file, message } of cases) {
      it(`exits 1 for ${name}, naming the file`, async () => {
        const result = await run(["credentials", "put", await file(), "--env", "cli-test"]);
        assertError(result, message());
      });
    }
  });

  describe("kognic-auth as a subprocess", () => {
    it("exits 0 with the token alone on stdout and nothing on stderr", async () => {
      const result = await runCli(getToken("--credentials", credentialsFile), {
        env: isolatedXdg(dir.path),
      });
      stderrOutputs.push(result.stderr);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      assert.match(result.stdout, /^\S+\n$/);
      const token = result.stdout.trimEnd();
      issuedTokens.add(token);
      await assertAccepted(token);
    });

    it("exits 1 with one Error: line on stderr and nothing on stdout", async () => {
      const missing = join(dir.path, "missing.json");
      const result = await runCli(getToken("--credentials", missing), {
        env: isolatedXdg(dir.path),
      });
      stderrOutputs.push(result.stderr);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(result.stderr, `Error: Could not find API Credentials file at ${missing}\n`);
    });

    // Node's recursive mkdir never returns for a folder under /proc: the
    // command answers within its --timeout and then ends, whatever it left.
    it("ends once it has answered, even when the token cache's folder can never be made", {
      skip: process.platform !== "linux" && "needs Linux's /proc",
    }, async () => {
      const args = ["get-access-token", "--server", server.url, "--credentials", credentialsFile];
      const result = await runCli([...args, "--token-cache", "file", "--timeout", "3"], {
        env: { XDG_CACHE_HOME: "/proc/self/kognic-auth-nowhere", XDG_CONFIG_HOME: dir.path },
        denoPermissions: ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-write"],
        killAfter: 120_000,
      });
      stderrOutputs.push(result.stderr);
      assert.ok(!result.killed, `still running after it answered: ${result.stderr}`);
      if (result.code === 0) issuedTokens.add(result.stdout.trimEnd());
      else {
        assert.equal(result.code, 1);
        assert.match(result.stderr, /^Error: [^\n]+\n$/);
      }
    });

    it("exits 2 with one line and a pointer to --help on stderr, and nothing on stdout", async () => {
      const result = await runCli(getToken("--bogus"), { env: isolatedXdg(dir.path) });
      stderrOutputs.push(result.stderr);
      assertUsage(result);
      assert.equal(
        result.stderr,
        'Error: Unknown option --bogus\nRun "kognic-auth get-access-token --help" for the usage.\n',
      );
    });
  });

  describe("kognic-auth command-line manners, as a subprocess", () => {
    /** Runs the CLI as a subprocess with the test's XDG directories. */
    async function runProcess(args: string[]): Promise<RunResult> {
      const result = await runCli(args, { env: isolatedXdg(dir.path) });
      stderrOutputs.push(result.stderr);
      if (result.code === 0 && /^\S+\n$/.test(result.stdout)) {
        issuedTokens.add(result.stdout.trimEnd());
      }
      return result;
    }

    for (const position of ["after the command", "at the end", "before the command"]) {
      it(`accepts -v ${position}`, async () => {
        const options = ["--server", server.url, "--token-cache", "none", "--credentials"];
        const args = position === "before the command"
          ? ["-v", "get-access-token", ...options, credentialsFile]
          : position === "after the command"
          ? ["get-access-token", "-v", ...options, credentialsFile]
          : ["get-access-token", ...options, credentialsFile, "-v"];
        const result = await runProcess(args);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^\S+\n$/);
        const lines = result.stderr.trimEnd().split("\n");
        assert.ok(lines.length > 2, result.stderr);
        for (const line of lines) assert.match(line, /^debug: /);
        assert.ok(result.stderr.includes(`debug: credentials: client ${CLIENT_ID} from`));
      });
    }

    it("accepts -v after credentials get, before the keyring is asked", async () => {
      // No D-Bus session bus here: the keyring cannot answer, and the debug line comes first.
      const result = await runProcess(["credentials", "get", "-v", "--env", "cli-manners"]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /^debug: keyring: service kognic-credentials, profile cli-manners\n/,
      );
    });

    it("get-access-token --help prints only that command's help, exit 0, without a request", async () => {
      const requests = await tokenRequestsDuring(async () => {
        const result = await runProcess(getToken("--credentials", credentialsFile, "--help"));
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, "");
        assert.match(result.stdout, /^Usage: kognic-auth get-access-token \[options\]\n/);
        assert.ok(result.stdout.includes("--server URL"));
        assert.ok(!result.stdout.includes("--show-secret"), result.stdout);
      });
      assert.equal(requests, 0);
    });

    it("credentials put --help prints that command's help, exit 0", async () => {
      const result = await runProcess(["credentials", "put", "--help"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Usage: kognic-auth credentials put FILE \[options\]\n/);
    });

    const usageErrors: { name: string; args: () => string[]; stderr: string }[] = [
      {
        name: "a mistyped command",
        args: () => ["get-acess-token"],
        stderr: 'Error: Unknown command "get-acess-token"; did you mean get-access-token?\n' +
          'Run "kognic-auth --help" for the usage.\n',
      },
      {
        name: "a mistyped flag",
        args: () => getToken("--credential", credentialsFile),
        stderr: "Error: Unknown option --credential; did you mean --credentials?\n" +
          'Run "kognic-auth get-access-token --help" for the usage.\n',
      },
      {
        name: "an empty --scope",
        args: () => getToken("--scope", ""),
        stderr: "Error: --scope needs a scope\n" +
          'Run "kognic-auth get-access-token --help" for the usage.\n',
      },
      {
        name: "a mistyped credentials command",
        args: () => ["credentials", "gte"],
        stderr: 'Error: Unknown credentials command "gte"; did you mean get?\n' +
          'Run "kognic-auth credentials --help" for the usage.\n',
      },
      {
        name: "a mistyped --token-cache mode",
        args: () => ["get-access-token", "--token-cache", "fiel"],
        stderr:
          'Error: --token-cache must be one of auto, keyring, file, none, not "fiel"; did you mean file?\n' +
          'Run "kognic-auth get-access-token --help" for the usage.\n',
      },
      {
        name: "a command's option before the command",
        args: () => ["--server", server.url, "get-access-token"],
        stderr:
          "Error: --server is an option of get-access-token or mcp-proxy: put it after the command\n" +
          'Run "kognic-auth --help" for the usage.\n',
      },
      {
        name: "an unknown command nothing is close to",
        args: () => ["frobnicate"],
        stderr: 'Error: Unknown command "frobnicate"; expected get-access-token, mcp-proxy, ' +
          'credentials or clear-cache\nRun "kognic-auth --help" for the usage.\n',
      },
      {
        name: "an unknown flag with a terminal escape",
        args: () => getToken("--x\u001b[2J"),
        stderr: "Error: Unknown option --x\\x1b[2J\n" +
          'Run "kognic-auth get-access-token --help" for the usage.\n',
      },
    ];
    for (const { name, args, stderr } of usageErrors) {
      it(`${name} gets one line saying what is wrong and a pointer to --help, exit 2`, async () => {
        const result = await runProcess(args());
        assertUsage(result);
        assert.equal(result.stderr, stderr);
      });
    }

    it("a missing --credentials file not named .json is not found, not a wrong name", async () => {
      const missing = join(dir.path, "creds.txt");
      const result = await runProcess(getToken("--credentials", missing));
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr, `Error: Could not find API Credentials file at ${missing}\n`);
    });

    it("a present --credentials file not named .json must be json", async () => {
      const present = await writeCredentials(dir.path, credentialsJson(), "present.txt");
      const result = await runProcess(getToken("--credentials", present));
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr, `Error: Bad auth credentials file, must be json: ${present}\n`);
    });
  });
});

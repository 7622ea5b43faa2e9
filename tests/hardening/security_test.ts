// Security checks: the bearer token never reaches an origin that is not
// allowed, directly or through any chain of redirects (fuzzed over real local
// servers); plain http is refused except to loopback; the client secret never
// follows a redirect of the token request; the token cache file is 0600 and
// stays valid for readers while concurrent writer processes run and some are
// killed mid-write; no CLI command prints a secret, and a token server cannot
// write extra lines or terminal escapes into the CLI's error line.
//
// KOGNIC_FUZZ_RUNS scales the generated cases as in fuzz_test.ts; with
// KOGNIC_RELIABILITY_REPORT set, each check appends its counts there. When
// KOGNIC_SECURITY_CHILD names a role, this file runs as a cache writer process.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { inspect } from "node:util";
import { AuthSession, ConfigurationError, type TokenSet } from "../../mod.ts";
import { FileTokenCache, MemoryTokenCache } from "../../config.ts";
import { ApiError, KognicClient } from "../../client.ts";
import { main } from "../../cli.ts";
import { main as kogMain } from "../../kog.ts";
import { type EchoResponse, type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { defaultAllowedOrigins, tokenEgress } from "../../src/core/egress.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  credentialsJson,
  record,
  runCli,
  runMain,
  tempDir,
} from "../_helpers/mod.ts";
import {
  type Origin,
  type StandIn,
  startJsonStandIn,
  startOrigin,
  startStandIn,
} from "../_helpers/servers.ts";

const RUNS = Math.max(1, Math.floor(Number(process.env.KOGNIC_FUZZ_RUNS) || 1000));
const SEED = process.env.KOGNIC_FUZZ_SEED ? Number(process.env.KOGNIC_FUZZ_SEED) : undefined;
const REPORT = process.env.KOGNIC_RELIABILITY_REPORT;

function report(row: Record<string, unknown>): void {
  if (REPORT) appendFileSync(REPORT, JSON.stringify({ file: "security", ...row }) + "\n");
}

/** Runs a property and reports how many cases it checked. */
async function property<T>(
  check: string,
  runs: number,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void> | void,
): Promise<void> {
  let cases = 0;
  const seed = SEED ?? Math.floor(Math.random() * 2 ** 31);
  let failure: unknown;
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        cases++;
        await predicate(value);
      }),
      { numRuns: runs, seed, timeout: 60_000 },
    );
  } catch (error) {
    failure = error;
  }
  // The counterexample may show the fixed test secret: name it instead.
  const message = failure === undefined
    ? undefined
    : `${(failure as Error).message}\nCaused by: ${(failure as Error).cause}`
      .replaceAll(CLIENT_SECRET, "<CLIENT_SECRET>");
  report({ check, cases, seed, passed: failure === undefined, failure: message?.slice(0, 3000) });
  if (message !== undefined) throw new Error(message);
}

/** Reports a check made of fixed cases. */
function reportFixed(check: string, cases: number): void {
  report({ check, cases, passed: true });
}

// --- Servers ---------------------------------------------------------------------

let server: LocalAuthServer;
let b: Origin;
let c: Origin;

// --- Token cache writers, as child processes -------------------------------------

const CHILD_ROLE = process.env.KOGNIC_SECURITY_CHILD;
const thisFile = fileURLToPath(import.meta.url);
const HOUR = 3_600_000;

function cachedToken(accessToken: string): TokenSet {
  const now = Date.now();
  return { accessToken, tokenType: "Bearer", issuedAt: now, expiresAt: now + HOUR };
}

/** A child's work: `count` keys `<prefix>-<i>`, or large tokens until killed ("forever"). */
async function runChild(args: string[]): Promise<void> {
  const [path, prefix, count] = args;
  const cache = new FileTokenCache({ path });
  if (count === "forever") {
    const big = "x".repeat(128 * 1024);
    for (let i = 0;; i++) {
      await cache.set(`${prefix}-${i % 4}`, cachedToken(`${prefix}${big}${i}`));
      if (i === 0) process.stdout.write("ready\n");
    }
  }
  for (let i = 0; i < Number(count); i++) {
    await cache.set(`${prefix}-${i}`, cachedToken(`${prefix}-${i}`));
  }
}

/** Starts this file as a cache writer on the current runtime. */
function startWriter(args: string[]): ChildProcess {
  const runtime = "Deno" in globalThis
    ? ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-run", thisFile]
    : [thisFile];
  return spawn(process.execPath, [...runtime, ...args], {
    env: { ...process.env, KOGNIC_SECURITY_CHILD: "cache-writer" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.on("close", (code) => resolve(code));
  });
}

if (CHILD_ROLE) {
  runChild(process.argv.slice(2)).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  registerTests();
}

function registerTests(): void {
  before(async () => {
    server = await startAuthServer({ clients: CLIENTS, refreshTokens: true });
    b = await startOrigin();
    c = await startOrigin();
  });
  after(async () => {
    await server.close();
    await b.close();
    await c.close();
  });

  // --- Where the token goes ------------------------------------------------------------

  type Name = "A" | "B" | "C";

  interface Chain {
    hops: { at: Name; status: number }[];
    end: Name;
    method: "GET" | "POST" | "PUT" | "DELETE";
    callerAuth: boolean;
    allowed: "default" | "A+B" | "B";
  }

  const chainArb: fc.Arbitrary<Chain> = fc.record({
    hops: fc.array(
      fc.record({
        at: fc.constantFrom<Name>("A", "B", "C"),
        status: fc.constantFrom(301, 302, 303, 307, 308),
      }),
      { maxLength: 6 },
    ),
    end: fc.constantFrom<Name>("A", "B", "C"),
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
    callerAuth: fc.boolean(),
    allowed: fc.constantFrom("default", "default", "A+B", "B"),
  });

  describe("the bearer token", () => {
    it(`never reaches an origin that is not allowed, through ${Math.ceil(RUNS / 4)} generated redirect chains`, async () => {
      const origins = { A: server.url, B: b.url, C: c.url };
      await property(
        "redirect chains (AuthSession.fetch)",
        Math.ceil(RUNS / 4),
        chainArb,
        async (chain) => {
          b.seen.length = 0;
          c.seen.length = 0;
          let url = chain.end === "A" ? `${server.apiUrl}/end` : `${origins[chain.end]}/end`;
          for (const hop of [...chain.hops].reverse()) {
            const to = encodeURIComponent(url);
            url = hop.at === "A"
              ? `${server.url}/v1/redirect?to=${to}&status=${hop.status}`
              : `${origins[hop.at]}/hop?to=${to}&status=${hop.status}`;
          }
          const allowedOrigins = chain.allowed === "default"
            ? undefined
            : chain.allowed === "A+B"
            ? [server.url, b.url]
            : [b.url];
          const allowed = new Set<Name>(
            chain.allowed === "default" ? ["A"] : chain.allowed === "A+B" ? ["A", "B"] : ["B"],
          );
          const session = new AuthSession({
            authServer: server.url,
            auth: [CLIENT_ID, CLIENT_SECRET],
            allowedOrigins,
          });
          const callerHeader = "Basic Y2FsbGVyOm93bg==";
          const response = await session.fetch(url, {
            method: chain.method,
            body: chain.method === "GET" ? undefined : "payload",
            headers: chain.callerAuth ? { authorization: callerHeader } : {},
          });
          const text = await response.text();
          // Which origin each request went to, in order, and where the origin first changed.
          const path: Name[] = [...chain.hops.map((h) => h.at), chain.end];
          const firstChange = path.findIndex((name) => name !== path[0]);
          // The token goes on a hop only while every request so far went to an allowed origin.
          const firstDisallowed = path.findIndex((name) => !allowed.has(name));
          const trusted = (i: number): boolean => firstDisallowed === -1 || i < firstDisallowed;
          const seenAt: Record<"B" | "C", string[]> = { B: [], C: [] };
          let index = 0;
          for (const [i, name] of path.entries()) {
            if (name === "A") continue;
            const list = name === "B" ? b.seen : c.seen;
            const request = list[seenAt[name].length];
            assert.ok(request, `no request reached ${name} at step ${i}`);
            seenAt[name].push(request.authorization ?? "");
            const header = request.authorization;
            if (!allowed.has(name)) {
              assert.ok(
                !/^bearer /i.test(header ?? ""),
                `the token reached ${name}, which is not allowed`,
              );
            }
            if (chain.callerAuth && (firstChange === -1 || i < firstChange)) {
              assert.equal(
                header,
                callerHeader,
                `the caller's Authorization at step ${i} (${name})`,
              );
            } else if (chain.callerAuth && !allowed.has(name)) {
              assert.equal(
                header,
                undefined,
                `the caller's Authorization after leaving its origin (${name})`,
              );
            } else if (allowed.has(name) && trusted(i)) {
              assert.match(header ?? "", /^Bearer /, `no token at ${name}, which is allowed`);
            } else if (!trusted(i)) {
              assert.ok(
                !/^bearer /i.test(header ?? ""),
                `the token reached ${name} after a hop through an origin that is not allowed`,
              );
            }
            index++;
          }
          assert.equal(b.seen.length + c.seen.length, index, "requests beyond the chain");
          if (chain.end === "A" && firstDisallowed === -1 && !chain.callerAuth) {
            assert.equal(response.status, 200, text);
            assert.equal((JSON.parse(text) as EchoResponse).clientId, CLIENT_ID);
          } else if (chain.end !== "A") {
            assert.equal(response.status, 200);
          }
        },
      );
    });

    it(`default allowed origins admit only the Kognic domain over https, for ${RUNS} generated URLs`, async () => {
      const allowed = tokenEgress(
        defaultAllowedOrigins(new URL("https://auth.app.kognic.com/v1/auth/oauth/token")),
      );
      const hostArb = fc.oneof(
        fc.tuple(
          fc.array(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { maxLength: 2 }),
          fc.constantFrom(
            "app.kognic.com",
            "APP.Kognic.COM",
            "app.kognic.com.",
            "app.kognic.com.evil.example",
            "evilapp.kognic.com",
            "app-kognic.com",
            "kognic.com",
            "app.kognic.co",
            "xn--app-kognic-com.example",
            "app.kognic.com%2eevil.example",
          ),
        ).map(([labels, base]) => [...labels, base].join(".")),
        fc.domain(),
      );
      const urlArb = fc.record({
        scheme: fc.constantFrom("https", "https", "http", "wss"),
        userinfo: fc.constantFrom("", "", "user:pass@", "app.kognic.com@"),
        host: hostArb,
        port: fc.constantFrom("", "", ":443", ":8443", ":80"),
        path: fc.constantFrom(
          "/",
          "/v1/projects",
          "/@evil.example/",
          "?next=https://app.kognic.com",
        ),
      });
      await property("default allowed origins (compileOrigins)", RUNS, urlArb, (u) => {
        let url: URL;
        try {
          url = new URL(`${u.scheme}://${u.userinfo}${u.host}${u.port}${u.path}`);
        } catch {
          return;
        }
        // One normal form: a trailing dot names the same host; a URL with user info gets no token.
        const host = url.hostname.replace(/\.$/, "");
        const expected = url.protocol === "https:" && (url.port === "" || url.port === "443") &&
          !url.username && !url.password &&
          (host === "app.kognic.com" || host.endsWith(".app.kognic.com"));
        assert.equal(allowed(url), expected, url.href);
      });
    });
  });

  // --- Plain http --------------------------------------------------------------------------

  describe("plain http", () => {
    it(`is refused before any request, except to loopback, for ${RUNS} generated auth servers`, async () => {
      const hostArb = fc.oneof(
        fc.constantFrom(
          "localhost",
          "LOCALHOST",
          "api.localhost",
          "localhost.evil.example",
          "127.0.0.1",
          "127.1.2.3",
          "127.0.0.1.nip.io",
          "[::1]",
          "[::ffff:127.0.0.1]",
          "[0:0:0:0:0:0:0:1]",
          "0.0.0.0",
          "2130706433",
          "0x7f.1",
          "10.0.0.1",
          "192.168.1.10",
          "auth.app.kognic.com",
        ),
        fc.domain(),
        fc.ipV4(),
      );
      const caseArb = fc.record({
        scheme: fc.constantFrom("http", "http", "https", "ftp", "ws", "file"),
        host: hostArb,
        port: fc.constantFrom("", ":8080"),
        where: fc.constantFrom("authServer", "tokenEndpoint"),
        allowInsecureHttp: fc.boolean(),
      });
      let requests = 0;
      const counting: typeof fetch = (input, init) => {
        requests++;
        return fetch(input, init);
      };
      await property("plain http refused except loopback (AuthSession)", RUNS, caseArb, (k) => {
        const base = `${k.scheme}://${k.host}${k.port}`;
        let url: URL | undefined;
        try {
          url = new URL(`${base}/v1/auth/oauth/token`);
        } catch { /* an unparseable URL must be refused too */ }
        const hostname = url?.hostname ?? "";
        const loopback = hostname === "localhost" || hostname.endsWith(".localhost") ||
          hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
        const accepted = url !== undefined &&
          (url.protocol === "https:" ||
            (url.protocol === "http:" && (loopback || k.allowInsecureHttp)));
        const options = k.where === "authServer"
          ? { authServer: base }
          : { tokenEndpoint: `${base}/v1/auth/oauth/token` };
        let error: unknown;
        let session: AuthSession | undefined;
        try {
          session = new AuthSession({
            ...options,
            auth: [CLIENT_ID, CLIENT_SECRET],
            allowInsecureHttp: k.allowInsecureHttp,
            fetch: counting,
          });
        } catch (caught) {
          error = caught;
        }
        assert.equal(requests, 0, "a request was sent while checking the URL");
        if (accepted) {
          assert.equal(error, undefined, `refused ${base}: ${error}`);
          assert.equal(session!.tokenUrl.protocol, url!.protocol);
        } else {
          assert.ok(error instanceof ConfigurationError, `accepted ${base} (${hostname})`);
          assert.ok(!error.message.includes(CLIENT_SECRET));
          if (url?.protocol === "http:") assert.match(error.message, /https/);
        }
      });
    });

    it("keeps the client secret from following a redirect of the token request", async () => {
      const landing = await startOrigin();
      const bouncer = await startStandIn((req, res) => {
        const status = Number(new URL(req.url ?? "/", "http://x").pathname.split("/").pop());
        res.writeHead(status, { location: `${landing.url}/stolen` }).end();
      });
      const bouncerUrl = bouncer.url;
      try {
        for (const status of [301, 302, 303, 307, 308]) {
          const session = new AuthSession({
            authServer: bouncerUrl,
            tokenEndpoint: `/token/${status}`,
            auth: [CLIENT_ID, CLIENT_SECRET],
            retry: { limit: 1, baseDelay: 1, maxDelay: 1 },
          });
          const error = await session.getAccessToken().then(() => undefined, (e: Error) => e);
          assert.ok(error, `a token came back through a ${status}`);
          record(String(error));
        }
        assert.equal(landing.seen.length, 0, "the token request followed a redirect");
        reportFixed("token request redirects not followed (301, 302, 303, 307, 308)", 5);
      } finally {
        await bouncer.close();
        await landing.close();
      }
    });
  });

  // --- The CLI ------------------------------------------------------------------------

  describe("the kognic-auth CLI", () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    let files: Record<string, string>;
    const tokens = new Set<string>();

    /** Passes requests through, noting every token the server hands out. */
    const noting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const body = await response.clone().json().catch(() => undefined);
      for (const key of ["access_token", "refresh_token"]) {
        if (typeof body?.[key] === "string") tokens.add(body[key]);
      }
      return response;
    };

    before(async () => {
      dir = await tempDir();
      files = {
        valid: join(dir.path, "valid.json"),
        wrong: join(dir.path, "wrong.json"),
        expired: join(dir.path, "expired.json"),
        broken: join(dir.path, "broken.json"),
      };
      await writeFile(files.valid, JSON.stringify(credentialsJson()));
      await writeFile(
        files.wrong,
        JSON.stringify(credentialsJson({ clientSecret: `${CLIENT_SECRET}-x` })),
      );
      await writeFile(
        files.expired,
        JSON.stringify(credentialsJson({ expires: "2001-01-01T00:00:00Z" })),
      );
      await writeFile(files.broken, `{"clientSecret": "${CLIENT_SECRET}",`);
    });
    after(async () => {
      await dir.cleanup();
    });

    it("prints no secret and no refresh token for any command, and the access token only when asked", async () => {
      // Written for the CLI as it grows: commands and flags it does not have yet are left out.
      let usage = "";
      await main(["--help"], { stdout: (text) => void (usage += text), stderr: () => {} });
      const cacheFlag = usage.includes("--token-cache") ? ["--token-cache", "file"] : [];
      const keyringCommands = usage.includes("credentials put");
      // Commands that change the keyring run only where no real keyring can be
      // reached, or under scripts/with_keyring.sh's throwaway one.
      const keyringSafe = process.platform === "linux" &&
        (!process.env.DBUS_SESSION_BUS_ADDRESS || process.env.KOGNIC_TEST_KEYRING === "1");
      const profile = `security-test-${process.pid}`;
      const commands: string[][] = [
        [],
        ["--help"],
        ["-h"],
        ["help"],
        ["--version"],
        ["nope"],
        ["get-access-token", "--help"],
      ];
      for (const verbose of [[], ["-v"]]) {
        for (const file of Object.values(files)) {
          for (const output of [[], ["--json"], ["--decode"]]) {
            commands.push([
              ...verbose,
              "get-access-token",
              "--server",
              server.url,
              "--credentials",
              file,
              ...output,
              ...cacheFlag,
            ]);
          }
        }
        commands.push([...verbose, "get-access-token", "--server", server.url, ...cacheFlag]);
        commands.push([
          ...verbose,
          "get-access-token",
          "--server",
          "http://auth.example.com",
          "--credentials",
          files.valid,
          ...cacheFlag,
        ]);
        if (keyringCommands) {
          commands.push([...verbose, "credentials", "get", "--env", profile]);
          commands.push([...verbose, "credentials", "delete", "--env", profile]);
          commands.push([...verbose, "clear-cache", "--token-cache", "file"]);
          if (keyringSafe) {
            commands.push([...verbose, "credentials", "put", files.valid, "--env", profile]);
            commands.push([...verbose, "credentials", "get", "--env", profile]);
            commands.push([...verbose, "credentials", "get", "--env", profile, "--show-secret"]);
            commands.push([...verbose, "credentials", "delete", "--env", profile]);
          }
        }
      }
      const envs: Record<string, string>[] = [
        {},
        { KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: CLIENT_SECRET },
        { KOGNIC_CREDENTIALS: files.valid },
      ];
      let runs = 0;
      let secretsShown = 0;
      for (const args of commands) {
        for (const env of envs) {
          const { code, stdout, stderr } = await runMain(main, args, {
            env: { HOME: dir.path, ...env },
            fetch: noting,
          });
          runs++;
          record(stderr);
          const where = `kognic-auth ${args.join(" ")} (exit ${code})`;
          assert.ok(!stderr.includes(CLIENT_SECRET), `${where}: the secret on stderr`);
          if (code === 0 && args.includes("--show-secret")) {
            // Asked for: the one command that prints it.
            if (stdout.includes(CLIENT_SECRET)) secretsShown++;
          } else {
            record(stdout);
            assert.ok(!stdout.includes(CLIENT_SECRET), `${where}: the secret on stdout`);
          }
          const asked = code === 0 && args.includes("get-access-token") &&
            !args.includes("--decode") && !args.includes("--help");
          for (const token of tokens) {
            assert.ok(!stderr.includes(token), `${where}: a token on stderr`);
            if (!asked) assert.ok(!stdout.includes(token), `${where}: a token on stdout unasked`);
          }
        }
      }
      // The token cache holds tokens, never the client secret.
      for (const name of await readdir(join(dir.path, ".cache", "kognic-auth")).catch(() => [])) {
        const text = await readFile(join(dir.path, ".cache", "kognic-auth", name), "utf8");
        assert.ok(!text.includes(CLIENT_SECRET), `the token cache file ${name} holds the secret`);
      }
      // The same through real processes, with the secret in their environment.
      const noCache = cacheFlag.length ? ["--token-cache", "none"] : [];
      const subprocess = await runCli([
        "-v",
        "get-access-token",
        "--server",
        server.url,
        ...noCache,
      ], {
        env: { HOME: dir.path, KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: CLIENT_SECRET },
      });
      assert.equal(subprocess.code, 0, subprocess.stderr);
      assert.ok(
        !subprocess.stdout.includes(CLIENT_SECRET) && !subprocess.stderr.includes(CLIENT_SECRET),
      );
      assert.ok(!subprocess.stderr.includes(subprocess.stdout.trim()), "the token on stderr");
      const failing = await runCli(
        ["get-access-token", "--server", server.url, "--credentials", files.wrong, ...noCache],
        { env: { HOME: dir.path } },
      );
      assert.equal(failing.code, 1);
      assert.ok(!failing.stderr.includes(CLIENT_SECRET) && !failing.stdout.includes(CLIENT_SECRET));
      reportFixed(
        `CLI commands print no secret unless asked (--show-secret printed it ${secretsShown} times), ` +
          "and a token only when asked (in-process + 2 processes)",
        runs + 2,
      );
    });

    it("keeps a token server from adding lines or terminal escapes to the one Error: line", async () => {
      const hostile = await startJsonStandIn(401, {
        error: "invalid_client\u001b[2J",
        error_description: "Bad client\nError: none, all good\r\n\u001b]0;owned\u0007\u009b31m",
      });
      try {
        const { code, stderr } = await runMain(main, [
          "get-access-token",
          "--server",
          hostile.url,
          "--credentials",
          files.valid,
          "--token-cache",
          "none",
        ], { env: { HOME: dir.path } });
        record(stderr);
        const check = "CLI error line free of server-sent newlines and terminal escapes";
        try {
          assert.equal(code, 1);
          assert.match(
            stderr,
            /invalid_client/,
            `not the server's answer: ${JSON.stringify(stderr)}`,
          );
          assert.match(
            stderr,
            /^Error: [^\n]*\n$/,
            `more than one line: ${JSON.stringify(stderr)}`,
          );
          assert.doesNotMatch(
            stderr,
            // deno-lint-ignore no-control-regex
            /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/,
            `control characters: ${JSON.stringify(stderr)}`,
          );
        } catch (error) {
          report({ check, cases: 1, passed: false, failure: (error as Error).message });
          throw error;
        }
        reportFixed(check, 1);
      } finally {
        await hostile.close();
      }
    });
  });

  describe("the token cache file", () => {
    const posix = process.platform === "win32" ? "POSIX file modes" : undefined;

    it(
      "is 0600 in a 0700 directory, and replaces a wider file it finds",
      { skip: posix },
      async () => {
        const dir = await tempDir();
        try {
          const path = join(dir.path, "cache", "kognic-auth", "tokens.json");
          await new FileTokenCache({ path }).set("k", cachedToken("t1"));
          assert.equal((await stat(path)).mode & 0o777, 0o600);
          assert.equal((await stat(join(dir.path, "cache", "kognic-auth"))).mode & 0o777, 0o700);
          await chmod(path, 0o644);
          await new FileTokenCache({ path }).set("k", cachedToken("t2"));
          assert.equal(
            (await stat(path)).mode & 0o777,
            0o600,
            "a 0644 file was written over as it was",
          );
          reportFixed("token cache file 0600 in a 0700 directory, also over a 0644 file", 2);
        } finally {
          await dir.cleanup();
        }
      },
    );

    const rounds = Math.max(2, Math.ceil(RUNS / 500));
    it(
      `stays valid for a reader throughout ${rounds} rounds of 4 concurrent writer processes, 2 of them killed mid-write`,
      {
        skip: posix,
      },
      async () => {
        const dir = await tempDir();
        let reads = 0;
        try {
          for (let round = 0; round < rounds; round++) {
            const folder = join(dir.path, `round-${round}`);
            const path = join(folder, "tokens.json");
            // Rounds start from nothing, from a corrupt 0644 file, or from a valid 0644 file
            // in this package's earlier shape (migrated by the first write).
            const start = round % 3;
            let before = "";
            if (start > 0) {
              await mkdir(folder, { mode: 0o700 });
              before = start === 1
                ? "{not json"
                : JSON.stringify({ version: 1, tokens: { old: cachedToken("old") } });
              await writeFile(path, before, { mode: 0o644 });
              await chmod(path, 0o644);
            }
            const finishers = ["f0", "f1"].map((prefix) => startWriter([path, prefix, "10"]));
            const killed = ["k0", "k1"].map((prefix) => startWriter([path, prefix, "forever"]));
            const finished = Promise.all(finishers.map(exited));
            let done = false;
            void finished.then(() => (done = true));
            const kills = killed.map((child) =>
              new Promise<void>((resolve) => {
                child.stdout?.once("data", () => {
                  setTimeout(() => {
                    child.kill("SIGKILL");
                    resolve();
                  }, Math.random() * 150);
                });
                child.on("close", () => resolve());
              })
            );
            // The reader: the file is always the old content or a whole, valid file.
            while (!done) {
              let text: string | undefined;
              try {
                text = await readFile(path, "utf8");
              } catch (error) {
                assert.equal((error as { code?: string }).code, "ENOENT");
              }
              if (text !== undefined && text !== before) {
                const file = JSON.parse(text);
                assert.equal(file.version, undefined);
                for (const entry of Object.values<{ access_token: unknown }>(file)) {
                  assert.equal(typeof entry.access_token, "string");
                }
              }
              reads++;
              await new Promise((resolve) => setTimeout(resolve, 1));
            }
            await Promise.all(kills);
            await Promise.all(killed.map(exited));
            assert.deepEqual(await finished, [0, 0], "a writer that was not killed failed");
            // A later writer is not blocked by a lock a killed writer left.
            const last = startWriter([path, "last", "1"]);
            assert.equal(await exited(last), 0);

            const file = JSON.parse(await readFile(path, "utf8"));
            const keys = Object.keys(file);
            for (const prefix of ["f0", "f1"]) {
              for (let i = 0; i < 10; i++) {
                assert.ok(keys.includes(`${prefix}-${i}`), `${prefix}-${i} was lost`);
              }
            }
            assert.ok(keys.includes("last-0"));
            if (start === 2) assert.ok(keys.includes("old"), "a valid token was lost");
            const names = await readdir(folder);
            assert.deepEqual(names.filter((name) => name.endsWith(".lock")), [], "a lock was left");
            assert.equal((await stat(folder)).mode & 0o777, 0o700);
            for (const name of names) {
              // Temporary files of killed writers hold tokens too.
              assert.equal(
                (await stat(join(folder, name))).mode & 0o777,
                0o600,
                `${name} is not 0600`,
              );
            }
          }
          reportFixed(
            `token cache valid under concurrent writers and killed writers (${rounds} rounds, ${reads} reads)`,
            rounds,
          );
        } finally {
          await dir.cleanup();
        }
      },
    );

    it(`reads a corrupt or foreign file as empty and replaces it, for ${Math.ceil(RUNS / 10)} generated files`, async () => {
      const dir = await tempDir();
      let n = 0;
      try {
        const fieldArb = fc.oneof(
          fc.string({ maxLength: 6 }),
          fc.integer(),
          fc.double(),
          fc.constant(null),
          fc.boolean(),
        );
        const tokenLike = fc.record({
          accessToken: fc.oneof(fc.string({ maxLength: 8 }), fieldArb),
          tokenType: fc.oneof(fc.constant("Bearer"), fieldArb),
          expiresAt: fc.oneof(fc.integer(), fieldArb),
          issuedAt: fc.oneof(fc.integer(), fieldArb),
          refreshToken: fieldArb,
        }, { requiredKeys: [] });
        // Entries in the Python package's shape, hostile ones included.
        const pythonLike = fc.record({
          access_token: fc.oneof(fc.string({ maxLength: 8 }), fieldArb),
          token_type: fc.oneof(fc.constantFrom("bearer", "Bearer", "mac"), fieldArb),
          expires_in: fc.oneof(fc.integer(), fc.constant("3600"), fieldArb),
          expires_at: fc.oneof(fc.integer(), fc.constant(1e300), fieldArb),
          refresh_token: fieldArb,
        }, { requiredKeys: [] });
        const contentArb = fc.oneof(
          fc.dictionary(fc.constantFrom("k", "other", "__proto__", "version"), pythonLike)
            .map((v) => JSON.stringify(v)),
          fc.record({
            version: fc.oneof(fc.constant(1), fieldArb),
            tokens: fc.oneof(
              fc.dictionary(fc.constantFrom("k", "other", "__proto__"), tokenLike),
              fieldArb,
              fc.array(tokenLike),
            ),
          }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 40 }),
          fc.constantFrom("", "{", "\uFEFF{}", "null"),
        );
        await property(
          "token cache corrupt files (FileTokenCache)",
          Math.ceil(RUNS / 10),
          contentArb,
          async (content) => {
            const path = join(dir.path, `c-${n++}`, "tokens.json");
            await mkdir(join(path, ".."), { mode: 0o700 });
            await writeFile(path, content, { mode: 0o644 });
            const cache = new FileTokenCache({ path });
            const got = await cache.get("k");
            if (got !== undefined) {
              assert.match(got.accessToken, /^[\x21-\x7E]([\x20-\x7E]*[\x21-\x7E])?$/);
              assert.equal(got.tokenType, "Bearer");
              assert.ok(Number.isFinite(got.expiresAt) && Number.isFinite(got.issuedAt));
              assert.ok(got.issuedAt <= Date.now(), "not issued in the future");
              assert.ok(got.expiresAt <= Date.now() + 366 * 24 * 3_600_000, "a year at most");
            }
            await cache.set("k", cachedToken("fresh"));
            assert.equal((await cache.get("k"))?.accessToken, "fresh");
            const file = JSON.parse(await readFile(path, "utf8"));
            assert.equal(file.k.access_token, "fresh");
            assert.equal(file.k.token_type, "bearer");
            assert.ok(Number.isInteger(file.k.expires_at) && Number.isInteger(file.k.expires_in));
            let before: Record<string, unknown> | null = null;
            try {
              before = JSON.parse(content);
            } catch { /* not JSON: nothing to keep */ }
            // Another writer's entries stay as they were, unless the file was in the earlier shape.
            if (typeof before === "object" && before !== null && !Array.isArray(before)) {
              const tokens = before.tokens;
              const earlier = before.version === 1 && typeof tokens === "object" &&
                tokens !== null && !Array.isArray(tokens);
              if (!earlier && Object.hasOwn(before, "other")) {
                const other = before.other as { expires_at?: unknown } | null;
                const expired = typeof other?.expires_at === "number" &&
                  other.expires_at * 1000 <= Date.now();
                // Only a token that has expired is dropped.
                if (!(expired && file.other === undefined)) {
                  assert.deepEqual(file.other, before.other);
                }
              }
            }
            if (posix === undefined) assert.equal((await stat(path)).mode & 0o777, 0o600);
          },
        );
      } finally {
        await dir.cleanup();
      }
    });
  });

  // --- Hostile servers: redirect chains, echoed tokens, terminal escapes -------------

  describe("redirects into an allowed origin", () => {
    it("never carry the token when the chain started at an origin that is not allowed (302 and 307)", async () => {
      let cases = 0;
      for (const [status, method] of [[302, "GET"], [307, "DELETE"], [307, "POST"]] as const) {
        b.seen.length = 0;
        c.seen.length = 0;
        const session = new AuthSession({
          authServer: server.url,
          auth: [CLIENT_ID, CLIENT_SECRET],
          allowedOrigins: [b.url],
        });
        const target = encodeURIComponent(`${b.url}/end`);
        const response = await session.fetch(`${c.url}/hop?to=${target}&status=${status}`, {
          method,
          body: method === "GET" ? undefined : "payload",
        });
        await response.text();
        assert.equal(c.seen.length, 1);
        assert.equal(c.seen[0].authorization, undefined, "the token reached C, not allowed");
        assert.equal(b.seen.length, 1, "the redirect was followed to B");
        assert.equal(b.seen[0].method, method === "GET" ? "GET" : method);
        assert.equal(
          b.seen[0].authorization,
          undefined,
          `HTTP ${status} from C (not allowed) sent the token on to B with ${method}`,
        );
        cases++;
      }
      // A chain that starts at an allowed origin still gets the token at each allowed hop.
      b.seen.length = 0;
      const session = new AuthSession({
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        allowedOrigins: [b.url],
      });
      const back = encodeURIComponent(`${b.url}/end`);
      const via = encodeURIComponent(`${b.url}/hop?to=${back}&status=302`);
      await (await session.fetch(`${b.url}/hop?to=${via}&status=307`)).text();
      assert.equal(b.seen.length, 3);
      for (const seen of b.seen) assert.match(seen.authorization ?? "", /^Bearer /);
      reportFixed("redirects from an origin that is not allowed into an allowed one", cases + 1);
    });
  });

  describe("a cross-origin redirect", () => {
    it("drops Authorization, Cookie and Proxy-Authorization as fetch does, and keeps them on the same origin", async () => {
      b.seen.length = 0;
      c.seen.length = 0;
      const session = new AuthSession({
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        allowedOrigins: [b.url, c.url],
      });
      const end = encodeURIComponent(`${c.url}/end`);
      const via = encodeURIComponent(`${b.url}/hop?to=${end}&status=302`);
      const response = await session.fetch(`${b.url}/hop?to=${via}&status=307`, {
        headers: {
          authorization: "Basic Y2FsbGVyOm93bg==",
          cookie: "session=caller-cookie-value",
          "proxy-authorization": "Basic cHJveHk6cGFzcw==",
        },
      });
      await response.text();
      assert.equal(b.seen.length, 2);
      for (const seen of b.seen) {
        assert.equal(seen.cookie, "session=caller-cookie-value");
        assert.equal(seen.proxyAuthorization, "Basic cHJveHk6cGFzcw==");
        assert.equal(seen.authorization, "Basic Y2FsbGVyOm93bg==");
      }
      assert.equal(c.seen.length, 1);
      assert.equal(c.seen[0].cookie, undefined, "the caller's Cookie went to another origin");
      assert.equal(
        c.seen[0].proxyAuthorization,
        undefined,
        "the caller's Proxy-Authorization went to another origin",
      );
      assert.notEqual(c.seen[0].authorization, "Basic Y2FsbGVyOm93bg==");
      reportFixed("Authorization, Cookie and Proxy-Authorization dropped across origins", 1);
    });
  });

  describe("the shared token cache", () => {
    it("keys tokens by the token endpoint, so two endpoints of one client id never share a token", async () => {
      const other = await startAuthServer({ clients: CLIENTS });
      try {
        const cache = new MemoryTokenCache();
        const session = (tokenEndpoint: string): AuthSession =>
          new AuthSession({ auth: [CLIENT_ID, CLIENT_SECRET], tokenEndpoint, tokenCache: cache });
        const first = await session(`${server.url}/v1/auth/oauth/token`).getAccessToken();
        const second = await session(`${other.url}/v1/auth/oauth/token`).getAccessToken();
        assert.equal(other.counts.tokenRequests, 1, "the second endpoint was never asked");
        assert.notEqual(first, second, "one endpoint's token was served for another");
        const third = await session(`${other.url}/v1/auth/oauth/token`).getAccessToken();
        assert.equal(third, second, "the cache still serves a token for its own endpoint");
        // The key of the default endpoint is the reference's, "<authServer>:<clientId>".
        const plain = new AuthSession({
          authServer: other.url,
          auth: [CLIENT_ID, CLIENT_SECRET],
          tokenCache: cache,
        });
        const token = await plain.getAccessToken();
        assert.equal((await cache.get(`${other.url}:${CLIENT_ID}`))?.accessToken, token);
        reportFixed("token cache keyed by the token endpoint", 3);
      } finally {
        await other.close();
      }
    });
  });

  describe("a server that echoes the access token or sends terminal escapes", () => {
    const TOKEN = "hostile-access-token-Qw3rty9-echo";
    // deno-lint-ignore no-control-regex
    const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
    let hostile: StandIn;
    let hostileUrl: string;
    let home: { path: string; cleanup: () => Promise<void> };
    let kogEnv: Record<string, string>;

    before(async () => {
      hostile = await startStandIn((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        const authorization = req.headers.authorization ?? "none";
        if (url.pathname === "/v1/auth/oauth/token") {
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }),
          );
        } else if (url.pathname === "/v1/list") {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify([
            { name: "title\u001b]0;owned\u0007", note: "csi\u009b31m red\u2028next", n: 1 },
            { name: "clip\u001b]52;c;cHduZWQ=\u0007", note: "bell\u0007\rover", n: 2 },
          ]));
        } else if (url.pathname === "/v1/text") {
          res.writeHead(200, { "content-type": "text/plain" }).end(
            "plain\u001b[2J text\u009b1m\r\nline two\n",
          );
        } else {
          res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({
            message: `Malformed header: ${authorization}\u001b[2J`,
            detail: `You sent "${authorization}"\u001b]52;c;cHduZWQ=\u0007 \u009b31m`,
          }));
        }
      });
      hostileUrl = hostile.url;
      home = await tempDir();
      const credentials = join(home.path, "credentials.json");
      await writeFile(credentials, JSON.stringify(credentialsJson()));
      await mkdir(join(home.path, "config", "kognic"), { recursive: true });
      await writeFile(
        join(home.path, "config", "kognic", "environments.json"),
        JSON.stringify({
          default_environment: "hostile",
          environments: {
            hostile: { host: "127.0.0.1", auth_server: hostileUrl, credentials },
          },
        }),
      );
      kogEnv = {
        HOME: home.path,
        XDG_CONFIG_HOME: join(home.path, "config"),
        XDG_CACHE_HOME: join(home.path, "cache"),
      };
    });
    after(async () => {
      await hostile.close();
      await home.cleanup();
    });

    async function kog(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      let stdout = "";
      let stderr = "";
      const code = await kogMain([...args, "--token-cache", "none"], {
        stdout: (text) => void (stdout += text),
        stderr: (text) => void (stderr += text),
        env: kogEnv,
      });
      record(stdout);
      record(stderr);
      return { code, stdout, stderr };
    }

    it("keeps the echoed access token out of ApiError's message, body, JSON and inspect output", async () => {
      const session = new AuthSession({
        authServer: hostileUrl,
        auth: [CLIENT_ID, CLIENT_SECRET],
        allowedOrigins: [hostileUrl],
      });
      const client = new KognicClient({ session, retry: false });
      let caught: unknown;
      try {
        await client.get(`${hostileUrl}/v1/echo`);
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof ApiError, String(caught));
      assert.equal(await session.getAccessToken(), TOKEN);
      const texts = {
        message: caught.message,
        body: caught.body ?? "",
        serverMessage: caught.serverMessage ?? "",
        string: String(caught),
        json: JSON.stringify(caught),
        inspect: inspect(caught),
        stack: caught.stack ?? "",
      };
      for (const [where, text] of Object.entries(texts)) {
        record(text);
        assert.ok(!text.includes(TOKEN), `the access token is in the error's ${where}: ${text}`);
      }
      assert.match(caught.message, /Malformed header: Bearer \[redacted\]/);
      reportFixed("an echoed access token is redacted from ApiError", Object.keys(texts).length);
    });

    it("keeps the echoed access token and terminal escapes out of kog's error output", async () => {
      const result = await kog(["get", `${hostileUrl}/v1/echo`]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Error: GET .+ failed with HTTP 400/);
      assert.ok(!result.stderr.includes(TOKEN), `kog printed the token: ${result.stderr}`);
      assert.match(result.stderr, /\[redacted\]/);
      assert.doesNotMatch(result.stderr, CONTROL, JSON.stringify(result.stderr));
      reportFixed("kog's error output: no echoed token, no terminal escapes", 1);
    });

    it("escapes server-sent control characters in every kog output format, JSON staying JSON", async () => {
      for (const format of ["table", "csv", "tsv", "json", "jsonl"]) {
        const result = await kog(["get", `${hostileUrl}/v1/list`, "--format", format]);
        assert.equal(result.code, 0, result.stderr);
        assert.doesNotMatch(result.stdout, CONTROL, `${format}: ${JSON.stringify(result.stdout)}`);
        assert.doesNotMatch(result.stdout, /[\u2028\u2029]/, `${format}: a line separator`);
        assert.match(result.stdout, /title/);
        if (format === "json") {
          const items = JSON.parse(result.stdout);
          assert.equal(items[0].name, "title\u001b]0;owned\u0007", "JSON keeps the data exact");
          assert.equal(items[0].note, "csi\u009b31m red\u2028next");
        }
        if (format === "jsonl") {
          const lines = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
          assert.equal(lines[1].note, "bell\u0007\rover");
        }
      }
      const text = await kog(["get", `${hostileUrl}/v1/text`]);
      assert.equal(text.code, 0, text.stderr);
      assert.doesNotMatch(text.stdout.replaceAll("\r\n", "\n"), CONTROL);
      assert.match(text.stdout, /^plain.+\r\nline two\n$/);
      reportFixed("kog output formats escape control characters", 6);
    });
  });

  describe("a cached token", () => {
    it("that is not printable ASCII is refused as a fresh one would be, and a new token requested", async () => {
      const bad = "cached-token-Zx91\r\nX-Injected: yes";
      const now = Date.now();
      // A cache shared with a damaged or hostile writer: a MemoryTokenCache
      // refuses to store such a token, so the entry is planted under it.
      const memory = new MemoryTokenCache();
      const planted = {
        accessToken: bad,
        tokenType: "Bearer",
        issuedAt: now,
        expiresAt: now + HOUR,
      };
      const cache = {
        get: (key: string) =>
          key === `${server.url}:${CLIENT_ID}` ? Promise.resolve(planted) : memory.get(key),
        set: (key: string, token: TokenSet) => memory.set(key, token),
        delete: (key: string) => memory.delete(key),
        clear: () => memory.clear(),
        withLock: <T>(key: string, fn: () => Promise<T>) => memory.withLock(key, fn),
      };
      server.resetCounts();
      const session = new AuthSession({
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        tokenCache: cache,
      });
      let outcome: string;
      try {
        const response = await session.fetch(server.apiUrl);
        outcome = `HTTP ${response.status}`;
        await response.body?.cancel();
      } catch (error) {
        outcome = `${(error as Error).name}: ${(error as Error).message}`;
        record(outcome);
        assert.ok(!outcome.includes("cached-token-Zx91"), `the cached token is in: ${outcome}`);
      }
      assert.equal(outcome, "HTTP 200");
      assert.equal(server.counts.tokenRequests, 1);
      assert.notEqual(await session.getAccessToken(), bad);
      reportFixed("a cached token that is not printable ASCII is refused", 1);
    });
  });

  describe("secret hygiene", () => {
    it("no message or output in this file contained the client secret", () => {
      assert.ok(assertNoSecretSeen() > 10, "the tests recorded their outputs");
    });
  });
}

// Shared test helpers: temporary credentials files and homes, the CLI as a subprocess on
// any runtime, token request counts, and a log of every message and output the tests see,
// checked for the client secret. Stand-in servers are in servers.ts, the sample API routes
// in sample_api.ts.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The client id and secret the local auth server accepts in these tests. */
export const CLIENT_ID = "test-client";
/** A secret distinctive enough that finding it anywhere in output is a leak. */
export const CLIENT_SECRET = "s3cret-Zq8vX2-never-print-me";
/** Clients for `startAuthServer({ clients })`. */
export const CLIENTS: Record<string, string> = { [CLIENT_ID]: CLIENT_SECRET };

const seen: string[] = [];

/**
 * With KOGNIC_RELIABILITY_REPORT set (by `deno task reliability`), adds a
 * passed check of the hardening suites to the fault matrix's security rows:
 * its name and how many cases it ran.
 */
export function reportCheck(check: string, cases: number): void {
  const path = process.env.KOGNIC_RELIABILITY_REPORT;
  if (path) {
    appendFileSync(path, JSON.stringify({ file: "security", check, cases, passed: true }) + "\n");
  }
}

/** Records a message or output so that `assertNoSecretSeen` can check it. */
export function record(text: string): string {
  seen.push(text);
  return text;
}

/** Asserts the secret is in nothing recorded so far; returns how many texts were checked. */
export function assertNoSecretSeen(secrets: readonly string[] = [CLIENT_SECRET]): number {
  for (const text of seen) {
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `a secret appeared in: ${text.slice(0, 200)}`);
    }
  }
  return seen.length;
}

/**
 * Awaits a promise that must reject, records the error's message, and returns
 * the error for further assertions.
 */
export async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    record(String((error as Error)?.message));
    record(String(error));
    return error as Error;
  }
  assert.fail("expected a rejection");
}

/** Like {@linkcode rejection} for a function that must throw synchronously. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    record(String((error as Error)?.message));
    return error as Error;
  }
  assert.fail("expected an exception");
}

/**
 * A file of the repository beside the tests (`docs/errors.md`, `scripts/build_npm.ts`), and the
 * reason to skip a test that reads it where it is not there: the npm build's copy of the tests
 * has only the package's files beside it.
 */
export function repositoryFile(path: string): { url: URL; skip: string | false } {
  const url = new URL(`../../${path}`, import.meta.url);
  return { url, skip: !existsSync(url) && `${path} is not beside the tests (npm build)` };
}

/** A fresh temporary directory; remove it with the returned `cleanup`. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "kognic-auth-test-"));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** The fields of a valid credentials file. */
export function credentialsJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    email: "dev@example.com",
    userId: 42,
    issuer: "auth.app.kognic.com",
    name: "Test credentials",
    created: "2024-05-01T10:00:00.123456789Z",
    expires: "2099-01-01T00:00:00Z",
    ...overrides,
  };
}

/** Writes a credentials file (or any text) into `dir` and returns its path. */
export async function writeCredentials(
  dir: string,
  content: Record<string, unknown> | string = credentialsJson(),
  name = "credentials.json",
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

const repoRoot = new URL("../..", import.meta.url);

/** The Deno permissions the CLI subprocess gets by default. */
export const CLI_DENO_PERMISSIONS: readonly string[] = [
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-read",
];

/**
 * The command that runs the `kognic-auth` CLI on the current runtime:
 * `KOGNIC_AUTH_CLI` (a JSON array) when set, as the npm build's test run sets
 * it, else `cli.ts` under Deno (with `denoPermissions`) or Bun.
 */
export function cliCommand(denoPermissions: readonly string[] = CLI_DENO_PERMISSIONS): string[] {
  const fromEnv = process.env.KOGNIC_AUTH_CLI;
  if (fromEnv) return JSON.parse(fromEnv);
  const cli = new URL("cli.ts", repoRoot).pathname;
  if ("Deno" in globalThis) {
    return [process.execPath, "run", ...denoPermissions, cli];
  }
  return [process.execPath, cli];
}

/** The Deno permissions the `kog` subprocess gets by default. */
export const KOG_DENO_PERMISSIONS: readonly string[] = [
  "--allow-net=127.0.0.1",
  "--allow-env",
  "--allow-read",
  "--allow-write",
];

/**
 * The command that runs `kog` on the current runtime: `KOGNIC_KOG_CLI` (a
 * JSON array) when set, as the npm build's test run sets it; else kog.ts
 * under Deno (with `denoPermissions`) or Bun; else (Node on the compiled
 * tests) `node -e` importing the compiled kog.js and calling `main`.
 */
export function kogCommand(denoPermissions: readonly string[] = KOG_DENO_PERMISSIONS): string[] {
  const fromEnv = process.env.KOGNIC_KOG_CLI;
  if (fromEnv) return JSON.parse(fromEnv);
  const compiled = import.meta.url.endsWith(".js");
  const entry = new URL(`kog.${compiled ? "js" : "ts"}`, repoRoot);
  if ("Deno" in globalThis) {
    return [process.execPath, "run", ...denoPermissions, fileURLToPath(entry)];
  }
  if (compiled) {
    const code = `import { main } from ${JSON.stringify(entry.href)};\n` +
      `main(process.argv.slice(1)).then((code) => { process.exitCode = code; });`;
    return [process.execPath, "--input-type=module", "-e", code];
  }
  return [process.execPath, fileURLToPath(entry)];
}

/**
 * The command that runs the local auth server from the shell
 * (`kognic-auth-testing`): `KOGNIC_AUTH_TESTING_CLI` (a JSON array) when set,
 * as the npm build's test run sets it, else testing_server.ts under Deno (with only
 * the permissions it needs) or Bun; else (Node on the compiled tests) the
 * compiled bin.
 */
export function testingServerCommand(): string[] {
  const fromEnv = process.env.KOGNIC_AUTH_TESTING_CLI;
  if (fromEnv) return JSON.parse(fromEnv);
  const compiled = import.meta.url.endsWith(".js");
  if (compiled) {
    return [process.execPath, fileURLToPath(new URL("bin/kognic-auth-testing.js", repoRoot))];
  }
  const entry = fileURLToPath(new URL("testing_server.ts", repoRoot));
  if ("Deno" in globalThis) {
    const permissions = ["--allow-net=127.0.0.1", "--allow-read", "--allow-write", "--allow-env"];
    return [process.execPath, "run", ...permissions, entry];
  }
  return [process.execPath, entry];
}

/**
 * Deno's cache directory as this process sees it. A CLI subprocess given
 * another XDG_CACHE_HOME would otherwise look for its modules there (Deno
 * keeps them in `$XDG_CACHE_HOME/deno`) and download them again.
 */
export function denoDir(): string | undefined {
  const env = process.env;
  if (env.DENO_DIR) return env.DENO_DIR;
  if (process.platform === "darwin") return env.HOME && join(env.HOME, "Library", "Caches", "deno");
  if (process.platform === "win32") return env.LOCALAPPDATA && join(env.LOCALAPPDATA, "deno");
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "deno");
  return env.HOME && join(env.HOME, ".cache", "deno");
}

/** The outcome of a subprocess. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the process was killed for running longer than `killAfter`. */
  killed?: boolean;
}

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** Environment variables, besides PATH, HOME and NO_COLOR. */
  env?: Record<string, string>;
  /** Standard input. @default {""} */
  stdin?: string;
  /**
   * The Deno permission flags, such as `["-A"]` for the keyring (which needs
   * `--allow-ffi`) or with `--allow-write` for the token cache file; ignored
   * on other runtimes. @default {CLI_DENO_PERMISSIONS}
   */
  denoPermissions?: readonly string[];
  /**
   * Kills the process after this many ms, so that a test of "does not hang"
   * fails instead of hanging; the result then has `killed: true`. Not a
   * timing assertion: make it generous. @default {no limit}
   */
  killAfter?: number;
}

/**
 * Runs the CLI as a real subprocess with exactly the environment given (plus
 * PATH, HOME, NO_COLOR, TMPDIR and, under Deno, DENO_DIR) and records its output.
 */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<RunResult> {
  return runCommand(cliCommand(options.denoPermissions), args, options);
}

/**
 * The environment of a subprocess under test: exactly `env` plus PATH, HOME,
 * NO_COLOR, TMPDIR and, when `program` is this Deno, DENO_DIR (so a child with
 * another XDG_CACHE_HOME does not download again).
 */
export function childEnv(
  program: string,
  env: Record<string, string> = {},
): Record<string, string> {
  const result: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NO_COLOR: "1",
    // The test run's temporary folder, so that what a child leaves there
    // (npm's compile cache, say) goes when the run's folder does.
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    ...env,
  };
  const denoCache = "Deno" in globalThis && program === process.execPath ? denoDir() : undefined;
  if (denoCache && result.DENO_DIR === undefined) result.DENO_DIR = denoCache;
  return result;
}

/**
 * Runs a command (a program and its first arguments) with `args`, with the
 * environment of {@linkcode childEnv}, and records its output.
 */
export function runCommand(
  command: readonly string[],
  args: string[],
  options: RunCliOptions = {},
): Promise<RunResult> {
  const [cmd, ...prefix] = command;
  const env = childEnv(cmd, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...prefix, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let killed = false;
    const timer = options.killAfter === undefined ? undefined : setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, options.killAfter);
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      record(stdout);
      record(stderr);
      resolve(killed ? { code, stdout, stderr, killed } : { code, stdout, stderr });
    });
    // A command that exits before reading its input (a usage error) closes
    // the pipe: that is no failure of the run.
    child.stdin.on("error", () => {});
    try {
      child.stdin.end(options.stdin ?? "");
    } catch (error) {
      if ((error as { code?: string }).code !== "EPIPE") throw error;
    }
  });
}

/**
 * Environment variables that keep a CLI run's environments file and token
 * cache inside `dir`, away from the user's: `XDG_CONFIG_HOME` and `XDG_CACHE_HOME`.
 */
export function isolatedXdg(dir: string): { XDG_CONFIG_HOME: string; XDG_CACHE_HOME: string } {
  return { XDG_CONFIG_HOME: join(dir, "config"), XDG_CACHE_HOME: join(dir, "cache") };
}

/**
 * Writes `config` as the environments file at its default place under `dir`'s
 * {@linkcode isolatedXdg} config folder; returns the file's path.
 */
export async function writeEnvironments(dir: string, config: unknown): Promise<string> {
  const folder = join(isolatedXdg(dir).XDG_CONFIG_HOME, "kognic");
  await mkdir(folder, { recursive: true });
  const path = join(folder, "environments.json");
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** The token cache file of a CLI run with the XDG directories of `home` ({@linkcode isolatedXdg}). */
export function cacheFile(home: string): string {
  return join(isolatedXdg(home).XDG_CACHE_HOME, "kognic-auth", "tokens.json");
}

/** A fresh directory under `parent` for one test's HOME and XDG directories. */
export async function homeUnder(parent: string): Promise<string> {
  const home = join(parent, `home-${crypto.randomUUID().slice(0, 8)}`);
  await mkdir(home);
  return home;
}

/** Whether anything exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** Runs `fn` and returns how many token requests `server` received meanwhile. */
export async function countTokenRequests(
  server: { readonly counts: { readonly tokenRequests: number } },
  fn: () => Promise<unknown>,
): Promise<number> {
  const before = server.counts.tokenRequests;
  await fn();
  return server.counts.tokenRequests - before;
}

/** The skip reason of a test that needs a running Secret Service, or undefined when there is one. */
export const NEEDS_SERVICE: string | undefined = process.env.KOGNIC_TEST_KEYRING === "1"
  ? undefined
  : "needs a running Secret Service: run under scripts/with_keyring.sh (sets KOGNIC_TEST_KEYRING=1)";

/** What a command's `main` wrote and returned, run in this process. */
export interface MainResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The output half of a command's IO; {@linkcode runMain} supplies it. */
interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * Runs a command's `main` (`kognic-auth`'s or `kog`'s) in this process with `io` (environment,
 * fetch, stdin), collecting what it writes to stdout and stderr.
 */
export async function runMain<IO extends Output>(
  main: (args: string[], io: IO) => Promise<number>,
  args: string[],
  io: Omit<IO, keyof Output>,
): Promise<MainResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    ...io,
    stdout: (text: string) => void (stdout += text),
    stderr: (text: string) => void (stderr += text),
  } as IO);
  return { code, stdout, stderr };
}

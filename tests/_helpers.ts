// Shared test helpers: temporary credentials files, the CLI as a subprocess on
// any runtime, and a log of every message and output the tests see, checked
// for the client secret.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** The client id and secret the local auth server accepts in these tests. */
export const CLIENT_ID = "test-client";
/** A secret distinctive enough that finding it anywhere in output is a leak. */
export const CLIENT_SECRET = "s3cret-Zq8vX2-never-print-me";
/** Clients for `startAuthServer({ clients })`. */
export const CLIENTS: Record<string, string> = { [CLIENT_ID]: CLIENT_SECRET };

const seen: string[] = [];

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

const repoRoot = new URL("..", import.meta.url);

/**
 * The command that runs the `kognic-auth` CLI on the current runtime:
 * `KOGNIC_AUTH_CLI` (a JSON array) when set, as the npm build's test run sets
 * it, else `cli.ts` under Deno or Bun.
 */
export function cliCommand(): string[] {
  const fromEnv = process.env.KOGNIC_AUTH_CLI;
  if (fromEnv) return JSON.parse(fromEnv);
  const cli = new URL("cli.ts", repoRoot).pathname;
  if ("Deno" in globalThis) {
    return [process.execPath, "run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", cli];
  }
  return [process.execPath, cli];
}

/** The outcome of a subprocess. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI as a real subprocess with exactly the environment given (plus
 * PATH and HOME) and records its output.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const [cmd, ...prefix] = cliCommand();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NO_COLOR: "1",
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...prefix, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      record(stdout);
      record(stderr);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

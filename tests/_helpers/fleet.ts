/**
 * One process of a fleet for the shared token cache tests (Redis, Deno KV):
 * a test file runs itself as a child that gets one token through a session
 * on its own cache and reports it as a line of JSON.
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { AuthSession } from "../../mod.ts";
import type { TokenCache } from "../../src/core/token_cache.ts";
import { CLIENT_ID, CLIENT_SECRET, record } from "./mod.ts";

/** What a child reports. */
export interface ChildReport {
  ok: boolean;
  token?: string;
  fallbacks: string[];
  message?: string;
}

/**
 * The child's side: one token from `authServer` through `cache`, written to
 * stdout as a {@linkcode ChildReport}; `fallbacks` is filled by the cache's
 * `onFallback`. The cache is closed afterwards.
 */
export async function reportOneToken(
  cache: TokenCache & { close(): Promise<void> },
  authServer: string,
  fallbacks: string[],
): Promise<void> {
  const report: ChildReport = { ok: false, fallbacks };
  try {
    const session = new AuthSession({
      authServer,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      tokenCache: cache,
      // The fleet tests' token servers are slow on purpose (longer than a
      // lease); a generous attempt timeout keeps a busy machine from turning
      // that into a retry, a second token request.
      timeout: 60_000,
    });
    report.token = (await session.getToken()).accessToken;
    report.ok = true;
  } catch (error) {
    report.message = String((error as Error)?.message);
  }
  await cache.close();
  process.stdout.write(JSON.stringify(report) + "\n");
}

/**
 * The parent's side: runs `args` on this runtime with `options` as JSON in
 * the variable `variable`, killed after 90 s; its report, or one saying how
 * it ended.
 */
export function spawnChild(
  args: string[],
  variable: string,
  options: unknown,
): { result: Promise<ChildReport>; kill: () => void } {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, NO_COLOR: "1", [variable]: JSON.stringify(options) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const result = new Promise<ChildReport>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      record(stdout + stderr);
      try {
        resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? ""));
      } catch {
        resolve({ ok: false, fallbacks: [], message: `exit ${code ?? signal}: ${stderr}` });
      }
    });
  });
  return { result, kill: () => child.kill("SIGKILL") };
}

/** Polls `check` every 50 ms, for at most 30 s. */
export async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting until ${what}`);
}

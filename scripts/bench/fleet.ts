/**
 * The fleet part of the benchmark: token requests per expiry window for many
 * processes sharing one Redis token cache against each with a file cache of
 * its own (separate machines, as far as they can tell), and what a warm read
 * through each cache costs. Against a real redis-server on 127.0.0.1 (see
 * tests/_helpers/redis.ts) and the local auth server; `bench.ts` runs it as the
 * part `fleet`. Where redis-server is missing the part is skipped, saying so.
 *
 * A window is how long a token stays usable from a cache: the auth server
 * issues tokens of 34 s, which a cache hands out while more than 30 s are
 * left, so every process needs a new token in each window of 4.5 s. Each
 * process starts one new session per window (as a CLI run would).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { AuthSession } from "../../mod.ts";
import { FileTokenCache, MemoryTokenCache } from "../../src/config/token_cache.ts";
import { RedisTokenCache } from "../../src/config/redis_token_cache.ts";
import type { TokenCache } from "../../src/core/token_cache.ts";
import { startAuthServer } from "../../src/testing/auth_server.ts";
import { redisServerMissing, startRedis } from "../../tests/_helpers/redis.ts";

/** Token lifetime issued by the auth server, in s, and the window in ms. */
const TOKEN_LIFETIME = 34;
const WINDOW = 4_500;
const CLIENT = { clientId: "bench-client", clientSecret: "bench-secret-not-real" };

/** Requests per window for one way of caching. */
export interface FleetRow {
  cache: string;
  processes: number;
  windows: number;
  tokenRequests: number;
  perWindow: number;
  failedCalls: number;
}

/** The cost of a warm read through a cache (lock, then read), in ms. */
export interface WarmRead {
  cache: string;
  reads: number;
  median: number;
  p95: number;
}

/** The fleet part's figures. */
export interface FleetResult {
  skipped?: string;
  rows: FleetRow[];
  warm: WarmRead[];
  redisServer?: string;
}

interface WorkerOptions {
  mode: "redis" | "file";
  redisUrl?: string;
  authServer: string;
  home: string;
  windows: number;
}

/** One process of the fleet: a new session per window, each asking for a token. */
async function worker(options: WorkerOptions): Promise<void> {
  const cache: TokenCache & { close?: () => Promise<void> } = options.mode === "redis"
    ? new RedisTokenCache({ url: options.redisUrl })
    : new FileTokenCache({ path: join(options.home, "tokens.json") });
  // Loaded and connected: say so, then wait for the time of the first window.
  await cache.get("warm-up").catch(() => undefined);
  process.stdout.write("ready\n");
  const start = await new Promise<number>((resolve) => {
    let input = "";
    process.stdin.on("data", (chunk) => {
      input += chunk;
      if (input.includes("\n")) {
        process.stdin.pause();
        resolve(Number(input.trim()));
      }
    });
  });
  let failed = 0;
  for (let window = 0; window < options.windows; window++) {
    const at = start + window * WINDOW;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
    try {
      await new AuthSession({ authServer: options.authServer, ...CLIENT, tokenCache: cache })
        .getToken();
    } catch {
      failed++;
    }
  }
  await cache.close?.();
  process.stdout.write(JSON.stringify({ failed }) + "\n");
}

interface Worker {
  ready: Promise<void>;
  start(at: number): void;
  result: Promise<{ failed: number }>;
}

function runWorker(options: WorkerOptions): Worker {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ["run", "-A", self], {
    env: { ...process.env, KOGNIC_FLEET_WORKER: JSON.stringify(options) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let stdout = "";
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    if (stdout.startsWith("ready\n")) ready();
  });
  child.on("close", () => ready());
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000 + options.windows * WINDOW);
  const result = new Promise<{ failed: number }>((resolve) => {
    child.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? ""));
      } catch {
        resolve({ failed: options.windows });
      }
    });
  });
  return {
    ready: isReady,
    start: (at) => child.stdin.end(`${at}\n`),
    result,
  };
}

async function measureFleet(
  mode: "redis" | "file",
  processes: number,
  windows: number,
  redisUrl: string | undefined,
): Promise<FleetRow> {
  await using server = await startAuthServer({
    clients: { [CLIENT.clientId]: CLIENT.clientSecret },
    tokenLifetime: TOKEN_LIFETIME,
  });
  const root = await mkdtemp(join(tmpdir(), "kognic-bench-fleet-"));
  try {
    const workers = await Promise.all(
      Array.from({ length: processes }, async (_, n) => {
        const home = join(root, `machine-${n}`);
        await mkdir(home, { recursive: true });
        return runWorker({ mode, redisUrl, authServer: server.url, home, windows });
      }),
    );
    // The first window opens once every worker has started.
    await Promise.all(workers.map((worker) => worker.ready));
    const start = Date.now() + 500;
    for (const worker of workers) worker.start(start);
    const runs = await Promise.all(workers.map((worker) => worker.result));
    const tokenRequests = server.counts.tokenRequests;
    return {
      cache: mode === "redis" ? "one Redis for all" : "a file cache each",
      processes,
      windows,
      tokenRequests,
      perWindow: tokenRequests / windows,
      failedCalls: runs.reduce((sum, run) => sum + run.failed, 0),
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function measureWarm(name: string, cache: TokenCache, reads: number): Promise<WarmRead> {
  const now = Date.now();
  await cache.set("bench", {
    accessToken: "a",
    tokenType: "Bearer",
    issuedAt: now,
    expiresAt: now + 3_600_000,
  });
  const times: number[] = [];
  for (let i = 0; i < reads + 20; i++) {
    const started = performance.now();
    const token = await cache.withLock("bench", () => cache.get("bench"));
    if (token?.accessToken !== "a") throw new Error(`${name}: the warm read found no token`);
    if (i >= 20) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { cache: name, reads, median: at(0.5), p95: at(0.95) };
}

/**
 * Runs the fleet part: `processes` processes over `windows` windows for each
 * way of caching, and `reads` warm reads through memory, a file and Redis.
 */
export async function runFleet(
  sizes: { processes: number; windows: number; reads: number },
): Promise<FleetResult> {
  const missing = redisServerMissing();
  if (missing) {
    return { skipped: `the Redis token cache was not measured: ${missing}`, rows: [], warm: [] };
  }
  await using redis = await startRedis();
  const rows = [
    await measureFleet("redis", sizes.processes, sizes.windows, redis.url),
    await measureFleet("file", sizes.processes, sizes.windows, undefined),
  ];
  const dir = await mkdtemp(join(tmpdir(), "kognic-bench-warm-"));
  const redisCache = new RedisTokenCache({ url: redis.url });
  try {
    const warm = [
      await measureWarm("memory", new MemoryTokenCache(), sizes.reads),
      await measureWarm(
        "file",
        new FileTokenCache({ path: join(dir, "tokens.json") }),
        sizes.reads,
      ),
      await measureWarm("Redis (127.0.0.1)", redisCache, sizes.reads),
    ];
    return { rows, warm };
  } finally {
    await redisCache.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What is wrong with the figures of a smoke run, if anything. */
export function fleetProblems(result: FleetResult): string[] {
  if (result.skipped) return [];
  const problems: string[] = [];
  for (const row of result.rows) {
    if (row.failedCalls > 0) problems.push(`fleet: ${row.failedCalls} failed calls (${row.cache})`);
    if (!(row.tokenRequests >= row.windows)) {
      problems.push(
        `fleet: ${row.tokenRequests} token requests in ${row.windows} windows (${row.cache})`,
      );
    }
  }
  for (const read of result.warm) {
    if (!(Number.isFinite(read.median) && read.median >= 0)) {
      problems.push(`fleet: no warm read time for ${read.cache}`);
    }
  }
  return problems;
}

/** The figures as Markdown. */
export function renderFleet(result: FleetResult): string {
  if (result.skipped) return `## Fleets\n\nSkipped: ${result.skipped}.\n`;
  const memory = result.warm.find((read) => read.cache === "memory")?.median ?? 0;
  return [
    "## Fleets: one token for many processes",
    "",
    `Token requests per expiry window (tokens of ${TOKEN_LIFETIME} s, used from a cache while ` +
    `more than 30 s are left; one new session per process and window of ${WINDOW / 1000} s):`,
    "",
    "| cache | processes | windows | token requests | per window | failed calls |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...result.rows.map((row) =>
      `| ${row.cache} | ${row.processes} | ${row.windows} | ${row.tokenRequests} | ` +
      `${row.perWindow.toFixed(1)} | ${row.failedCalls} |`
    ),
    "",
    "A warm read through the cache (`withLock`, then `get`), as a session does it:",
    "",
    "| cache | reads | median ms | p95 ms | added to memory, median ms |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...result.warm.map((read) =>
      `| ${read.cache} | ${read.reads} | ${read.median.toFixed(3)} | ${read.p95.toFixed(3)} | ` +
      `${(read.median - memory).toFixed(3)} |`
    ),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const options = process.env.KOGNIC_FLEET_WORKER;
  if (options) await worker(JSON.parse(options));
  else {
    const result = await runFleet({ processes: 50, windows: 3, reads: 500 });
    console.log(renderFleet(result));
  }
}

/**
 * Benchmarks of `@kognic/auth` against the libraries users would pick
 * instead, on Deno and on Node.js 20, 22 and 24 (the npm build), written as
 * figures to `docs/benchmarks.json` and rendered from there (scripts/render_doc.ts)
 * as `docs/benchmarks.md`:
 *
 * ```sh
 * deno task bench                      # everything; about 5 minutes
 * deno task bench --smoke              # a quick run that checks the numbers are sane (CI)
 * deno task bench --candidate=path/to/mod.ts   # measure a change beside the current code
 * ```
 *
 * Options:
 *
 * - `--smoke`: tiny sizes, every part once, on Deno and Node.js 20 unless
 *   `--runtimes` says otherwise; checks that every figure is there and sane
 *   (no timing thresholds) and exits 1 if not; results in `.tmp/bench/`.
 * - `--runtimes=deno,node20,node22,node24`: the runtimes to measure.
 * - `--build` / `--no-build`: rebuild `npm/` first, or use it as it is; by
 *   default it is built only when missing or older than the sources.
 * - `--candidate=FILE`: a changed copy of `mod.ts`, measured as its own row
 *   beside the current code (bundled with esbuild for Node); results in
 *   `.tmp/bench/`.
 * - `--parts=overhead,storm,cold,size,mcp,startup,fetch`: the parts
 *   to run (all by default); with fewer, results go to `.tmp/bench/`.
 * - `--out=DIR`: where to write `benchmarks.json` and `benchmarks.md`.
 * - `--mcp-calls=N`: sequential calls per forwarder per round in the `mcp` part
 *   (100); `--mcp-rounds=N` its rounds (10); `--mcp-rss=N`: also N calls through
 *   each bridge, RSS read every tenth (the 50,000-call check; off by default).
 * - `--update-doc`: with `--parts=mcp`, replace the MCP section of
 *   `docs/benchmarks.json` with this run's and render the documents again,
 *   leaving the other sections as they were measured.
 *
 * Every figure is reported against a baseline measured in the same run (raw
 * fetch, the runtime's empty start, ours), since absolute times drift on a
 * shared machine. The parts:
 *
 * 1. per-request overhead with a cached token against a loopback HTTP server
 *    in another process (sequential and 16 concurrent; latency and CPU time);
 * 2. cold start: fresh processes from import to the first authorized
 *    response, and the `kognic-auth get-access-token` command;
 * 3. cold storm: 1,000 concurrent first calls, and the token requests they make;
 * 4. size: esbuild `--bundle --minify`, gzip -9; our npm tarball;
 * 5. MCP proxy latency;
 * 6. start-up of the command (`startup`): `--version`, `get-access-token`
 *    warm and cold, the floor (start, one file read, one loopback GET), each
 *    paired with the same round's empty start, every runtime side by side;
 * 7. `AuthSession.fetch` against raw fetch over loopback (`fetch`) on Deno,
 *    Node.js and Bun, round by round, with raw against raw as the method's
 *    spread, and the resident set size over 100,000 calls.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { buildToolBin, bunBin, nodeBin, ROOT, versionOf, VERSIONS } from "../npm_tools.ts";
import { CASES, PEERS, type TaskOptions } from "./cases.ts";
import { coldCases, coldEnv, type ColdRuntime, measureCold } from "./cold.ts";
import { measureSizes, type SizeResult, tarballOf, type TarballResult } from "./size.ts";
import { writeDocument } from "../render_doc.ts";
import { benchDocument, type BenchResult, type RuntimeRun, withMcpSection } from "./figures.ts";
import type { Doc } from "../render_doc.ts";
import { type McpResult, measureMcp } from "./mcp.ts";
import { measureStartup, type StartupResult, type StartupRuntime } from "./startup.ts";
import type { FetchRatioRun } from "./figures.ts";

/** The runtimes measured, by id. */
export const RUNTIMES = ["deno", "node20", "node22", "node24"] as const;
type RuntimeId = typeof RUNTIMES[number];

/** The parts of a run, by name. */
export const PARTS = [
  "overhead",
  "storm",
  "cold",
  "size",
  "mcp",
  "startup",
  "fetch",
] as const;
type Part = typeof PARTS[number];

interface Config {
  smoke: boolean;
  parts: Part[];
  /** Build `npm/` first: always, never, or when it is missing or older than the sources. */
  build: "always" | "never" | "auto";
  runtimes: RuntimeId[];
  candidate: string | undefined;
  out: string;
  /** Overrides of the `mcp` part's sizes. */
  mcp: Partial<Record<"rounds" | "perRound" | "long", number>>;
  /** Splice the `mcp` part into docs/benchmarks.json. */
  updateDoc: boolean;
}

/** Sizes of each part: the full run and the smoke run. */
const SIZES = {
  full: {
    loopback: { rounds: 16, perRound: 200, concurrency: 16 },
    storm: 1000,
    stormRepeats: 3,
    cold: { warmups: 2, rounds: 20 },
    mcp: { rounds: 10, perRound: 100, perCaller: 10, long: 0 },
    startup: { warmups: 2, rounds: 20 },
    fetch: { rounds: 200, batch: 25, calls: 100_000 },
  },
  smoke: {
    loopback: { rounds: 1, perRound: 10, concurrency: 16 },
    storm: 50,
    stormRepeats: 1,
    cold: { warmups: 0, rounds: 1 },
    mcp: { rounds: 1, perRound: 5, perCaller: 1, long: 0 },
    startup: { warmups: 0, rounds: 1 },
    // Just past the 1,000 calls after which the first RSS figure is taken.
    fetch: { rounds: 3, batch: 5, calls: 1_100 },
  },
};

const BENCH_NODE = join(ROOT, ".tmp", "bench-node");
const DENO = process.execPath;

function parseArgs(args: string[]): Config {
  const config: Config = {
    smoke: false,
    build: "auto",
    runtimes: [],
    parts: [...PARTS],
    candidate: undefined,
    out: "",
    mcp: {},
    updateDoc: false,
  };
  for (const arg of args) {
    const [key, value] = arg.split(/=(.*)/s, 2);
    if (key === "--smoke") config.smoke = true;
    else if (key === "--build") config.build = "always";
    else if (key === "--no-build") config.build = "never";
    else if (key === "--candidate" && value) config.candidate = resolve(value);
    else if (key === "--out" && value) config.out = resolve(value);
    else if (key === "--update-doc") config.updateDoc = true;
    else if (
      (key === "--mcp-calls" || key === "--mcp-rounds" || key === "--mcp-rss") &&
      /^\d+$/.test(value ?? "")
    ) {
      const field =
        ({ "--mcp-calls": "perRound", "--mcp-rounds": "rounds", "--mcp-rss": "long" } as const)[
          key
        ];
      config.mcp[field] = Number(value);
    } else if (key === "--parts" && value) {
      const parts = value.split(",");
      const unknown = parts.filter((part) => !(PARTS as readonly string[]).includes(part));
      if (unknown.length) throw new TypeError(`Unknown parts: ${unknown.join(", ")}`);
      config.parts = parts as Part[];
    } else if (key === "--runtimes" && value) {
      const ids = value.split(",");
      const unknown = ids.filter((id) => !(RUNTIMES as readonly string[]).includes(id));
      if (unknown.length) throw new TypeError(`Unknown runtimes: ${unknown.join(", ")}`);
      config.runtimes = ids as RuntimeId[];
    } else {
      throw new TypeError(`Unknown argument "${arg}"`);
    }
  }
  // The smoke run covers each code path once: Deno, and Node through the npm build.
  if (config.runtimes.length === 0) {
    config.runtimes = config.smoke ? ["deno", "node20"] : [...RUNTIMES];
  }
  config.out ||= config.smoke || config.candidate || config.parts.length < PARTS.length
    ? join(ROOT, ".tmp", "bench")
    : join(ROOT, "docs");
  return config;
}

function log(text: string): void {
  console.error(`[bench] ${text}`);
}

function run(cmd: string, args: string[], cwd = ROOT): string {
  const result = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}

/** Runs a child to its end, passing its stderr through, and parses the last line of its stdout. */
function runJson(cmd: string[], cwd: string): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { cwd, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      if (code !== 0) return reject(new Error(`${cmd.join(" ")} exited with ${code}`));
      try {
        resolvePromise(JSON.parse(line));
      } catch {
        reject(new Error(`No JSON result from ${cmd.join(" ")}: ${stdout.slice(-500)}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------
// The npm build and the Node scratch project

function newestSource(): number {
  let newest = 0;
  const visit = (path: string): void => {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (path.endsWith(".ts") || path.endsWith(".json")) {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (
    const path of ["mod.ts", "cli.ts", "testing.ts", "testing_server.ts", "src", "bin", "deno.json"]
  ) {
    if (existsSync(join(ROOT, path))) visit(join(ROOT, path));
  }
  return newest;
}

/** Builds `npm/` when asked, missing or older than the sources; returns whether a build exists. */
function ensureNpmBuild(config: Config): boolean {
  const built = join(ROOT, "npm", "package.json");
  const stale = !existsSync(join(ROOT, "npm", "esm", "mod.js")) || !existsSync(built) ||
    statSync(built).mtimeMs < newestSource();
  if (config.build === "always" || (config.build === "auto" && stale)) {
    log(stale ? "npm/ is missing or older than the sources: building it" : "building npm/");
    const result = spawnSync(DENO, ["run", "-A", "scripts/build_npm.ts"], {
      cwd: ROOT,
      stdio: ["ignore", 2, 2],
    });
    if (result.status !== 0) {
      log("the npm build failed: the Node.js parts are left out");
      return false;
    }
  }
  return existsSync(join(ROOT, "npm", "esm", "mod.js"));
}

/** Packs the npm build into `.tmp/bench-node/` and returns the tarball's figures. */
function packNpmBuild(): TarballResult {
  mkdirSync(BENCH_NODE, { recursive: true });
  for (const name of readdirSync(BENCH_NODE)) {
    if (name.endsWith(".tgz")) rmSync(join(BENCH_NODE, name));
  }
  return tarballOf(
    run(
      "npm",
      ["pack", "--json", "--pack-destination", BENCH_NODE, "--loglevel=error"],
      join(ROOT, "npm"),
    ),
  );
}

/**
 * Prepares `.tmp/bench-node/`, the Node side's scratch project: the pinned
 * peers (also used for the size figures) and, when there is one, our npm
 * tarball installed with npm; the runtime-neutral cases transpiled to
 * JavaScript beside the Node entry; and a candidate change bundled for Node.
 */
function prepareNodeProject(tarball: TarballResult | undefined, candidate?: string): void {
  mkdirSync(BENCH_NODE, { recursive: true });
  const dependencies: Record<string, string> = { ...PEERS };
  if (tarball) dependencies["@kognic/auth"] = `file:${tarball.file}`;
  const manifest = { private: true, type: "module", dependencies };
  writeFileSync(join(BENCH_NODE, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  // A fresh install of our package every time: the tarball's content changes under the same name.
  rmSync(join(BENCH_NODE, "node_modules", "@kognic"), { recursive: true, force: true });
  rmSync(join(BENCH_NODE, "package-lock.json"), { force: true });
  log(`installing ${tarball ? "the npm build and " : ""}the peers into .tmp/bench-node`);
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], BENCH_NODE);
  const esbuild = buildToolBin("esbuild");
  run(esbuild, [
    join(ROOT, "scripts", "bench", "cases.ts"),
    "--format=esm",
    "--target=es2022",
    `--outfile=${join(BENCH_NODE, "cases.mjs")}`,
    "--log-level=warning",
  ]);
  copyFileSync(join(ROOT, "scripts", "bench", "node_runner.mjs"), join(BENCH_NODE, "run.mjs"));
  if (candidate) {
    run(esbuild, [
      candidate,
      "--bundle",
      "--format=esm",
      "--platform=node",
      "--target=esnext",
      "--packages=external",
      `--outfile=${join(BENCH_NODE, "candidate.mjs")}`,
      "--log-level=warning",
    ]);
  }
}

// ---------------------------------------------------------------------------
// The loopback server

interface LoopbackServer {
  url: string;
  close(): Promise<void>;
}

function startServer(): Promise<LoopbackServer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      DENO,
      ["run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", "scripts/bench/server.ts"],
      { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] },
    );
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      buffered += chunk;
      const line = buffered.split("\n")[0];
      if (!buffered.includes("\n")) return;
      child.stdout.off("data", onData);
      const { url } = JSON.parse(line) as { url: string };
      resolvePromise({
        url,
        close: () =>
          new Promise((done) => {
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            child.on("close", () => {
              clearTimeout(timer);
              done();
            });
            child.stdin.end();
          }),
      });
    };
    child.stdout.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) => reject(new Error(`The loopback server exited (${code})`)));
  });
}

// ---------------------------------------------------------------------------
// Runtimes

interface RuntimeSpec {
  id: RuntimeId;
  bin: string;
  version: string;
  label: string;
  task(options: TaskOptions): string[];
  cwd: string;
  cold: ColdRuntime;
}

function runtimeSpec(id: RuntimeId, candidate: string | undefined): RuntimeSpec {
  if (id === "deno") {
    const version = (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version
      .deno;
    return {
      id,
      bin: DENO,
      version,
      label: `Deno ${version}`,
      cwd: ROOT,
      task: (options) => [
        DENO,
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        "scripts/bench/deno_runner.ts",
        JSON.stringify({ ...options, candidate }),
      ],
      cold: {
        kind: "deno",
        bin: DENO,
        dir: join(ROOT, ".tmp", "bench-cold-deno"),
        ours: new URL("../../mod.ts", import.meta.url).href,
        peer: (name) => `npm:${name}@${PEERS[name]}`,
      },
    };
  }
  const major = Number(id.slice(4)) as 20 | 22 | 24;
  const bin = nodeBin(major);
  const version = versionOf(bin);
  return {
    id,
    bin,
    version,
    label: `Node.js ${version}`,
    cwd: BENCH_NODE,
    task: (options) => [
      bin,
      join(BENCH_NODE, "run.mjs"),
      JSON.stringify({ ...options, candidate: candidate && join(BENCH_NODE, "candidate.mjs") }),
    ],
    cold: {
      kind: "node",
      bin,
      dir: join(BENCH_NODE, "cold"),
      ours: "@kognic/auth",
      peer: (name) => name,
    },
  };
}

async function measureRuntime(
  spec: RuntimeSpec,
  server: LoopbackServer,
  config: Config,
  denoDir: string,
): Promise<RuntimeRun> {
  const sizes = config.smoke ? SIZES.smoke : SIZES.full;
  const result: RuntimeRun = { id: spec.id, label: spec.label, version: spec.version, errors: {} };
  const task = async (name: string, options: TaskOptions): Promise<Record<string, unknown>> => {
    log(`${spec.label}: ${name}`);
    const started = Date.now();
    const out = await runJson(spec.task(options), spec.cwd);
    for (const [key, message] of Object.entries((out.errors ?? {}) as Record<string, string>)) {
      result.errors[key] ??= message;
    }
    log(`${spec.label}: ${name} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return out;
  };
  const parts = new Set(config.parts);
  result.loadBefore = os.loadavg()[0];
  if (parts.has("overhead")) {
    result.loopback = await task("overhead, loopback HTTP", {
      task: "loopback",
      serverUrl: server.url,
      ...sizes.loopback,
    }) as never;
  }
  if (parts.has("storm")) {
    result.storm = await task("cold storm", {
      task: "storm",
      storm: sizes.storm,
      stormRepeats: sizes.stormRepeats,
    }) as never;
  }
  if (parts.has("cold")) {
    log(`${spec.label}: cold start`);
    result.cold = await measureCold(coldCases(spec.cold), server.url, {
      // Deno runs from the project, whose deno.json maps the optional npm imports.
      cwd: spec.cold.kind === "deno" ? ROOT : BENCH_NODE,
      env: coldEnv(join(ROOT, ".tmp", "bench-home"), denoDir),
      ...sizes.cold,
    });
  }
  result.loadAfter = os.loadavg()[0];
  return result;
}

// ---------------------------------------------------------------------------
// The start-up and fetch parts: every runtime side by side

/** Deno as a JSR user runs the command, and the npm bin on each Node.js. */
function startupRuntimes(runtimes: RuntimeId[], installed: boolean): StartupRuntime[] {
  const permissions = ["--allow-net=127.0.0.1", "--allow-read", "--allow-write", "--allow-env"];
  const bin = installed
    ? join(BENCH_NODE, "node_modules", "@kognic", "auth", "esm", "bin", "kognic-auth.js")
    : join(ROOT, "npm", "esm", "bin", "kognic-auth.js");
  return runtimes.map((id) => {
    if (id === "deno") {
      const version = (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno
        .version.deno;
      return {
        label: `Deno ${version}`,
        script: [DENO, "run", ...permissions],
        cli: [DENO, "run", ...permissions, join(ROOT, "cli.ts")],
        extension: "ts",
        nodeHttp: false,
      };
    }
    const node = nodeBin(Number(id.slice(4)) as 20 | 22 | 24);
    return {
      label: `Node.js ${versionOf(node)}`,
      script: [node],
      cli: [node, bin],
      extension: "mjs",
      nodeHttp: true,
    };
  });
}

/** AuthSession.fetch against raw fetch on each runtime, and Bun, against the loopback server. */
async function measureFetchRatio(
  runtimes: RuntimeId[],
  serverUrl: string,
  config: Config,
): Promise<FetchRatioRun[]> {
  const sizes = config.smoke ? SIZES.smoke.fetch : SIZES.full.fetch;
  const script = join(ROOT, "scripts", "bench", "fetch_ratio.mjs");
  const tail = [serverUrl, String(sizes.rounds), String(sizes.batch), String(sizes.calls)];
  const npmModule = join(ROOT, "npm", "esm", "mod.js");
  const targets: { label: string; command: string[] }[] = [];
  for (const id of runtimes) {
    if (id === "deno") {
      const version = (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno
        .version.deno;
      targets.push({
        label: `Deno ${version}`,
        command: [
          DENO,
          "run",
          "--allow-net=127.0.0.1",
          "--allow-read",
          "--allow-env",
          "--v8-flags=--expose-gc",
          script,
          join(ROOT, "mod.ts"),
          ...tail,
        ],
      });
    } else if (existsSync(npmModule)) {
      const node = nodeBin(Number(id.slice(4)) as 20 | 22 | 24);
      targets.push({
        label: `Node.js ${versionOf(node)}`,
        command: [node, "--expose-gc", script, npmModule, ...tail],
      });
    }
  }
  try {
    const bun = bunBin();
    targets.push({
      label: `Bun ${versionOf(bun)}`,
      command: [bun, script, join(ROOT, "mod.ts"), ...tail],
    });
  } catch (error) {
    log(`fetch: no Bun (${error instanceof Error ? error.message : error})`);
  }
  const results: FetchRatioRun[] = [];
  for (const target of targets) {
    log(`fetch: ${target.label}`);
    try {
      results.push({ label: target.label, ...(await runJson(target.command, ROOT)) });
    } catch (error) {
      results.push({ label: target.label, error: String((error as Error)?.message ?? error) });
    }
  }
  return results;
}

// ---------------------------------------------------------------------------
// Smoke checks: sane numbers, no timing thresholds

function smokeProblems(result: BenchResult): string[] {
  const problems: string[] = [];
  const finitePositive = (value: unknown): boolean =>
    typeof value === "number" && Number.isFinite(value) && value > 0;
  for (const row of result.mcp?.rows ?? []) {
    if (row.error) problems.push(`mcp: ${row.name} did not run: ${row.error}`);
    else if (![row.sequential?.p50, row.concurrent?.p50, row.rss[0]?.mb].every(finitePositive)) {
      problems.push(`mcp: ${row.name} has no latency or RSS figure`);
    }
  }
  for (const runtime of result.runtimes) {
    const at = runtime.label;
    for (const [name, message] of Object.entries(runtime.errors)) {
      if (name === "fetch" || name.startsWith("@kognic/auth")) {
        problems.push(`${at}: ${name} failed: ${message}`);
      }
    }
    for (const name of CASES) {
      if (runtime.errors[name]) continue;
      const loop = runtime.loopback?.results[name];
      for (
        const value of [
          loop?.sequential.median,
          loop?.concurrentPerRequest.median,
        ]
      ) {
        if (!finitePositive(value)) problems.push(`${at}: ${name} has a missing or bad timing`);
      }
      const storm = runtime.storm?.results[name];
      if (!storm || storm.ok !== storm.calls) {
        problems.push(`${at}: storm: ${name} answered ${storm?.ok} of ${storm?.calls} calls`);
      }
    }
    const ours = runtime.storm?.results["@kognic/auth"];
    if (ours?.tokenRequests !== 1) {
      problems.push(`${at}: storm: @kognic/auth made ${ours?.tokenRequests} token requests, not 1`);
    }
    for (const cold of runtime.cold ?? []) {
      if (cold.error && !cold.name.match(/^(@badgateway|oauth4webapi|openid-client|ky)/)) {
        problems.push(`${at}: cold start of ${cold.name} failed: ${cold.error}`);
      }
      if (!cold.error && !finitePositive(cold.wall.median)) {
        problems.push(`${at}: cold start of ${cold.name} has no time`);
      }
    }
  }
  for (const run of result.startup?.runtimes ?? []) {
    for (const row of run.cases) {
      if (row.error) problems.push(`${run.label}: start-up: ${row.name} failed: ${row.error}`);
      else if (!finitePositive(row.wall.median)) {
        problems.push(`${run.label}: start-up: ${row.name} has no time`);
      }
    }
  }
  for (const run of result.fetchRatio ?? []) {
    if (run.error) problems.push(`${run.label}: fetch: ${run.error}`);
    else if (!finitePositive(run.ratio?.median) || !finitePositive(run.memory?.rssAfterAll)) {
      problems.push(`${run.label}: fetch: missing or bad figures`);
    }
  }
  for (const size of result.sizes) {
    const { used, whole } = size;
    if (
      !finitePositive(used.onImport.gzipped) || used.onImport.gzipped > used.all.gzipped + 64 ||
      whole.all.gzipped > whole.all.minified
    ) {
      problems.push(`size: ${size.name} has bad figures`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------

/** Checks that the Deno entry imports the peers at the versions pinned in PEERS. */
function checkDenoPins(): void {
  const entry = readFileSync(join(ROOT, "scripts", "bench", "deno_runner.ts"), "utf8");
  for (const [name, version] of Object.entries(PEERS)) {
    if (!entry.includes(`"npm:${name}@${version}"`)) {
      throw new Error(`scripts/bench/deno_runner.ts does not import npm:${name}@${version}`);
    }
  }
}

function gitDescription(): string {
  try {
    const commit = run("git", ["rev-parse", "--short", "HEAD"]).trim();
    const dirty = run("git", ["status", "--porcelain", "--untracked-files=no"]).trim() !== "";
    return dirty ? `${commit} with uncommitted changes` : commit;
  } catch {
    return "unknown";
  }
}

async function main(args: string[]): Promise<number> {
  const config = parseArgs(args);
  const started = Date.now();
  checkDenoPins();
  const denoDir = JSON.parse(run(DENO, ["info", "--json"])).denoDir as string;
  const pending: string[] = [];

  let tarball: TarballResult | undefined;
  let runtimes = config.runtimes;
  if (runtimes.some((id) => id !== "deno")) {
    if (ensureNpmBuild(config)) {
      tarball = packNpmBuild();
    } else if (config.smoke) {
      throw new Error("No npm build to measure on Node.js (deno task build:npm)");
    } else {
      runtimes = runtimes.filter((id) => id === "deno");
      pending.push(
        "Node.js 20/22/24 figures and the npm tarball: no npm build (`deno task build:npm`).",
      );
    }
  }
  prepareNodeProject(tarball, config.candidate);

  const loadStart = os.loadavg();
  const server = await startServer();
  log(`loopback server at ${server.url}`);
  const runs: RuntimeRun[] = [];
  let startup: StartupResult | undefined;
  let fetchRatio: FetchRatioRun[] | undefined;
  const runtimeParts = config.parts.filter((part) => part !== "startup" && part !== "fetch");
  try {
    if (runtimeParts.length) {
      for (const id of runtimes) {
        runs.push(await measureRuntime(runtimeSpec(id, config.candidate), server, config, denoDir));
      }
    }
    if (config.parts.includes("startup")) {
      log("start-up of the command, every runtime side by side");
      startup = measureStartup(startupRuntimes(runtimes, tarball !== undefined), server.url, {
        scratch: join(ROOT, ".tmp", "bench-startup"),
        cwd: ROOT,
        env: coldEnv(join(ROOT, ".tmp", "bench-home"), denoDir),
        loadavg: () => os.loadavg(),
        ...(config.smoke ? SIZES.smoke.startup : SIZES.full.startup),
      });
    }
    if (config.parts.includes("fetch")) {
      fetchRatio = await measureFetchRatio(runtimes, server.url, config);
    }
  } finally {
    await server.close();
  }

  let mcp: McpResult | undefined;
  if (config.parts.includes("mcp")) {
    log("MCP bridge: the floor, kognic-auth mcp-proxy and mcp-remote, each in its own process");
    const sizes = { ...(config.smoke ? SIZES.smoke.mcp : SIZES.full.mcp), ...config.mcp };
    const bin = join(ROOT, "npm", "esm", "bin", "kognic-auth.js");
    mcp = await measureMcp(
      {
        deno: DENO,
        env: coldEnv(join(ROOT, ".tmp", "bench-home"), denoDir),
        nodeBin: runtimes.includes("node20") && existsSync(bin) ? bin : undefined,
        node: runtimes.includes("node20") ? nodeBin(20) : undefined,
      },
      sizes,
      log,
    );
  }

  let sizes: SizeResult[] = [];
  if (config.parts.includes("size")) {
    log("size");
    sizes = measureSizes(buildToolBin("esbuild"), BENCH_NODE, join(ROOT, "mod.ts"));
  }

  const cpus = os.cpus();
  const result: BenchResult = {
    date: new Date().toISOString(),
    smoke: config.smoke,
    candidate: config.candidate ? relative(ROOT, config.candidate) : undefined,
    command: config.smoke ? "deno task bench --smoke" : "deno task bench",
    git: gitDescription(),
    machine: {
      cpu: cpus[0]?.model ?? "unknown",
      cores: cpus.length,
      memoryGiB: os.totalmem() / 2 ** 30,
      os: `${os.type()} ${os.release()} (${os.arch()})`,
      loadStart,
      loadEnd: os.loadavg(),
    },
    versions: {
      "@kognic/auth": JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).version,
      ...(tarball ? { "@kognic/auth (npm build)": tarball.file } : {}),
      ...PEERS,
      esbuild: VERSIONS.esbuild,
    },
    runtimes: runs,
    mcp,
    sizes,
    startup,
    fetchRatio,
    tarball,
    pending,
    seconds: (Date.now() - started) / 1000,
  };

  mkdirSync(config.out, { recursive: true });
  mkdirSync(join(ROOT, ".tmp", "bench"), { recursive: true });
  writeFileSync(join(ROOT, ".tmp", "bench", "result.json"), JSON.stringify(result, null, 2));
  const written = writeDocument(join(config.out, "benchmarks.json"), benchDocument(result));
  log(`wrote ${written.map((path) => relative(ROOT, path)).join(", ")}`);
  if (config.updateDoc && mcp) {
    const path = join(ROOT, "docs", "benchmarks.json");
    const doc = JSON.parse(readFileSync(path, "utf8")) as Doc;
    const updated = writeDocument(path, withMcpSection(doc, result));
    log(`updated the MCP section of ${updated.map((file) => relative(ROOT, file)).join(", ")}`);
  }
  log(`in ${result.seconds.toFixed(0)} s`);

  if (config.smoke) {
    const problems = smokeProblems(result);
    for (const problem of problems) console.error(`smoke: ${problem}`);
    console.log(
      `bench --smoke: ${problems.length ? "FAILED" : "ok"} in ${result.seconds.toFixed(1)} s`,
    );
    return problems.length ? 1 : 0;
  }
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.stack : error}`);
    process.exitCode = 1;
  }
}

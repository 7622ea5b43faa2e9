/**
 * Runs the test suite on the other runtimes:
 *
 * - `node20`, `node22`, `node24`: `node --test` on the tests compiled into
 *   the npm build (`npm/esm/tests/`, importing the built files), with
 *   `KOGNIC_AUTH_CLI` set to run the package's `kognic-auth` bin;
 * - `bun`: `bun test` on the TypeScript sources.
 *
 * ```sh
 * deno task test:npm                                   # build, then every runtime
 * deno run -A scripts/test_npm.ts --skip-build node22  # one runtime, on the current build
 * ```
 *
 * Test files run at the same time (four by default, `KOGNIC_TEST_CONCURRENCY`):
 * `node --test --test-concurrency`, and `bun test` in parallel processes that
 * share the files out. The generated-case properties and the Redis fleet run
 * at full size on Deno (`deno task test`) and as a sample here (see `FULL_SIZE`).
 *
 * Each Node.js is the system's when it has that major version (this machine's
 * Node 20), else the `node` package from npm; Bun is the `bun` package (all
 * pinned in `npm_tools.ts`). Each run prints the tests skipped on that runtime, with
 * the reason the test gives (Bun prints no reason: it is the `skip` option's
 * text in the test), and the run closes with one line
 * `N passed, N failed, N skipped` over all runtimes. A runtime that ran no
 * test counts as a failure.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { buildNpm, ESM_DIR } from "./build_npm.ts";
import { bunBin, installTestDependencies, nodeBin, ROOT, versionOf } from "./npm_tools.ts";

/** The runtimes this script knows. */
export const RUNTIMES = ["node20", "node22", "node24", "bun"] as const;
/** One of {@linkcode RUNTIMES}. */
export type Runtime = typeof RUNTIMES[number];

/** Counts from one run. */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** A whole runtime's run may take this long before it is stopped. */
const RUN_TIMEOUT_MS = 15 * 60_000;

/**
 * Test files run at the same time on one runtime (`node --test
 * --test-concurrency`, parallel `bun test` processes): most of a test file's
 * time is waiting on servers, subprocesses and timers, not computing.
 * `KOGNIC_TEST_CONCURRENCY` overrides it.
 */
const CONCURRENCY = Math.max(1, Math.min(16, Number(process.env.KOGNIC_TEST_CONCURRENCY) || 4));

/**
 * The runtimes here on which the sized tests run at full size: none, since
 * `deno task test` runs them at full size on Deno. Two kinds of test are sized:
 *
 * - the generated-case properties (tests/hardening/fuzz_test.ts and
 *   security_test.ts), `KOGNIC_FUZZ_RUNS` cases per property;
 * - the fleet of processes sharing one Redis cache (tests/e2e/redis_test.ts),
 *   `KOGNIC_FLEET_SIZE` processes per wave.
 *
 * Both test the library's own logic (parsing, validation, the egress
 * decisions, the lease protocol), which is the same JavaScript everywhere;
 * the other runtimes run a sample ({@linkcode SAMPLE_RUNS} cases, a fleet of
 * {@linkcode SAMPLE_FLEET}), enough to take every path through their own
 * fetch, file, process and socket APIs, without proving the logic again.
 */
const FULL_SIZE: readonly Runtime[] = [];
/** Cases per property on the runtimes not in {@linkcode FULL_SIZE}. */
const SAMPLE_RUNS = 100;
/** Processes per wave of the Redis fleet on the runtimes not in {@linkcode FULL_SIZE}. */
const SAMPLE_FLEET = 4;

/**
 * Test files that run on one of the three Node.js versions (and on Deno and
 * Bun), not on all three: the MCP bridge's tests, the Redis fleet and the
 * `kog` command's start many processes of the same JavaScript, and cost as
 * much CPU as a third of the other files together. They are shared out so
 * that each version runs some. What differs between versions (fetch, streams,
 * files, child processes, the npm bin, the egress rule on every path, proxies
 * and CA certificates, faults) every other test file takes on all three.
 */
const ON_ONE_NODE: Readonly<Record<string, Runtime>> = {
  "tests/e2e/redis_test.js": "node20",
  "tests/e2e/mcp_limits_test.js": "node20",
  "tests/e2e/kog_mcp_test.js": "node20",
  "tests/e2e/mcp_requests_test.js": "node22",
  "tests/e2e/kog_test.js": "node22",
  "tests/e2e/mcp_eras_test.js": "node24",
  "tests/e2e/mcp_proxy_test.js": "node24",
};

/** The variables that size the sized tests on `runtime` (none: the tests' defaults). */
function testSizes(runtime: Runtime): Record<string, string> {
  const sizes: Record<string, string> = {};
  if (FULL_SIZE.includes(runtime)) return sizes;
  if (!process.env.KOGNIC_FUZZ_RUNS) sizes.KOGNIC_FUZZ_RUNS = String(SAMPLE_RUNS);
  if (!process.env.KOGNIC_FLEET_SIZE) sizes.KOGNIC_FLEET_SIZE = String(SAMPLE_FLEET);
  return sizes;
}

/**
 * Counts from the spec reporter of `node --test`:
 * `ℹ pass 171`, `ℹ fail 2`, `ℹ cancelled 0`, `ℹ skipped 1`, `ℹ todo 0`.
 */
export function nodeCounts(output: string): Counts | undefined {
  const count = (name: string): number | undefined => {
    const match = new RegExp(`^\\S+ ${name} (\\d+)$`, "m").exec(output);
    return match ? Number(match[1]) : undefined;
  };
  const passed = count("pass");
  const failed = count("fail");
  if (passed === undefined || failed === undefined) return undefined;
  return {
    passed,
    failed: failed + (count("cancelled") ?? 0),
    skipped: (count("skipped") ?? 0) + (count("todo") ?? 0),
  };
}

/**
 * Counts from `bun test`'s summary: ` 171 pass`, ` 1 skip`, ` 2 fail`, and
 * ` 1 error` for an error outside a test (a file that did not load), which
 * counts as failed.
 */
export function bunCounts(output: string): Counts | undefined {
  const count = (name: string): number | undefined => {
    const match = new RegExp(`^\\s*(\\d+) ${name}$`, "m").exec(output);
    return match ? Number(match[1]) : undefined;
  };
  const passed = count("pass");
  const failed = count("fail");
  if (passed === undefined || failed === undefined) return undefined;
  return {
    passed,
    failed: failed + (count("errors?") ?? 0),
    skipped: (count("skip") ?? 0) + (count("todo") ?? 0),
  };
}

/** Skipped tests and their reasons, from the spec reporter: `﹣ name (0.1ms) # reason`. */
export function nodeSkips(output: string): string[] {
  return [...output.matchAll(/^\s*﹣ (.+?) \([\d.]+m?s\)(?: # (.*))?$/gm)]
    .map(([, name, reason]) => reason ? `${name} (${reason})` : name);
}

/** Skipped tests from `bun test`: `(skip) describe > name` (Bun prints no reason). */
export function bunSkips(output: string): string[] {
  return [...new Set([...output.matchAll(/^\(skip\) (.+)$/gm)].map(([, name]) => name))];
}

/** The test files under `dir` (its `tests/` folder), as paths from `dir`'s parent. */
function testFiles(dir: string, extension: string): string[] {
  const walk = (folder: string, prefix: string): string[] =>
    readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? entry.name === "testdata" ? [] : walk(join(folder, entry.name), `${prefix}${entry.name}/`)
        : entry.name.endsWith(`_test${extension}`)
        ? [`${prefix}${entry.name}`]
        : []
    );
  return walk(dir, "./tests/").sort();
}

function run(
  cmd: string[],
  cwd: string,
  env: Record<string, string>,
  quiet = false,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
    });
    let output = "";
    const collect = (chunk: Buffer, to: NodeJS.WriteStream): void => {
      output += chunk.toString();
      if (!quiet) to.write(chunk);
    };
    child.stdout.on("data", (chunk: Buffer) => collect(chunk, process.stdout));
    child.stderr.on("data", (chunk: Buffer) => collect(chunk, process.stderr));
    const timer = setTimeout(() => {
      output += `\nStopped after ${RUN_TIMEOUT_MS / 60_000} minutes\n`;
      child.kill("SIGKILL");
    }, RUN_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}\n${error}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Runs the suite on one runtime and returns its counts (a run that counted nothing fails). */
export async function testOn(runtime: Runtime): Promise<Counts> {
  const started = Date.now();
  let label: string;
  let counts: Counts | undefined;
  let skips: string[] = [];
  let code: number | null;
  if (runtime === "bun") {
    installTestDependencies();
    const bun = bunBin();
    label = `Bun ${versionOf(bun)} (sources)`;
    console.log(`\n--- ${label}`);
    // bun test runs its files one after another in one process: the files
    // are shared out among CONCURRENCY processes, whose counts add up.
    const files = testFiles(join(ROOT, "tests"), ".ts");
    const shards = Array.from(
      { length: Math.min(CONCURRENCY, files.length) },
      (_, shard) => files.filter((_, i) => i % CONCURRENCY === shard),
    );
    const results = await Promise.all(
      shards.map((shard) =>
        run([bun, "test", "--timeout=600000", ...shard], ROOT, testSizes(runtime), true)
      ),
    );
    code = results.find((result) => result.code !== 0)?.code ?? 0;
    const parts = results.map((result) => bunCounts(result.output));
    for (const result of results) process.stdout.write(result.output);
    counts = parts.every((part) => part !== undefined)
      ? parts.reduce((sum, part) => ({
        passed: sum.passed + part.passed,
        failed: sum.failed + part.failed,
        skipped: sum.skipped + part.skipped,
      }), { passed: 0, failed: 0, skipped: 0 })
      : undefined;
    skips = results.flatMap((result) => bunSkips(result.output));
  } else {
    const node = nodeBin(Number(runtime.slice(4)) as 20 | 22 | 24);
    label = `Node.js ${versionOf(node)} (npm build)`;
    console.log(`\n--- ${label}`);
    const all = testFiles(join(ESM_DIR, "tests"), ".js");
    const missing = Object.keys(ON_ONE_NODE).filter((name) =>
      !all.some((file) => file.endsWith(name))
    );
    if (missing.length) throw new Error(`ON_ONE_NODE names no file: ${missing.join(", ")}`);
    const leftOut = Object.entries(ON_ONE_NODE).filter(([, on]) => on !== runtime);
    const files = all.filter((file) => !leftOut.some(([name]) => file.endsWith(name)));
    for (const [name, on] of leftOut) {
      console.log(`${label}: ${name} runs on Node.js ${on.slice(4)}, not here`);
    }
    const cli = JSON.stringify([node, join(ESM_DIR, "bin", "kognic-auth.js")]);
    const kog = JSON.stringify([node, join(ESM_DIR, "bin", "kog.js")]);
    const result = await run(
      [
        node,
        "--test",
        "--test-reporter=spec",
        "--test-timeout=600000",
        `--test-concurrency=${CONCURRENCY}`,
        ...files,
      ],
      ESM_DIR,
      {
        KOGNIC_AUTH_CLI: cli,
        KOGNIC_KOG_CLI: kog,
        KOGNIC_AUTH_TESTING_CLI: JSON.stringify([
          node,
          join(ESM_DIR, "bin", "kognic-auth-testing.js"),
        ]),
        ...testSizes(runtime),
      },
    );
    const output = result.output;
    code = result.code;
    counts = nodeCounts(output);
    skips = nodeSkips(output);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (!counts || counts.passed + counts.failed === 0) {
    console.log(`${label}: ran no test (${seconds} s)`);
    return { passed: 0, failed: 1, skipped: 0 };
  }
  if (code !== 0 && counts.failed === 0) {
    console.log(`${label}: exited with ${code ?? "a signal"} although no test failed`);
    counts = { ...counts, failed: 1 };
  }
  for (const skip of skips) console.log(`${label}: skipped: ${skip}`);
  console.log(
    `${label}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${seconds} s)`,
  );
  return counts;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const skipBuild = args.includes("--skip-build");
  const unknown = args.filter((arg) =>
    arg !== "--skip-build" && !RUNTIMES.includes(arg as Runtime)
  );
  if (unknown.length) {
    console.error(`Unknown runtime ${unknown.join(", ")}; expected some of ${RUNTIMES.join(", ")}`);
    process.exit(2);
  }
  const runtimes = args.filter((arg): arg is Runtime => RUNTIMES.includes(arg as Runtime));
  if (!runtimes.length) runtimes.push(...RUNTIMES);
  if (runtimes.some((runtime) => runtime.startsWith("node"))) {
    if (!skipBuild) buildNpm();
    else if (!existsSync(join(ESM_DIR, "tests"))) {
      console.error("No npm build: run `deno task build:npm` first, or leave out --skip-build");
      process.exit(1);
    }
  }
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const runtime of runtimes) {
    const counts = await testOn(runtime);
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
  }
  console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  process.exit(total.failed ? 1 : 0);
}

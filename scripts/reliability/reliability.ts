/**
 * `deno task reliability`: the fault matrix, the full fuzz run (10,000 cases
 * per property), the security checks and a bounded soak, all against local
 * servers on 127.0.0.1; then writes the figures as docs/reliability.json and
 * renders docs/reliability.md from them (scripts/render_doc.ts).
 *
 * ```sh
 * npx -y deno@2.9.6 task reliability             # the whole run (a little over two minutes)
 * npx -y deno@2.9.6 task reliability --soak 90   # a longer soak, in seconds
 * npx -y deno@2.9.6 task reliability --soak-only  # the soak alone; prints its figures, writes nothing
 * ```
 *
 * Steps:
 * 1. `deno test` on tests/hardening/reliability_test.ts, tests/hardening/security_test.ts,
 *    tests/hardening/fuzz_test.ts and the suites of the redactor, the number rule, the
 *    bounded reader, the token shape, the CLIs' edges and the egress rule, with KOGNIC_FUZZ_RUNS=10000 and
 *    KOGNIC_RELIABILITY_REPORT set, so that every row, property and check
 *    writes its figures;
 * 2. the soak: a local auth server issuing 2 s tokens, with 10% of token
 *    requests failing (a seeded mix of 500, 502, 503, 504, 429 and reset
 *    connections), and a client process (scripts/reliability/soak.ts) running
 *    200 concurrent callers through one AuthSession for a warm-up and then
 *    60 s;
 * 3. a scan of every output for the client secrets;
 * 4. docs/reliability.json, and docs/reliability.md rendered from it.
 *
 * Exits 1 when a test failed, a call failed in the soak, or anything crashed,
 * hung or leaked; the documents are written either way.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { cpus, release, tmpdir, type } from "node:os";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { startAuthServer } from "../../testing.ts";
import { CLIENT_SECRET } from "../../tests/_helpers/mod.ts";
import type { SoakConfig, SoakFigures } from "./soak.ts";
import { renderMarkdown, writeDocument } from "../render_doc.ts";
import { reliabilityDocument, type Run } from "./figures.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const DENO = process.execPath;
const FUZZ_RUNS = 10_000;
const TEST_FILES = [
  "tests/hardening/reliability_test.ts",
  "tests/hardening/security_test.ts",
  "tests/hardening/fuzz_test.ts",
  "tests/hardening/redaction_test.ts",
  "tests/hardening/numbers_test.ts",
  "tests/hardening/bounded_reads_test.ts",
  "tests/hardening/token_shape_test.ts",
  "tests/hardening/cli_bounds_test.ts",
  "tests/e2e/egress_test.ts",
];
const SOAK = {
  callers: 200,
  warmupMs: 20_000,
  durationMs: 60_000,
  tokenLifetime: 2,
  failureRate: 0.1,
};
const SOAK_CLIENT = "soak-client";
const SOAK_SECRET = `soak-${crypto.randomUUID()}-never-print`;

interface Exec {
  code: number;
  output: string;
  stdout: string;
}

/** Runs a command, echoing its output, and stops it after `timeoutMs`. */
function exec(
  cmd: string[],
  env: Record<string, string>,
  timeoutMs: number,
  echo = true,
): Promise<Exec> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    let output = "";
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
      stdout += chunk;
      if (echo) process.stdout.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
      if (echo) process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      output += `\nStopped after ${timeoutMs / 1000} s\n`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: 127, output: `${output}\n${error}`, stdout });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output, stdout });
    });
  });
}

async function gitState(): Promise<{ commit: string; dirty: string[] }> {
  const head = await exec(["git", "rev-parse", "--short=12", "HEAD"], {}, 10_000, false);
  const status = await exec(["git", "status", "--porcelain"], {}, 10_000, false);
  return {
    commit: head.code === 0 ? head.stdout.trim() : "unknown",
    dirty: status.stdout.split("\n").filter(Boolean),
  };
}

/** A small seeded generator, so that a soak's fault sequence can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function soak(seconds: number): Promise<Run["soak"]> {
  const server = await startAuthServer({
    clients: { [SOAK_CLIENT]: SOAK_SECRET },
    tokenLifetime: SOAK.tokenLifetime,
  });
  const seed = Number(process.env.KOGNIC_SOAK_SEED) || Math.floor(Math.random() * 2 ** 31);
  const random = mulberry32(seed);
  const kinds = [
    { status: 500 },
    { status: 502 },
    { status: 503 },
    { status: 504 },
    { status: 429 },
    { reset: true },
  ];
  // Every token request takes the next entry: a pass-through (`delay: 0`) or a fault.
  let longestRun = 0;
  let run = 0;
  const planned = 5000;
  for (let i = 0; i < planned; i++) {
    if (random() < SOAK.failureRate) {
      server.failTokenRequests(kinds[Math.floor(random() * kinds.length)]);
      longestRun = Math.max(longestRun, ++run);
    } else {
      server.failTokenRequests({ delay: 0 });
      run = 0;
    }
  }
  const config: SoakConfig = {
    authServer: server.url,
    apiUrl: server.apiUrl,
    clientId: SOAK_CLIENT,
    clientSecret: SOAK_SECRET,
    callers: SOAK.callers,
    warmupMs: SOAK.warmupMs,
    durationMs: seconds * 1000,
  };
  console.log(
    `\n=== soak: ${SOAK.callers} callers, ${SOAK.warmupMs / 1000} s warm-up + ${seconds} s, ` +
      `${SOAK.tokenLifetime} s tokens, ${
        SOAK.failureRate * 100
      }% token requests failing (seed ${seed})`,
  );
  let result: Exec;
  try {
    result = await exec(
      [
        DENO,
        "run",
        "--v8-flags=--expose-gc",
        "--allow-net=127.0.0.1",
        "--allow-env=KOGNIC_SOAK_CONFIG",
        "scripts/reliability/soak.ts",
      ],
      { KOGNIC_SOAK_CONFIG: JSON.stringify(config) },
      SOAK.warmupMs + seconds * 1000 + 180_000,
      false,
    );
  } finally {
    await server.close();
  }
  process.stderr.write(result.output.replace(result.stdout, ""));
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  let figures: SoakFigures | undefined;
  try {
    figures = JSON.parse(line);
  } catch { /* reported below */ }
  const requests = server.counts.tokenRequests;
  if (figures) {
    console.log(
      `soak: ${figures.soak.calls} calls, ${figures.soak.failed} failed; ` +
        `${figures.soak.tokensIssued} tokens, ${figures.soak.tokenRequests} token requests; heap ` +
        `${figures.heapAfterWarmup} -> ${figures.heapAfterSoak} bytes`,
    );
  }
  return {
    seed,
    exitCode: result.code,
    output: result.output,
    figures,
    server: {
      tokenRequests: requests,
      tokensIssued: server.counts.tokensIssued,
      apiRequests: server.counts.apiRequests,
      unauthorizedApiRequests: server.counts.unauthorizedApiRequests,
      faultsInjected: countInjected(requests, planned, seed),
    },
    longestFaultRun: longestRun,
    settings: { ...SOAK, durationMs: seconds * 1000 },
  };
}

/** How many of the first `requests` queue entries were faults (the queue is replayed from the seed). */
function countInjected(requests: number, planned: number, seed: number): number {
  const random = mulberry32(seed);
  let faults = 0;
  for (let i = 0; i < Math.min(requests, planned); i++) {
    if (random() < SOAK.failureRate) {
      faults++;
      random();
    }
  }
  return faults;
}

function denoSummary(output: string): { passed: number; failed: number } | undefined {
  const match =
    /(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/
      .exec(output);
  if (!match) return undefined;
  return { passed: Number(match[2] ?? match[1]), failed: Number(match[4] ?? match[3]) };
}

async function mainTask(): Promise<number> {
  const soakArg = process.argv.indexOf("--soak");
  const soakSeconds = soakArg >= 0 ? Math.max(60, Number(process.argv[soakArg + 1]) || 60) : 60;
  if (process.argv.includes("--soak-only")) {
    const only = await soak(soakSeconds);
    console.log(JSON.stringify(only.figures, null, 2));
    const failedCalls = only.figures ? only.figures.warmup.failed + only.figures.soak.failed : 1;
    return failedCalls === 0 && only.exitCode === 0 ? 0 : 1;
  }
  const started = new Date();
  const work = join(tmpdir(), `kognic-reliability-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const reportFile = join(work, "report.jsonl");
  writeFileSync(reportFile, "");

  console.log(`=== tests: ${TEST_FILES.join(", ")} with KOGNIC_FUZZ_RUNS=${FUZZ_RUNS}`);
  const testStarted = Date.now();
  const tests = await exec(
    [
      DENO,
      "test",
      "--allow-net=127.0.0.1",
      "--allow-env",
      `--allow-read=${ROOT},${tmpdir()}`,
      `--allow-write=${tmpdir()}`,
      `--allow-run=${DENO}`,
      ...TEST_FILES,
    ],
    { KOGNIC_FUZZ_RUNS: String(FUZZ_RUNS), KOGNIC_RELIABILITY_REPORT: reportFile },
    30 * 60_000,
  );
  const testSeconds = (Date.now() - testStarted) / 1000;
  const rows = readFileSync(reportFile, "utf8").split("\n").filter(Boolean).map((line) =>
    JSON.parse(line) as Record<string, unknown>
  );

  const soakRun = await soak(soakSeconds);

  const git = await gitState();
  const run: Run = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: "npx -y deno@2.9.6 task reliability",
    commit: git.commit,
    dirty: git.dirty,
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      fastCheck: fc.__version,
      os: `${type()} ${release()}`,
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
    },
    fuzzRuns: FUZZ_RUNS,
    tests: {
      files: TEST_FILES,
      exitCode: tests.code,
      summary: denoSummary(tests.output),
      seconds: testSeconds,
      uncaught: (tests.output.match(/^error: Uncaught/gm) ?? []).length,
      output: tests.output,
    },
    rows,
    soak: soakRun,
    leaks: [],
  };
  // Every output this run produced, checked for the secrets it used.
  const texts: [string, string][] = [
    ["test output", tests.output],
    ["report", readFileSync(reportFile, "utf8")],
    ["soak output", soakRun.output],
  ];
  const secrets = [CLIENT_SECRET, SOAK_SECRET];
  const scan = (): string[] =>
    texts.flatMap(([where, text]) =>
      secrets.filter((secret) => text.includes(secret)).map(() => where)
    );
  run.leaks = scan();
  const doc = reliabilityDocument(run);
  texts.push(["docs/reliability.json", JSON.stringify(doc)], [
    "docs/reliability.md",
    renderMarkdown(doc),
  ]);
  run.leaks = scan();

  mkdirSync(join(ROOT, "docs"), { recursive: true });
  const docPath = join(ROOT, "docs", "reliability.json");
  writeDocument(docPath, reliabilityDocument(run));
  rmSync(work, { recursive: true, force: true });

  const figures = soakRun.figures;
  const problems = [
    tests.code !== 0 ? `tests failed (${run.tests.summary?.failed ?? "?"} failed)` : "",
    run.tests.uncaught ? `${run.tests.uncaught} uncaught errors in the tests` : "",
    !figures ? `the soak gave no figures (exit ${soakRun.exitCode})` : "",
    figures && figures.soak.failed + figures.warmup.failed > 0
      ? `${figures.soak.failed + figures.warmup.failed} API calls failed in the soak`
      : "",
    figures && figures.hungCallers ? `${figures.hungCallers} callers hung in the soak` : "",
    figures && figures.unhandledRejections + figures.uncaughtErrors
      ? "unhandled rejections or uncaught errors in the soak"
      : "",
    run.leaks.length ? `a secret appeared in: ${run.leaks.join(", ")}` : "",
  ].filter(Boolean);
  console.log(`\nWrote ${docPath} and docs/reliability.md`);
  if (problems.length) {
    console.log(`Problems:\n- ${problems.join("\n- ")}`);
    return 1;
  }
  console.log("No problems.");
  return 0;
}

if (import.meta.main) {
  process.exitCode = await mainTask();
}

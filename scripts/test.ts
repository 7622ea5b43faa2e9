/**
 * The project's whole check, run by `deno task test` and CI: formatting,
 * lint, type checks, documentation lint and the test suite, with one closing
 * line `N passed, N failed` summing every test run.
 *
 * Steps run in order; a failed step does not stop the others, so one run shows
 * every problem. The exit code is 1 when anything failed.
 */

import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";

interface Step {
  name: string;
  cmd: string[];
  /** Parse test counts from the step's output. */
  counts?: (output: string) => { passed: number; failed: number } | undefined;
}

const deno = process.execPath;
const entryPoints = ["mod.ts", "cli.ts", "testing.ts"];

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

const repo = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const tmp = tmpdir();

const steps: Step[] = [
  { name: "deno fmt --check", cmd: [deno, "fmt", "--check"] },
  { name: "deno lint", cmd: [deno, "lint"] },
  { name: "deno check", cmd: [deno, "check", "--doc", ...entryPoints, "scripts/", "tests/"] },
  { name: "deno doc --lint", cmd: [deno, "doc", "--lint", ...entryPoints] },
  {
    name: "deno test",
    cmd: [
      deno,
      "test",
      "--allow-net=127.0.0.1",
      "--allow-env",
      `--allow-read=${repo},${tmp}`,
      `--allow-write=${tmp}`,
      `--allow-run=${deno}`,
      "tests/",
    ],
    counts: denoCounts,
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
  const { code, output } = await run(step.cmd);
  const counts = step.counts?.(output);
  if (counts) {
    passed += counts.passed;
    failed += counts.failed;
  }
  if (code !== 0 || (step.counts && !counts)) failedSteps.push(step.name);
}

console.log("");
if (failedSteps.length) console.log(`Failed steps: ${failedSteps.join(", ")}`);
if (failedSteps.length && failed === 0) failed = failedSteps.length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failedSteps.length ? 1 : 0);

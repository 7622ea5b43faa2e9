/**
 * Named checks for the scripts that are test runs of their own (the JSR and
 * packaging tests, the workerd and Chromium tests): each check prints one
 * `ok` or `FAIL` line with its time, and the run closes with the line
 * `N passed, N failed` that the test command counts.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";

/** A run of named checks. */
export class Checks {
  /** Checks that passed so far. */
  passed = 0;
  /** Checks that failed so far. */
  failed = 0;

  /** Runs a check; its return value, when a string, is printed as a detail. */
  check(name: string, fn: () => string | void): void {
    const started = Date.now();
    try {
      this.#report(name, started, fn());
    } catch (error) {
      this.#fail(name, started, error);
    }
  }

  /** Runs a check that awaits. */
  async checkAsync(name: string, fn: () => Promise<string | void> | string | void): Promise<void> {
    const started = Date.now();
    try {
      this.#report(name, started, await fn());
    } catch (error) {
      this.#fail(name, started, error);
    }
  }

  /** Prints the closing line and exits: 1 when a check failed. */
  close(): never {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    process.exit(this.failed ? 1 : 0);
  }

  #report(name: string, started: number, detail: string | void): void {
    this.passed++;
    console.log(`ok   ${name}${detail ? `: ${detail}` : ""} (${Date.now() - started} ms)`);
  }

  #fail(name: string, started: number, error: unknown): void {
    this.failed++;
    console.log(`FAIL ${name} (${Date.now() - started} ms)`);
    console.log(String(error instanceof Error ? error.message : error).replace(/^/gm, "     "));
  }
}

/**
 * Whether `deno publish --dry-run`'s output (without colours) warns about
 * anything but the optional packages' specifiers, which src/shared/optional_peer.ts
 * builds at run time on purpose (so that Deno does not resolve the packages on
 * every start) and `deno publish` cannot analyze.
 */
export function unexpectedPublishWarning(output: string): boolean {
  return /warning/i.test(
    output.replace(
      /warning\[unanalyzable-dynamic-import\][^\n]*\n\s*-->[^\n]*src\/shared\/optional_peer\.ts:/g,
      "",
    ),
  );
}

/** How a command ended: its exit status (127 when it did not start) and its output. */
export interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end without blocking this process (whose registry or
 * auth server the command may ask), without colours; killed after `timeoutMs`.
 * While it runs it is in `running`, when given, for a clean-up to stop.
 */
export function exec(
  cmd: string,
  args: string[],
  options: {
    cwd: string;
    env?: Record<string, string>;
    timeoutMs: number;
    running?: Set<ChildProcess>;
  },
): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    options.running?.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Uint8Array) => (stdout += chunk));
    child.stderr.on("data", (chunk: Uint8Array) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    const done = (status: number | null, extra = ""): void => {
      clearTimeout(timer);
      options.running?.delete(child);
      resolve({ status, stdout, stderr: stderr + extra });
    };
    child.on("error", (error) => done(127, `\n${error}`));
    child.on("close", (status) => done(status));
  });
}

/** Throws with the command's output (its last 6,000 characters) unless it exited 0. */
export function expectSuccess(what: string, outcome: Outcome): Outcome {
  if (outcome.status !== 0) {
    const output = (outcome.stdout + outcome.stderr).trim();
    throw new Error(
      `${what} exited with ${outcome.status}\n${
        output.length > 6_000 ? `...${output.slice(-6_000)}` : output
      }`,
    );
  }
  return outcome;
}

/**
 * Named checks for the scripts that are test runs of their own (the JSR and
 * packaging tests, the workerd and Chromium tests): each check prints one
 * `ok` or `FAIL` line with its time, and the run closes with the line
 * `N passed, N failed` that the test command counts.
 *
 * @module
 */

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

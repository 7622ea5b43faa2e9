/**
 * The package version has one source, deno.json's `"version"`. The code
 * needs it at run time (`kognic-auth --version`, `kog --version`, the
 * User-Agent, the OpenTelemetry scope) on Deno, JSR, Node.js, Bun, browsers
 * and workers, so `src/shared/version.ts` is generated from it by this script
 * and committed, and never edited by hand:
 *
 * ```sh
 * deno task version           # writes src/shared/version.ts from deno.json
 * deno task version --check   # exits 1, naming both versions, when it is out of date
 * ```
 *
 * The test command, `deno task release:check` and the release workflow run
 * the check; `scripts/build_npm.ts` writes the compiled module from
 * {@linkcode versionModule} with the version it builds.
 *
 * An import of deno.json itself (`with { type: "json" }`) was weighed and left
 * out: it would put all of deno.json (tasks, imports, lint settings) into every
 * browser bundle that reaches the User-Agent, and ship deno.json in the npm
 * package beside the compiled modules.
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The generated module, relative to the repository root. */
export const VERSION_MODULE = "src/shared/version.ts";

/** A semantic version: `1.2.3`, `1.2.3-rc.1`, `1.2.3+build.5`. */
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** deno.json's `"version"`, checked to be a semantic version. */
export function denoJsonVersion(root: string = ROOT): string {
  const path = join(root, "deno.json");
  const version = JSON.parse(readFileSync(path, "utf8")).version;
  if (typeof version !== "string" || !SEMVER.test(version)) {
    throw new RangeError(
      `${path}: "version" is ${JSON.stringify(version)}, not a semantic version`,
    );
  }
  return version;
}

/**
 * The source of the version module for `version`; `typed` false gives the
 * JavaScript that the npm build ships.
 */
export function versionModule(version: string, typed = true): string {
  return [
    `// Generated from deno.json's "version" by scripts/version.ts (deno task version); do not edit.`,
    `/** The package version. */`,
    `export const VERSION${typed ? ": string" : ""} = ${JSON.stringify(version)};`,
    "",
  ].join("\n");
}

/** What is wrong with the committed version module, or undefined when it is current. */
export function checkVersionModule(root: string = ROOT): string | undefined {
  const version = denoJsonVersion(root);
  const path = join(root, VERSION_MODULE);
  let current: string;
  try {
    current = readFileSync(path, "utf8");
  } catch {
    return `${VERSION_MODULE} is missing: run \`deno task version\``;
  }
  if (current === versionModule(version)) return undefined;
  const found = /export const VERSION(?::\s*string)?\s*=\s*"([^"]*)"/.exec(current)?.[1];
  const fix = "run `deno task version` and commit the result";
  if (found !== version) {
    return `${VERSION_MODULE} says ${found === undefined ? "no version" : `"${found}"`} and ` +
      `deno.json says "${version}": ${fix}`;
  }
  return `${VERSION_MODULE} is not in the form scripts/version.ts generates: ${fix}`;
}

if (import.meta.main) {
  try {
    if (process.argv.includes("--check")) {
      const problem = checkVersionModule();
      if (problem) {
        console.error(`version: ${problem}`);
        process.exit(1);
      }
      console.log(`${VERSION_MODULE} is generated from deno.json's "${denoJsonVersion()}"`);
    } else {
      const version = denoJsonVersion();
      writeFileSync(join(ROOT, VERSION_MODULE), versionModule(version));
      console.log(`Wrote ${VERSION_MODULE} for version ${version}`);
    }
  } catch (error) {
    console.error(`version: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}

/**
 * The npm tarball as the packaging test (scripts/packaging_test.ts) and the
 * release check (scripts/release_check.ts) both judge it: packed from `npm/`
 * by `npm pack`, its files checked, and publint and @arethetypeswrong/cli run
 * on it. One place, so that the two cannot ask different things of the same
 * tarball.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { NPM_DIR } from "./build_npm.ts";
import { buildToolBin } from "./npm_tools.ts";

/** What `npm pack --json` reports of a tarball, and where it is. */
export interface Packed {
  filename: string;
  integrity: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
  /** The tarball's path. */
  tarball: string;
}

/** Runs a command to its end; throws with its output (the last 6,000 characters) unless it exits 0. */
function run(what: string, cmd: string, args: string[], cwd: string): string {
  const result = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 5 * 60_000,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${
    result.error ? `\n${result.error}` : ""
  }`;
  if (result.status !== 0) {
    throw new Error(`${what} exited with ${result.status}\n${output.trim().slice(-6_000)}`);
  }
  return output;
}

/** Packs `npm/` as `npm publish` would, into `destination`. */
export function packNpm(destination: string): Packed {
  mkdirSync(destination, { recursive: true });
  const output = run(
    "npm pack",
    "npm",
    ["pack", "--json", "--pack-destination", destination],
    NPM_DIR,
  );
  const [info] = JSON.parse(output.slice(output.indexOf("["))) as Omit<Packed, "tarball">[];
  return { ...info, tarball: join(destination, info.filename) };
}

/** Throws unless the tarball holds the package's files and nothing of the tests, scripts or sources. */
export function checkContents(packed: Packed): string {
  const paths = packed.files.map((file) => file.path);
  const required = ["package.json", "README.md", "LICENSE", "esm/mod.js", "esm/mod.d.ts"];
  const missing = [...required, "esm/require_fallback.cjs"].filter((path) => !paths.includes(path));
  if (missing.length) throw new Error(`The tarball has no ${missing.join(", ")}`);
  const strays = paths.filter((path) =>
    /^esm\/(?:tests|scripts)\//.test(path) || path === "esm/deno.json" ||
    path.endsWith(".map") || (path.endsWith(".ts") && !path.endsWith(".d.ts"))
  );
  if (strays.length) {
    throw new Error(
      `The tarball holds ${strays.length} test, source or map files: ${
        strays.slice(0, 10).join(", ")
      }`,
    );
  }
  return `${paths.length} files`;
}

/** publint, strict: throws on any suggestion, warning or error. */
export function publint(tarball: string): void {
  const text = run("publint", buildToolBin("publint"), ["run", tarball, "--strict"], NPM_DIR)
    .trim();
  if (!/^All good!?$/m.test(text) || /suggestion|warning|error/i.test(text)) {
    throw new Error(`publint reported:\n${text}`);
  }
}

/**
 * @arethetypeswrong/cli with the profile esm-only: exits non-zero on any
 * problem in a resolution the profile checks (node16 from ESM, bundler); ES
 * modules only, so node10 and require() are ignored.
 */
export function attw(tarball: string): void {
  run("attw", buildToolBin("attw"), [tarball, "--profile", "esm-only"], NPM_DIR);
}

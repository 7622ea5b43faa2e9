// What `kognic-auth` loads when Deno starts it, read from V8's log of the
// scripts it compiled (`--log-function-events`): `--version` loads only
// cli.ts and what it needs to answer, and a warm `get-access-token` (a fresh
// token in the file cache) loads no module of Deno's Node layer beyond what
// an empty script loads, so neither `node:` nor a global timer (which loads
// `node:timers`) is on the way. What this costs in time is for the benchmark.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  CLIENT_ID,
  CLIENT_SECRET,
  isolatedXdg,
  runCli,
  runCommand,
  tempDir,
} from "../_helpers/mod.ts";

const SKIP = "Deno" in globalThis ? false : "Deno's start-up";
/** The permissions the README gives the command: the cache is written. */
const PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-write"];

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
let logs = 0;

before(async () => {
  server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET }, tokenLifetime: 600 });
  dir = await tempDir();
});

after(async () => {
  await server?.close();
  await dir?.cleanup();
});

/** The V8 flags that log every script compiled into `path`. */
function logFlags(path: string): string {
  return `--v8-flags=--log-function-events,--logfile=${path},--no-logfile-per-isolate`;
}

/** The scripts a run compiled, by name: `ext:...`, `node:...`, `file:///...`. */
async function compiled(path: string): Promise<Set<string>> {
  const log = await readFile(path, "utf8");
  const names = new Set<string>();
  for (const [, name] of log.matchAll(/^script-details,\d+,([^,]+),/gm)) names.add(name);
  assert.ok(names.size > 0, `V8's log at ${path} names no script`);
  return names;
}

/** The modules of Deno's Node layer among `names`. */
function nodeLayer(names: Set<string>): string[] {
  return [...names].filter((name) => name.startsWith("node:") || name.startsWith("ext:deno_node/"))
    .sort();
}

/** Runs the command with its scripts logged; returns the outcome and what it compiled. */
async function runLogged(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; names: Set<string> }> {
  const log = join(dir.path, `v8-${++logs}.log`);
  const result = await runCli(args, {
    env,
    denoPermissions: [logFlags(log), ...PERMISSIONS],
  });
  return { code: result.code, stderr: result.stderr, names: await compiled(log) };
}

describe("kognic-auth as Deno starts it", { skip: SKIP }, () => {
  it("--version compiles only cli.ts, process_io.ts and version.ts of the package", async () => {
    const { code, stderr, names } = await runLogged(["--version"], isolatedXdg(dir.path));
    assert.equal(code, 0, stderr);
    const root = new URL("../../", import.meta.url).href;
    const ours = [...names].filter((name) => name.startsWith(root))
      .map((name) => name.slice(root.length)).sort();
    assert.deepEqual(ours, ["cli.ts", "src/cli/process_io.ts", "src/shared/version.ts"]);
  });

  it("a warm get-access-token compiles no more of the Node layer than an empty script", async () => {
    const empty = join(dir.path, "empty.ts");
    await writeFile(empty, "");
    const emptyLog = join(dir.path, "empty.log");
    const bare = await runCommand([process.execPath, "run", logFlags(emptyLog)], [empty]);
    assert.equal(bare.code, 0, bare.stderr);
    const baseline = new Set(nodeLayer(await compiled(emptyLog)));

    const env = {
      ...isolatedXdg(dir.path),
      KOGNIC_CLIENT_ID: CLIENT_ID,
      KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
    };
    const args = ["-v", "get-access-token", "--server", server.url];
    const cold = await runCli(args, { env, denoPermissions: PERMISSIONS });
    assert.equal(cold.code, 0, cold.stderr);
    server.resetCounts();
    const warm = await runLogged(args, env);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(
      server.counts.tokenRequests,
      0,
      `the warm run took its token from the cache:\n${cold.stderr}\n${warm.stderr}`,
    );
    assert.ok(
      [...warm.names].some((name) => name.endsWith("/src/config/token_cache.ts")),
      "the warm run read the file cache",
    );
    assert.deepEqual(nodeLayer(warm.names).filter((name) => !baseline.has(name)), []);
  });
});

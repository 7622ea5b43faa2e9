// The npm package's `kognic-auth` bin on Node.js (the npm build's test run
// sets KOGNIC_AUTH_CLI to it): it loads its bundle with Node's compile cache
// on, where Node has one (22.3 and later), in a folder of the user's beside
// the token cache, and a cache folder that cannot be made leaves the cache off
// without changing what the command does; a token request (cold cache) goes
// through the bin's own fetch without loading Node's undici, the global fetch's
// code. What this saves in time is for the benchmark.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import module from "node:module";
import { join } from "node:path";
import process from "node:process";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  cliCommand,
  CLIENT_ID,
  CLIENT_SECRET,
  isolatedXdg,
  runCli,
  runCommand,
  tempDir,
} from "../_helpers/mod.ts";

const onNodeBin = !("Deno" in globalThis) && !("Bun" in globalThis) &&
  process.env.KOGNIC_AUTH_CLI !== undefined;
const SKIP = onNodeBin ? false : "the npm bin on Node.js (the npm build's test run)";
/** Whether this Node.js has a compile cache to turn on (22.3 and later). */
const hasCompileCache =
  typeof (module as { enableCompileCache?: unknown }).enableCompileCache === "function" &&
  typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule === "function";
/** The folder under the cache home where the bin keeps Node's compile cache. */
const FOLDER = "kognic-auth-node";

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };

before(async () => {
  if (SKIP) return;
  server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
  dir = await tempDir();
});

after(async () => {
  await server?.close();
  await dir?.cleanup();
});

/** Runs `get-access-token` with the client in the environment; asserts it printed a token. */
async function token(env: Record<string, string>, extra: string[] = []): Promise<void> {
  const result = await runCli(["get-access-token", "--server", server.url, ...extra], {
    env: { KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: CLIENT_SECRET, ...env },
    killAfter: 60_000,
  });
  assert.equal(result.killed, undefined, `the command did not end:\n${result.stderr}`);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
}

describe("the npm bin kognic-auth on Node.js", { skip: SKIP }, () => {
  it("keeps Node's compile cache in $XDG_CACHE_HOME/kognic-auth-node, 0700, where Node has one", async () => {
    const xdg = isolatedXdg(join(dir.path, "one"));
    await token(xdg);
    await token(xdg);
    const folder = join(xdg.XDG_CACHE_HOME, FOLDER);
    // The token cache's folder holds the token file alone.
    assert.deepEqual(await readdir(join(xdg.XDG_CACHE_HOME, "kognic-auth")), ["tokens.json"]);
    if (!hasCompileCache) {
      await assert.rejects(stat(folder), { code: "ENOENT" }, "no folder where Node has no cache");
      return;
    }
    assert.equal((await stat(folder)).mode & 0o777, 0o700);
    const versions = await readdir(folder);
    assert.equal(versions.length, 1, `one folder for this Node.js: ${versions.join(", ")}`);
    assert.ok(
      (await readdir(join(folder, versions[0]))).length > 0,
      "the compiled bundle is kept",
    );
  });

  it("runs the same with the cache off: a cache home that cannot hold a folder, or none", async () => {
    const places = [
      join(dir.path, "missing", "cache"),
      ...(process.platform === "linux" ? ["/proc/kognic-auth-no-such-folder"] : []),
    ];
    for (const place of places) {
      await token({ XDG_CACHE_HOME: place, XDG_CONFIG_HOME: join(dir.path, "config") }, [
        "--token-cache",
        "none",
      ]);
      await assert.rejects(stat(join(place, FOLDER)), `no folder made under ${place}`);
    }
    const off = isolatedXdg(join(dir.path, "off"));
    await token({ ...off, NODE_DISABLE_COMPILE_CACHE: "1" });
    const kept = await readdir(join(off.XDG_CACHE_HOME, FOLDER)).catch(() => []);
    assert.deepEqual(kept, [], "NODE_DISABLE_COMPILE_CACHE=1 keeps nothing");
  });

  it("a cold get-access-token loads none of Node's undici", async () => {
    // Node's list of the built-in modules it loaded, written as the process exits.
    const hook = join(dir.path, "loaded.mjs");
    const list = join(dir.path, "loaded.txt");
    await writeFile(
      hook,
      `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => ` +
        `writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join("\\n")));\n`,
    );
    const [node, ...bin] = cliCommand();
    server.resetCounts();
    const result = await runCommand(
      [node, "--import", hook, ...bin],
      ["get-access-token", "--server", server.url],
      {
        env: {
          ...isolatedXdg(join(dir.path, "cold")),
          KOGNIC_CLIENT_ID: CLIENT_ID,
          KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
        },
        killAfter: 60_000,
      },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.counts.tokenRequests, 1, "the cold run requested its token");
    const loaded = (await readFile(list, "utf8")).split("\n");
    assert.ok(loaded.some((name) => name.includes("http")), "the list names what was loaded");
    assert.deepEqual(loaded.filter((name) => /undici/i.test(name)), []);
  });
});

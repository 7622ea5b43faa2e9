// What `kognic-auth` loads when Deno starts it, read from V8's log of the
// scripts it compiled (`--log-function-events`): `--version` loads only
// cli.ts and what it needs to answer, and a warm `get-access-token` (a fresh
// token in the file cache) loads no module of Deno's Node layer beyond what
// an empty script loads, so neither `node:` nor a global timer (which loads
// `node:timers`) is on the way; without -v it loads none of the telemetry,
// the token request, the API client or the MCP commands, and at most
// WARM_MODULES of the package's modules. What this costs in time is for the
// benchmark.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
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
  writeCredentials,
  writeEnvironments,
} from "../_helpers/mod.ts";

const SKIP = "Deno" in globalThis ? false : "Deno's start-up";
/**
 * The most modules of the package a warm `get-access-token` (no -v) may
 * compile: the command, the entry points it loads (`@kognic/auth` and
 * `@kognic/auth/config`) with their static imports, and the cache read.
 */
const WARM_MODULES = 39;
/**
 * Modules a warm `get-access-token` without -v never needs, by path from the
 * package root: a prefix ends in `/`. The telemetry describes events only for
 * -v; the token request, its retries and redirects, the lock (its lease),
 * and the bounded body reader only run on a miss; the optional packages are
 * only imported by a feature that uses one.
 */
const NOT_WARM = [
  "telemetry.ts",
  "src/telemetry/",
  "src/core/event_log.ts",
  "client.ts",
  "src/api/",
  "src/cli/api_client.ts",
  "src/cli/kog.ts",
  "src/cli/kog_mcp.ts",
  "src/cli/mcp_bridge.ts",
  "src/cli/mcp_proxy.ts",
  "src/cli/mcp_sdk.ts",
  "src/cli/node_fetch.ts",
  "src/core/token_client.ts",
  "src/core/token_provider.ts",
  "src/core/redirect.ts",
  "src/shared/retry.ts",
  "src/shared/body.ts",
  "src/shared/optional_peer.ts",
  "src/config/_lease.ts",
  "testing.ts",
  "src/testing/",
];
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

/** The package's own modules among `names`, by path from the package root. */
function packageModules(names: Set<string>): string[] {
  const root = new URL("../../", import.meta.url).href;
  return [...names].filter((name) => name.startsWith(root))
    .map((name) => name.slice(root.length)).sort();
}

/** The modules of Deno's Node layer among `names`. */
function nodeLayer(names: Set<string>): string[] {
  return [...names].filter((name) => name.startsWith("node:") || name.startsWith("ext:deno_node/"))
    .sort();
}

let empty: Promise<Set<string>> | undefined;

/** What an empty script compiles (once). */
function emptyScript(): Promise<Set<string>> {
  empty ??= (async () => {
    const script = join(dir.path, "empty.ts");
    await writeFile(script, "");
    const log = join(dir.path, "empty.log");
    const bare = await runCommand([process.execPath, "run", logFlags(log)], [script]);
    assert.equal(bare.code, 0, bare.stderr);
    return await compiled(log);
  })();
  return empty;
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
    assert.deepEqual(packageModules(names), [
      "cli.ts",
      "src/cli/process_io.ts",
      "src/shared/version.ts",
    ]);
  });

  /**
   * The warm paths held to the Node layer of an empty script: the arguments
   * (`--server` is added unless an environment names the server) and the
   * variables, once the files a path reads are written under `home`.
   */
  const WARM_PATHS: {
    name: string;
    setup: (home: string) => Promise<{ args: string[]; env?: Record<string, string> }>;
  }[] = [
    {
      name: "-v get-access-token --server",
      setup: () => Promise.resolve({ args: ["-v", "get-access-token", "--server", server.url] }),
    },
    {
      // As Claude Code runs a headers helper: the MCP server's URL in the
      // variable and no environments file, so the command looks for one.
      name: "get-access-token --format headers with CLAUDE_CODE_MCP_SERVER_URL",
      setup: () =>
        Promise.resolve({
          args: ["get-access-token", "--format", "headers", "--server", server.url],
          env: { CLAUDE_CODE_MCP_SERVER_URL: `${server.url}/mcp` },
        }),
    },
    {
      name: "get-access-token --credentials FILE",
      setup: async (home) => ({
        args: ["get-access-token", "--server", server.url, "--credentials", await creds(home)],
      }),
    },
    {
      name: "get-access-token --env NAME (environments file, credentials file)",
      setup: async (home) => {
        await writeEnvironments(home, {
          environments: {
            local: { host: "127.0.0.1", auth_server: server.url, credentials: await creds(home) },
          },
        });
        return { args: ["get-access-token", "--env", "local"] };
      },
    },
  ];

  /** A credentials file under `home`. */
  async function creds(home: string): Promise<string> {
    await mkdir(home, { recursive: true });
    return await writeCredentials(home);
  }

  for (const path of WARM_PATHS) {
    it(`a warm ${path.name} compiles no more of the Node layer than an empty script`, async () => {
      const baseline = new Set(nodeLayer(await emptyScript()));
      const home = join(dir.path, `warm-${++logs}`);
      const { args, env: variables } = await path.setup(home);
      const env: Record<string, string> = {
        ...isolatedXdg(home),
        KOGNIC_CLIENT_ID: CLIENT_ID,
        KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
        ...variables,
      };
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
  }

  it("a warm get-access-token without -v compiles no telemetry and at most WARM_MODULES modules", async () => {
    const env = {
      ...isolatedXdg(dir.path),
      KOGNIC_CLIENT_ID: CLIENT_ID,
      KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
    };
    const args = ["get-access-token", "--server", server.url, "--token-cache", "file"];
    const cold = await runCli(args, { env, denoPermissions: PERMISSIONS });
    assert.equal(cold.code, 0, cold.stderr);
    server.resetCounts();
    const warm = await runLogged(args, env);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(server.counts.tokenRequests, 0, "the warm run took its token from the cache");
    const ours = packageModules(warm.names);
    assert.ok(ours.includes("src/config/token_cache.ts"), "the warm run read the file cache");
    const needless = ours.filter((path) =>
      NOT_WARM.some((not) => not.endsWith("/") ? path.startsWith(not) : path === not)
    );
    assert.deepEqual(needless, [], "modules a warm run does not need");
    assert.ok(
      ours.length <= WARM_MODULES,
      `a warm run compiled ${ours.length} of the package's modules (at most ${WARM_MODULES}):\n${
        ours.join("\n")
      }`,
    );
  });
});

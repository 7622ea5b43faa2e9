/**
 * Start-up of the `kognic-auth` command for `deno task bench` (the `startup`
 * part): `--version`, `get-access-token` with a warm cache and with a cold
 * one (default cache mode), beside the runtime's empty start and the floor
 * (the start, one file read and one loopback round trip), on Deno (`deno run`
 * of cli.ts with the permissions the README gives, as a JSR user runs it) and
 * on Node.js 20, 22 and 24 (the npm package's bin). Every round runs every
 * case of every runtime once, in a rotating order, so that the figures of a
 * round share the machine's load; each case is reported as its difference
 * from the same round's empty start of its runtime (median and quartiles of
 * those paired differences), and its own wall time.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Stats, stats } from "./cases.ts";

/** A runtime whose start-up is measured. */
export interface StartupRuntime {
  /** The label, such as `Deno 2.9.6`. */
  label: string;
  /** The command that runs a script: the runtime and its flags, the script's path is appended. */
  script: string[];
  /** The `kognic-auth` command line, before its arguments. */
  cli: string[];
  /** The file extension of the floor and empty scripts (`ts` or `mjs`). */
  extension: "ts" | "mjs";
  /** Whether the floor's round trip goes through node:http (Node.js) or fetch. */
  nodeHttp: boolean;
}

/** One case's figures: its wall time, and its difference from the same round's empty start. */
export interface StartupCase {
  name: string;
  description: string;
  wall: Stats;
  /** Paired differences from the empty start of the same round; absent for the empty start. */
  overEmpty?: Stats;
  /** A run that failed, with its reason. */
  error?: string;
}

/** The figures of one runtime. */
export interface StartupRun {
  label: string;
  cases: StartupCase[];
}

/** The whole start-up part. */
export interface StartupResult {
  rounds: number;
  /** How the keyring stands: `auto` finds no D-Bus session bus, so the file cache is used. */
  cacheNote: string;
  loadBefore: number[];
  loadAfter: number[];
  runtimes: StartupRun[];
}

const CASES = [
  { name: "empty", description: "an empty script: the runtime's own start" },
  {
    name: "floor",
    description: "the start, one file read and one loopback GET: what any command that reads " +
      "a cache or asks a server must pay",
  },
  { name: "--version", description: "`kognic-auth --version`" },
  {
    name: "get-access-token (warm)",
    description: "`kognic-auth get-access-token`, default cache mode, a fresh token in the cache",
  },
  {
    name: "get-access-token (cold)",
    description: "`kognic-auth get-access-token`, default cache mode, an empty cache: the lock, " +
      "a token request, the cache written",
  },
] as const;

/** The floor script: one file read and one loopback GET (any status). */
function floorScript(runtime: StartupRuntime, file: string): string {
  const read = runtime.extension === "ts"
    ? `await Deno.readTextFile(${JSON.stringify(file)});`
    : `import { readFileSync } from "node:fs";\nreadFileSync(${JSON.stringify(file)}, "utf8");`;
  const url = runtime.extension === "ts" ? "Deno.args[0]" : "process.argv[2]";
  const get = runtime.nodeHttp
    ? `import { get } from "node:http";
await new Promise((resolve, reject) => {
  get(${url} + "/v1/echo", (res) => { res.resume(); res.on("end", resolve); }).on("error", reject);
});`
    : `await (await fetch(${url} + "/v1/echo")).arrayBuffer();`;
  // Static imports first: the Node.js side's imports are hoisted by the module anyway.
  const lines = `${read}\n${get}\n`.split("\n");
  const imports = lines.filter((line) => line.startsWith("import "));
  const rest = lines.filter((line) => !line.startsWith("import "));
  return [...imports, ...rest].join("\n");
}

/** Runs one process to its end; its wall time in ms, or the reason it failed. */
function timed(
  command: string[],
  env: Record<string, string>,
  cwd: string,
): { ms?: number; error?: string } {
  const started = performance.now();
  const result = spawnSync(command[0], command.slice(1), {
    cwd,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
  const ms = performance.now() - started;
  if (result.status !== 0) {
    return { error: `exit ${result.status}: ${(result.stderr || result.stdout).slice(0, 300)}` };
  }
  return { ms };
}

/**
 * Measures every runtime's start-up cases in interleaved, paired rounds.
 *
 * @param runtimes The runtimes, each with its script and CLI command lines.
 * @param serverUrl The loopback auth server (client `bench-client`).
 * @param options Where to work, the environment, and how many rounds (after `warmups`).
 */
export function measureStartup(
  runtimes: StartupRuntime[],
  serverUrl: string,
  options: {
    scratch: string;
    cwd: string;
    env: Record<string, string>;
    rounds: number;
    warmups: number;
    loadavg: () => number[];
  },
): StartupResult {
  mkdirSync(options.scratch, { recursive: true });
  const home = mkdtempSync(join(options.scratch, "home-"));
  const warmCache = join(home, "cache-warm");
  const env: Record<string, string> = {
    ...options.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_CACHE_HOME: warmCache,
  };
  // No D-Bus session bus: `auto` falls back to the file cache at once.
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const floorFile = join(home, "floor.json");
  writeFileSync(floorFile, JSON.stringify({ version: 1, tokens: {} }));
  const scripts = runtimes.map((runtime, index) => {
    const empty = join(home, `empty-${index}.${runtime.extension}`);
    const floor = join(home, `floor-${index}.${runtime.extension}`);
    writeFileSync(empty, "");
    writeFileSync(floor, floorScript(runtime, floorFile));
    return { empty, floor };
  });
  const tokenArgs = ["get-access-token", "--server", serverUrl];
  const commands = runtimes.map((runtime, index) => ({
    empty: [...runtime.script, scripts[index].empty],
    floor: [...runtime.script, scripts[index].floor, serverUrl],
    "--version": [...runtime.cli, "--version"],
    "get-access-token (warm)": [...runtime.cli, ...tokenArgs],
    "get-access-token (cold)": [...runtime.cli, ...tokenArgs],
  }));
  // Fill the warm cache once, with the first runtime.
  const filled = timed(commands[0]["get-access-token (warm)"], env, options.cwd);
  if (filled.error) throw new Error(`start-up: could not fill the cache: ${filled.error}`);

  const rounds = runtimes.map(() => [] as Record<string, number>[]);
  const errors = runtimes.map(() => ({} as Record<string, string>));
  const loadBefore = options.loadavg();
  const total = options.warmups + options.rounds;
  for (let round = 0; round < total; round++) {
    for (const [index] of runtimes.entries()) {
      const order = CASES.map((_, i) => CASES[(i + round) % CASES.length]);
      const wall: Record<string, number> = {};
      for (const { name } of order) {
        let caseEnv = env;
        let cold: string | undefined;
        if (name === "get-access-token (cold)") {
          cold = mkdtempSync(join(home, "cache-cold-"));
          caseEnv = { ...env, XDG_CACHE_HOME: cold };
        }
        const outcome = timed(commands[index][name], caseEnv, options.cwd);
        if (cold) rmSync(cold, { recursive: true, force: true });
        if (outcome.error) errors[index][name] ??= outcome.error;
        else wall[name] = outcome.ms!;
      }
      if (round >= options.warmups) rounds[index].push(wall);
    }
  }
  const loadAfter = options.loadavg();
  rmSync(home, { recursive: true, force: true });

  const result: StartupRun[] = runtimes.map((runtime, index) => {
    const walls = rounds[index];
    return {
      label: runtime.label,
      cases: CASES.map(({ name, description }) => {
        const own = walls.flatMap((wall) => wall[name] === undefined ? [] : [wall[name]]);
        const figures: StartupCase = { name, description, wall: stats(own) };
        if (name !== "empty") {
          figures.overEmpty = stats(
            walls.flatMap((wall) =>
              wall[name] === undefined || wall.empty === undefined ? [] : [wall[name] - wall.empty]
            ),
          );
        }
        if (errors[index][name]) figures.error = errors[index][name];
        return figures;
      }),
    };
  });
  return {
    rounds: options.rounds,
    cacheNote: "no D-Bus session bus, so the default (`auto`) cache mode uses the file cache; " +
      "credentials from KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET",
    loadBefore,
    loadAfter,
    runtimes: result,
  };
}

/**
 * What the MCP bridge costs per tools/call, for `deno task bench` (the `mcp`
 * part) or on its own:
 *
 * ```sh
 * deno run -A scripts/bench/mcp.ts                 # the comparison; JSON on stdout
 * deno run -A scripts/bench/mcp.ts --rss=50000     # also RSS over 50,000 calls through each bridge
 * ```
 *
 * The MCP server (SDK v2, both eras, on 127.0.0.1, with the local auth
 * server) runs in a process of its own; SDK v2's client (2025-11-25, as
 * desktop hosts speak it today) spawns each forwarder over stdio, in its own
 * process too:
 *
 * - the floor: `mcp_floor.mjs`, a raw stdio-to-HTTP forwarder with no
 *   authentication, on Deno and on Node.js;
 * - `kognic-auth mcp-proxy` on Deno (`cli.ts`) and as the npm package's bin
 *   on Node.js, fetching its token from the local auth server;
 * - mcp-remote (npm, on Node.js) with a static `Authorization` header.
 *
 * Calls are timed one by one, sequentially and with 20 concurrent callers,
 * in rounds that take the forwarders in turn (rotating who goes first), so
 * that all see the same machine. RSS of each forwarder's process is read
 * from /proc after each batch.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { ensureInstalled } from "../npm_tools.ts";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const ROOT = join(import.meta.dirname ?? ".", "..", "..");

/** The most the bridge may cost per call, as a multiple of the floor's (p50 and p99). */
export const MCP_TARGET_RATIO = 1.2;
/** The most the bridge's RSS may grow after its first 1,000 calls, in MB. */
export const MCP_RSS_TARGET_MB = 20;
/** mcp-remote's version, from npm. */
export const MCP_REMOTE_VERSION = "0.15.1";
/**
 * The V8 flags of the Deno client configuration in docs/mcp.md (`--v8-flags=...`): the young
 * generation capped (1 MB semi-spaces), and the old generation let grow by half its live size
 * between collections (with the young generation that small, more short-lived objects are promoted).
 */
export const DENO_MEMORY_FLAGS = "--max-semi-space-size=1,--heap-growing-percent=50";
/**
 * `NODE_OPTIONS` of the Node.js client configurations in README and docs/mcp.md: the young
 * generation capped (NODE_OPTIONS takes no flag of the old generation's growth).
 */
export const NODE_MEMORY_OPTIONS = "--max-semi-space-size=1";
/** Callers at once in the concurrent rows. */
export const MCP_CONCURRENCY = 20;

/** Latency of one way of calling, in milliseconds. */
export interface McpLatency {
  p50: number;
  p99: number;
  /** Calls timed. */
  n: number;
}

/** One RSS reading of a forwarder's process. */
export interface RssPoint {
  /** tools/call answered through it so far. */
  calls: number;
  /** Resident set size, MB. */
  mb: number;
}

/** One forwarder's figures. */
export interface McpRow {
  name: string;
  kind: "floor" | "bridge" | "mcp-remote";
  /** "Deno" or "Node.js". */
  runtime: string;
  sequential?: McpLatency;
  concurrent?: McpLatency;
  /** CPU time (user + system) of the forwarder's process per timed call, ms. */
  cpuMs?: number;
  rss: RssPoint[];
  error?: string;
}

/** Sizes of a run. */
export interface McpSizes {
  /** Rounds of each kind (sequential, concurrent). */
  rounds: number;
  /** Sequential calls per forwarder per round. */
  perRound: number;
  /** Calls per caller per concurrent round. */
  perCaller: number;
  /** Calls through each bridge for the long RSS run (0: none). */
  long: number;
}

/** The whole MCP part. */
export interface McpResult {
  sizes: McpSizes;
  concurrency: number;
  rows: McpRow[];
  /**
   * RSS over the long run, per forwarder: the floors, the bridges with V8's default sizing, and
   * the bridges as configured (`configured`: started as the documented configurations start them).
   */
  long: { name: string; rss: RssPoint[]; configured?: boolean; error?: string }[];
  /** Token requests the bridges made over the run. */
  tokenRequests: number;
  /** Bridge processes started over the run (each makes its own token request). */
  bridgeProcesses?: number;
  load: { start: number[]; end: number[] };
  cpus: number;
  versions: Record<string, string>;
  seconds: number;
}

/** Where the forwarders come from. */
export interface McpCommands {
  /** The Deno executable. */
  deno: string;
  /** The environment of the spawned processes (PATH, HOME, DENO_DIR). */
  env: Record<string, string>;
  /** The npm build's `kognic-auth` bin, when built. */
  nodeBin?: string;
  /** Node.js. @default {"node"} */
  node?: string;
}

function latency(values: number[]): McpLatency {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), n: sorted.length };
}

/**
 * A file under /proc: read directly, or through `cat` where the runtime refuses
 * (Deno reads /proc only with every permission).
 */
function procFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    const result = spawnSync("cat", [path], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`cannot read ${path}`);
    return result.stdout;
  }
}

function rssOf(pid: number | null | undefined): number {
  if (!pid) return NaN;
  try {
    const status = procFile(`/proc/${pid}/status`);
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) of a process so far, ms; NaN where /proc cannot tell. */
function cpuOf(pid: number | null | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = procFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second here).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** mcp-remote's entry, installed from npm into the tools' cache on first use. */
export function mcpRemoteEntry(): string {
  const dir = ensureInstalled("mcp-remote", [`mcp-remote@${MCP_REMOTE_VERSION}`]);
  return join(dir, "node_modules", "mcp-remote", "dist", "proxy.js");
}

interface Forwarder {
  row: McpRow;
  command: string;
  args: string[];
  env: Record<string, string>;
  client?: Client;
  transport?: StdioClientTransport;
  calls: number;
  sequential: number[];
  concurrent: number[];
  cpu: number;
}

async function connect(forwarder: Forwarder): Promise<void> {
  const transport = new StdioClientTransport({
    command: forwarder.command,
    args: forwarder.args,
    env: forwarder.env,
    stderr: "pipe",
    cwd: ROOT,
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => {
    if (stderr.length < 4000) stderr += chunk;
  });
  const client = new Client({ name: "bench", version: "1.0.0" });
  try {
    await client.connect(transport, { timeout: 60_000 });
  } catch (error) {
    throw new Error(`${(error as Error).message}; stderr: ${stderr.slice(0, 500)}`);
  }
  forwarder.client = client;
  forwarder.transport = transport;
}

async function call(forwarder: Forwarder, into: number[] | undefined): Promise<void> {
  const i = forwarder.calls++;
  const started = performance.now();
  const result = await forwarder.client!.callTool({ name: "add", arguments: { a: i, b: 1 } });
  const elapsed = performance.now() - started;
  const text = (result.content as { text: string }[])[0]?.text;
  if (text !== String(i + 1)) throw new Error(`tools/call answered ${JSON.stringify(text)}`);
  into?.push(elapsed);
}

async function sequential(forwarder: Forwarder, n: number, into?: number[]): Promise<void> {
  for (let i = 0; i < n; i++) await call(forwarder, into);
}

async function concurrent(forwarder: Forwarder, perCaller: number, into?: number[]): Promise<void> {
  await Promise.all(
    Array.from({ length: MCP_CONCURRENCY }, () => sequential(forwarder, perCaller, into)),
  );
}

function sampleRss(forwarder: Forwarder): void {
  const mb = rssOf(forwarder.transport?.pid);
  if (Number.isFinite(mb)) forwarder.row.rss.push({ calls: forwarder.calls, mb: round(mb, 1) });
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

/**
 * Runs the comparison.
 *
 * @param commands Deno, Node.js, the npm build's bin.
 * @param sizes Rounds and calls.
 * @param log Progress lines.
 */
export async function measureMcp(
  commands: McpCommands,
  sizes: McpSizes,
  log: (text: string) => void = () => {},
): Promise<McpResult> {
  const started = Date.now();
  const loadStart = os.loadavg();
  const server = spawn(commands.deno, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-env",
    join(ROOT, "scripts", "bench", "mcp_server.ts"),
  ], { cwd: ROOT, env: commands.env, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error("the benchmark's MCP server did not start");
  const { url, authUrl, token } = JSON.parse(first.value) as Record<string, string>;

  const node = commands.node ?? "node";
  const floor = join(ROOT, "scripts", "bench", "mcp_floor.mjs");
  // The MCP server listens on its own loopback port, an origin the session's environment does not
  // name: mcp-proxy sends the token there only when the origin is allowed by name.
  const proxyArgs = [
    url,
    "--server",
    authUrl,
    "--token-cache",
    "none",
    "--allow-origin",
    new URL(url).origin,
  ];
  const bridgeEnv = {
    ...commands.env,
    KOGNIC_CLIENT_ID: "bench-client",
    KOGNIC_CLIENT_SECRET: "bench-secret",
    NO_COLOR: "1",
  };
  const make = (
    row: Omit<McpRow, "rss">,
    command: string,
    args: string[],
    env = commands.env,
  ): Forwarder => ({
    row: { ...row, rss: [] },
    command,
    args,
    env,
    calls: 0,
    sequential: [],
    concurrent: [],
    cpu: 0,
  });
  const forwarders: Forwarder[] = [
    make({ name: "floor (Deno)", kind: "floor", runtime: "Deno" }, commands.deno, [
      "run",
      "--allow-net=127.0.0.1",
      floor,
      url,
    ]),
    make(
      { name: "kognic-auth mcp-proxy (Deno)", kind: "bridge", runtime: "Deno" },
      commands.deno,
      [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        join(ROOT, "cli.ts"),
        "mcp-proxy",
        ...proxyArgs,
      ],
      bridgeEnv,
    ),
    make({ name: "floor (Node.js)", kind: "floor", runtime: "Node.js" }, node, [floor, url]),
  ];
  if (commands.nodeBin) {
    forwarders.push(
      make(
        { name: "kognic-auth mcp-proxy (Node.js bin)", kind: "bridge", runtime: "Node.js" },
        node,
        [commands.nodeBin, "mcp-proxy", ...proxyArgs],
        bridgeEnv,
      ),
    );
  }
  try {
    forwarders.push(
      make(
        { name: `mcp-remote ${MCP_REMOTE_VERSION}`, kind: "mcp-remote", runtime: "Node.js" },
        node,
        [
          mcpRemoteEntry(),
          url,
          "--header",
          `Authorization:Bearer ${token}`,
          "--allow-http",
          "--transport",
          "http-only",
          "--silent",
        ],
      ),
    );
  } catch (error) {
    log(`mcp-remote: ${(error as Error).message}`);
  }

  const live: Forwarder[] = [];
  try {
    for (const forwarder of forwarders) {
      try {
        await connect(forwarder);
        // Untimed warm-up: connections, JIT.
        await sequential(forwarder, sizes.perRound);
        await concurrent(forwarder, 2);
        sampleRss(forwarder);
        live.push(forwarder);
      } catch (error) {
        forwarder.row.error = String((error as Error).message).split("\n")[0].slice(0, 300);
        log(`${forwarder.row.name}: ${forwarder.row.error}`);
      }
    }
    for (let round = 0; round < sizes.rounds; round++) {
      const order = live.map((_, i) => live[(i + round) % live.length]);
      for (const forwarder of order) {
        const cpu = cpuOf(forwarder.transport?.pid);
        await sequential(forwarder, sizes.perRound, forwarder.sequential);
        forwarder.cpu += cpuOf(forwarder.transport?.pid) - cpu;
      }
      for (const forwarder of order.reverse()) {
        const cpu = cpuOf(forwarder.transport?.pid);
        await concurrent(forwarder, sizes.perCaller, forwarder.concurrent);
        forwarder.cpu += cpuOf(forwarder.transport?.pid) - cpu;
        sampleRss(forwarder);
      }
      log(`MCP round ${round + 1} of ${sizes.rounds}`);
    }
    for (const forwarder of live) {
      forwarder.row.sequential = latency(forwarder.sequential);
      forwarder.row.concurrent = latency(forwarder.concurrent);
      const timed = forwarder.sequential.length + forwarder.concurrent.length;
      if (Number.isFinite(forwarder.cpu) && timed) {
        forwarder.row.cpuMs = round(forwarder.cpu / timed, 3);
      }
    }

    for (const forwarder of live) await forwarder.client?.close().catch(() => {});
    // The long run: fresh processes of the floors and the bridges, and the bridges again as the
    // client configurations of README and docs/mcp.md start them, with V8's memory flags (start-up
    // flags: Deno's `--v8-flags` in the arguments, NODE_OPTIONS for the Node.js bin).
    const long: McpResult["long"] = [];
    const longRuns: Forwarder[] = [];
    const configured = new Set<Forwarder>();
    if (sizes.long > 0) {
      for (const f of live.filter((f) => f.row.kind !== "mcp-remote")) {
        longRuns.push(make(f.row, f.command, f.args, f.env));
        if (f.row.kind === "bridge") {
          const deno = f.args[0] === "run";
          const how = deno
            ? `--v8-flags=${DENO_MEMORY_FLAGS}`
            : `NODE_OPTIONS=${NODE_MEMORY_OPTIONS}`;
          const run = make(
            { ...f.row, name: `${f.row.name} as configured (\`${how}\`)` },
            f.command,
            deno ? ["run", how, ...f.args.slice(1)] : f.args,
            deno ? f.env : { ...f.env, NODE_OPTIONS: NODE_MEMORY_OPTIONS },
          );
          configured.add(run);
          longRuns.push(run);
        }
      }
    }
    for (const forwarder of longRuns) {
      const rss: RssPoint[] = [];
      const entry: McpResult["long"][number] = {
        name: forwarder.row.name,
        rss,
        ...(configured.has(forwarder) ? { configured: true } : {}),
      };
      long.push(entry);
      try {
        await connect(forwarder);
        const marks = [1000, ...Array.from({ length: 10 }, (_, i) => (i + 1) * sizes.long / 10)];
        for (const mark of marks) {
          while (forwarder.calls < mark) await concurrent(forwarder, 1);
          const mb = rssOf(forwarder.transport?.pid);
          rss.push({ calls: forwarder.calls, mb: round(mb, 1) });
          log(`${forwarder.row.name}: ${forwarder.calls} calls, RSS ${mb.toFixed(1)} MB`);
        }
      } catch (error) {
        entry.error = String((error as Error).message).slice(0, 300);
      } finally {
        await forwarder.client?.close().catch(() => {});
      }
    }

    for (const forwarder of live) await forwarder.client?.close().catch(() => {});
    server.stdin!.end();
    const last = await lines.next();
    // The static token of mcp-remote was minted without a request: these are the bridges'.
    const tokenRequests = last.done ? NaN : JSON.parse(last.value).tokensIssued;
    return {
      sizes,
      concurrency: MCP_CONCURRENCY,
      rows: forwarders.map((f) => f.row),
      long,
      tokenRequests,
      bridgeProcesses: live.filter((f) => f.row.kind === "bridge").length +
        longRuns.filter((f) => f.row.kind === "bridge").length,
      load: { start: loadStart, end: os.loadavg() },
      cpus: os.cpus().length,
      versions: {
        "@modelcontextprotocol/client": "2.4.0",
        "@modelcontextprotocol/server": "2.4.0",
        "mcp-remote": MCP_REMOTE_VERSION,
        node: spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim(),
        deno: spawnSync(commands.deno, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0],
      },
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    for (const forwarder of forwarders) await forwarder.client?.close().catch(() => {});
    if (server.exitCode === null) server.stdin!.end();
  }
}

/** The ratio of a bridge's figure to its runtime's floor. */
export function mcpRatio(
  result: McpResult,
  row: McpRow,
  mode: "sequential" | "concurrent",
  q: "p50" | "p99",
): number {
  const floor = result.rows.find((r) => r.kind === "floor" && r.runtime === row.runtime);
  const base = floor?.[mode]?.[q];
  const value = row[mode]?.[q];
  return base && value ? value / base : NaN;
}

if (import.meta.main) {
  const args = Object.fromEntries(
    process.argv.slice(2).map((arg) => arg.replace(/^--/, "").split("=") as [string, string]),
  );
  const nodeBin = join(ROOT, "npm", "esm", "bin", "kognic-auth.js");
  const result = await measureMcp(
    {
      deno: process.execPath,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        ...(process.env.DENO_DIR ? { DENO_DIR: process.env.DENO_DIR } : {}),
        ...(process.env.DENO_CERT ? { DENO_CERT: process.env.DENO_CERT } : {}),
      },
      nodeBin: existsSync(nodeBin) ? nodeBin : undefined,
    },
    {
      rounds: Number(args.rounds ?? 6),
      perRound: Number(args.calls ?? 100),
      perCaller: Number(args.perCaller ?? 10),
      long: Number(args.rss ?? 0),
    },
    (text) => console.error(`[mcp] ${text}`),
  );
  console.log(JSON.stringify(result, null, 2));
}

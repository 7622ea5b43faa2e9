/**
 * The figures of a `deno task bench` run as a document (`docs/benchmarks.json`):
 * targets, tables, machine and versions. scripts/render_doc.ts turns it into
 * `docs/benchmarks.md`.
 *
 * @module
 */

import type { Block, Doc } from "../render_doc.ts";
import { CANDIDATE, PEERS, type Stats, stats } from "./cases.ts";
import type { ColdResult } from "./cold.ts";
import type { SizeResult, TarballResult } from "./size.ts";
import {
  DENO_MEMORY_FLAGS,
  MCP_RSS_TARGET_MB,
  MCP_TARGET_RATIO,
  mcpRatio,
  type McpResult,
  type McpRow,
  NODE_MEMORY_OPTIONS,
} from "./mcp.ts";
import type { StartupCase, StartupResult, StartupRun } from "./startup.ts";

/** Loopback figures of one case, in microseconds. */
export interface LoopbackRow {
  sequential: Stats;
  /** The median of each round, in the same order for every case (for paired ratios). */
  sequentialRounds: number[];
  sequentialCpu: Stats;
  concurrentLatency: Stats;
  concurrentPerRequest: Stats;
}

/** Cold-storm figures of one case. */
export interface StormRow {
  calls: number;
  /** The fewest calls answered 200 in a storm, over the repeats. */
  ok: number;
  /** The most token requests a storm made, over the repeats. */
  tokenRequests: number;
  /** The median time of the storms, in milliseconds. */
  ms: number;
  repeats?: number;
}

/** Everything measured on one runtime. */
export interface RuntimeRun {
  id: string;
  label: string;
  version: string;
  /** Cases that could not run, with the reason. */
  errors: Record<string, string>;
  loopback?: {
    rounds: number;
    perRound: number;
    concurrency: number;
    results: Record<string, LoopbackRow>;
  };
  storm?: { size: number; results: Record<string, StormRow> };
  cold?: ColdResult[];
  loadBefore?: number;
  loadAfter?: number;
}

/** One whole run. */
/** The `fetch` part on one runtime: AuthSession.fetch against raw fetch over loopback. */
export interface FetchRatioRun {
  label: string;
  error?: string;
  rounds?: number;
  batch?: number;
  raw?: Stats;
  session?: Stats;
  /** Round by round, session / raw. */
  ratio?: Stats;
  /** Round by round, raw again / raw: the method's own spread. */
  methodSpread?: Stats;
  memory?: { calls: number; rssAfter1000: number; rssAfterAll: number };
}

export interface BenchResult {
  date: string;
  smoke: boolean;
  candidate?: string;
  command: string;
  git: string;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    os: string;
    loadStart: number[];
    loadEnd: number[];
  };
  versions: Record<string, string>;
  runtimes: RuntimeRun[];
  /** The MCP bridge against the floor and mcp-remote, when measured. */
  mcp?: McpResult;
  sizes: SizeResult[];
  /** The command's start-up, every runtime side by side (the `startup` part). */
  startup?: StartupResult;
  /** AuthSession.fetch against raw fetch over loopback (the `fetch` part). */
  fetchRatio?: FetchRatioRun[];
  tarball?: TarballResult;
  pending: string[];
  seconds: number;
}

const OURS = "@kognic/auth";
/** The loopback target: ours at most this many times raw fetch. */
const LOOPBACK_TARGET = 1.03;
/** The start-up targets over the runtime's empty start, in ms (paired medians). */
const STARTUP_TARGETS: Record<string, number> = {
  "--version": 10,
  "get-access-token (warm)": 15,
  "get-access-token (cold)": 30,
};
/** AuthSession.fetch over loopback: at most this many times raw fetch (paired median). */
const FETCH_RATIO_TARGET = 1.05;
function us(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

function ratio(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || !(base > 0) || !Number.isFinite(value)) {
    return "–";
  }
  return `${(value / base).toFixed(2)}×`;
}

function signed(value: number, digits = 1): string {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(digits)}`;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function table(head: string[], rows: string[][]): Block {
  return { table: head, rows };
}

function caseNames(run: RuntimeRun): string[] {
  const names = ["fetch", OURS];
  if (run.loopback?.results[CANDIDATE]) names.push(CANDIDATE);
  return [...names, ...Object.keys(PEERS)];
}

function errorNote(run: RuntimeRun, name: string): string {
  const message = run.errors[name];
  return message ? `not measured: ${message.split("\n")[0].slice(0, 120)}` : "–";
}

function coldRow(run: RuntimeRun, name: string): ColdResult | undefined {
  return run.cold?.find((row) => row.name === name);
}

// ---------------------------------------------------------------------------
// Targets

/** Round-by-round ratios of a case to raw fetch: median, p25 and p75. */
function pairedRatios(run: RuntimeRun, name: string): Stats | undefined {
  const rows = run.loopback?.results;
  const mine = rows?.[name]?.sequentialRounds;
  const base = rows?.fetch?.sequentialRounds;
  if (!mine || !base || mine.length !== base.length || mine.length === 0) return undefined;
  return stats(mine.map((value, i) => value / base[i]));
}

function loopbackTarget(run: RuntimeRun): string {
  const rows = run.loopback?.results;
  const ours = rows?.[OURS]?.sequential.median;
  const base = rows?.fetch?.sequential.median;
  if (ours === undefined || base === undefined) return "–";
  const r = ours / base;
  const paired = pairedRatios(run, OURS);
  const spread = paired
    ? `; by round ${paired.median.toFixed(3)}× (${paired.p25.toFixed(3)}–${paired.p75.toFixed(3)})`
    : "";
  return r <= LOOPBACK_TARGET
    ? `met (${r.toFixed(3)}×${spread})`
    : `**missed** by ${(r - LOOPBACK_TARGET).toFixed(3)}× (${r.toFixed(3)}×, ${
      signed(ours - base)
    } µs${spread})`;
}

function stormTarget(run: RuntimeRun): string {
  const row = run.storm?.results[OURS];
  if (!row) return "–";
  const text = `${row.tokenRequests} for ${row.calls} calls`;
  return row.tokenRequests === 1 && row.ok === row.calls ? `met (${text})` : `**missed** (${text})`;
}

function startupMs(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

function startupCase(run: StartupRun, name: string): StartupCase | undefined {
  return run.cases.find((row) => row.name === name);
}

/** The start-up and fetch targets: paired medians, each with its quartiles. */
function pairedTargetsSection(result: BenchResult): Block[] {
  const blocks: Block[] = [];
  const startup = result.startup;
  if (startup) {
    const rows = Object.entries(STARTUP_TARGETS).map(([name, limit]) => [
      `\`kognic-auth ${name}\`: ≤ empty start + ${limit} ms`,
      ...startup.runtimes.map((run) => {
        const row = startupCase(run, name);
        if (!row || row.error) return row?.error ? "failed" : "–";
        const over = row.overEmpty!;
        const floor = startupCase(run, "floor")?.overEmpty?.median;
        const text = `${signed(over.median)} ms (${signed(over.p25)} to ${
          signed(over.p75)
        }); floor ${signed(floor ?? NaN)} ms`;
        return over.median <= limit
          ? `met (${text})`
          : `**missed** by ${startupMs(over.median - limit)} ms (${text})`;
      }),
    ]);
    blocks.push(
      table(["Target (start-up, paired)", ...startup.runtimes.map((r) => r.label)], rows),
    );
  }
  const fetchRuns = result.fetchRatio ?? [];
  if (fetchRuns.length) {
    blocks.push(table(["Target (loopback, paired)", ...fetchRuns.map((run) => run.label)], [[
      `AuthSession.fetch ≤ ${FETCH_RATIO_TARGET}× raw fetch`,
      ...fetchRuns.map((run) => {
        if (run.error || !run.ratio || !run.methodSpread) return run.error ? "failed" : "–";
        const r = run.ratio;
        const text = `${r.median.toFixed(3)}× (${r.p25.toFixed(3)}–${r.p75.toFixed(3)}); ` +
          `raw against raw ${run.methodSpread.median.toFixed(3)}× (${
            run.methodSpread.p25.toFixed(3)
          }–${run.methodSpread.p75.toFixed(3)})`;
        return r.median <= FETCH_RATIO_TARGET
          ? `met (${text})`
          : `**missed** by ${(r.median - FETCH_RATIO_TARGET).toFixed(3)}× (${text})`;
      }),
    ]]));
  }
  return blocks;
}

function startupSection(result: BenchResult): Block[] {
  const startup = result.startup;
  if (!startup) return [{ p: "Not measured in this run." }];
  const load = (values: number[]): string => values.map((v) => v.toFixed(1)).join(", ");
  const blocks: Block[] = [{
    p: `${startup.rounds} rounds; in every round each case of every runtime runs once, in an ` +
      "order that rotates, and each case is paired with the same round's empty start of its " +
      "runtime: the figure is the median of those differences, with its quartiles (p25–p75), " +
      "so that the load the machine was under when a round ran cancels out. Wall time is spawn " +
      `to exit. ${startup.cacheNote}. Load average (1, 5, 15 min) before: ${
        load(startup.loadBefore)
      }; after: ${load(startup.loadAfter)}.`,
  }];
  for (const run of startup.runtimes) {
    blocks.push({ h: 4, text: run.label });
    blocks.push(table(
      ["Case", "Over empty start, ms (p25–p75)", "Wall ms, median (p25–p75)", "What it runs"],
      run.cases.map((row) => [
        row.name,
        row.error
          ? `failed: ${row.error.slice(0, 80)}`
          : row.overEmpty
          ? `${signed(row.overEmpty.median)} (${signed(row.overEmpty.p25)} to ${
            signed(row.overEmpty.p75)
          })`
          : "0",
        `${startupMs(row.wall.median)} (${startupMs(row.wall.p25)}–${startupMs(row.wall.p75)})`,
        row.description,
      ]),
    ));
  }
  return blocks;
}

function fetchRatioSection(result: BenchResult): Block[] {
  const runs = result.fetchRatio ?? [];
  if (!runs.length) return [{ p: "Not measured in this run." }];
  const first = runs.find((run) => run.rounds);
  return [
    {
      p: `The loopback auth server's echo API in a process of its own; ${
        first?.rounds ?? "–"
      } rounds, in each of which raw fetch (a precomputed Authorization header), the ` +
        `session's fetch and raw fetch again send ${
          first?.batch ?? "–"
        } sequential GETs each (bodies read), in a rotating order. Ratio: the session's µs ` +
        "per GET over raw fetch's in the same round; raw against raw is the method's own " +
        "spread, what two identical clients differ by. Memory: the process's resident set " +
        "size (after a collection) after 1,000 of the session's GETs and after all of them.",
    },
    table(
      [
        "Runtime",
        "raw fetch µs",
        "AuthSession.fetch µs",
        "Ratio (p25–p75)",
        "Raw against raw (p25–p75)",
        "RSS after 1,000",
        "RSS after all (calls)",
      ],
      runs.map((run) =>
        run.error || !run.ratio
          ? [run.label, `failed: ${(run.error ?? "no figures").slice(0, 80)}`, "", "", "", "", ""]
          : [
            run.label,
            us(run.raw?.median),
            us(run.session?.median),
            `${run.ratio.median.toFixed(3)}× (${run.ratio.p25.toFixed(3)}–${
              run.ratio.p75.toFixed(3)
            })`,
            `${run.methodSpread!.median.toFixed(3)}× (${run.methodSpread!.p25.toFixed(3)}–${
              run.methodSpread!.p75.toFixed(3)
            })`,
            `${(run.memory!.rssAfter1000 / 2 ** 20).toFixed(1)} MiB`,
            `${(run.memory!.rssAfterAll / 2 ** 20).toFixed(1)} MiB (${
              run.memory!.calls.toLocaleString("en")
            })`,
          ]
      ),
    ),
  ];
}

function targetsSection(result: BenchResult): Block {
  const runs = result.runtimes;
  const rows: string[][] = [
    [
      `Loopback median ≤ ${LOOPBACK_TARGET}× raw fetch (sequential)`,
      ...runs.map(loopbackTarget),
    ],
    ["Cold storm: one token request", ...runs.map(stormTarget)],
  ];
  return table(["Target", ...runs.map((run) => run.label)], rows);
}

/** Figures from this run that bear on the targets, computed (no hand-written claims). */
function limitsSection(result: BenchResult): Block {
  const lines: string[] = [];
  for (const run of result.runtimes) {
    const parts: string[] = [];
    const fetchRow = coldRow(run, "fetch");
    const httpRow = coldRow(run, "node:http");
    const empty = coldRow(run, "empty");
    if (fetchRow && httpRow && empty && !fetchRow.error && !httpRow.error) {
      parts.push(
        `a fresh process's token request and GET cost ${
          signed(fetchRow.wall.median - empty.wall.median, 0)
        } ms with the global fetch and ${
          signed(httpRow.wall.median - empty.wall.median, 0)
        } ms with node:http`,
      );
    }
    const loop = run.loopback?.results;
    if (loop?.[OURS] && loop.fetch) {
      parts.push(
        `on loopback ours is ${
          signed(loop[OURS].sequential.median - loop.fetch.sequential.median)
        } µs per GET over raw fetch (client CPU ${
          signed(loop[OURS].sequentialCpu.median - loop.fetch.sequentialCpu.median)
        } µs)`,
      );
    }
    if (parts.length) lines.push(`${run.label}: ${parts.join("; ")}.`);
  }
  return { list: lines };
}

// ---------------------------------------------------------------------------
// Sections

function loopbackSection(run: RuntimeRun): Block[] {
  const rows = run.loopback?.results ?? {};
  const base = rows.fetch;
  const body = caseNames(run).map((name) => {
    const row = rows[name];
    if (!row) return [name, errorNote(run, name), "", "", "", "", "", "", "", ""];
    return [
      name === "fetch" ? "fetch (baseline)" : name === OURS ? `**${name}**` : name,
      us(row.sequential.median),
      ratio(row.sequential.median, base?.sequential.median),
      name === "fetch" ? "–" : (() => {
        const paired = pairedRatios(run, name);
        return paired ? `${paired.p25.toFixed(2)}–${paired.p75.toFixed(2)}` : "–";
      })(),
      us(row.sequentialCpu.median),
      ratio(row.sequentialCpu.median, base?.sequentialCpu.median),
      us(row.concurrentPerRequest.median),
      ratio(row.concurrentPerRequest.median, base?.concurrentPerRequest.median),
      us(row.concurrentLatency.median, 0),
      ratio(row.concurrentLatency.median, base?.concurrentLatency.median),
    ];
  });
  return [
    { h: 4, text: run.label },
    table([
      "Client",
      "Sequential: median latency µs",
      "× fetch",
      "× fetch by round (p25–p75)",
      "Client CPU µs per request",
      "× fetch",
      `${run.loopback?.concurrency ?? 16} concurrent: µs per request`,
      "× fetch",
      "Median latency µs",
      "× fetch",
    ], body),
  ];
}

function coldSection(run: RuntimeRun): Block[] {
  const empty = coldRow(run, "empty");
  const rows = (run.cold ?? []).map((row) => {
    if (row.error) {
      return [`\`${row.name}\``, row.description, `failed: ${row.error}`, "", "", "", ""];
    }
    const over = empty ? row.wall.median - empty.wall.median : undefined;
    const overMin = empty ? row.wall.min - empty.wall.min : undefined;
    return [
      row.name === OURS ? `**\`${row.name}\`**` : `\`${row.name}\``,
      row.description,
      `${row.wall.median.toFixed(0)} (${row.wall.p25.toFixed(0)}–${row.wall.p75.toFixed(0)})`,
      row.name === "empty" || over === undefined ? "–" : `${signed(over, 0)} ms`,
      row.name === "empty" ? "–" : ratio(row.wall.median, empty?.wall.median),
      `${row.wall.min.toFixed(0)}${
        row.name === "empty" || overMin === undefined ? "" : ` (${signed(overMin, 0)})`
      }`,
      row.inProcess ? row.inProcess.median.toFixed(0) : "–",
    ];
  });
  return [
    { h: 4, text: run.label },
    table([
      "Process",
      "What it does",
      "Spawn to exit, ms: median (p25–p75)",
      "Over empty",
      "× empty",
      "Fastest run, ms (over empty's fastest)",
      "Response at, ms (process clock)",
    ], rows),
  ];
}

function stormSection(result: BenchResult): Block {
  const names = ["fetch", OURS, ...Object.keys(PEERS)];
  const rows = names.map((name) => [
    name === "fetch" ? "fetch, token fetched first (baseline)" : name,
    ...result.runtimes.flatMap((run) => {
      const row = run.storm?.results[name];
      if (!row) return ["–", "–"];
      const base = run.storm?.results.fetch;
      return [
        `${row.tokenRequests} (${row.ok}/${row.calls} ok)`,
        `${row.ms.toFixed(0)} (${ratio(row.ms, base?.ms)})`,
      ];
    }),
  ]);
  return table(
    [
      "Client",
      ...result.runtimes.flatMap((run) => [
        `${run.label}: token requests`,
        "ms (× fetch)",
      ]),
    ],
    rows,
  );
}

function sizeSection(result: BenchResult): Block[] {
  const ours = result.sizes.find((size) => size.name === OURS);
  const rows = result.sizes.map((size) => [
    size.name === OURS ? `**${size.name}** (mod.ts)` : size.name,
    kb(size.used.onImport.gzipped),
    ratio(size.used.onImport.gzipped, ours?.used.onImport.gzipped),
    kb(size.used.all.gzipped),
    kb(size.whole.onImport.gzipped),
    ratio(size.whole.onImport.gzipped, ours?.whole.onImport.gzipped),
    kb(size.whole.all.gzipped),
    kb(size.whole.all.minified),
    String(size.packages),
  ]);
  const blocks = [table([
    "Library",
    "Used API: loaded on import, gzip",
    "× ours",
    "with lazy code",
    "Whole package: on import, gzip",
    "× ours",
    "with lazy code",
    "minified",
    "npm packages installed",
  ], rows)];
  blocks.push({
    p: `Used API: ${
      result.sizes.map((size) => `${size.name} \`${size.usedExports}\``).join("; ")
    }.`,
  });
  const tarball = result.tarball;
  blocks.push({
    p: tarball
      ? `Our npm tarball (\`${tarball.file}\`): ${kb(tarball.size)} packed, ${
        kb(tarball.unpackedSize)
      } unpacked in ${tarball.files} files.`
      : "Our npm tarball: not measured (no npm build).",
  });
  return blocks;
}

function machineSection(result: BenchResult): Block {
  const m = result.machine;
  const load = (values: number[]): string => values.map((v) => v.toFixed(2)).join(" / ");
  const lines = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(0)} GiB, ${m.os}`,
    `Load average (1/5/15 min): ${load(m.loadStart)} at the start, ${
      load(m.loadEnd)
    } at the end (the machine is shared; CPU-time figures are the least affected)`,
    `Runtimes: ${result.runtimes.map((run) => run.label).join(", ")}`,
    `Packages: ${
      Object.entries(result.versions).map(([name, version]) =>
        name.includes("npm build") ? `our npm build ${version}` : `${name} ${version}`
      ).join(", ")
    }`,
    `Code: commit ${result.git}; run on ${result.date.slice(0, 16).replace("T", " ")} UTC in ${
      (result.seconds / 60).toFixed(1)
    } minutes`,
  ];
  return { list: lines };
}

const MCP_HEADING = "5. MCP bridge";

function ms(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(2);
}

function mcpSection(result: BenchResult): Block[] {
  const mcp = result.mcp;
  if (!mcp) return [{ p: "Not measured in this run." }];
  const times = (row: McpRow, mode: "sequential" | "concurrent"): string[] => {
    const l = row[mode];
    if (!l) return ["–", "–"];
    const x = (q: "p50" | "p99"): string => {
      const r = mcpRatio(mcp, row, mode, q);
      return row.kind === "floor" || !Number.isFinite(r) ? "" : ` (${r.toFixed(2)}×)`;
    };
    return [`${ms(l.p50)}${x("p50")}`, `${ms(l.p99)}${x("p99")}`];
  };
  const rss = (row: McpRow): string => {
    const first = row.rss[0];
    const last = row.rss[row.rss.length - 1];
    return first && last ? `${first.mb.toFixed(0)} → ${last.mb.toFixed(0)} (${last.calls})` : "–";
  };
  const rows = mcp.rows.map((row) => [
    row.name,
    ...times(row, "sequential"),
    ...times(row, "concurrent"),
    ms(row.cpuMs),
    row.error ? `not measured: ${row.error.slice(0, 100)}` : rss(row),
  ]);
  const remote = mcp.rows.find((row) => row.kind === "mcp-remote" && !row.error);
  const verdicts: string[] = [];
  for (const row of mcp.rows.filter((r) => r.kind === "bridge" && !r.error)) {
    const checks: string[] = [];
    for (const mode of ["sequential", "concurrent"] as const) {
      for (const q of ["p50", "p99"] as const) {
        const r = mcpRatio(mcp, row, mode, q);
        checks.push(
          `${mode} ${q} ${r <= MCP_TARGET_RATIO ? "met" : "**missed**"} (${r.toFixed(2)}×)`,
        );
      }
      const theirs = remote?.[mode]?.p50;
      const ours = row[mode]?.p50;
      if (theirs !== undefined && ours !== undefined) {
        checks.push(
          `${mode} p50 ${ours < theirs ? "below" : "**not below**"} mcp-remote (${
            (ours / theirs).toFixed(2)
          }× its time)`,
        );
      }
    }
    verdicts.push(`${row.name}: ${checks.join("; ")}.`);
  }
  const blocks: Block[] = [
    {
      p: "SDK v2's MCP client (speaking 2025-11-25, as desktop hosts do today) calls the `add` " +
        "tool of SDK v2's MCP server (both eras; 127.0.0.1) through a stdio forwarder. The server, " +
        "each forwarder and the client each run in a process of their own. The floor is " +
        "`scripts/bench/mcp_floor.mjs`, a raw stdio-to-HTTP forwarder with no authentication, on " +
        "the same runtime as the bridge it is compared with; `kognic-auth mcp-proxy` gets its " +
        "token from the local auth server (the server here does not check tokens, so that the " +
        "floor sees the same server); mcp-remote gets a static `Authorization` header. " +
        `Per forwarder: ${mcp.sizes.rounds} rounds of ${mcp.sizes.perRound} sequential calls, ` +
        `and ${mcp.sizes.rounds} rounds of ${mcp.concurrency} concurrent callers making ` +
        `${mcp.sizes.perCaller} calls each, every call timed, the forwarders taken in turn after ` +
        "an untimed warm-up. Times in ms (× the floor of the same runtime); CPU is the " +
        "forwarder process's user + system time per timed call; RSS in MB from the first reading " +
        "after the warm-up to the last (calls so far).",
    },
    {
      p: `Machine load: ${mcp.cpus} cores, load average ${
        mcp.load.start[0].toFixed(1)
      } at the start and ${
        mcp.load.end[0].toFixed(1)
      } at the end of this part (other work ran on the machine), so the tails (p99) carry ` +
        `other processes' time; ${mcp.seconds.toFixed(0)} s.`,
    },
    table(
      [
        "Forwarder",
        "Sequential p50",
        "p99",
        `${mcp.concurrency} concurrent p50`,
        "p99",
        "CPU ms/call",
        "RSS MB",
      ],
      rows,
    ),
    {
      p: `Targets: the bridge at most ${MCP_TARGET_RATIO}× the floor (p50 and p99, sequential ` +
        "and concurrent) and below mcp-remote.",
    },
    { list: verdicts.length ? verdicts : ["No bridge was measured."] },
    {
      p: `${mcp.tokenRequests} token request(s) for ${
        mcp.bridgeProcesses ?? "the"
      } bridge processes (each with \`--token-cache none\`), whatever their calls.`,
    },
  ];
  if (mcp.long.length) {
    const lines = mcp.long.map((run) => {
      const base = run.rss.find((point) => point.calls >= 1000) ?? run.rss[0];
      const top = Math.max(...run.rss.map((point) => point.mb));
      const growth = base ? top - base.mb : NaN;
      // The target is for the bridge as its documented configurations start it.
      const verdict = run.configured
        ? ` (target ≤ ${MCP_RSS_TARGET_MB} MB: ${
          growth <= MCP_RSS_TARGET_MB ? "met" : "**missed**"
        })`
        : "";
      return `${run.name}: ${
        run.rss.map((point) => `${point.mb.toFixed(0)} MB at ${point.calls}`).join(", ")
      }; at most ${growth.toFixed(1)} MB over its value after 1,000 calls${verdict}${
        run.error ? `; stopped: ${run.error}` : ""
      }.`;
    });
    blocks.push(
      {
        p: `RSS over ${mcp.sizes.long} calls (${mcp.concurrency} callers at once), each ` +
          "forwarder in a fresh process: the floors, the bridges with V8's default sizing, and " +
          "the bridges as the client configurations of README and docs/mcp.md start them, with " +
          `V8's memory flags (Deno: \`--v8-flags=${DENO_MEMORY_FLAGS}\` in the arguments; ` +
          `the Node.js bin: \`NODE_OPTIONS=${NODE_MEMORY_OPTIONS}\` in the environment); the ` +
          "target is for these. With V8's default sizing, the young generation grows under this " +
          "load to a plateau within the first 10,000 calls, in the floor as much as in the bridge.",
      },
      { list: lines },
    );
  }
  return blocks;
}

/**
 * The document with its MCP section replaced by the one of `result`, the
 * other sections as they were: for a run of the `mcp` part alone.
 */
export function withMcpSection(doc: Doc, result: BenchResult): Doc {
  const blocks = [...doc.blocks];
  const start = blocks.findIndex((block) =>
    "h" in block && block.h === 2 && /MCP/.test(block.text)
  );
  const section: Block[] = [{ h: 2, text: MCP_HEADING }, ...mcpSection(result)];
  if (start !== -1) {
    let end = start + 1;
    while (end < blocks.length && !("h" in blocks[end] && (blocks[end] as { h: number }).h <= 2)) {
      end++;
    }
    blocks.splice(start, end - start, ...section);
  } else {
    const machine = blocks.findIndex((block) =>
      "h" in block && block.h === 2 && block.text === "Machine and versions"
    );
    blocks.splice(machine === -1 ? blocks.length : machine, 0, ...section);
  }
  return { ...doc, blocks };
}

/** The whole document. */
export function benchDocument(result: BenchResult): Doc {
  const title = result.smoke
    ? "Benchmarks (smoke run: tiny sizes, figures not meaningful)"
    : "Benchmarks";
  const first = result.runtimes[0];
  const blocks: Block[] = [
    { h: 1, text: title },
    {
      p: `Generated by \`${result.command}\` (scripts/bench/bench.ts) into benchmarks.json, which ` +
        "scripts/render_doc.ts renders as this file; do not edit by hand. " +
        "Reproduce on a clone with Deno 2.9 and Node.js 20 + npm (Node 22 and 24 and the peers " +
        "are installed from npm into `.tmp/`):",
    },
    { code: "deno task bench", lang: "sh" },
    ...(result.candidate ? [{ p: `With the candidate change \`${result.candidate}\`.` }] : []),
    { h: 2, text: "Targets" },
    ...pairedTargetsSection(result),
    targetsSection(result),
    limitsSection(result),
    { h: 2, text: "1. Per-request overhead with a cached token" },
    {
      p: "Every client sends the same GET, and the same POST (a JSON body, with `content-type`), " +
        "with a token already cached. Peers without a token cache (oauth4webapi, openid-client, " +
        "ky) get the same hand-written one: single flight, renewed 60 s before expiry. " +
        "@badgateway/oauth2-client uses its own (OAuth2Fetch). The resource URL is a string for " +
        "all; what a peer's API needs beyond that (a `URL`, a `Headers`) is built per call, as a " +
        "caller would. Before timing, each client's requests are checked (method, bearer token, " +
        "body, content type).",
    },
    {
      p: `The local auth server and echo API of \`@kognic/auth/testing\` in a separate Deno ` +
        `process on 127.0.0.1; the body of every response is read. Sequential: ${
          first?.loopback?.rounds ?? "–"
        } interleaved rounds of ${first?.loopback?.perRound ?? "–"} requests per client, each ` +
        `timed. Concurrent: ${first?.loopback?.concurrency ?? "–"} workers sharing one client; ` +
        "µs per request is the batch's wall time over its requests (inverse throughput). Client " +
        "CPU is the client process's CPU time per sequential request.",
    },
    ...result.runtimes.flatMap(loopbackSection),
    { h: 2, text: "2. Cold start" },
    {
      p: `Fresh processes against the loopback server, spawn to exit, interleaved; the first ` +
        `runs are discarded (compile caches). Scripts import \`@kognic/auth\` from source on Deno ` +
        `and from the installed npm build on Node, and peers as \`npm:\` specifiers on Deno and ` +
        `installed packages on Node (the command's start-up is the \`startup\` part's). "Response at" is ` +
        "the process's own clock (`performance.now()`) when the response was in. The fastest " +
        "runs are the least disturbed by other processes on this shared machine.",
    },
    ...result.runtimes.flatMap(coldSection),
    { h: 2, text: "3. Cold storm" },
    {
      p: `${first?.storm?.size ?? 1000} concurrent first calls on a fresh client, against the ` +
        `local auth server in the same process, ${
          first?.storm?.results[OURS]?.repeats ?? 1
        } times per client (interleaved, after an untimed storm that warms the connection ` +
        "pool): the most token requests the server saw in a storm, the fewest calls answered " +
        "200, and the median time until all were answered.",
    },
    stormSection(result),
    { h: 2, text: "4. Size" },
    {
      p: "esbuild `--bundle --format=esm --platform=browser --target=es2022 --minify " +
        "--external:node:* --external:@napi-rs/keyring`, then gzip level 9. Loaded on import: " +
        "with `--splitting`, the entry chunk and the chunks it imports statically; with lazy " +
        "code: one bundle of everything, `import()` included (ours loads its token request, " +
        "credentials-file and keyring code lazily). Used API: only the exports the benchmark's " +
        "client uses (the hand-written token cache not included); whole package: `export *`. " +
        "Ours is bundled from `mod.ts`, the peers from their npm packages.",
    },
    ...sizeSection(result),
    { h: 2, text: MCP_HEADING },
    ...mcpSection(result),
    { h: 2, text: "6. Start-up of the command, paired" },
    {
      p: "`kognic-auth` as its users start it: on Deno `deno run --allow-net --allow-read " +
        "--allow-write --allow-env cli.ts` from the sources (as a JSR user runs it), on Node.js " +
        "the npm package's bin; against the loopback auth server.",
    },
    ...startupSection(result),
    { h: 2, text: "7. AuthSession.fetch against raw fetch over loopback" },
    ...fetchRatioSection(result),
    { h: 2, text: "Machine and versions" },
    machineSection(result),
  ];
  const errors = result.runtimes.flatMap((run) =>
    Object.entries(run.errors).map(([name, message]) => `${run.label}, ${name}: ${message}`)
  );
  if (errors.length) blocks.push({ h: 2, text: "Cases that did not run" }, { list: errors });
  if (result.pending.length) blocks.push({ h: 2, text: "Pending" }, { list: result.pending });
  return { blocks };
}

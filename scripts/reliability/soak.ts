/**
 * The soak's client process, started by `scripts/reliability.ts` with
 * `--v8-flags=--expose-gc` so that heap figures are taken after full
 * collections. It reads its settings from `KOGNIC_SOAK_CONFIG` (JSON), runs
 * `callers` concurrent loops of `session.fetch()` against the local API, first
 * for a warm-up and then for the soak proper, and prints one JSON line of
 * figures on stdout. It stops by itself: a caller that makes no progress for
 * 30 s counts as hung, and the whole process exits after a hard deadline.
 *
 * @module
 */

import { AuthSession } from "../../mod.ts";

/** The settings the parent passes in `KOGNIC_SOAK_CONFIG`. */
export interface SoakConfig {
  authServer: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  callers: number;
  warmupMs: number;
  durationMs: number;
}

/** Figures of one phase of load. */
export interface PhaseFigures {
  durationMs: number;
  calls: number;
  failed: number;
  failures: Record<string, number>;
  tokenRequests: number;
  tokenRequestFailures: number;
  tokensIssued: number;
  /** Mean time between the send times of consecutive tokens, in ms. */
  meanRenewalIntervalMs: number | null;
  latencyMs: { p50: number; p99: number; max: number };
  /** Heap used, sampled every 5 s under load right after a full collection, in bytes. */
  heapSamples: number[];
}

/** What the child prints. */
export interface SoakFigures {
  warmup: PhaseFigures;
  soak: PhaseFigures;
  /** Heap used with no call in flight, after full collections (the lowest of a few readings). */
  heapAfterWarmup: number;
  heapAfterSoak: number;
  rssAfterWarmup: number;
  rssAfterSoak: number;
  hungCallers: number;
  unhandledRejections: number;
  uncaughtErrors: number;
}

const HANG_MS = 30_000;
const RESERVOIR = 20_000;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap and RSS with nothing in flight: the lowest of five readings, each after full collections. */
async function collect(): Promise<{ heap: number; rss: number }> {
  let heap = Infinity;
  let rss = Infinity;
  for (let i = 0; i < 5; i++) {
    gc?.();
    await pause(200);
    gc?.();
    const usage = Deno.memoryUsage();
    heap = Math.min(heap, usage.heapUsed);
    rss = Math.min(rss, usage.rss);
  }
  return { heap, rss };
}

async function run(config: SoakConfig): Promise<SoakFigures> {
  let unhandledRejections = 0;
  let uncaughtErrors = 0;
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    unhandledRejections++;
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    uncaughtErrors++;
  });

  const tokenUrl = `${config.authServer}/v1/auth/oauth/token`;
  let tokenRequests = 0;
  let tokenRequestFailures = 0;
  const issuedAt: number[] = [];
  // Counts the token endpoint's answers; the session and the runtime do the rest.
  const counting: typeof fetch = async (input, init) => {
    const isToken = String(input instanceof Request ? input.url : input) === tokenUrl;
    if (!isToken) return await fetch(input, init);
    tokenRequests++;
    try {
      const response = await fetch(input, init);
      if (!response.ok) tokenRequestFailures++;
      return response;
    } catch (error) {
      tokenRequestFailures++;
      throw error;
    }
  };
  const session = new AuthSession({
    authServer: config.authServer,
    auth: [config.clientId, config.clientSecret],
    fetch: counting,
    onTokenUpdated: (token) => void issuedAt.push(token.issuedAt),
  });
  // Half the callers pass one long-lived signal, as an application's shutdown
  // signal would be: a listener left on it per call would show in the heap.
  const shutdown = new AbortController();

  let hungCallers = 0;

  async function phase(durationMs: number): Promise<PhaseFigures> {
    const tokenRequestsBefore = tokenRequests;
    const tokenFailuresBefore = tokenRequestFailures;
    const issuedBefore = issuedAt.length;
    const latencies = new Float64Array(RESERVOIR);
    let seen = 0;
    let calls = 0;
    let failed = 0;
    const failures: Record<string, number> = {};
    const lastProgress = new Float64Array(config.callers);
    const started = performance.now();
    const stopAt = started + durationMs;
    const note = (what: string): void => {
      failed++;
      failures[what] = (failures[what] ?? 0) + 1;
    };
    const callers = Array.from({ length: config.callers }, async (_, i) => {
      lastProgress[i] = performance.now();
      while (performance.now() < stopAt) {
        const t0 = performance.now();
        try {
          const response = await session.fetch(`${config.apiUrl}/${i}`, {
            signal: i % 2 === 0 ? shutdown.signal : undefined,
          });
          const body = await response.json() as { clientId?: string };
          if (response.status !== 200 || body.clientId !== config.clientId) {
            note(`HTTP ${response.status}`);
          }
        } catch (error) {
          note(`${(error as Error)?.name}: ${String((error as Error)?.message).slice(0, 160)}`);
        }
        const t1 = performance.now();
        calls++;
        lastProgress[i] = t1;
        // A reservoir sample keeps the latency figures in constant memory.
        seen++;
        if (seen <= RESERVOIR) latencies[seen - 1] = t1 - t0;
        else {
          const j = Math.floor(Math.random() * seen);
          if (j < RESERVOIR) latencies[j] = t1 - t0;
        }
      }
    });
    let maxLatency = 0;
    const watchdog = setInterval(() => {
      const now = performance.now();
      for (const at of lastProgress) maxLatency = Math.max(maxLatency, now - at);
    }, 250);
    const heapSamples: number[] = [];
    const sampler = setInterval(() => {
      gc?.();
      heapSamples.push(Deno.memoryUsage().heapUsed);
    }, 5000);
    const done = Promise.all(callers);
    const hang = new Promise<"hung">((resolve) => {
      const timer = setTimeout(() => resolve("hung"), durationMs + HANG_MS);
      done.finally(() => clearTimeout(timer));
    });
    if (await Promise.race([done, hang]) === "hung") {
      const now = performance.now();
      hungCallers += [...lastProgress].filter((at) => now - at > HANG_MS).length;
    }
    clearInterval(watchdog);
    clearInterval(sampler);
    const elapsed = performance.now() - started;
    const sample = latencies.slice(0, Math.min(seen, RESERVOIR)).sort();
    const stamps = issuedAt.slice(issuedBefore);
    const intervals = stamps.slice(1).map((at, k) => at - stamps[k]);
    return {
      durationMs: Math.round(elapsed),
      calls,
      failed,
      failures,
      tokenRequests: tokenRequests - tokenRequestsBefore,
      tokenRequestFailures: tokenRequestFailures - tokenFailuresBefore,
      tokensIssued: stamps.length,
      meanRenewalIntervalMs: intervals.length
        ? Math.round(intervals.reduce((a, b) => a + b, 0) / intervals.length * 10) / 10
        : null,
      latencyMs: {
        p50: Math.round(percentile(sample, 0.5) * 10) / 10,
        p99: Math.round(percentile(sample, 0.99) * 10) / 10,
        max: Math.round(Math.max(maxLatency, sample.at(-1) ?? 0)),
      },
      heapSamples,
    };
  }

  const warmup = await phase(config.warmupMs);
  const afterWarmup = await collect();
  const soak = await phase(config.durationMs);
  const afterSoak = await collect();
  return {
    warmup,
    soak,
    heapAfterWarmup: afterWarmup.heap,
    heapAfterSoak: afterSoak.heap,
    rssAfterWarmup: afterWarmup.rss,
    rssAfterSoak: afterSoak.rss,
    hungCallers,
    unhandledRejections,
    uncaughtErrors,
  };
}

if (import.meta.main) {
  const config = JSON.parse(Deno.env.get("KOGNIC_SOAK_CONFIG") ?? "null") as SoakConfig | null;
  if (!config) {
    console.error("KOGNIC_SOAK_CONFIG is not set: run this through `deno task reliability`");
    Deno.exit(2);
  }
  // Stops by itself, whatever happens.
  const deadline = setTimeout(() => {
    console.error("soak: hard deadline passed, stopping");
    Deno.exit(3);
  }, config.warmupMs + config.durationMs + 3 * HANG_MS);
  const figures = await run(config);
  clearTimeout(deadline);
  console.log(JSON.stringify(figures));
  // Idle keep-alive connections would keep the process up for a while.
  Deno.exit(0);
}

/**
 * The measurements of `deno task bench` that run inside one runtime: the
 * per-request overhead over loopback HTTP and the cold storm, for
 * `@kognic/auth` and each peer. Runtime-neutral: the
 * libraries are handed in by the entry of each runtime (`deno_runner.ts`
 * under Deno, `node_runner.mjs`, with this file transpiled to JavaScript,
 * under Node), and the result goes to stdout as one line of JSON.
 *
 * @module
 */

import process from "node:process";
import type * as Ours from "../../mod.ts";
import type * as Testing from "../../testing.ts";
import type * as Badgateway from "npm:@badgateway/oauth2-client@3.3.1";
import type * as Oauth4webapi from "npm:oauth4webapi@3.8.8";
import type * as OpenidClient from "npm:openid-client@6.9.0";
import type Ky from "npm:ky@2.1.0";

/** The peers, pinned: `npm:` specifiers under Deno, installed with npm for Node. */
export const PEERS = {
  "@badgateway/oauth2-client": "3.3.1",
  "oauth4webapi": "3.8.8",
  "openid-client": "6.9.0",
  "ky": "2.1.0",
} as const;

/** A peer's package name. */
export type PeerName = keyof typeof PEERS;

/** The libraries, as each runtime's entry loads them; a peer that failed to load is its error message. */
export interface Libraries {
  ours: typeof Ours;
  /** A candidate change of `@kognic/auth`, measured beside it as {@linkcode CANDIDATE}. */
  candidate?: typeof Ours;
  testing: typeof Testing;
  peers: {
    "@badgateway/oauth2-client": typeof Badgateway | string;
    "oauth4webapi": typeof Oauth4webapi | string;
    "openid-client": typeof OpenidClient | string;
    "ky": { default: typeof Ky } | string;
  };
}

/** The rows of every table: the raw fetch baseline, ours, then the peers. */
export const CASES = ["fetch", "@kognic/auth", ...Object.keys(PEERS) as PeerName[]] as const;
/** The row of a candidate change of `@kognic/auth`, when one is given. */
export const CANDIDATE = "@kognic/auth (candidate)";
/** One row. */
export type CaseName = typeof CASES[number] | typeof CANDIDATE;

/** Where a client gets its token and sends its requests. */
interface Target {
  /** The auth server, such as `http://127.0.0.1:4000`. */
  serverUrl: string;
  tokenUrl: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** Replaces every HTTP request (token and resource); the runtime's fetch when absent. */
  fetch?: typeof fetch;
}

/** A client under test: one GET and one POST of the API, each adding the bearer token. */
interface Client {
  get(): Promise<Response>;
  post(): Promise<Response>;
}

/** The POST request every client sends, as a caller would write it. */
const POST_BODY = JSON.stringify({ name: "scene-1", labels: ["car", "pedestrian"], frames: 42 });
const POST_INIT: RequestInit = {
  method: "POST",
  body: POST_BODY,
  headers: { "content-type": "application/json" },
};
const CLIENT_ID = "bench-client";
const CLIENT_SECRET = "bench-secret";
/** Peers without a token cache get this one: single flight, renewed 60 s before expiry. */
const RENEW_EARLY_MS = 60_000;

interface TokenResponseBody {
  access_token: string;
  expires_in?: number;
}

/**
 * The token cache given to the peers that have none, as a careful user would
 * write it: one request in flight however many callers wait, and renewal 60 s
 * before expiry (anchored to when the request was sent).
 */
export function singleFlightToken(
  request: () => Promise<TokenResponseBody>,
): () => Promise<string> {
  let token: string | undefined;
  let renewAt = 0;
  let flight: Promise<string> | undefined;
  const acquire = async (): Promise<string> => {
    const sentAt = Date.now();
    try {
      const body = await request();
      token = body.access_token;
      renewAt = sentAt + (body.expires_in ?? 3600) * 1000 - RENEW_EARLY_MS;
      return token;
    } finally {
      flight = undefined;
    }
  };
  return (): Promise<string> => {
    if (token !== undefined && Date.now() < renewAt) return Promise.resolve(token);
    return flight ??= acquire();
  };
}

function loaded<T>(value: T | string, name: string): T {
  if (typeof value === "string") throw new Error(`${name} did not load: ${value}`);
  return value;
}

/** Builds each case's client. Peers use their own fetch hooks; the resource URL is a string for all. */
function clientFactories(
  libs: Libraries,
): Record<CaseName, (target: Target) => Client | Promise<Client>> {
  const session = (lib: typeof Ours) => (target: Target): Client => {
    const session = new lib.AuthSession({
      authServer: target.serverUrl,
      auth: [target.clientId, target.clientSecret],
      fetch: target.fetch,
    });
    return {
      get: () => session.fetch(target.apiUrl),
      post: () => session.fetch(target.apiUrl, POST_INIT),
    };
  };
  return {
    async fetch(target): Promise<Client> {
      const f = target.fetch ?? fetch;
      const response = await f(target.tokenUrl, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: target.clientId,
          client_secret: target.clientSecret,
        }),
      });
      const { access_token } = await response.json() as TokenResponseBody;
      const authorization = `Bearer ${access_token}`;
      const getInit: RequestInit = { headers: { authorization } };
      const postInit: RequestInit = {
        ...POST_INIT,
        headers: { "content-type": "application/json", authorization },
      };
      return {
        get: () => f(target.apiUrl, getInit),
        post: () => f(target.apiUrl, postInit),
      };
    },

    "@kognic/auth": session(libs.ours),
    [CANDIDATE]: session(libs.candidate ?? libs.ours),

    "@badgateway/oauth2-client"(target): Client {
      const lib = loaded(libs.peers["@badgateway/oauth2-client"], "@badgateway/oauth2-client");
      const client = new lib.OAuth2Client({
        server: target.serverUrl,
        tokenEndpoint: target.tokenUrl,
        clientId: target.clientId,
        clientSecret: target.clientSecret,
        authenticationMethod: "client_secret_post",
        fetch: target.fetch,
      });
      const wrapper = new lib.OAuth2Fetch({
        client,
        getNewToken: () => client.clientCredentials(),
      });
      // OAuth2Fetch#fetch is `mw()(new Request(input, init), (r) => fetch(r))` with the
      // global fetch; with a stub, the same middleware is called with the stub.
      const stub = target.fetch;
      const send = stub
        ? (init?: RequestInit): Promise<Response> =>
          wrapper.mw()(new Request(target.apiUrl, init), (request) => stub(request))
        : (init?: RequestInit): Promise<Response> => wrapper.fetch(target.apiUrl, init);
      return { get: () => send(), post: () => send(POST_INIT) };
    },

    oauth4webapi(target): Client {
      const lib = loaded(libs.peers.oauth4webapi, "oauth4webapi");
      const as = { issuer: target.serverUrl, token_endpoint: target.tokenUrl };
      const client = { client_id: target.clientId };
      const clientAuth = lib.ClientSecretPost(target.clientSecret);
      const options = {
        // (Its fetch type takes a Uint8Array body, which this TypeScript's BodyInit does not list.)
        [lib.customFetch]: target.fetch as never,
        [lib.allowInsecureRequests]: true,
      };
      const token = singleFlightToken(async () => {
        const response = await lib.clientCredentialsGrantRequest(
          as,
          client,
          clientAuth,
          new URLSearchParams(),
          options,
        );
        return await lib.processClientCredentialsResponse(as, client, response);
      });
      return {
        get: async () =>
          lib.protectedResourceRequest(
            await token(),
            "GET",
            new URL(target.apiUrl),
            undefined,
            undefined,
            options,
          ),
        post: async () =>
          lib.protectedResourceRequest(
            await token(),
            "POST",
            new URL(target.apiUrl),
            new Headers({ "content-type": "application/json" }),
            POST_BODY,
            options,
          ),
      };
    },

    "openid-client"(target): Client {
      const lib = loaded(libs.peers["openid-client"], "openid-client");
      const config = new lib.Configuration(
        { issuer: target.serverUrl, token_endpoint: target.tokenUrl },
        target.clientId,
        target.clientSecret,
      );
      lib.allowInsecureRequests(config);
      if (target.fetch) config[lib.customFetch] = target.fetch as never;
      const token = singleFlightToken(() => lib.clientCredentialsGrant(config));
      return {
        get: async () =>
          lib.fetchProtectedResource(config, await token(), new URL(target.apiUrl), "GET"),
        post: async () =>
          lib.fetchProtectedResource(
            config,
            await token(),
            new URL(target.apiUrl),
            "POST",
            POST_BODY,
            new Headers({ "content-type": "application/json" }),
          ),
      };
    },

    ky(target): Client {
      const ky = loaded(libs.peers.ky, "ky").default;
      const options = target.fetch ? { fetch: target.fetch } : {};
      const token = singleFlightToken(() =>
        ky.post(target.tokenUrl, {
          ...options,
          body: new URLSearchParams({
            grant_type: "client_credentials",
            client_id: target.clientId,
            client_secret: target.clientSecret,
          }),
        }).json<TokenResponseBody>()
      );
      const api = ky.create({
        ...options,
        hooks: {
          beforeRequest: [async ({ request }) => {
            request.headers.set("authorization", `Bearer ${await token()}`);
          }],
        },
      });
      return {
        get: () => api(target.apiUrl),
        post: () => api(target.apiUrl, POST_INIT),
      };
    },
  };
}

// ---------------------------------------------------------------------------
// The in-memory fetch

const STUB_SERVER = "http://127.0.0.1:9";
const STUB_TOKEN = "stub-access-token.for-benchmarks.only";

function stubTarget(fetch: typeof globalThis.fetch): Target {
  return {
    serverUrl: STUB_SERVER,
    tokenUrl: `${STUB_SERVER}/v1/auth/oauth/token`,
    apiUrl: `${STUB_SERVER}/v1/echo`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    fetch,
  };
}

function hrefOf(input: RequestInfo | URL): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

const TOKEN_BODY = JSON.stringify({
  access_token: STUB_TOKEN,
  token_type: "Bearer",
  expires_in: 3600,
});
const JSON_HEADERS = { "content-type": "application/json" };

/**
 * The resource response of the stub: one object for every call, so that the
 * runtime's cost of building a Response (about 10 us on Node 20) does not
 * drown the libraries' cost. No client reads its body.
 */
const STUB_RESPONSE = new Response('{"ok":true}', { headers: JSON_HEADERS });

/** A fetch that answers in memory: a token for the token endpoint, {@linkcode STUB_RESPONSE} otherwise. */
const stubFetch: typeof fetch = (input) => {
  if (hrefOf(input).endsWith("/token")) {
    return Promise.resolve(new Response(TOKEN_BODY, { headers: JSON_HEADERS }));
  }
  return Promise.resolve(STUB_RESPONSE);
};

interface SeenRequest {
  url: string;
  method: string;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

/** Like {@linkcode stubFetch}, recording what each resource request carried. */
function recordingFetch(seen: SeenRequest[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.endsWith("/token")) {
      seen.push({
        url: request.url,
        method: request.method,
        authorization: request.headers.get("authorization"),
        contentType: request.headers.get("content-type"),
        body: await request.text(),
      });
    }
    return hrefOf(input).endsWith("/token")
      ? await stubFetch(input, init)
      : new Response('{"ok":true}', { headers: JSON_HEADERS });
  };
}

/** Checks that a client sends what it should: a failure here means the comparison is void. */
async function checkClient(
  name: CaseName,
  make: (target: Target) => Client | Promise<Client>,
): Promise<void> {
  const seen: SeenRequest[] = [];
  const client = await make(stubTarget(recordingFetch(seen)));
  const get = await client.get();
  const post = await client.post();
  const problems: string[] = [];
  if (get.status !== 200 || post.status !== 200) problems.push("a status is not 200");
  if (seen.length !== 2) problems.push(`${seen.length} resource requests instead of 2`);
  const [g, p] = seen;
  const bearer = `Bearer ${STUB_TOKEN}`;
  if (g?.method !== "GET" || g.authorization !== bearer) problems.push("the GET is wrong");
  if (
    p?.method !== "POST" || p.authorization !== bearer || p.body !== POST_BODY ||
    !p.contentType?.startsWith("application/json")
  ) problems.push("the POST is wrong");
  if (problems.length) throw new Error(`${name}: ${problems.join("; ")}`);
}

// ---------------------------------------------------------------------------
// Statistics

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

/** A distribution, in microseconds. */
export interface Stats {
  median: number;
  p25: number;
  p75: number;
  /** The smallest sample: the least disturbed by other processes. */
  min: number;
  n: number;
}

/** The median, quartiles and smallest of the samples (NaN for none); every part uses it. */
export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    min: sorted[0] ?? NaN,
    n: sorted.length,
  };
}

// ---------------------------------------------------------------------------
// Tasks

/** What the entry passes: the task and its sizes. */
export interface TaskOptions {
  task: "info" | "loopback" | "storm";
  /** Interleaved rounds per case. */
  rounds?: number;
  /** Sequential requests per case and round (loopback). */
  perRound?: number;
  /** Concurrent workers (loopback). */
  concurrency?: number;
  /** The loopback server's URL (loopback). */
  serverUrl?: string;
  /** Concurrent first calls (storm). */
  storm?: number;
  /** How many storms per case, each on a fresh client (storm). @default {3} */
  stormRepeats?: number;
  /** A module to load as {@linkcode CANDIDATE}: a candidate change of `mod.ts`, measured beside it. */
  candidate?: string;
  /** The cases to run; all by default. */
  cases?: CaseName[];
}

type Result = Record<string, unknown>;

/** Runs a task and returns its result, or errors per case when a case fails. */
export async function runTask(libs: Libraries, options: TaskOptions): Promise<Result> {
  const factories = clientFactories(libs);
  const all: CaseName[] = [...CASES];
  if (libs.candidate) all.splice(2, 0, CANDIDATE);
  const cases = (options.cases ?? all).filter((name) => all.includes(name));
  const errors: Record<string, string> = {};
  const usable: CaseName[] = [];
  for (const name of cases) {
    try {
      if (name !== "fetch" && name !== "@kognic/auth" && name !== CANDIDATE) {
        loaded(libs.peers[name], name);
      }
      if (options.task !== "info") await checkClient(name, factories[name]);
      usable.push(name);
    } catch (error) {
      errors[name] = error instanceof Error ? error.message : String(error);
    }
  }
  switch (options.task) {
    case "info":
      return { runtime: runtimeInfo(), errors };
    case "loopback":
      return { ...await loopbackOverhead(factories, usable, options), errors };
    case "storm":
      return { ...await coldStorm(libs, factories, usable, options), errors };
  }
}

/** The runtime's name and version. */
export function runtimeInfo(): { name: string; version: string; v8: string } {
  const deno = (globalThis as { Deno?: { version: { deno: string; v8: string } } }).Deno;
  if (deno) return { name: "Deno", version: deno.version.deno, v8: deno.version.v8 };
  return { name: "Node.js", version: process.versions.node, v8: process.versions.v8 };
}

type Factories = ReturnType<typeof clientFactories>;
type Method = "get" | "post";

/** Microseconds of CPU time (user and system) this process has used. */
function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** docs/benchmarks.md, section 1: latency over loopback HTTP, sequential and concurrent. */
async function loopbackOverhead(
  factories: Factories,
  cases: CaseName[],
  options: TaskOptions,
): Promise<Result> {
  const serverUrl = options.serverUrl;
  if (!serverUrl) throw new Error("loopback needs serverUrl");
  const rounds = options.rounds ?? 10;
  const perRound = options.perRound ?? 200;
  const concurrency = options.concurrency ?? 16;
  const target: Target = {
    serverUrl,
    tokenUrl: `${serverUrl}/v1/auth/oauth/token`,
    apiUrl: `${serverUrl}/v1/echo`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
  };
  const clients = new Map<CaseName, Client>();
  for (const name of cases) clients.set(name, await factories[name](target));

  const timed = async (client: Client, into: number[]): Promise<void> => {
    const started = performance.now();
    const response = await client.get();
    await response.arrayBuffer();
    into.push((performance.now() - started) * 1000);
    if (response.status !== 200) throw new Error(`status ${response.status}`);
  };

  // Warm-up: connections, the token, the JIT.
  for (const client of clients.values()) {
    const sink: number[] = [];
    for (let i = 0; i < perRound; i++) await timed(client, sink);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = 0; i < 4; i++) await timed(client, sink);
      }),
    );
  }

  const sequential = new Map<CaseName, number[]>(cases.map((name) => [name, []]));
  const sequentialCpu = new Map<CaseName, number[]>(cases.map((name) => [name, []]));
  const roundMedians = new Map<CaseName, number[]>(cases.map((name) => [name, []]));
  const concurrentLatency = new Map<CaseName, number[]>(cases.map((name) => [name, []]));
  const concurrentPerRequest = new Map<CaseName, number[]>(cases.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = cases.map((_, i) => cases[(i + round) % cases.length]);
    for (const name of order) {
      const client = clients.get(name)!;
      const cpuStart = cpuNow();
      const samples: number[] = [];
      for (let i = 0; i < perRound; i++) await timed(client, samples);
      sequentialCpu.get(name)!.push((cpuNow() - cpuStart) / perRound);
      sequential.get(name)!.push(...samples);
      roundMedians.get(name)!.push(stats(samples).median);
    }
    for (const name of order) {
      const client = clients.get(name)!;
      const each = Math.ceil((perRound * 2) / concurrency);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = 0; i < each; i++) await timed(client, concurrentLatency.get(name)!);
        }),
      );
      concurrentPerRequest.get(name)!.push(
        ((performance.now() - started) * 1000) / (each * concurrency),
      );
    }
  }
  const results: Record<string, unknown> = {};
  for (const name of cases) {
    results[name] = {
      sequential: stats(sequential.get(name)!),
      sequentialCpu: stats(sequentialCpu.get(name)!),
      sequentialRounds: roundMedians.get(name)!,
      concurrentLatency: stats(concurrentLatency.get(name)!),
      concurrentPerRequest: stats(concurrentPerRequest.get(name)!),
    };
  }
  return { unit: "us", rounds, perRound, concurrency, results };
}

/**
 * docs/benchmarks.md, section 3: many concurrent first calls on a fresh client;
 * how many token requests they cause.
 */
async function coldStorm(
  libs: Libraries,
  factories: Factories,
  cases: CaseName[],
  options: TaskOptions,
): Promise<Result> {
  const size = options.storm ?? 1000;
  const server = await libs.testing.startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
  const results: Record<string, unknown> = {};
  try {
    const target: Target = {
      serverUrl: server.url,
      tokenUrl: server.tokenUrl,
      apiUrl: server.apiUrl,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    };
    // An untimed storm first, so that the first case measured does not also
    // pay for the runtime's connection pool and JIT warming up.
    const warmup = await factories.fetch(target);
    await Promise.all(
      Array.from({ length: size }, async () => (await warmup.get()).arrayBuffer()),
    );
    const repeats = options.stormRepeats ?? 3;
    const runs = new Map<CaseName, { ok: number; tokenRequests: number; ms: number }[]>(
      cases.map((name) => [name, []]),
    );
    for (let repeat = 0; repeat < repeats; repeat++) {
      const order = cases.map((_, i) => cases[(i + repeat) % cases.length]);
      for (const name of order) {
        // The raw fetch baseline gets its token before the storm (counted here):
        // its time is that of the same requests with a token in hand.
        server.resetCounts();
        const client = await factories[name](target);
        const started = performance.now();
        const statuses = await Promise.all(
          Array.from({ length: size }, async () => {
            try {
              const response = await client.get();
              await response.arrayBuffer();
              return response.status;
            } catch {
              return 0;
            }
          }),
        );
        runs.get(name)!.push({
          ok: statuses.filter((status) => status === 200).length,
          tokenRequests: server.counts.tokenRequests,
          ms: performance.now() - started,
        });
      }
    }
    for (const name of cases) {
      const mine = runs.get(name)!;
      results[name] = {
        calls: size,
        // The worst of the repeats: every storm must be answered with one token request.
        ok: Math.min(...mine.map((run) => run.ok)),
        tokenRequests: Math.max(...mine.map((run) => run.tokenRequests)),
        ms: stats(mine.map((run) => run.ms)).median,
        repeats,
      };
    }
  } finally {
    await server.close();
  }
  return { size, results };
}

/**
 * Cold start for `deno task bench` (docs/benchmarks.md, section 2): fresh processes, from
 * import to the first authorized response, against the runtime's empty start.
 * The scripts are generated into a scratch folder for each runtime, importing
 * `@kognic/auth` and the peers the way that runtime's users would (source and
 * `npm:` specifiers under Deno, the installed packages under Node).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { type PEERS, type Stats, stats } from "./cases.ts";

/** The bench client registered on the loopback server. */
export const CLIENT = { id: "bench-client", secret: "bench-secret" } as const;

/** One kind of fresh process. */
export interface ColdCase {
  /** The row name. */
  name: string;
  /** What the row measures. */
  description: string;
  /** The program and its arguments; `{server}` is replaced by the server's URL. */
  command: string[];
}

/** How a runtime resolves `@kognic/auth` and the peers in generated scripts. */
export interface ColdRuntime {
  /** `deno` or `node`. */
  kind: "deno" | "node";
  /** The runtime's executable. */
  bin: string;
  /** Where the generated scripts go (under Node, inside the project holding the packages). */
  dir: string;
  /** The specifier of `@kognic/auth`. */
  ours: string;
  /** The specifier of a peer. */
  peer(name: keyof typeof PEERS): string;
}

const PRELUDE = `const server = globalThis.Deno ? Deno.args[0] : process.argv[2];
const api = server + "/v1/echo";
const tokenUrl = server + "/v1/auth/oauth/token";
const clientId = ${JSON.stringify(CLIENT.id)};
const clientSecret = ${JSON.stringify(CLIENT.secret)};
`;

const EPILOGUE = `await response.arrayBuffer();
if (response.status !== 200) throw new Error("status " + response.status);
console.log("ok " + performance.now().toFixed(1));
`;

const FORM =
  `new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret })`;

/** The body of each library's script: get a token, make one authorized GET. */
function scripts(runtime: ColdRuntime): Record<string, string> {
  const peer = (name: keyof typeof PEERS): string => JSON.stringify(runtime.peer(name));
  return {
    empty: "",
    fetch: `${PRELUDE}
const token = await (await fetch(tokenUrl, { method: "POST", body: ${FORM} })).json();
const response = await fetch(api, { headers: { authorization: "Bearer " + token.access_token } });
${EPILOGUE}`,
    "node:http": `import { request } from "node:http";
${PRELUDE}
function send(url, options, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const form = ${FORM}.toString();
const token = JSON.parse((await send(tokenUrl, {
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
}, form)).text);
const result = await send(api, { headers: { authorization: "Bearer " + token.access_token } });
if (result.status !== 200) throw new Error("status " + result.status);
console.log("ok " + performance.now().toFixed(1));
`,
    "@kognic/auth": `import { AuthSession } from ${JSON.stringify(runtime.ours)};
${PRELUDE}
const session = new AuthSession({ authServer: server, auth: [clientId, clientSecret] });
const response = await session.fetch(api);
${EPILOGUE}`,
    "@badgateway/oauth2-client": `import { OAuth2Client, OAuth2Fetch } from ${
      peer("@badgateway/oauth2-client")
    };
${PRELUDE}
const client = new OAuth2Client({
  server, tokenEndpoint: tokenUrl, clientId, clientSecret, authenticationMethod: "client_secret_post",
});
const wrapper = new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials() });
const response = await wrapper.fetch(api);
${EPILOGUE}`,
    oauth4webapi: `import * as oauth from ${peer("oauth4webapi")};
${PRELUDE}
const as = { issuer: server, token_endpoint: tokenUrl };
const client = { client_id: clientId };
const options = { [oauth.allowInsecureRequests]: true };
const grant = await oauth.clientCredentialsGrantRequest(
  as, client, oauth.ClientSecretPost(clientSecret), new URLSearchParams(), options,
);
const token = await oauth.processClientCredentialsResponse(as, client, grant);
const response = await oauth.protectedResourceRequest(
  token.access_token, "GET", new URL(api), undefined, undefined, options,
);
${EPILOGUE}`,
    "openid-client": `import * as client from ${peer("openid-client")};
${PRELUDE}
const config = new client.Configuration({ issuer: server, token_endpoint: tokenUrl }, clientId, clientSecret);
client.allowInsecureRequests(config);
const token = await client.clientCredentialsGrant(config);
const response = await client.fetchProtectedResource(config, token.access_token, new URL(api), "GET");
${EPILOGUE}`,
    ky: `import ky from ${peer("ky")};
${PRELUDE}
const token = await ky.post(tokenUrl, { body: ${FORM} }).json();
const response = await ky(api, { headers: { authorization: "Bearer " + token.access_token } });
${EPILOGUE}`,
  };
}

const DESCRIPTIONS: Record<string, string> = {
  empty: "an empty script: the runtime's own start",
  fetch: "the global fetch: token request, then one GET",
  "node:http": "node:http: token request, then one GET",
  "@kognic/auth": "import, AuthSession, one session.fetch",
};

/** Writes the scripts for a runtime and returns its cases. */
export function coldCases(runtime: ColdRuntime): ColdCase[] {
  mkdirSync(runtime.dir, { recursive: true });
  const cases: ColdCase[] = [];
  for (const [name, code] of Object.entries(scripts(runtime))) {
    const file = join(runtime.dir, `${name.replace(/[^a-z0-9]+/gi, "_")}.mjs`);
    writeFileSync(file, code);
    const command = runtime.kind === "deno"
      ? [runtime.bin, "run", "-A", file, "{server}"]
      : [runtime.bin, file, "{server}"];
    cases.push({
      name,
      description: DESCRIPTIONS[name] ?? "import, token request, one authorized GET",
      command,
    });
  }
  return cases;
}

/** The outcome of one fresh process. */
interface Run {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its exit and times it from spawn to exit. */
export function timeProcess(
  command: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<Run> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command[0], command.slice(1), {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ ms: NaN, code: -1, stdout, stderr: String(error) });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - started, code, stdout, stderr });
    });
  });
}

/** One row of the cold-start table. */
export interface ColdResult {
  name: string;
  description: string;
  /** Spawn to exit, in milliseconds. */
  wall: Stats;
  /** The process's own clock when the response had arrived, in milliseconds (scripts only). */
  inProcess?: Stats;
  /** The first failure, when a run failed. */
  error?: string;
}

/**
 * Runs every case `warmups` times untimed (compile caches, page cache), then
 * `rounds` times each, interleaved, and returns the statistics per case.
 */
export async function measureCold(
  cases: ColdCase[],
  server: string,
  options: { cwd: string; env: Record<string, string>; warmups: number; rounds: number },
): Promise<ColdResult[]> {
  const wall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const inside = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const errors = new Map<string, string>();
  const command = (c: ColdCase): string[] => c.command.map((a) => a.replace("{server}", server));
  for (let round = -options.warmups; round < options.rounds; round++) {
    const order = cases.map((_, i) => cases[(i + Math.max(round, 0)) % cases.length]);
    for (const c of order) {
      const run = await timeProcess(command(c), options.cwd, options.env);
      const ok = run.code === 0 &&
        (c.name === "empty" || /^ok [\d.]+$/m.test(run.stdout));
      if (!ok) {
        if (!errors.has(c.name)) {
          errors.set(
            c.name,
            `exit ${run.code}: ${
              (run.stderr || run.stdout).trim().split("\n").slice(-3).join(" ")
            }`,
          );
        }
        continue;
      }
      if (round < 0) continue;
      wall.get(c.name)!.push(run.ms);
      const reported = /^ok ([\d.]+)$/m.exec(run.stdout);
      if (reported) inside.get(c.name)!.push(Number(reported[1]));
    }
  }
  return cases.map((c) => {
    const w = wall.get(c.name)!;
    const i = inside.get(c.name)!;
    return {
      name: c.name,
      description: c.description,
      wall: stats(w.length ? w : [NaN]),
      inProcess: i.length ? stats(i) : undefined,
      error: errors.get(c.name),
    };
  });
}

/**
 * The session variables a user's shell has and the CLI reads to find the
 * system keyring. Leaving them out made the default mode skip the keyring
 * probe, so the bench timed a start that no shell with a session bus sees.
 */
const SESSION_VARIABLES = ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"] as const;

/**
 * The environment of the fresh processes (the cold, start-up and MCP parts):
 * credentials for the CLI in variables, an empty home folder (no credentials file or profile of the
 * caller's), Deno's cache where it is (so `npm:` packages and transpiled
 * sources stay cached), and the caller's session bus, as a shell has it.
 */
export function coldEnv(home: string, denoDir: string): Record<string, string> {
  mkdirSync(home, { recursive: true });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    DENO_DIR: denoDir,
    NO_COLOR: "1",
    KOGNIC_CLIENT_ID: CLIENT.id,
    KOGNIC_CLIENT_SECRET: CLIENT.secret,
  };
  for (const name of SESSION_VARIABLES) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

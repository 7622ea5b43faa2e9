// The egress rule end to end: every path that sends a request or hands out a token, each
// through every rule (https or plain http, loopback or not; the environment's origin, another
// one, a subdomain, a trailing dot, upper case, another port, user info; a redirect chain that
// started where the token goes or elsewhere), and whether the token reached the server. The
// server is real, on 127.0.0.1; host names are routed to it as DNS would route them
// (tests/_helpers/routes.ts), so the code under test decides on the URLs it was given. The
// commands run as real subprocesses: get-access-token, mcp-proxy and kog mcp (the MCP SDK's
// client over stdio); kog and the library in this process.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { AuthSession } from "../../mod.ts";
import { main as kogMain } from "../../kog.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  isolatedXdg,
  record,
  reportCheck,
  runCli,
  runMain,
  tempDir,
  writeCredentials,
  writeEnvironments,
} from "../_helpers/mod.ts";
import { type CallResult, connectClient, spawnCommand } from "../_helpers/mcp_client.ts";
import { type StandIn, startStandIn } from "../_helpers/servers.ts";
import { ROUTED_ORIGIN, routedFetch, type Routes } from "../_helpers/routes.ts";

/** A request the routed server received. */
interface Seen {
  origin: string;
  path: string;
  method: string;
  authorization: string | undefined;
  proxyAuthorization: string | undefined;
  body: string;
}

/** One rule: a URL, whether the token may go there, and whether kog mcp's host gate lets a request go there. */
interface Rule {
  name: string;
  url: string;
  token: boolean;
  gate: boolean;
}

// Environment "example" is app.example.test (and the default); "local" is localhost, over http.
const RULES: readonly Rule[] = [
  {
    name: "https, the environment's host",
    url: "https://app.example.test/v1/x",
    token: true,
    gate: true,
  },
  { name: "https, a subdomain", url: "https://api.app.example.test/v1/x", token: true, gate: true },
  { name: "https, a trailing dot", url: "https://app.example.test./v1/x", token: true, gate: true },
  { name: "https, upper case", url: "https://APP.Example.TEST/v1/x", token: true, gate: true },
  {
    name: "https, another host",
    url: "https://other.example.test/v1/x",
    token: false,
    gate: false,
  },
  {
    name: "https, a look-alike",
    url: "https://evilapp.example.test/v1/x",
    token: false,
    gate: false,
  },
  { name: "https, the parent domain", url: "https://example.test/v1/x", token: false, gate: false },
  {
    name: "https, another port",
    url: "https://app.example.test:8443/v1/x",
    token: false,
    gate: true,
  },
  {
    name: "https, user info",
    url: "https://user:pw@app.example.test/v1/x",
    token: false,
    gate: false,
  },
  { name: "http, not loopback", url: "http://app.example.test/v1/x", token: false, gate: false },
  { name: "http, loopback", url: "http://localhost/v1/x", token: true, gate: true },
  {
    name: "http, loopback, a trailing dot",
    url: "http://localhost./v1/x",
    token: true,
    gate: true,
  },
  {
    name: "http, loopback, no environment's",
    url: "http://127.0.0.1/v1/x",
    token: false,
    gate: false,
  },
];

/** What reached the server at the rule's URL: the token, the request without it, or nothing. */
type Outcome = "token" | "no token" | "refused";

const HOSTS = [
  "app.example.test",
  "api.app.example.test",
  "other.example.test",
  "evilapp.example.test",
  "example.test",
  "hop.example.test",
  "app.example.test:8443",
  "localhost",
  "127.0.0.1",
];

let auth: LocalAuthServer;
let server: StandIn;
let dir: { path: string; cleanup: () => Promise<void> };
let xdg: Record<string, string>;
let credentials: string;
let routes: Routes;
let routed: typeof fetch;
const seen: Seen[] = [];
const stderrs: string[] = [];

before(async () => {
  auth = await startAuthServer({ clients: CLIENTS });
  server = await startStandIn((req, res, body) => {
    const url = new URL(req.url ?? "/", "http://x");
    seen.push({
      origin: String(req.headers[ROUTED_ORIGIN] ?? ""),
      path: url.pathname,
      method: req.method!,
      authorization: req.headers.authorization,
      proxyAuthorization: req.headers["proxy-authorization"],
      body,
    });
    const to = url.searchParams.get("to");
    if (url.pathname === "/hop" && to) {
      res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: to }).end();
    } else {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    }
  });
  routes = Object.fromEntries(HOSTS.map((host) => [host, server.url]));
  routed = routedFetch(routes);
  dir = await tempDir();
  credentials = await writeCredentials(dir.path);
  xdg = isolatedXdg(dir.path);
  await writeEnvironments(dir.path, {
    default_environment: "example",
    environments: {
      example: { host: "app.example.test", auth_server: auth.url, credentials },
      local: { host: "localhost", auth_server: auth.url, credentials },
    },
  });
});

after(async () => {
  await server.close();
  await auth.close();
  await dir.cleanup();
});

/** What reached the server at `/v1/x` since `seen` was emptied. */
function outcome(): Outcome {
  const hits = seen.filter((request) => request.path === "/v1/x");
  assert.ok(hits.length <= 1, `the request was sent ${hits.length} times`);
  if (hits.length === 0) return "refused";
  return hits[0].authorization?.startsWith("Bearer ") ? "token" : "no token";
}

/** A hop to `to` through the server's redirect, from `from`. */
function hop(from: string, to: string, status = 302): string {
  return `${from}/hop?to=${encodeURIComponent(to)}&status=${status}`;
}

/** The session a command would use for `url`: its environment's, by host. */
function sessionFor(url: string): Promise<AuthSession> {
  return AuthSession.forEnvironment({ url, env: xdg, fetch: routed });
}

/** `kognic-auth get-access-token` as a subprocess; if it prints a token, the test sends it as an MCP client would. */
async function printedToken(url: string, via: "--url" | "variable"): Promise<Outcome> {
  const flags = via === "--url" ? ["--url", url] : [];
  const env = via === "--url" ? xdg : { ...xdg, CLAUDE_CODE_MCP_SERVER_URL: url };
  const before = auth.counts.tokenRequests;
  const result = await runCli(
    ["get-access-token", "--token-cache", "none", "--format", "headers", ...flags],
    { env, killAfter: 60_000 },
  );
  stderrs.push(result.stderr);
  if (result.code !== 0) {
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^Error: No token for /);
    assert.equal(auth.counts.tokenRequests, before, "a token was requested all the same");
    return outcome();
  }
  const headers = JSON.parse(result.stdout) as Record<string, string>;
  await (await routed(url, { headers })).text();
  return outcome();
}

/**
 * `kognic-auth mcp-proxy URL` as a subprocess, its stdin closed at once: it starts (a token
 * requested for URL; "token") or refuses before sending anything ("refused").
 */
async function proxyStart(url: string): Promise<Outcome> {
  const before = auth.counts.tokenRequests;
  const result = await runCli(["mcp-proxy", url, "--token-cache", "none"], {
    env: xdg,
    killAfter: 60_000,
  });
  stderrs.push(result.stderr);
  assert.equal(result.stdout, "");
  if (result.code === 0) {
    assert.equal(auth.counts.tokenRequests, before + 1);
    return "token";
  }
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^Error: No token for the MCP server's URL /);
  assert.equal(auth.counts.tokenRequests, before, "a token was requested all the same");
  return "refused";
}

/** `kog` in this process, its fetch routed. */
async function kogGet(url: string): Promise<Outcome> {
  const result = await runMain(kogMain, ["get", url, "--token-cache", "none"], {
    env: xdg,
    fetch: routed,
  });
  record(result.stderr);
  assert.equal(result.code, 0, result.stderr);
  return outcome();
}

/** The command that runs `kog` with its fetch routed (tests/_helpers/routed_kog.ts). */
function routedKogCommand(): string[] {
  const compiled = import.meta.url.endsWith(".js");
  const entry = fileURLToPath(
    new URL(`../_helpers/routed_kog.${compiled ? "js" : "ts"}`, import.meta.url),
  );
  if ("Deno" in globalThis) {
    return [process.execPath, "run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", entry];
  }
  return [process.execPath, entry];
}

/** A connected MCP client of `kog mcp ARGS`, run as a subprocess with its fetch routed. */
async function kogMcp(args: string[]): Promise<{
  call(input: Record<string, unknown>): Promise<CallResult>;
  close(): Promise<void>;
}> {
  const spawned = spawnCommand(
    StdioClientTransport,
    [...routedKogCommand(), "mcp", "--token-cache", "none", ...args],
    { env: { KOGNIC_TEST_ROUTES: JSON.stringify(routes), ...xdg } },
  );
  const client = new Client({ name: "egress-test", version: "1.0.0" });
  await connectClient(client, spawned.transport);
  return {
    call: async (input) => {
      const result = await client.callTool({ name: "kognic_request", arguments: input });
      record(JSON.stringify(result));
      return result as CallResult;
    },
    close: async () => {
      await client.close();
      stderrs.push(spawned.stderr());
    },
  };
}

describe("the egress rule on every path", () => {
  let mcp: Awaited<ReturnType<typeof kogMcp>>;
  const table: string[] = [];

  before(async () => {
    mcp = await kogMcp(["--allow-host", "hop.example.test"]);
  });

  after(async () => {
    await mcp.close();
  });

  /** kog mcp's GET of `url`: what reached the rule's URL. */
  async function viaKogMcp(url: string): Promise<Outcome> {
    const result = await mcp.call({ method: "GET", url });
    const reached = outcome();
    if (reached === "refused") {
      assert.equal(result.isError, true);
      assert.match(result.content[0].text, /not reachable from here|was not followed/);
      assert.match(result.content[0].text, /Nothing was sent/);
    } else {
      assert.equal(result.isError, undefined, result.content[0].text);
    }
    return reached;
  }

  const paths: [string, (rule: Rule) => Promise<Outcome>, (rule: Rule) => Outcome][] = [
    [
      "session.fetch, first hop",
      async (rule) => {
        await (await (await sessionFor(rule.url)).fetch(rule.url)).text();
        return outcome();
      },
      (rule) => (rule.token ? "token" : "no token"),
    ],
    [
      "session.fetch, a redirect hop of a chain that started at the environment's host",
      async (rule) => {
        const session = await sessionFor("https://app.example.test/");
        const response = await session.fetch(hop("https://app.example.test", rule.url));
        await response.text();
        // The session of environment "local" sends its token to localhost; this one does not.
        return outcome();
      },
      (rule) => (rule.token && !rule.url.includes("localhost") ? "token" : "no token"),
    ],
    [
      "session.fetch, a redirect hop of a chain that started elsewhere",
      async (rule) => {
        const session = await sessionFor(rule.url);
        await (await session.fetch(hop("https://hop.example.test", rule.url))).text();
        return outcome();
      },
      () => "no token",
    ],
    [
      "session.getRequestHeaders",
      async (rule) => {
        const session = await sessionFor(rule.url);
        await (await routed(rule.url, { headers: await session.getRequestHeaders(rule.url) }))
          .text();
        return outcome();
      },
      (rule) => (rule.token ? "token" : "no token"),
    ],
    [
      "kognic-auth get-access-token --url",
      (rule) => printedToken(rule.url, "--url"),
      (rule) => (rule.token ? "token" : "refused"),
    ],
    [
      "kognic-auth get-access-token with CLAUDE_CODE_MCP_SERVER_URL",
      (rule) => printedToken(rule.url, "variable"),
      (rule) => (rule.token ? "token" : "refused"),
    ],
    [
      "kognic-auth mcp-proxy, its start",
      (rule) => proxyStart(rule.url),
      (rule) => (rule.token ? "token" : "refused"),
    ],
    ["kog", (rule) => kogGet(rule.url), (rule) => (rule.token ? "token" : "no token")],
    [
      "kog mcp, first hop",
      (rule) => viaKogMcp(rule.url),
      (rule) => (!rule.gate ? "refused" : rule.token ? "token" : "no token"),
    ],
    [
      "kog mcp, a redirect hop of a chain that started at the environment's host",
      (rule) => viaKogMcp(hop("https://app.example.test", rule.url)),
      // The chain's session is environment example's, which does not send its token to localhost.
      (rule) =>
        !rule.gate
          ? "refused"
          : rule.token && !rule.url.includes("localhost")
          ? "token"
          : "no token",
    ],
    [
      "kog mcp, a redirect hop of a chain that started where the token does not go",
      (rule) => viaKogMcp(hop("https://hop.example.test", rule.url)),
      // Back to where the token of the chain's session (example's) goes after a hop it could
      // not go to: not followed.
      (
        rule,
      ) => (!rule.gate || rule.token && !rule.url.includes("localhost") ? "refused" : "no token"),
    ],
  ];

  for (const [path, run, expected] of paths) {
    it(`${path}: the token reaches only where the rule lets it, for ${RULES.length} rules`, async () => {
      for (const rule of RULES) {
        seen.length = 0;
        const got = await run(rule);
        table.push(`${path} | ${rule.name} | ${got}`);
        assert.equal(got, expected(rule), `${path}, ${rule.name} (${rule.url})`);
      }
    });
  }

  it("covered every path and rule", () => {
    assert.equal(table.length, paths.length * RULES.length);
    reportCheck("egress rule: paths x rules, the token only where the rule lets it", table.length);
  });
});

describe("get-access-token and mcp-proxy hand out a token only for where it may go", () => {
  it("mcp-proxy refuses plain http to a host that is not loopback, and a host no environment names: exit 1, nothing sent", async () => {
    for (
      const [url, why] of [
        ["http://app.example.test/mcp", /plain http carries a token only to a loopback address/],
        ["https://mcp.elsewhere.test/mcp", /--allow-origin https:\/\/mcp\.elsewhere\.test/],
      ] as const
    ) {
      const before = auth.counts.tokenRequests;
      const result = await runCli(["mcp-proxy", url, "--token-cache", "none"], {
        env: xdg,
        killAfter: 60_000,
      });
      stderrs.push(result.stderr);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, why);
      assert.equal(auth.counts.tokenRequests, before);
    }
  });

  it("--allow-origin lets mcp-proxy start for another origin, and rejects what is not an origin", async () => {
    const before = auth.counts.tokenRequests;
    const started = await runCli(
      [
        "mcp-proxy",
        "https://mcp.elsewhere.test/mcp",
        "--allow-origin",
        "https://mcp.elsewhere.test",
        "--token-cache",
        "none",
      ],
      { env: xdg, killAfter: 60_000 },
    );
    stderrs.push(started.stderr);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(auth.counts.tokenRequests, before + 1);
    const scheme = await runCli(
      ["get-access-token", "--url", "wss://app.example.test/mcp", "--token-cache", "none"],
      { env: xdg },
    );
    stderrs.push(scheme.stderr);
    assert.equal(scheme.code, 1);
    assert.equal(scheme.stdout, "");
    assert.match(scheme.stderr, /only an https URL \(or http to a loopback address\) gets a token/);
    const bad = await runCli(
      ["get-access-token", "--url", "https://x.test/", "--allow-origin", "x.test"],
      { env: xdg },
    );
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--allow-origin needs an origin such as https:\/\/mcp\.example\.com, not "x\.test"/,
    );
  });
});

describe("kog", () => {
  it("sends the token to an environment's host written with a trailing dot, as to the host", async () => {
    seen.length = 0;
    const result = await runMain(
      kogMain,
      ["-v", "get", "https://app.example.test./v1/x", "--token-cache", "none"],
      { env: xdg, fetch: routed },
    );
    record(result.stderr);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /environment: example \(host app\.example\.test/);
    assert.doesNotMatch(result.stderr, /no access token was sent/);
    assert.equal(outcome(), "token");
    assert.equal(seen[0].origin, "https://app.example.test.");
  });
});

describe("kog mcp", () => {
  it("does not follow a redirect to a host outside its gate, and drops credentials on a change of origin", async () => {
    const mcp = await kogMcp([]);
    try {
      seen.length = 0;
      const result = await mcp.call({
        method: "GET",
        url: hop("https://app.example.test", "https://other.example.test/v1/x"),
      });
      assert.equal(result.isError, true);
      assert.match(
        result.content[0].text,
        /^https:\/\/app\.example\.test redirected \(HTTP 302\) to https:\/\/other\.example\.test, which was not followed: other\.example\.test is not a reachable host/,
      );
      assert.deepEqual(seen.map((request) => request.origin), ["https://app.example.test"]);
      // Followed within the gate, the agent's Proxy-Authorization stays on its origin, as fetch keeps it.
      seen.length = 0;
      const followed = await mcp.call({
        method: "GET",
        url: hop(
          "https://app.example.test",
          hop("https://app.example.test", "https://api.app.example.test/v1/x"),
        ),
        headers: { "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0" },
      });
      assert.equal(followed.isError, undefined, followed.content[0].text);
      assert.deepEqual(
        seen.map((request) => [request.origin, request.proxyAuthorization]),
        [
          ["https://app.example.test", "Basic cHJveHk6c2VjcmV0"],
          ["https://app.example.test", "Basic cHJveHk6c2VjcmV0"],
          ["https://api.app.example.test", undefined],
        ],
      );
    } finally {
      await mcp.close();
    }
  });

  it("with --allow-write, never re-sends a POST and its body to another origin on a 307 or 308, and does within the origin", async () => {
    const mcp = await kogMcp(["--allow-write"]);
    try {
      for (const status of [307, 308]) {
        seen.length = 0;
        const result = await mcp.call({
          method: "POST",
          url: hop("https://app.example.test", "https://api.app.example.test/v1/x", status),
          body: { name: "once" },
        });
        assert.equal(result.isError, true);
        assert.match(result.content[0].text, /would send the POST and its body to another origin/);
        assert.deepEqual(seen.map((request) => [request.method, request.origin]), [
          ["POST", "https://app.example.test"],
        ]);
        seen.length = 0;
        const same = await mcp.call({
          method: "POST",
          url: hop("https://app.example.test", "https://app.example.test/v1/x", status),
          body: { name: "twice" },
        });
        assert.equal(same.isError, undefined, same.content[0].text);
        assert.deepEqual(seen.map((request) => [request.method, request.path, request.body]), [
          ["POST", "/hop", '{"name":"twice"}'],
          ["POST", "/v1/x", '{"name":"twice"}'],
        ]);
      }
      // A 303 turns the POST into a GET without a body, which may go to another origin.
      seen.length = 0;
      const other = await mcp.call({
        method: "POST",
        url: hop("https://app.example.test", "https://api.app.example.test/v1/x", 303),
        body: { name: "x" },
      });
      assert.equal(other.isError, undefined, other.content[0].text);
      assert.deepEqual(seen.map((request) => [request.method, request.origin, request.body]), [
        ["POST", "https://app.example.test", '{"name":"x"}'],
        ["GET", "https://api.app.example.test", ""],
      ]);
    } finally {
      await mcp.close();
    }
  });

  it("read-only, refuses a method override in a header or in _method, sending nothing; with --allow-write sends it", async () => {
    const overrides: Record<string, unknown>[] = [
      { headers: { "X-HTTP-Method-Override": "DELETE" } },
      { headers: { "x-http-method": "DELETE" } },
      { headers: { "X-Method-Override": "PUT" } },
      { query: "_method=DELETE" },
      { query: "_METHOD=delete" },
    ];
    const readOnly = await kogMcp([]);
    try {
      for (const override of overrides) {
        seen.length = 0;
        const url = `https://app.example.test/v1/x${override.query ? `?${override.query}` : ""}`;
        const result = await readOnly.call({ method: "GET", url, headers: override.headers });
        assert.equal(result.isError, true, JSON.stringify(override));
        assert.match(result.content[0].text, /refused: it asks many servers to run another method/);
        assert.match(result.content[0].text, /Nothing was sent/);
        assert.equal(seen.length, 0, `sent with ${JSON.stringify(override)}`);
      }
    } finally {
      await readOnly.close();
    }
    const writable = await kogMcp(["--allow-write"]);
    try {
      seen.length = 0;
      const result = await writable.call({
        method: "GET",
        url: "https://app.example.test/v1/x?_method=DELETE",
        headers: { "X-HTTP-Method-Override": "DELETE" },
      });
      assert.equal(result.isError, undefined, result.content[0].text);
      assert.equal(outcome(), "token");
    } finally {
      await writable.close();
    }
  });
});

describe("a request is sent once, but for the replay of the one that got a 401", () => {
  it("a 401 on the GET after a POST answered 303 replays the GET, never the POST", async () => {
    const requests: string[] = [];
    let refuse = true;
    const api = await startStandIn((req, res, body) => {
      requests.push(`${req.method} ${req.url} ${body}`.trimEnd());
      if (req.url === "/submit") return void res.writeHead(303, { location: "/result" }).end();
      if (refuse) {
        refuse = false;
        return void res.writeHead(401).end();
      }
      res.writeHead(200).end("done");
    });
    try {
      const session = new AuthSession({
        authServer: auth.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        allowedOrigins: [api.url],
      });
      const response = await session.fetch(`${api.url}/submit`, { method: "POST", body: "pay" });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "done");
      assert.deepEqual(requests, ["POST /submit pay", "GET /result", "GET /result"]);
    } finally {
      await api.close();
    }
  });

  it("with a fetch that hides redirects (a browser's), a POST is never sent again, and later requests let fetch follow", async () => {
    const requests: string[] = [];
    const api = await startStandIn((req, res, body) => {
      requests.push(`${req.method} ${req.url} ${body} ${req.headers.authorization ? "token" : ""}`);
      if (req.url === "/submit") return void res.writeHead(307, { location: "/landing" }).end();
      res.writeHead(200).end("landed");
    });
    // What a browser's fetch does, on top of this runtime's: redirect "manual" gives an opaque
    // redirect (its type; a browser's status is 0, which a Response cannot be built with here).
    const browserFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.redirect !== "manual" || response.status < 300 || response.status > 399) {
        return response;
      }
      await response.body?.cancel();
      return Object.defineProperty(new Response(null), "type", { value: "opaqueredirect" });
    };
    try {
      const session = new AuthSession({
        authServer: auth.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        allowedOrigins: [api.url],
        fetch: browserFetch,
      });
      const error = await session.fetch(`${api.url}/submit`, { method: "POST", body: "one" })
        .then(() => undefined, (e: Error) => e);
      assert.ok(error instanceof TypeError);
      record(error.message);
      assert.match(error.message, /the POST was not sent again/);
      assert.deepEqual(requests, ["POST /submit one token"]);
      requests.length = 0;
      const response = await session.fetch(`${api.url}/submit`, { method: "POST", body: "two" });
      assert.equal(await response.text(), "landed");
      assert.deepEqual(requests, ["POST /submit two token", "POST /landing two token"]);
    } finally {
      await api.close();
    }
  });
});

describe("secret hygiene", () => {
  it("no token or secret in any command's stderr", () => {
    assert.ok(stderrs.length > 20);
    for (const text of stderrs) {
      assert.ok(!text.includes(CLIENT_SECRET));
      assert.doesNotMatch(text, /Bearer /);
    }
    assert.ok(assertNoSecretSeen() > 10);
  });
});

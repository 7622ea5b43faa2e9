/**
 * The sample Cloudflare Worker (examples/cloudflare_worker.ts) with its
 * configuration (examples/wrangler.toml), both as written: bundled with the
 * npm build by wrangler's own `deploy --dry-run` (with and without
 * `nodejs_compat`), its compatibility settings and vars read from the
 * wrangler.toml by wrangler, run in workerd through miniflare (all pinned in
 * scripts/npm_tools.ts) against the local auth server and API on 127.0.0.1
 * (the vars KOGNIC_API and KOGNIC_AUTH_SERVER pointed there, as `--var`
 * would). Two more workers, bundled with wrangler's esbuild settings, hold
 * the session through a renewal and through the first request leaving. Run by
 * Node.js 24 (type stripping):
 *
 * ```sh
 * deno task build:npm && node scripts/edge/workerd_test.ts
 * ```
 *
 * Closes with `N passed, N failed`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { type ProtectedRequest, startAuthServer } from "../../testing.ts";
import { bundleForWorker } from "../size.ts";
import { edgeTools, ROOT, VERSIONS } from "../npm_tools.ts";
import { Checks } from "../checks.ts";

const CLIENT_ID = "edge-client";
const CLIENT_SECRET = "edge-s3cret-never-print-me";
const ACCESS_KEY = "worker-access-key-0123456789-abcdefghij";

interface MiniflareLike {
  dispatchFetch(
    url: string,
    init?: RequestInit,
  ): Promise<{ status: number; headers: Headers; text(): Promise<string> }>;
  dispose(): Promise<void>;
}
type MiniflareClass = new (options: Record<string, unknown>) => MiniflareLike;
interface WranglerConfig {
  compatibility_date?: string;
  compatibility_flags?: string[];
  vars: Record<string, unknown>;
  main?: string;
}

const { Miniflare } = await import(
  pathToFileURL(join(edgeTools(), "node_modules", "miniflare", "dist", "src", "index.js")).href
) as { Miniflare: MiniflareClass };
const { unstable_readConfig: readWranglerConfig } = await import(
  pathToFileURL(join(edgeTools(), "node_modules", "wrangler", "wrangler-dist", "cli.js")).href
) as { unstable_readConfig: (args: { config: string }) => WranglerConfig };

const work = mkdtempSync(join(tmpdir(), "kognic-workerd-"));
const seen: string[] = [];
const checks = new Checks();
const it = checks.checkAsync.bind(checks);

/**
 * The sample Worker and its wrangler.toml, copied as they are into a project
 * of their own where `@kognic/auth` is the npm build, as if installed from
 * npm, bundled by wrangler with its defaults, offline (`wrangler deploy
 * --dry-run`); `nodejs_compat` added on the command line. Returns the
 * bundle and the configuration as wrangler reads it.
 */
function wranglerBundle(nodejsCompat: boolean): { code: string; config: WranglerConfig } {
  const project = join(work, nodejsCompat ? "project-nodejs-compat" : "project");
  mkdirSync(join(project, "node_modules", "@kognic"), { recursive: true });
  symlinkSync(join(ROOT, "npm"), join(project, "node_modules", "@kognic", "auth"), "dir");
  for (const file of ["cloudflare_worker.ts", "wrangler.toml"]) {
    copyFileSync(join(ROOT, "examples", file), join(project, file));
  }
  const wrangler = join(edgeTools(), "node_modules", "wrangler", "bin", "wrangler.js");
  const flags = nodejsCompat ? ["--compatibility-flags", "nodejs_compat"] : [];
  const result = spawnSync(
    process.execPath,
    [wrangler, "deploy", "--dry-run", "--outdir", "out", ...flags],
    {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1" },
    },
  );
  if (result.status !== 0) {
    throw new Error(`wrangler failed to bundle the Worker:\n${result.stdout}\n${result.stderr}`);
  }
  const config = readWranglerConfig({ config: join(project, "wrangler.toml") });
  return { code: readFileSync(join(project, "out", "cloudflare_worker.js"), "utf8"), config };
}

/** A server on another origin that records the Authorization headers it gets. */
const other: { authorization: (string | undefined)[] } = { authorization: [] };
const otherServer = createServer((req, res) => {
  other.authorization.push(req.headers.authorization);
  req.resume();
  res.writeHead(200, { "content-type": "text/plain" }).end("other origin");
});
await new Promise<void>((resolve) => otherServer.listen(0, "127.0.0.1", resolve));
const otherUrl = `http://127.0.0.1:${(otherServer.address() as { port: number }).port}`;

/** What the upstream's /v1/projects route was asked, and what it saw of each request. */
const upstream: ProtectedRequest[] = [];
const server = await startAuthServer({
  clients: { [CLIENT_ID]: CLIENT_SECRET },
  routes: {
    "/v1/projects": (request) => {
      upstream.push(request);
      if (request.route === "/moved") {
        return new Response(null, { status: 302, headers: { location: `${otherUrl}/landing` } });
      }
      return Response.json(
        { clientId: request.clientId, route: request.route, method: request.method },
        { headers: { "set-cookie": "upstream=1", "x-internal": "yes" } },
      );
    },
  },
});
/** Every request the upstream got: token requests and API requests. */
const upstreamTotal = (): number => server.counts.tokenRequests + server.counts.apiRequests;

console.log(
  `workerd ${VERSIONS.workerd} through miniflare ${VERSIONS.miniflare}, bundles by wrangler ` +
    `${VERSIONS.wrangler}, Node.js ${process.versions.node}`,
);
try {
  for (const nodejsCompat of [false, true]) {
    const label = nodejsCompat ? "with nodejs_compat" : "without nodejs_compat";
    const { code, config } = wranglerBundle(nodejsCompat);
    console.log(
      `the worker bundle ${label} (wrangler deploy --dry-run): ${code.length} bytes, ${
        gzipSync(code, { level: 9 }).length
      } gzipped`,
    );
    const secrets = {
      KOGNIC_CLIENT_ID: CLIENT_ID,
      KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
      WORKER_ACCESS_KEY: ACCESS_KEY,
    };
    const start = (bindings: Record<string, unknown>): MiniflareLike =>
      new Miniflare({
        modules: true,
        script: code,
        compatibilityDate: config.compatibility_date,
        compatibilityFlags: [
          ...(config.compatibility_flags ?? []),
          ...(nodejsCompat ? ["nodejs_compat"] : []),
        ],
        bindings,
      });
    const mf = start({
      ...config.vars,
      KOGNIC_API: server.url,
      KOGNIC_AUTH_SERVER: server.url,
      ...secrets,
    });
    const call = async (
      path: string,
      init: RequestInit & { key?: string | null } = {},
    ): Promise<{ status: number; headers: Headers; body: string }> => {
      const { key = ACCESS_KEY, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set("authorization", `Bearer ${key}`);
      const response = await mf.dispatchFetch(`http://worker.test${path}`, { ...rest, headers });
      const body = await response.text();
      seen.push(body);
      return { status: response.status, headers: response.headers, body };
    };
    try {
      await it(`${label}: the worker bundle has no node: import and no keyring`, () => {
        assert.doesNotMatch(code, /@napi-rs\/keyring|src\/credentials\/keyring/);
        if (!nodejsCompat) assert.doesNotMatch(code, /["']node:/);
      });

      await it(`${label}: the wrangler.toml as written names the Worker, its vars and no secret`, () => {
        assert.equal(config.main?.endsWith("cloudflare_worker.ts"), true);
        assert.equal(config.vars.KOGNIC_API, "https://app.kognic.com");
        for (const secret of Object.keys(secrets)) assert.equal(config.vars[secret], undefined);
      });

      server.resetCounts();
      await it(`${label}: a caller without the access key gets 401 and the upstream sees no request`, async () => {
        const cases: [string, RequestInit & { key?: string | null }][] = [
          ["no Authorization", { key: null }],
          ["a wrong key", { key: ACCESS_KEY.replace(/.$/, "x") }],
          ["a key of another length", { key: `${ACCESS_KEY}x` }],
          ["an empty key", { key: "" }],
          ["the key as Basic", {
            key: null,
            headers: { authorization: `Basic ${btoa(`user:${ACCESS_KEY}`)}` },
          }],
          ["the key in a cookie", { key: null, headers: { cookie: `key=${ACCESS_KEY}` } }],
        ];
        for (const [name, init] of cases) {
          const answer = await call("/v1/projects", init);
          assert.equal(answer.status, 401, name);
          assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer /, name);
        }
        assert.equal(upstreamTotal(), 0);
      });

      await it(`${label}: a disallowed path (403) or method (405) is refused, and nothing is sent`, async () => {
        const refused: [string, RequestInit, number][] = [
          ["/v1/echo", {}, 403],
          ["/v1/projectsX", {}, 403],
          ["/", {}, 403],
          ["/v1/projects/../echo", {}, 403],
          ["/v1/projects/%2e%2e/echo", {}, 403],
          ["/v1/projects%2F..%2Fecho", {}, 403],
          ["/v1/projects/1%2f..", {}, 403],
          ["/v1/projects", { method: "POST", body: "{}" }, 405],
          ["/v1/projects", { method: "DELETE" }, 405],
          ["/v1/projects", { method: "PUT", body: "{}" }, 405],
        ];
        for (const [path, init, status] of refused) {
          const answer = await call(path, init);
          assert.equal(answer.status, status, `${init.method ?? "GET"} ${path}`);
          if (status === 405) assert.equal(answer.headers.get("allow"), "GET, HEAD");
        }
        assert.equal(upstreamTotal(), 0);
      });

      await it(`${label}: an authenticated caller gets the upstream's answer, sent with the Kognic token and none of the caller's credentials`, async () => {
        upstream.length = 0;
        const answer = await call("/v1/projects/7?x=1", {
          headers: { cookie: "session=caller-cookie", accept: "application/json" },
        });
        assert.equal(answer.status, 200, answer.body.slice(0, 300));
        // The route answers only a valid token of the auth server: the Kognic token was added.
        assert.deepEqual(JSON.parse(answer.body), {
          clientId: CLIENT_ID,
          route: "/7",
          method: "GET",
        });
        const [seenUpstream] = upstream;
        assert.equal(seenUpstream.url.search, "?x=1");
        assert.equal(seenUpstream.headers.cookie, undefined);
        assert.equal(seenUpstream.headers.accept, "application/json");
        assert.ok(!JSON.stringify(seenUpstream.headers).includes(ACCESS_KEY));
        assert.equal(
          answer.headers.get("set-cookie"),
          null,
          "the API's cookies are not passed back",
        );
        assert.equal(answer.headers.get("x-internal"), null);
        assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
        const head = await call("/v1/projects", { method: "HEAD" });
        assert.equal(head.status, 200);
      });

      server.resetCounts();
      await it(`${label}: 20 concurrent requests make one token request, and later ones reuse the token`, async () => {
        // A fresh isolate, so that its session is cold.
        const cold = start({
          ...config.vars,
          KOGNIC_API: server.url,
          KOGNIC_AUTH_SERVER: server.url,
          ...secrets,
        });
        try {
          const answers = await Promise.all(
            Array.from({ length: 20 }, () =>
              cold.dispatchFetch("http://worker.test/v1/projects", {
                headers: { authorization: `Bearer ${ACCESS_KEY}` },
              }).then(async (response) => ({
                status: response.status,
                body: await response.text(),
              }))),
          );
          for (const answer of answers) {
            seen.push(answer.body);
            assert.equal(answer.status, 200, answer.body.slice(0, 300));
            assert.equal(JSON.parse(answer.body).clientId, CLIENT_ID);
          }
          assert.equal(server.counts.tokenRequests, 1);
        } finally {
          await cold.dispose();
        }
        server.resetCounts();
        for (let i = 0; i < 5; i++) assert.equal((await call("/v1/projects")).status, 200);
        assert.equal(server.counts.tokenRequests, 0);
      });

      await it(`${label}: a 401 renews the token and replays the request once`, async () => {
        server.resetCounts();
        server.failApiRequests({ status: 401 });
        const answer = await call("/v1/projects");
        assert.equal(answer.status, 200, answer.body.slice(0, 300));
        assert.equal(server.counts.tokenRequests, 1);
      });

      await it(`${label}: the token never reaches an origin that is not allowed`, async () => {
        other.authorization.length = 0;
        const answer = await call("/v1/projects/moved");
        assert.equal(answer.status, 200);
        assert.equal(answer.body, "other origin");
        assert.deepEqual(other.authorization, [undefined]);
      });

      await it(`${label}: an auth server that refuses the credentials gives the caller 502 naming only the kind of error`, async () => {
        const refusing = start({
          ...config.vars,
          KOGNIC_API: server.url,
          KOGNIC_AUTH_SERVER: server.url,
          ...secrets,
          KOGNIC_CLIENT_SECRET: "not-the-secret",
        });
        try {
          const response = await refusing.dispatchFetch("http://worker.test/v1/projects", {
            headers: { authorization: `Bearer ${ACCESS_KEY}` },
          });
          const body = await response.text();
          seen.push(body);
          assert.equal(response.status, 502);
          assert.equal(body, "The Kognic API could not be reached (OAuthError)\n");
        } finally {
          await refusing.dispose();
        }
      });

      await it(`${label}: without WORKER_ACCESS_KEY (or with a short one) every caller gets 500 and nothing is sent`, async () => {
        for (const key of [undefined, "short"]) {
          const unconfigured = start({
            ...config.vars,
            KOGNIC_API: server.url,
            KOGNIC_AUTH_SERVER: server.url,
            KOGNIC_CLIENT_ID: CLIENT_ID,
            KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
            ...(key ? { WORKER_ACCESS_KEY: key } : {}),
          });
          try {
            server.resetCounts();
            for (const authorization of [`Bearer ${ACCESS_KEY}`, "Bearer short", ""]) {
              const response = await unconfigured.dispatchFetch("http://worker.test/v1/projects", {
                headers: authorization ? { authorization } : {},
              });
              const body = await response.text();
              seen.push(body);
              assert.equal(response.status, 500);
              assert.match(body, /WORKER_ACCESS_KEY/);
            }
            assert.equal(upstreamTotal(), 0);
          } finally {
            await unconfigured.dispose();
          }
        }
      });
    } finally {
      await mf.dispose();
    }
  }
  await it("a session shared by an isolate's requests renews its token after a background renewal died with its request", async () => {
    // A request in the renewal margin starts a renewal and returns at once;
    // workerd ends its I/O with it. A later request that needs the token must
    // not wait for that renewal forever.
    const script = join(work, "renewal_worker.ts");
    writeFileSync(
      script,
      `import { AuthSession } from "@kognic/auth";
let offset = 0;
let session;
export default {
  async fetch(request, env) {
    offset = Number(request.headers.get("x-clock-offset") ?? 0);
    session ??= new AuthSession({
      auth: [env.KOGNIC_CLIENT_ID, env.KOGNIC_CLIENT_SECRET],
      authServer: env.KOGNIC_AUTH_SERVER,
      leeway: 30000,
      now: () => Date.now() + offset,
    });
    return await session.fetch(new URL("/v1/echo", env.KOGNIC_AUTH_SERVER));
  },
};
`,
    );
    const mf = new Miniflare({
      modules: true,
      script: new TextDecoder().decode(bundleForWorker(script, false)),
      compatibilityDate: "2026-07-30",
      bindings: {
        KOGNIC_CLIENT_ID: CLIENT_ID,
        KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
        KOGNIC_AUTH_SERVER: server.url,
      },
    });
    try {
      server.resetCounts();
      const call = async (offset: number): Promise<number> => {
        const response = await mf.dispatchFetch("http://worker.test/", {
          headers: { "x-clock-offset": String(offset) },
          signal: AbortSignal.timeout(20_000),
        });
        seen.push(await response.text());
        return response.status;
      };
      assert.equal(await call(0), 200);
      server.failTokenRequests({ delay: 3_000 });
      assert.equal(await call(3_600_000 - 29_000), 200, "a request in the renewal margin");
      assert.equal(await call(3_600_000 - 14_000), 200, "a request that must wait for a token");
      assert.equal(await call(3_600_000 - 10_000), 200);
      assert.equal(server.counts.tokenRequests, 3);
    } finally {
      await mf.dispose();
    }
  });
  await it("when the request that started the token request leaves, the requests still waiting get a token of their own", async () => {
    // The first request gives up (its own signal) while two others wait: its
    // token request ends with it, and the others must not wait for it forever.
    const script = join(work, "leaving_worker.ts");
    writeFileSync(
      script,
      `import { AuthSession } from "@kognic/auth";
let session;
export default {
  async fetch(request, env) {
    session ??= new AuthSession({
      auth: [env.KOGNIC_CLIENT_ID, env.KOGNIC_CLIENT_SECRET],
      authServer: env.KOGNIC_AUTH_SERVER,
    });
    const wait = request.headers.get("x-give-up-after");
    try {
      return await session.fetch(new URL("/v1/echo", env.KOGNIC_AUTH_SERVER), {
        signal: wait ? AbortSignal.timeout(Number(wait)) : undefined,
      });
    } catch (error) {
      return new Response(String(error), { status: 499 });
    }
  },
};
`,
    );
    const mf = new Miniflare({
      modules: true,
      script: new TextDecoder().decode(bundleForWorker(script, false)),
      compatibilityDate: "2026-07-30",
      bindings: {
        KOGNIC_CLIENT_ID: CLIENT_ID,
        KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
        KOGNIC_AUTH_SERVER: server.url,
      },
    });
    try {
      server.resetCounts();
      server.failTokenRequests({ delay: 5_000 });
      const call = async (headers: Record<string, string>): Promise<number> => {
        const response = await mf.dispatchFetch("http://worker.test/", {
          headers,
          signal: AbortSignal.timeout(20_000),
        });
        seen.push(await response.text());
        return response.status;
      };
      const leaving = call({ "x-give-up-after": "300" });
      while (server.counts.tokenRequests === 0) await new Promise((r) => setTimeout(r, 5));
      const staying = [call({}), call({})];
      assert.equal(await leaving, 499);
      assert.deepEqual(await Promise.all(staying), [200, 200]);
      assert.equal(server.counts.tokenRequests, 2);
    } finally {
      await mf.dispose();
    }
  });
  await it("docs/edge-and-browsers.md quotes the sample Worker and the browser example as they are", () => {
    const readme = readFileSync(join(ROOT, "docs", "edge-and-browsers.md"), "utf8");
    for (const example of ["cloudflare_worker.ts", "browser.ts", "browser_backend.ts"]) {
      const code = readFileSync(join(ROOT, "examples", example), "utf8");
      assert.ok(
        readme.includes("```ts\n" + code + "```"),
        `docs/edge-and-browsers.md quotes examples/${example}`,
      );
    }
    const config = readFileSync(join(ROOT, "examples", "wrangler.toml"), "utf8");
    assert.ok(
      readme.includes("```text\n" + config + "```"),
      "docs/edge-and-browsers.md quotes examples/wrangler.toml",
    );
  });
  await it("secret hygiene: no answer of the worker contained the client secret or the access key", () => {
    assert.ok(seen.length > 20);
    for (const body of seen) {
      assert.ok(!body.includes(CLIENT_SECRET));
      assert.ok(!body.includes(ACCESS_KEY));
    }
  });
} finally {
  await server.close();
  await new Promise((resolve) => otherServer.close(resolve));
  rmSync(work, { recursive: true, force: true });
}

checks.close();

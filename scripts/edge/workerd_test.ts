/**
 * The sample Cloudflare Worker (examples/cloudflare_worker.ts), bundled with
 * the npm build by wrangler's own `deploy --dry-run` (with and without
 * `nodejs_compat`), run in workerd through miniflare (all pinned in
 * scripts/npm_tools.ts) against the local auth server on 127.0.0.1. Two more
 * workers, bundled with wrangler's esbuild settings, hold the session through
 * a renewal and through the first request leaving. Run by Node.js 24 (type stripping):
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
import { startAuthServer } from "../../testing.ts";
import { bundleForWorker } from "../size.ts";
import { edgeTools, ROOT, VERSIONS } from "../npm_tools.ts";
import { Checks } from "../checks.ts";

const CLIENT_ID = "edge-client";
const CLIENT_SECRET = "edge-s3cret-never-print-me";

interface MiniflareLike {
  dispatchFetch(
    url: string,
    init?: RequestInit,
  ): Promise<{ status: number; text(): Promise<string> }>;
  dispose(): Promise<void>;
}
type MiniflareClass = new (options: Record<string, unknown>) => MiniflareLike;

const { Miniflare } = await import(
  pathToFileURL(join(edgeTools(), "node_modules", "miniflare", "dist", "src", "index.js")).href
) as { Miniflare: MiniflareClass };

const work = mkdtempSync(join(tmpdir(), "kognic-workerd-"));
const seen: string[] = [];
const checks = new Checks();
const it = checks.checkAsync.bind(checks);

/**
 * The sample Worker bundled by wrangler with its defaults, offline
 * (`wrangler deploy --dry-run`), in a project of its own where
 * `@kognic/auth` is the npm build, as if installed from npm.
 */
function wranglerBundle(nodejsCompat: boolean): string {
  const project = join(work, nodejsCompat ? "project-nodejs-compat" : "project");
  mkdirSync(join(project, "node_modules", "@kognic"), { recursive: true });
  symlinkSync(join(ROOT, "npm"), join(project, "node_modules", "@kognic", "auth"), "dir");
  copyFileSync(join(ROOT, "examples", "cloudflare_worker.ts"), join(project, "worker.ts"));
  const config = {
    name: "kognic-auth-example",
    main: "worker.ts",
    compatibility_date: "2026-07-30",
    compatibility_flags: nodejsCompat ? ["nodejs_compat"] : [],
  };
  writeFileSync(join(project, "wrangler.json"), JSON.stringify(config));
  const wrangler = join(edgeTools(), "node_modules", "wrangler", "bin", "wrangler.js");
  const result = spawnSync(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", "out"], {
    cwd: project,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1" },
  });
  if (result.status !== 0) {
    throw new Error(`wrangler failed to bundle the Worker:\n${result.stdout}\n${result.stderr}`);
  }
  return readFileSync(join(project, "out", "worker.js"), "utf8");
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

const server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
console.log(
  `workerd ${VERSIONS.workerd} through miniflare ${VERSIONS.miniflare}, bundles by wrangler ` +
    `${VERSIONS.wrangler}, Node.js ${process.versions.node}`,
);
try {
  for (const nodejsCompat of [false, true]) {
    const label = nodejsCompat ? "with nodejs_compat" : "without nodejs_compat";
    const code = wranglerBundle(nodejsCompat);
    console.log(
      `the worker bundle ${label} (wrangler deploy --dry-run): ${code.length} bytes, ${
        gzipSync(code, { level: 9 }).length
      } gzipped`,
    );
    const mf = new Miniflare({
      modules: true,
      script: code,
      compatibilityDate: "2026-07-30",
      compatibilityFlags: nodejsCompat ? ["nodejs_compat"] : [],
      bindings: {
        KOGNIC_CLIENT_ID: CLIENT_ID,
        KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
        KOGNIC_API: server.url,
        KOGNIC_AUTH_SERVER: server.url,
      },
    });
    const call = async (path: string): Promise<{ status: number; body: string }> => {
      const response = await mf.dispatchFetch(`http://worker.test${path}`);
      const body = await response.text();
      seen.push(body);
      return { status: response.status, body };
    };
    try {
      await it(`${label}: the worker bundle has no node: import and no keyring`, () => {
        assert.doesNotMatch(code, /@napi-rs\/keyring|src\/credentials\/keyring/);
        if (!nodejsCompat) assert.doesNotMatch(code, /["']node:/);
      });

      server.resetCounts();
      await it(`${label}: 20 concurrent requests on a cold isolate make one token request`, async () => {
        const answers = await Promise.all(Array.from({ length: 20 }, () => call("/v1/echo")));
        for (const answer of answers) {
          assert.equal(answer.status, 200, answer.body.slice(0, 300));
          assert.equal(JSON.parse(answer.body).clientId, CLIENT_ID);
        }
        assert.equal(server.counts.tokenRequests, 1);
      });

      await it(`${label}: later requests reuse the token`, async () => {
        for (let i = 0; i < 5; i++) assert.equal((await call("/v1/echo")).status, 200);
        assert.equal(server.counts.tokenRequests, 1);
      });

      await it(`${label}: a 401 renews the token and replays the request once`, async () => {
        server.failApiRequests({ status: 401 });
        const answer = await call("/v1/echo");
        assert.equal(answer.status, 200, answer.body.slice(0, 300));
        assert.equal(server.counts.tokenRequests, 2);
      });

      await it(`${label}: the token never reaches an origin that is not allowed`, async () => {
        other.authorization.length = 0;
        const to = encodeURIComponent(`${otherUrl}/landing`);
        const answer = await call(`/v1/redirect?to=${to}`);
        assert.equal(answer.status, 200);
        assert.equal(answer.body, "other origin");
        assert.deepEqual(other.authorization, [undefined]);
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
  await it("README quotes the sample Worker and the browser example as they are", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const example of ["cloudflare_worker.ts", "browser.ts"]) {
      const code = readFileSync(join(ROOT, "examples", example), "utf8");
      assert.ok(
        readme.includes("```ts\n" + code + "```"),
        `README quotes examples/${example}`,
      );
    }
  });
  await it("secret hygiene: no answer of the worker contained the client secret", () => {
    assert.ok(seen.length > 20);
    for (const body of seen) assert.ok(!body.includes(CLIENT_SECRET));
  });
} finally {
  await server.close();
  await new Promise((resolve) => otherServer.close(resolve));
  rmSync(work, { recursive: true, force: true });
}

checks.close();

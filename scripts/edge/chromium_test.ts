/**
 * The browser example (examples/browser.ts) and its backend half
 * (examples/browser_backend.ts), both as written, in headless Chromium
 * (Debian's `chromium`, installed by scripts/install_packages.sh when missing;
 * exits 77 when it cannot be installed here): a page served on
 * 127.0.0.1 imports the npm build's browser bundle, the same one the size
 * check measures, and calls the local API on another origin (CORS) through
 * `AuthSession`, with its tokens from the backend, which the page's server
 * runs as its fetch handler with the npm build as `@kognic/auth`. Driven over
 * the DevTools protocol. Run by Node.js 24 (type stripping, global WebSocket):
 *
 * ```sh
 * deno task build:npm && node scripts/edge/chromium_test.ts
 * ```
 *
 * Closes with `N passed, N failed`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { bundleForBrowser } from "../size.ts";
import { buildToolBin, ROOT } from "../npm_tools.ts";
import { Checks } from "../checks.ts";

const CLIENT_ID = "browser-client";
const CLIENT_SECRET = "browser-s3cret-never-print-me";
const WAIT_MS = 30_000;

const checks = new Checks();
const it = checks.checkAsync.bind(checks);

function chromiumPath(): string {
  const install = spawnSync("sh", [
    join(ROOT, "scripts", "install_packages.sh"),
    "chromium:chromium",
  ], {
    stdio: "inherit",
  });
  // 77: it cannot be installed here (no root, no apt-get); the script said why.
  if (install.status !== 0) process.exit(install.status ?? 1);
  const path = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).stdout.trim();
  if (!path) throw new Error("chromium is not on PATH after scripts/install_packages.sh");
  return path;
}

/**
 * Removes a folder that a process which just exited may still have been
 * writing into (Chromium's profile): retried, a bounded number of times.
 */
async function removeFolder(path: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      rmSync(path, { recursive: true, force: true });
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

const chromium = chromiumPath();

const work = mkdtempSync(join(tmpdir(), "kognic-chromium-"));
const lib = join(work, "lib");
const { entryChunk } = bundleForBrowser(lib);
const entryFile = join(ROOT, entryChunk);
const app = spawnSync(buildToolBin("esbuild"), [
  join(ROOT, "examples", "browser.ts"),
  "--format=esm",
  "--target=es2022",
  "--log-level=error",
]);
if (app.status !== 0) throw new Error(`esbuild failed on examples/browser.ts: ${app.stderr}`);

// The backend half as written, in a project where `@kognic/auth` is the npm build.
const backendProject = join(work, "backend");
mkdirSync(join(backendProject, "node_modules", "@kognic"), { recursive: true });
symlinkSync(join(ROOT, "npm"), join(backendProject, "node_modules", "@kognic", "auth"), "dir");
copyFileSync(
  join(ROOT, "examples", "browser_backend.ts"),
  join(backendProject, "browser_backend.ts"),
);
const { createTokenBackend } = await import(
  pathToFileURL(join(backendProject, "browser_backend.ts")).href
) as typeof import("../../examples/browser_backend.ts");
const { AuthSession } = await import(
  pathToFileURL(join(ROOT, "npm", "esm", "mod.js")).href
) as typeof import("../../mod.ts");

/** The page's sign-in: a cookie the page's server sets with the page. */
const SIGN_IN_COOKIE = "page-session=signed-in-user";
let backendCalls = 0;
/** The backend's fetch handler, made once the auth server runs. */
const handlers: { backend?: (request: Request) => Promise<Response> } = {};
const logs: string[] = [];

/** A node:http request as a web Request, for the backend's fetch handler. */
async function webRequest(req: import("node:http").IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
  }
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  return new Request(new URL(req.url ?? "/", pageUrl), {
    method: req.method,
    headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
  });
}

const page = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://page");
  if (url.pathname.startsWith("/api/kognic-token")) {
    backendCalls++;
    const answer = await handlers.backend!(await webRequest(req));
    res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(await answer.text());
    return;
  }
  if (url.pathname === "/api/redacted" && req.method === "POST") {
    // What the obvious backend, Response.json(await session.getToken()), would send.
    req.resume();
    const token = await backendSession.getToken();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(token));
    return;
  }
  req.resume();
  if (url.pathname === "/") {
    const html = `<!doctype html><meta charset="utf-8"><title>kognic-auth</title>
<script type="importmap">{"imports":{"@kognic/auth":"/lib/entry.js"}}</script>
<script type="module">
import { createBrowserSession } from "/app.js";
globalThis.outcome = (async () => {
  const session = createBrowserSession(${JSON.stringify(server.url)});
  const answers = await Promise.all([1, 2, 3].map(() => session.fetch(${
      JSON.stringify(server.apiUrl)
    })));
  const bodies = await Promise.all(answers.map((response) => response.json()));
  let fileError = "";
  try { await (await import("@kognic/auth")).resolveCredentials({ auth: "credentials.json" }); }
  catch (error) { fileError = error.name + ": " + error.message; }
  // A POST answered 307: Chromium hides the redirect from the session (an opaque redirect).
  const hop = ${
      JSON.stringify(`${server.url}/v1/redirect?to=${encodeURIComponent(server.apiUrl)}&status=307`)
    };
  let opaque = "";
  try { await session.fetch(hop, { method: "POST", body: "once" }); }
  catch (error) { opaque = error.name + ": " + error.message; }
  const followed = await session.fetch(hop, { method: "POST", body: "then followed" });
  let redactedError = "";
  try { await createBrowserSession(${JSON.stringify(server.url)}, "/api/redacted").getToken(); }
  catch (error) { redactedError = error.name + ": " + error.message; }
  return { statuses: answers.map((r) => r.status), clients: bodies.map((b) => b.clientId), fileError,
    opaque, followed: [followed.status, followed.redirected, (await followed.json()).body],
    redactedError, page: document.documentElement.outerHTML };
})().catch((error) => ({ error: String(error) }));
</script>`;
    res.writeHead(200, { "content-type": "text/html", "set-cookie": `${SIGN_IN_COOKIE}; Path=/` })
      .end(html);
  } else if (url.pathname === "/app.js") {
    res.writeHead(200, { "content-type": "text/javascript" }).end(app.stdout);
  } else if (url.pathname.startsWith("/lib/")) {
    const name = url.pathname.slice(5);
    const file = name === "entry.js" ? entryFile : join(lib, name.replace(/[^\w.-]/g, ""));
    try {
      res.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(file));
    } catch {
      res.writeHead(404).end();
    }
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
const pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}`;
const server: LocalAuthServer = await startAuthServer({
  clients: { [CLIENT_ID]: CLIENT_SECRET },
  corsOrigins: [pageUrl],
});
const backendSession = new AuthSession({
  authServer: server.url,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
});
handlers.backend = createTokenBackend({
  session: backendSession,
  pageOrigins: [pageUrl],
  isSignedIn: (request) =>
    (request.headers.get("cookie") ?? "").split(/; */).includes(SIGN_IN_COOKIE),
});

const version = spawnSync(chromium, ["--version"], { encoding: "utf8" }).stdout.trim();
console.log(`${version}, Node.js ${process.versions.node}`);
const browser = spawn(chromium, [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  `--user-data-dir=${join(work, "profile")}`,
  "--remote-debugging-port=0",
  `${pageUrl}/`,
], { stdio: ["ignore", "ignore", "pipe"] });

try {
  const devtools = await new Promise<string>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${text}`)), WAIT_MS);
    browser.stderr.on("data", (chunk: Buffer) => {
      text += chunk;
      const match = /DevTools listening on ws:\/\/([^/\s]+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  let target: { webSocketDebuggerUrl: string } | undefined;
  for (let i = 0; i < 100 && !target; i++) {
    const list = await (await fetch(`http://${devtools}/json/list`)).json() as {
      type: string;
      url: string;
      webSocketDebuggerUrl: string;
    }[];
    target = list.find((entry) => entry.type === "page" && entry.url.startsWith(pageUrl));
    if (!target) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!target) throw new Error("the page never opened in chromium");
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  // The page may still be loading when first asked: ask again (bounded) while
  // its execution context is replaced.
  let outcome: Record<string, unknown> | undefined;
  for (let id = 1; !outcome; id++) {
    const message = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the page gave no outcome")), WAIT_MS);
      socket.onmessage = (event) => {
        const message = JSON.parse(String(event.data));
        if (message.id !== id) return;
        clearTimeout(timer);
        resolve(message);
      };
      socket.send(JSON.stringify({
        id,
        method: "Runtime.evaluate",
        params: {
          expression:
            "new Promise((resolve) => { const wait = () => globalThis.outcome ? globalThis.outcome.then(resolve) : setTimeout(wait, 50); wait(); })",
          awaitPromise: true,
          returnByValue: true,
        },
      }));
    });
    const value = (message.result as { result?: { value?: Record<string, unknown> } })?.result
      ?.value;
    if (value) outcome = value;
    else if (id >= 20) {
      throw new Error(`evaluation failed: ${JSON.stringify(message).slice(0, 500)}`);
    } else await new Promise((resolve) => setTimeout(resolve, 200));
  }
  socket.close();
  logs.push(JSON.stringify(outcome));
  // The page's API requests, counted before later checks reset the server's counts.
  const pageApiRequests = server.counts.apiRequests;

  await it("the page fetches from the API on another origin (CORS) through AuthSession", () => {
    assert.equal(outcome.error, undefined);
    assert.deepEqual(outcome.statuses, [200, 200, 200]);
    assert.deepEqual(outcome.clients, [CLIENT_ID, CLIENT_ID, CLIENT_ID]);
  });
  await it("the session asked the backend for a token once for three concurrent requests", () => {
    assert.equal(backendCalls, 1);
    assert.equal(server.counts.tokenRequests, 1);
  });
  await it("the browser side, given the JSON of an AccessToken, says what the backend must send", () => {
    assert.match(
      String(outcome.redactedError),
      /^TypeError: The token backend sent the JSON of an AccessToken, which never holds the token: send token\.toTokenResponse\(\)$/,
    );
  });
  await it("the backend refuses another origin, a request without Origin, a caller not signed in and a GET, and gets no token for them", async () => {
    server.resetCounts();
    const before = backendCalls;
    const cases: [string, RequestInit, number][] = [
      [
        "another origin",
        { headers: { origin: "http://evil.example", cookie: SIGN_IN_COOKIE } },
        403,
      ],
      ["no Origin", { headers: { cookie: SIGN_IN_COOKIE } }, 403],
      ["a cross-site fetch", {
        headers: { origin: pageUrl, cookie: SIGN_IN_COOKIE, "sec-fetch-site": "cross-site" },
      }, 403],
      ["not signed in", { headers: { origin: pageUrl } }, 401],
      ["a GET", { method: "GET", headers: { origin: pageUrl, cookie: SIGN_IN_COOKIE } }, 405],
    ];
    for (const [name, init, status] of cases) {
      const response = await fetch(`${pageUrl}/api/kognic-token`, { method: "POST", ...init });
      const text = await response.text();
      logs.push(text);
      assert.equal(response.status, status, name);
      assert.equal(response.headers.get("access-control-allow-origin"), null, name);
      assert.doesNotMatch(text, /access_token/, name);
    }
    assert.equal(backendCalls - before, cases.length);
    assert.equal(server.counts.tokenRequests, 0);
    const allowed = await fetch(`${pageUrl}/api/kognic-token`, {
      method: "POST",
      headers: { origin: pageUrl, cookie: SIGN_IN_COOKIE },
    });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get("cache-control"), "no-store");
    const body = await allowed.json();
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
    assert.ok(body.expires_in > 3500 && body.expires_in <= 3600);
  });
  await it("a credentials file in the browser fails with an error saying what to pass", () => {
    assert.match(String(outcome.fileError), /^ConfigurationError: .*Deno, Node\.js or Bun/);
  });
  await it("a POST whose redirect Chromium hides is never sent twice, and later ones let Chromium follow", () => {
    assert.match(String(outcome.opaque), /^TypeError: .*the POST was not sent again/);
    assert.deepEqual(outcome.followed, [200, true, "then followed"]);
    // Three GETs of the echo API; the first POST once; the second POST and its redirected request.
    assert.equal(pageApiRequests, 3 + 1 + 2);
  });
  await it("secret hygiene: the page and the bundle never held the client secret", () => {
    for (const text of [...logs, app.stdout.toString(), readFileSync(entryFile, "utf8")]) {
      assert.ok(!text.includes(CLIENT_SECRET));
    }
  });
} finally {
  // Chromium writes its profile until it has exited: wait for that (bounded:
  // SIGKILL after 10 s) before removing the folder.
  if (browser.exitCode === null && browser.signalCode === null) {
    const exited = new Promise((resolve) => browser.once("exit", resolve));
    browser.kill();
    const forced = setTimeout(() => browser.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(forced);
  }
  await server.close();
  const closed = new Promise((resolve) => page.close(resolve));
  page.closeAllConnections();
  await closed;
  await removeFolder(work);
}

checks.close();

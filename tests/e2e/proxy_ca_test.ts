// Both CLIs behind a real forwarding proxy (squid on 127.0.0.1, whose hosts
// file maps auth.kognic.test to 127.0.0.1) against a local TLS auth server
// with a certificate from a test CA made at test time, on the runtime this
// suite runs on (Deno; Node 20/22/24 through the npm build's bins; Bun).

import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  kogCommand,
  record,
  runCli,
  runCommand,
  type RunResult,
  tempDir,
} from "../_helpers/mod.ts";
import {
  makeCertificates,
  proxyTestsUnavailable,
  type Squid,
  startSquid,
} from "../_helpers/tls_proxy.ts";

const TEST_HOST = "auth.kognic.test";
const skip = proxyTestsUnavailable();
const DENO_PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write"];

let dir: { path: string; cleanup: () => Promise<void> };
let server: LocalAuthServer;
let squid: Squid;
let caFile: string;
let port: number;
let envFile: string;
const tokens: string[] = [];

/** The environment of a CLI run: credentials, an empty cache home, and `extra`. */
function environment(extra: Record<string, string>, withCa = true): Record<string, string> {
  return {
    KOGNIC_CLIENT_ID: CLIENT_ID,
    KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
    XDG_CONFIG_HOME: join(dir.path, "config"),
    XDG_CACHE_HOME: join(dir.path, "cache"),
    ...(withCa ? { NODE_EXTRA_CA_CERTS: caFile, DENO_CERT: caFile } : {}),
    ...extra,
  };
}

/** kognic-auth get-access-token against `server`, with no token cache, and `more` (-v goes anywhere). */
function getToken(
  server: string,
  env: Record<string, string>,
  ...more: string[]
): Promise<RunResult> {
  const args = ["get-access-token", "--server", server, "--token-cache", "none", ...more];
  return runCli(args, {
    env,
    denoPermissions: DENO_PERMISSIONS,
    killAfter: 60_000,
  });
}

/** squid's access-log lines that name `host`. */
async function proxied(host: string): Promise<string[]> {
  return (await squid.accessLog()).filter((line) => line.includes(host));
}

/**
 * squid's access-log lines that name `host`, once `done` holds for them:
 * squid writes a connection's line after it has closed, maybe after the
 * client has exited. The deadline is only a bound.
 */
async function proxiedUntil(host: string, done: (lines: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const lines = await proxied(host);
    if (done(lines) || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("proxies and private CAs", { skip }, () => {
  before(async () => {
    dir = await tempDir();
    const certs = await makeCertificates(dir.path, [TEST_HOST, "127.0.0.1"]);
    caFile = certs.caFile;
    server = await startAuthServer({ clients: CLIENTS, tls: { key: certs.key, cert: certs.cert } });
    port = Number(new URL(server.url).port);
    squid = await startSquid(join(dir.path), { [TEST_HOST]: "127.0.0.1" });
    envFile = join(dir.path, "environments.json");
    await writeFile(
      envFile,
      JSON.stringify({
        environments: {
          proxied: { host: TEST_HOST, auth_server: `https://${TEST_HOST}:${port}` },
        },
      }),
    );
    await mkdir(join(dir.path, "config"), { recursive: true });
  });
  after(async () => {
    await squid?.stop();
    await server?.close();
    await dir?.cleanup();
  });

  it("get-access-token reaches https://auth.kognic.test through HTTPS_PROXY with the test CA configured", async () => {
    const before = server.counts.tokenRequests;
    const result = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({ HTTPS_PROXY: squid.url }),
    );
    assert.equal(result.code, 0, result.stderr);
    const token = result.stdout.trim();
    tokens.push(token);
    assert.match(token, /^[\x21-\x7e]+$/);
    assert.equal(server.counts.tokenRequests, before + 1);
    const connects = (lines: string[]): boolean => lines.some((line) => / CONNECT /.test(line));
    assert.ok(connects(await proxiedUntil(`${TEST_HOST}:${port}`, connects)));
  });

  it("honours the lower-case https_proxy too", async () => {
    const seen = (await proxied(`${TEST_HOST}:${port}`)).length;
    const result = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({ https_proxy: squid.url }),
    );
    assert.equal(result.code, 0, result.stderr);
    tokens.push(result.stdout.trim());
    const more = (lines: string[]): boolean => lines.length > seen;
    assert.ok(more(await proxiedUntil(`${TEST_HOST}:${port}`, more)));
  });

  it("without the CA fails with one line that names the host and says a CA may be missing", async () => {
    const result = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({ HTTPS_PROXY: squid.url }, false),
    );
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0],
      /^Error: Token request to "https:\/\/auth\.kognic\.test:\d+\/v1\/auth\/oauth\/token" failed/,
    );
    assert.match(lines[0], /certificate of "auth\.kognic\.test:\d+" could not be verified/);
    assert.match(lines[0], /NODE_EXTRA_CA_CERTS/);
  });

  it("sends nothing through the proxy for a NO_PROXY host", async () => {
    // Lines naming this host only: an earlier test's line may land late.
    const before = (await proxied(`127.0.0.1:${port}`)).length;
    const result = await getToken(
      `https://127.0.0.1:${port}`,
      environment({ HTTPS_PROXY: squid.url, NO_PROXY: "127.0.0.1" }),
    );
    assert.equal(result.code, 0, result.stderr);
    tokens.push(result.stdout.trim());
    assert.equal((await proxied(`127.0.0.1:${port}`)).length, before);
  });

  it("authenticates to a proxy with credentials in its URL, and never prints them", async () => {
    const withLogin = `http://${squid.user}:${squid.password}@${
      squid.authUrl.slice("http://".length)
    }`;
    const result = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({ HTTPS_PROXY: withLogin }),
      "-v",
    );
    assert.equal(result.code, 0, result.stderr);
    tokens.push(result.stdout.trim());
    assert.ok(!result.stderr.includes(squid.password), result.stderr);
    assert.ok(!result.stderr.includes(squid.user + ":"), result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`proxy: 127\\.0\\.0\\.1:${new URL(squid.authUrl).port}`),
    );
    const refused = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({ HTTPS_PROXY: squid.authUrl }),
    );
    assert.equal(refused.code, 1);
    assert.ok(!refused.stderr.includes(squid.password));
  });

  it("kog calls the API through the proxy with the token from the environment's auth server", async () => {
    const result = await runCommand(
      kogCommand(DENO_PERMISSIONS),
      [
        "get",
        `https://${TEST_HOST}:${port}/v1/echo/through-proxy`,
        "--env-config-file-path",
        envFile,
        "--token-cache",
        "none",
      ],
      { env: environment({ HTTPS_PROXY: squid.url }), killAfter: 60_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    const echo = JSON.parse(result.stdout);
    assert.equal(echo.path, "/v1/echo/through-proxy");
    assert.equal(echo.clientId, CLIENT_ID);
    const both = (lines: string[]): boolean => lines.length >= 2;
    assert.ok(both(await proxiedUntil(`${TEST_HOST}:${port}`, both)));
  });

  it("get-access-token --token-endpoint-auth-method client_secret_basic sends the Basic header", async () => {
    const result = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({ HTTPS_PROXY: squid.url }),
      "--token-endpoint-auth-method",
      "client_secret_basic",
    );
    assert.equal(result.code, 0, result.stderr);
    tokens.push(result.stdout.trim());
    assert.equal(server.tokenRequests.at(-1)?.authMethod, "client_secret_basic");
    const bad = await getToken(
      `https://${TEST_HOST}:${port}`,
      environment({}),
      "--token-endpoint-auth-method",
      "basic",
    );
    assert.equal(bad.code, 2);
    assert.match(
      record(bad.stderr),
      /--token-endpoint-auth-method must be one of client_secret_post, client_secret_basic, not "basic"/,
    );
  });

  it("no output contained the client secret, a proxy password or, on stderr, a token", () => {
    assert.ok(assertNoSecretSeen([CLIENT_SECRET, squid.password]) > 5);
  });
});

// -v on both CLIs is built on the session's events: token retries and
// failures show, as real subprocesses against the local auth server.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  kogCommand,
  runCli,
  runCommand,
  tempDir,
} from "../_helpers/mod.ts";

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
let envFile: string;

before(async () => {
  server = await startAuthServer({ clients: CLIENTS });
  dir = await tempDir();
  envFile = join(dir.path, "environments.json");
  const host = new URL(server.url).hostname;
  await writeFile(
    envFile,
    JSON.stringify({ environments: { local: { host, auth_server: server.url } } }),
  );
});
after(async () => {
  await server.close();
  await dir.cleanup();
});

const env = (): Record<string, string> => ({
  KOGNIC_CLIENT_ID: CLIENT_ID,
  KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
  XDG_CONFIG_HOME: join(dir.path, "config"),
  XDG_CACHE_HOME: join(dir.path, "cache"),
});

describe("-v lines from the session's events", () => {
  it("kognic-auth -v shows each token request attempt and the retry with its delay", async () => {
    server.failTokenRequests({ status: 503, times: 1 });
    const result = await runCli(
      ["-v", "get-access-token", "--server", server.url, "--token-cache", "none"],
      { env: env() },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /token request attempt 1 \(client_credentials\) to http:\/\/127\.0\.0\.1/,
    );
    assert.match(
      result.stderr,
      /token request attempt 1 failed \(oauth_error, HTTP 503\); retrying in \d+ ms/,
    );
    assert.match(result.stderr, /token endpoint answered HTTP 200 to attempt 2/);
    assert.ok(!result.stderr.includes(result.stdout.trim()), "stderr holds no token");
  });

  it("kognic-auth -v says how a token request failed for good", async () => {
    const result = await runCli(
      ["-v", "get-access-token", "--server", server.url, "--token-cache", "none"],
      { env: { ...env(), KOGNIC_CLIENT_SECRET: "not-the-secret" } },
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /token request failed after 1 attempt in \d+ ms \(oauth_error, HTTP 401\)/,
    );
  });

  it("kog -v shows token retries too", async () => {
    server.failTokenRequests({ status: 502, times: 1 });
    const result = await runCommand(
      kogCommand(),
      ["-v", "get", server.apiUrl, "--env-config-file-path", envFile, "--token-cache", "none"],
      { env: env() },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /token request attempt 1 failed \(oauth_error, HTTP 502\); retrying in \d+ ms/,
    );
    assert.equal(JSON.parse(result.stdout).clientId, CLIENT_ID);
  });

  it("kog names the host and the cause when the API cannot be reached", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await runCommand(
      kogCommand(),
      [
        "get",
        `http://127.0.0.1:${port}/v1/projects`,
        "--env-config-file-path",
        envFile,
        "--token-cache",
        "none",
      ],
      { env: env() },
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `^Error: GET "http://127\\.0\\.0\\.1:${port}/v1/projects" failed: .*(ECONNREFUSED|[Cc]onnection refused)`,
      ),
    );
  });

  it("no output held the client secret", () => {
    assert.ok(assertNoSecretSeen() > 3);
  });
});

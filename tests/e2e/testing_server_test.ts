// The local auth server from the shell (`kognic-auth-testing`, or
// `deno run jsr:@kognic/auth/testing`) as a real subprocess: it prints its
// URL, the variables and the commands; the real commands then get a token and
// call the API with the files it wrote; Ctrl-C (SIGINT) stops it and removes
// them.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  CLI_DENO_PERMISSIONS,
  denoDir,
  exists,
  kogCommand,
  runCli,
  runCommand,
  tempDir,
  testingServerCommand,
} from "../_helpers/mod.ts";

const WAIT_MS = 60_000;

/** The server as a subprocess, with its printed output once it is ready. */
function startServer(args: string[] = []): Promise<{
  output: string;
  stop(): Promise<{ code: number | null; signal: string | null; stderr: string }>;
}> {
  const [cmd, ...prefix] = testingServerCommand();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NO_COLOR: "1",
  };
  // Its files go to the test run's temporary folder, the one the test may read.
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  const deno = "Deno" in globalThis ? denoDir() : undefined;
  if (deno) env.DENO_DIR = deno;
  const child = spawn(cmd, [...prefix, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>(
    (resolve) => child.on("close", (code, signal) => resolve({ code, signal, stderr })),
  );
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the server printed no ready line:\n${stdout}\n${stderr}`));
    }, WAIT_MS);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(
        new Error(`the server exited with ${code} before it was ready:\n${stdout}\n${stderr}`),
      );
    });
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (
        !stdout.includes("Serving until Ctrl-C.\n") &&
        !(args.includes("--json") && stdout.endsWith("\n"))
      ) {
        return;
      }
      clearTimeout(timer);
      resolve({
        output: stdout,
        stop: () => {
          child.kill("SIGINT");
          return exited;
        },
      });
    });
  });
}

/**
 * Asserts a clean stop: the closing line, and exit code 0 where the runtime
 * tells it (Deno's node:child_process reports the signal it sent instead).
 */
function assertStopped(
  result: { code: number | null; signal: string | null; stderr: string },
): void {
  assert.match(result.stderr, /kognic-auth test server stopped\n$/);
  if ("Deno" in globalThis && result.code === null) assert.equal(result.signal, "SIGINT");
  else assert.equal(result.code, 0, result.stderr);
}

/** The variables of the printed `export` block. */
function exportedVariables(output: string): Record<string, string> {
  const block = /export ([\s\S]*?)\n\n/.exec(output)?.[1] ?? "";
  const env: Record<string, string> = {};
  for (const match of block.matchAll(/([A-Z_]+)=(\S+)/g)) env[match[1]] = match[2];
  return env;
}

describe("the local auth server from the shell", () => {
  it("prints its URL and variables; the commands get a token and call the API with them; SIGINT stops it and removes its files", async () => {
    const server = await startServer();
    let stopped = false;
    try {
      const url = /^kognic-auth test server: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(server.output)
        ?.[1];
      assert.ok(url, server.output);
      const env = exportedVariables(server.output);
      assert.deepEqual(Object.keys(env).sort(), [
        "KOGNIC_CREDENTIALS",
        "KOGNIC_TOKEN_CACHE",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
      ]);
      const environments = JSON.parse(
        await readFile(join(env.XDG_CONFIG_HOME, "kognic", "environments.json"), "utf8"),
      );
      assert.equal(environments.default_environment, "local");
      assert.equal(environments.environments.local.auth_server, url);
      assert.equal((await stat(env.KOGNIC_CREDENTIALS)).mode & 0o077, 0);

      const permissions = [...CLI_DENO_PERMISSIONS, "--allow-write"];
      const byEnv = await runCli(["get-access-token", "--env", "local"], {
        env,
        denoPermissions: permissions,
      });
      assert.equal(byEnv.code, 0, byEnv.stderr);
      const token = byEnv.stdout.trim();
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      const check = await fetch(`${url}/v1/echo`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(check.status, 200);
      assert.equal((await check.json()).clientId.startsWith("local-"), true);

      const byUrl = await runCli(["get-access-token", "--url", url, "--format", "json"], {
        env,
        denoPermissions: permissions,
      });
      assert.equal(byUrl.code, 0, byUrl.stderr);
      assert.equal(JSON.parse(byUrl.stdout).access_token, token, "the second run used the cache");

      const byServer = await runCli(
        ["get-access-token", "--server", url, "--scopes", "projects:read", "--format", "header"],
        { env, denoPermissions: permissions },
      );
      assert.equal(byServer.code, 0, byServer.stderr);
      assert.match(byServer.stdout, /^Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+\n$/);

      const kog = await runCommand(
        kogCommand(),
        ["get", `${url}/v1/projects`, "--format", "table"],
        {
          env,
        },
      );
      assert.equal(kog.code, 0, kog.stderr);
      assert.match(kog.stdout, /\| 1 +\| Highway lanes \|/);

      const result = await server.stop();
      stopped = true;
      assertStopped(result);
      assert.equal(await exists(env.XDG_CONFIG_HOME), false, "the folder is removed");
      assert.equal(await exists(env.XDG_CACHE_HOME), false, "the token cache is removed");
      const refused = await fetch(`${url}/v1/echo`).then(() => "answered", () => "refused");
      assert.equal(refused, "refused");
    } finally {
      if (!stopped) await server.stop();
    }
  });

  it("--json prints one line; with --dir it writes there and removes only its own files", async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, "keep.txt"), "mine");
      const server = await startServer(["--json", "--dir", dir.path]);
      const info = JSON.parse(server.output);
      assert.equal(info.credentials, join(dir.path, "credentials.json"));
      assert.equal(info.environments, join(dir.path, "kognic", "environments.json"));
      assert.equal(info.env.XDG_CONFIG_HOME, dir.path);
      assert.ok(!info.env.XDG_CACHE_HOME.startsWith(dir.path), "the cache is not put into --dir");
      assert.equal(await exists(info.credentials), true);
      assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const result = await server.stop();
      assertStopped(result);
      assert.equal(await exists(info.credentials), false);
      assert.equal(await exists(join(dir.path, "kognic")), false);
      assert.equal(await readFile(join(dir.path, "keep.txt"), "utf8"), "mine");
    } finally {
      await dir.cleanup();
    }
  });

  it("refuses to overwrite a file in --dir (exit 1), a bad flag is a usage error (exit 2), --help goes to stdout", async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, "credentials.json"), "{}");
      const [cmd, ...prefix] = testingServerCommand();
      const run = (args: string[]) => runCommand([cmd, ...prefix], args, { killAfter: WAIT_MS });
      const taken = await run(["--dir", dir.path]);
      assert.equal(taken.code, 1);
      assert.match(
        taken.stderr,
        /^Error: .*credentials\.json already exists; .*choose another --dir/m,
      );
      assert.equal(await readFile(join(dir.path, "credentials.json"), "utf8"), "{}");
      const bad = await run(["--port", "http"]);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /^Error: --port must be a whole number from 0 to 65535, not "http"\n/,
      );
      const help = await run(["--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: kognic-auth-testing/);
      assert.equal(help.stderr, "");
    } finally {
      await dir.cleanup();
    }
  });
});

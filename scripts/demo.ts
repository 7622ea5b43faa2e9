/**
 * The main job, end to end and offline: `deno task demo`.
 *
 * 1. Starts the bundled local auth server (`@kognic/auth/testing`) on 127.0.0.1.
 * 2. Writes a throwaway credentials file for a random client into a temporary directory.
 * 3. Runs the real `kognic-auth get-access-token` CLI as a subprocess on the same runtime and
 *    checks that the API accepts the token it prints (shown redacted).
 * 4. Calls the server's protected echo API through `AuthSession.fetch` and shows what the API saw.
 *
 * Exits 0 when every step worked, 1 with a message otherwise. Never prints the client secret or
 * a whole token. The server is closed and the temporary directory removed in every case.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { AuthSession } from "../mod.ts";
import { type EchoResponse, type LocalAuthServer, startAuthServer } from "../testing.ts";

const CLIENT_ID = "demo-client";
const CLIENT_SECRET = `demo-${randomBytes(18).toString("base64url")}`;
const CLI_PATH = fileURLToPath(new URL("../cli.ts", import.meta.url));
/** Long enough for a first run that has to compile cli.ts; a hung CLI must not hang the demo. */
const CLI_TIMEOUT_MS = 60_000;

class DemoError extends Error {}

/** What the demo must never print in full. */
const hidden: string[] = [CLIENT_SECRET];

/** Replaces the secret and any token seen so far, for text that is shown. */
function redact(text: string): string {
  let out = text;
  for (const value of hidden) out = out.replaceAll(value, "[redacted]");
  return out;
}

/** The first 12 characters of a token and "...". */
function redactToken(token: string): string {
  return `${token.slice(0, 12)}...`;
}

/** The command that runs cli.ts on the runtime running this script. */
function cliCommand(): string[] {
  if ("Deno" in globalThis) {
    return [
      Deno.execPath(),
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-env",
      CLI_PATH,
    ];
  }
  return [process.execPath, CLI_PATH];
}

/** Runs a command and collects its exit code, stdout and stderr. */
function runCommand(
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, ...args] = argv;
  // The process environment minus KOGNIC_*: the demo must not pick up real credentials.
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("KOGNIC_")) env[name] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new DemoError(`the CLI did not finish within ${CLI_TIMEOUT_MS / 1000} s`));
    }, CLI_TIMEOUT_MS);
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new DemoError(`could not start the CLI (${cmd}): ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function demo(server: LocalAuthServer, credentialsPath: string): Promise<void> {
  console.log("kognic-auth demo: a local auth server on 127.0.0.1, nothing leaves this machine");
  console.log(`  auth server   ${server.url}`);
  console.log(`  credentials   ${credentialsPath} (throwaway, client "${CLIENT_ID}")`);

  // 1. A token from the CLI, as a user would get one.
  const args = ["get-access-token", "--server", server.url, "--credentials", credentialsPath];
  console.log(`\n1. kognic-auth ${args.join(" ")}`);
  const cli = await runCommand([...cliCommand(), ...args]);
  const token = cli.stdout.trim();
  if (token) hidden.push(token);
  if (cli.code !== 0) {
    const detail = cli.stderr.trim().split("\n")[0] || "no message on stderr";
    throw new DemoError(`the CLI exited with ${cli.code}: ${redact(detail)}`);
  }
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    throw new DemoError("the CLI exited 0 but did not print a JWT-shaped token alone on stdout");
  }
  const check = await fetch(server.apiUrl, { headers: { authorization: `Bearer ${token}` } });
  await check.body?.cancel();
  if (check.status !== 200) {
    throw new DemoError(`the API refused the CLI's token with HTTP ${check.status}`);
  }
  console.log(
    `   exit 0, token ${redactToken(token)} (${token.length} chars), accepted by the API`,
  );
  const cliRequests = server.counts.tokenRequests;

  // 2. An authenticated call through AuthSession, which gets and caches its own token.
  const session = new AuthSession({ authServer: server.url, auth: credentialsPath });
  const url = `${server.apiUrl}/projects?limit=1`;
  console.log(`\n2. AuthSession.fetch("${url}")`);
  const response = await session.fetch(url);
  if (response.status !== 200) {
    const body = redact(await response.text());
    throw new DemoError(`the API answered HTTP ${response.status}: ${body.slice(0, 200)}`);
  }
  const echo: EchoResponse = await response.json();
  console.log(
    `   HTTP ${response.status}; the API saw client "${echo.clientId}", ${echo.method} ${echo.path}`,
  );
  if (echo.clientId !== CLIENT_ID) {
    throw new DemoError(`the API saw client "${echo.clientId}", expected "${CLIENT_ID}"`);
  }

  const total = server.counts.tokenRequests;
  console.log(
    `\nToken requests to the server: ${total} (${cliRequests} from the CLI, ` +
      `${total - cliRequests} from AuthSession)`,
  );
  console.log("Done.");
}

async function runDemo(): Promise<number> {
  let server: LocalAuthServer | undefined;
  let dir: string | undefined;
  try {
    server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
    dir = await mkdtemp(join(tmpdir(), "kognic-auth-demo-"));
    const credentialsPath = join(dir, "credentials.json");
    await writeFile(
      credentialsPath,
      JSON.stringify({
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        email: "demo@example.com",
        userId: 1,
        issuer: "auth.app.kognic.com",
        name: "kognic-auth demo (throwaway)",
        created: new Date().toISOString(),
        expires: new Date(Date.now() + 3_600_000).toISOString(),
      }),
      { mode: 0o600 },
    );
    await demo(server, credentialsPath);
    return 0;
  } catch (error) {
    const message = error instanceof DemoError
      ? error.message
      : `${(error as Error)?.name ?? "Error"}: ${(error as Error)?.message ?? String(error)}`;
    console.error(`\nDemo failed: ${redact(message)}`);
    return 1;
  } finally {
    await server?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await runDemo();

/**
 * The `kognic-auth-testing` command, the local auth server of
 * `@kognic/auth/testing` from the shell: {@linkcode runTestServer}. Its entry
 * point is `testing_server.ts`.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type LocalAuthServer,
  type ProtectedRouteHandler,
  startAuthServer,
} from "../../testing.ts";

/** Where {@linkcode runTestServer} writes and what stops it. */
export interface TestServerIO {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /**
   * Resolves when the server should stop. @default {the first SIGINT or SIGTERM of the process}
   */
  stopped?: Promise<unknown>;
  /** Called once the server listens and the files are written, with what was printed. */
  onReady?: (info: TestServerInfo) => void;
}

/** What {@linkcode runTestServer} started and wrote (also printed with `--json`). */
export interface TestServerInfo {
  /** The auth server's base URL, such as `http://127.0.0.1:41234`. */
  url: string;
  /** The token endpoint. */
  tokenUrl: string;
  /** The protected echo API. */
  apiUrl: string;
  /** A protected sample list, `GET` only: `[{ id, name }]`. */
  projectsUrl: string;
  /** The folder the files are in (it is `XDG_CONFIG_HOME` in {@linkcode TestServerInfo.env}). */
  dir: string;
  /** The credentials file of the server's one client. */
  credentials: string;
  /** The environments file, with the environment `local` (the default) for the server. */
  environments: string;
  /** The variables to set so that both commands and `new AuthSession()` use the server. */
  env: Record<string, string>;
}

const USAGE = `Usage: kognic-auth-testing [options]
       deno run -A jsr:@kognic/auth/testing [options]

Starts the local Kognic-compatible auth server and API on 127.0.0.1, writes a
credentials file and an environments file for it, prints the variables and the
commands to try, and serves until Ctrl-C (or SIGTERM), then removes the files.

Options:
  --dir DIR              Write the files into DIR (created if missing; only the
                         files written are removed at the end) (default: a new
                         temporary folder, removed at the end)
  --port N               Listen on port N (default: a free port)
  --token-lifetime S     Lifetime of issued tokens in seconds (default: 3600)
  --json                 Print one JSON line of URLs, files and variables instead
  -h, --help             Show this help

Exit codes: 0 when stopped, 1 when it could not start, 2 for a usage error.
`;

const SAMPLE_PROJECTS = [
  { id: 1, name: "Highway lanes" },
  { id: 2, name: "Parking lots" },
];

/** The options of the command line; throws an Error whose message says what is wrong. */
function parseOptions(
  args: string[],
): { dir?: string; port: number; tokenLifetime: number; json: boolean; help: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string" },
      port: { type: "string", default: "0" },
      "token-lifetime": { type: "string", default: "3600" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const number = (flag: string, text: string, max: number): number => {
    const value = Number(text);
    if (text.trim() === "" || !Number.isInteger(value) || value < 0 || value > max) {
      throw new Error(`--${flag} must be a whole number from 0 to ${max}, not "${text}"`);
    }
    return value;
  };
  if (values.dir?.trim() === "") throw new Error("--dir needs a folder");
  return {
    ...values,
    port: values.help ? 0 : number("port", values.port, 65535),
    tokenLifetime: values.help ? 0 : number("token-lifetime", values["token-lifetime"], 86_400),
  };
}

/**
 * The first SIGINT or SIGTERM. The handlers stay: a second Ctrl-C while the
 * files are removed does not cut that short (the entry points exit once done).
 */
async function processSignal(): Promise<string> {
  const { default: process } = await import("node:process");
  return await new Promise((resolve) => {
    process.on("SIGINT", () => resolve("SIGINT"));
    process.on("SIGTERM", () => resolve("SIGTERM"));
  });
}

/** A shell word: the text as is when it is plain, else in single quotes. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

function describe(info: TestServerInfo, ownDir: boolean): string {
  const exports = Object.entries(info.env).map(([name, value]) => `${name}=${shellWord(value)}`);
  return `kognic-auth test server: ${info.url}
  token endpoint  ${info.tokenUrl}
  echo API        ${info.apiUrl} (any method; answers what it received)
  sample list     ${info.projectsUrl} (GET)
  credentials     ${info.credentials} (a throwaway client)
  environments    ${info.environments} (environment "local", the default)
${ownDir ? `  (the folder ${info.dir} is removed when the server stops)\n` : ""}
In another shell, set:

  export ${exports.join(" \\\n         ")}

then try (kognic-auth and kog from npm: npx -p @kognic/auth kognic-auth ...;
on Deno: deno run -A jsr:@kognic/auth/cli ... and jsr:@kognic/auth/kog ...):

  kognic-auth get-access-token --env local
  kognic-auth get-access-token --url ${info.url} --format json
  kognic-auth get-access-token --env local --decode
  kognic-auth get-access-token --server ${info.url} --scopes projects:read --format header
  kog get ${info.projectsUrl} --format table --scope projects:read
  kog post ${info.apiUrl} -d '{"name":"x"}'
  kognic-auth clear-cache

(without --env or --url, get-access-token reads no environments file and asks
https://auth.app.kognic.com unless --server is given; kog always picks the
environment by the URL's host.)

Serving until Ctrl-C.
`;
}

/**
 * Runs the local auth server from the shell until `io.stopped` resolves, then closes it and
 * removes the files it wrote: `credentials.json` (a throwaway client) and
 * `kognic/environments.json` (the environment `local`, the default, whose host is 127.0.0.1), in
 * `--dir` or a new temporary folder. It prints the variables that make both commands use them
 * ({@linkcode TestServerInfo.env}), then commands to try.
 *
 * @param args The command line, such as `["--dir", "kognic-local"]`.
 * @param io Output and when to stop. @default {the process's streams and signals}
 * @returns The exit code: 0 when stopped, 1 when it could not start, 2 for a usage error.
 *
 * @example Running it for a moment
 * ```ts
 * import { runTestServer } from "@kognic/auth/testing-server";
 *
 * const code = await runTestServer(["--json"], {
 *   stdout: (text) => console.log(JSON.parse(text).url),
 *   stderr: (text) => console.error(text),
 *   stopped: Promise.resolve(),
 * });
 * console.log(code); // 0
 * ```
 */
export async function runTestServer(args: string[], io?: TestServerIO): Promise<number> {
  const out = io ?? (await defaultIO());
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(args);
  } catch (error) {
    out.stderr(
      `Error: ${(error as Error).message}\nRun "kognic-auth-testing --help" for the usage.\n`,
    );
    return 2;
  }
  if (options.help) {
    out.stdout(USAGE);
    return 0;
  }
  const stopped = out.stopped ?? processSignal();
  const ownDir = options.dir === undefined;
  let dir: string | undefined;
  let cacheDir: string | undefined;
  let server: LocalAuthServer | undefined;
  const written: string[] = [];
  try {
    dir = options.dir
      ? resolve(options.dir)
      : await mkdtemp(join(tmpdir(), "kognic-auth-testing-"));
    await mkdir(join(dir, "kognic"), { recursive: true, mode: 0o700 });
    // The token cache goes to a folder of its own, never into --dir.
    cacheDir = await mkdtemp(join(tmpdir(), "kognic-auth-testing-cache-"));
    const clientId = `local-${randomBytes(6).toString("hex")}`;
    const clientSecret = randomBytes(24).toString("base64url");
    const projects: ProtectedRouteHandler = (request) =>
      request.method === "GET" || request.method === "HEAD"
        ? Response.json(SAMPLE_PROJECTS)
        : Response.json({ error: "method_not_allowed" }, { status: 405 });
    server = await startAuthServer({
      clients: { [clientId]: clientSecret },
      port: options.port,
      tokenLifetime: options.tokenLifetime,
      routes: { "/v1/projects": projects },
    });
    const credentials = join(dir, "credentials.json");
    const environments = join(dir, "kognic", "environments.json");
    const writeNew = async (path: string, value: unknown, mode?: number): Promise<void> => {
      await writeFile(path, JSON.stringify(value, null, 2) + "\n", { mode, flag: "wx" });
      written.push(path);
    };
    await writeNew(credentials, {
      clientId,
      clientSecret,
      email: "local@example.test",
      userId: 1,
      issuer: server.url,
      name: "kognic-auth local test client",
    }, 0o600);
    await writeNew(environments, {
      default_environment: "local",
      environments: { local: { host: "127.0.0.1", auth_server: server.url, credentials } },
    });
    const info: TestServerInfo = {
      url: server.url,
      tokenUrl: server.tokenUrl,
      apiUrl: server.apiUrl,
      projectsUrl: `${server.url}/v1/projects`,
      dir,
      credentials,
      environments,
      env: {
        XDG_CONFIG_HOME: dir,
        XDG_CACHE_HOME: cacheDir,
        KOGNIC_CREDENTIALS: credentials,
        KOGNIC_TOKEN_CACHE: "file",
      },
    };
    out.stdout(options.json ? JSON.stringify(info) + "\n" : describe(info, ownDir));
    out.onReady?.(info);
    await stopped;
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const path = (error as { path?: string }).path;
    out.stderr(
      code === "EEXIST"
        ? `Error: ${path} already exists; the test server writes only new files (choose another --dir)\n`
        : `Error: the test server could not start: ${(error as Error).message}\n`,
    );
    return 1;
  } finally {
    await server?.close();
    if (dir !== undefined) {
      if (ownDir) await rm(dir, { recursive: true, force: true });
      else {
        for (const file of written) await rm(file, { force: true });
        await rmdir(join(dir, "kognic")).catch(() => {}); // only when empty
      }
    }
    if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
    if (!io) out.stderr("kognic-auth test server stopped\n");
  }
}

async function defaultIO(): Promise<TestServerIO> {
  const { default: process } = await import("node:process");
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
  };
}

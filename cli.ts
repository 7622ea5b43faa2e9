/**
 * The `kognic-auth` command: prints an access token for Kognic APIs.
 *
 * ```sh
 * deno run -A jsr:@kognic/auth/cli get-access-token --credentials ~/.config/kognic/credentials.json
 * ```
 *
 * Exit codes: 0 on success, 1 on an error (one line on stderr starting with
 * `Error:`), 2 on a usage error (usage on stderr).
 *
 * @example Running the command from code
 * ```ts ignore
 * import { main } from "@kognic/auth/cli";
 *
 * const code = await main(["get-access-token", "--json"]);
 * ```
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import type { EnvSource } from "./src/_env.ts";
import { resolveCredentials } from "./src/credentials.ts";
import { KognicAuthError } from "./src/errors.ts";
import { AuthSession, DEFAULT_AUTH_SERVER } from "./src/session.ts";
import { VERSION } from "./src/_version.ts";

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIO {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Environment variables. @default {the process's} */
  env?: EnvSource;
  /** The fetch used for token requests. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/** Exit code: success. */
export const EXIT_OK = 0;
/** Exit code: an error, such as missing credentials or a refused token request. */
export const EXIT_ERROR = 1;
/** Exit code: the command line could not be understood. */
export const EXIT_USAGE = 2;

const USAGE = `Usage: kognic-auth [-v] <command> [options]

Commands:
  get-access-token   Print an access token for Kognic APIs

Options of get-access-token:
  --server URL         Auth server (default: ${DEFAULT_AUTH_SERVER})
  --credentials FILE   Credentials file (default: KOGNIC_CREDENTIALS, then
                       KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET)
  --scopes S [S ...]   Scopes to request (default: the credentials file's)
  --decode             Print the token's JWT header and payload as JSON
  --json               Print access_token, token_type and expires_at as JSON

Global options:
  -v, --verbose        Debug output on stderr (never secrets or tokens)
  -h, --help           Show this help
  --version            Show the version

Exit codes: 0 success, 1 error, 2 usage error.
`;

class UsageError extends Error {}

function defaultIO(): CliIO {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  };
}

/**
 * Runs the command line and returns the exit code; it never calls
 * `process.exit` itself.
 *
 * @param args The arguments after the program name.
 * @param io Output streams, environment and fetch. @default {the process's}
 * @returns The exit code: 0 success, 1 error, 2 usage error.
 *
 * @example
 * ```ts ignore
 * import { main } from "@kognic/auth/cli";
 *
 * let out = "";
 * const code = await main(["--version"], { stdout: (t) => (out += t), stderr: () => {} });
 * ```
 */
export async function main(args: string[], io: CliIO = defaultIO()): Promise<number> {
  let verbose = false;
  let rest = args;
  while (rest[0] === "-v" || rest[0] === "--verbose") {
    verbose = true;
    rest = rest.slice(1);
  }
  const [command, ...commandArgs] = rest;
  try {
    if (command === undefined) throw new UsageError("No command given");
    if (command === "-h" || command === "--help" || command === "help") {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    if (command === "--version") {
      io.stdout(`kognic-auth ${VERSION}\n`);
      return EXIT_OK;
    }
    if (command === "get-access-token") {
      return await getAccessToken(commandArgs, io, verbose);
    }
    throw new UsageError(`Unknown command "${command}"`);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`Error: ${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    io.stderr(`Error: ${describe(error)}\n`);
    return EXIT_ERROR;
  }
}

function describe(error: unknown): string {
  if (error instanceof KognicAuthError || error instanceof TypeError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Turns `--scopes a b --json` into `--scopes a --scopes b --json`, as argparse's nargs="+" reads it. */
function expandScopes(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg !== "--scopes") {
      out.push(arg);
      continue;
    }
    let taken = 0;
    while (i + 1 < args.length && !args[i + 1].startsWith("-")) {
      out.push("--scopes", args[++i]);
      taken++;
    }
    if (taken === 0) throw new UsageError("--scopes needs at least one scope");
  }
  return out;
}

async function getAccessToken(args: string[], io: CliIO, verbose: boolean): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: expandScopes(args),
      options: {
        server: { type: "string" },
        credentials: { type: "string" },
        scopes: { type: "string", multiple: true },
        decode: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  if (values.decode && values.json) throw new UsageError("--decode and --json cannot be combined");
  if (values.server === "") throw new UsageError("--server needs a URL");
  if (values.credentials === "") throw new UsageError("--credentials needs a file path");
  const debug = (text: string): void => {
    if (verbose) io.stderr(`debug: ${text}\n`);
  };
  const credentials = await resolveCredentials({
    auth: values.credentials,
    env: io.env,
    explicitSourceName: "--credentials",
  });
  debug(`credentials: client ${credentials.clientId} from ${credentials.source}`);
  const session = new AuthSession({
    authServer: values.server ?? DEFAULT_AUTH_SERVER,
    auth: credentials,
    scopes: values.scopes,
    fetch: io.fetch,
  });
  debug(`token URL: ${session.tokenUrl.href}`);
  const token = await session.getToken();
  debug(`token received, expires at ${new Date(token.expiresAt).toISOString()}`);
  if (values.json) {
    io.stdout(
      JSON.stringify({
        access_token: token.accessToken,
        token_type: token.tokenType,
        expires_at: new Date(token.expiresAt).toISOString(),
      }) + "\n",
    );
  } else if (values.decode) {
    io.stdout(JSON.stringify(decodeJwt(token.accessToken), null, 2) + "\n");
  } else {
    io.stdout(token.accessToken + "\n");
  }
  return EXIT_OK;
}

/**
 * Decodes a JWT's header and payload without verifying it. The signature is
 * left out, so the output is not a usable token.
 */
function decodeJwt(token: string): { header: unknown; payload: unknown } {
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new KognicAuthError(
      "token_response_invalid",
      "The access token is not a JWT (expected three dot-separated parts); cannot --decode it",
    );
  }
  const decode = (part: string, what: string): unknown => {
    try {
      const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
      const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
      const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new KognicAuthError(
        "token_response_invalid",
        `The access token's JWT ${what} is not base64url-encoded JSON; cannot --decode it`,
      );
    }
  };
  return { header: decode(parts[0], "header"), payload: decode(parts[1], "payload") };
}

if (import.meta.main) {
  // No top-level await: this module must stay loadable with require() on Node.
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

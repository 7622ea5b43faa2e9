/**
 * The `kognic-auth` command; its entry point is `cli.ts`.
 *
 * @module
 */

import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { EnvSource } from "../shared/env.ts";
import { getEnv } from "../shared/env.ts";
import { CredentialsError, KognicAuthError } from "../shared/errors.ts";
import { DEFAULT_AUTH_SERVER } from "../core/options.ts";
import type { TokenCacheMode } from "../config/token_cache.ts";
import { VERSION } from "../shared/version.ts";
import { type Debug, describe, keyringStep } from "./common.ts";
import {
  chooseToken,
  formatFlag,
  formatToken,
  MCP_SERVER_URL_VARIABLE,
  TOKEN_FLAGS,
  tokenWithin,
  UsageError,
} from "./token_choice.ts";

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIO {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /**
   * Environment variables: the credentials variables, `HOME` and the XDG
   * directories of the environments file and the token cache. The system
   * keyring is found through the process's own environment (its D-Bus
   * session bus), whatever is given here. @default {the process's}
   */
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
  get-access-token             Print an access token for Kognic APIs
  credentials put FILE         Store a credentials file in the system keyring
  credentials get              Print the stored credentials as JSON, the secret hidden
  credentials delete           Remove the stored credentials from the system keyring
  clear-cache                  Remove the cached access tokens
  mcp-proxy URL                Serve the MCP server at URL (Streamable HTTP) on stdio,
                               every request with a current access token

Options of get-access-token:
  --server URL                 Auth server (default: the environment's, else
                               ${DEFAULT_AUTH_SERVER})
  --credentials FILE           Credentials file, or keyring://PROFILE (default: the
                               environment's, else KOGNIC_CREDENTIALS, then
                               KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET, then the
                               keyring profile "default")
  --env NAME                   Take the server, credentials and scopes from this
                               environment of the environments file
  --env-config-file-path FILE  Environments file (default:
                               $XDG_CONFIG_HOME/kognic/environments.json); it is read
                               only with --env, a URL or this option, and without
                               either of the first two its default_environment is used
  --token-cache MODE           auto (the keyring if one answers, else the file),
                               keyring, file or none (default: auto)
  --scopes S [S ...]           Scopes to request (default: the environment's, else
                               the credentials file's)
  --url URL                    Take the environment whose host matches URL, as kog
                               does (without --env and --url: the URL in
                               CLAUDE_CODE_MCP_SERVER_URL, when set)
  --timeout SECONDS            Give up after this long, retries included (default: 20)
  --format FORMAT              token, json (access_token, token_type, expires_at),
                               headers ({"Authorization":"Bearer ..."}) or header
                               (Authorization: Bearer ...) (default: token)
  --decode                     Print the token's JWT header and payload as JSON
  --json                       The same as --format json

Options of mcp-proxy: those of get-access-token that choose the token (--server,
  --credentials, --env, --env-config-file-path, --token-cache, --scopes, --timeout;
  the environment is the one of URL's host unless --env is given), and
  -H "Name: value"             A header for every request to the MCP server (repeatable)

Options of credentials:
  --env PROFILE                Keyring profile (default: default); use it as
                               --credentials keyring://PROFILE or in an environment
  --show-secret                credentials get: print the client secret too

Options of clear-cache:
  --token-cache MODE           auto (the file, and the keyring if one answers),
                               keyring or file (default: auto)

Global options:
  -v, --verbose                Debug output on stderr (never secrets or tokens)
  -h, --help                   Show this help
  --version                    Show the version

Files: token cache $XDG_CACHE_HOME/kognic-auth/tokens.json (~/.cache/...), or the
keyring service "kognic-auth"; credentials in the keyring service
"kognic-credentials", account = the profile.

Exit codes: 0 success, 1 error, 2 usage error. \`credentials delete\` of a profile
with nothing stored says so and exits 0.
`;

const HIDDEN = "[hidden]";
const KEEP_IN_FILE = "or keep the credentials in a file and use --credentials FILE";

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
  const debug: Debug = (text) => {
    if (verbose) io.stderr(`debug: ${text}\n`);
  };
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
    if (command === "get-access-token") return await getAccessToken(commandArgs, io, debug);
    if (command === "mcp-proxy") return await mcpProxy(commandArgs, io, debug);
    if (command === "credentials") return await credentials(commandArgs, io, debug);
    if (command === "clear-cache") return await clearCache(commandArgs, io, debug);
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

function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  allowPositionals = false,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals,
    });
    return {
      values: values as Record<string, string | boolean | string[] | undefined>,
      positionals,
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A string option that, when given, must not be empty. */
function text(
  values: Record<string, unknown>,
  name: string,
  what: string,
): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new UsageError(`--${name} needs ${what}`);
  return value;
}

function cacheMode(value: string | undefined, allowed: readonly TokenCacheMode[]): TokenCacheMode {
  const mode = value ?? "auto";
  if (!(allowed as readonly string[]).includes(mode)) {
    throw new UsageError(
      `--token-cache must be one of ${allowed.join(", ")}, not "${mode}"`,
    );
  }
  return mode as TokenCacheMode;
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

async function getAccessToken(args: string[], io: CliIO, debug: Debug): Promise<number> {
  const started = performance.now();
  const { values } = parse(expandScopes(args), {
    ...TOKEN_FLAGS,
    url: { type: "string" },
    format: { type: "string" },
    decode: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const format = formatFlag(values);
  if (values.decode && (values.json || values.format !== undefined)) {
    throw new UsageError(`--decode and --${values.json ? "json" : "format"} cannot be combined`);
  }
  const flagUrl = text(values, "url", "a URL");
  const fromEnv = getEnv(MCP_SERVER_URL_VARIABLE, io.env);
  const url = flagUrl !== undefined
    ? { url: flagUrl, from: "--url" }
    : values.env === undefined && fromEnv
    ? { url: fromEnv, from: MCP_SERVER_URL_VARIABLE }
    : undefined;
  const baseFetch = io.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const choice = await chooseToken(values, url, io.env, baseFetch, debug);
  const token = await tokenWithin(choice, started);
  const expiresAt = new Date(token.expiresAt).toISOString();
  if (choice.requests() > 0) {
    debug(`token received from the auth server, expires at ${expiresAt}`);
  } else {
    debug(`token taken from the cache without a request, expires at ${expiresAt}`);
  }
  io.stdout(
    values.decode
      ? JSON.stringify(decodeJwt(token.accessToken), null, 2) + "\n"
      : formatToken(token, format),
  );
  return EXIT_OK;
}

async function mcpProxy(args: string[], io: CliIO, debug: Debug): Promise<number> {
  const { values, positionals } = parse(expandScopes(args), {
    ...TOKEN_FLAGS,
    H: { type: "string", short: "H", multiple: true },
  }, true);
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const { runMcpProxy } = await import("./mcp_proxy.ts");
  return await runMcpProxy(values, positionals, io, debug);
}

async function credentials(args: string[], io: CliIO, debug: Debug): Promise<number> {
  const [action, ...rest] = args;
  if (action === "-h" || action === "--help") {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  if (action === undefined) throw new UsageError("credentials needs put, get or delete");
  if (action !== "put" && action !== "get" && action !== "delete") {
    throw new UsageError(`Unknown credentials command "${action}"; expected put, get or delete`);
  }
  const { values, positionals } = parse(rest, {
    env: { type: "string" },
    ...(action === "get" ? { "show-secret": { type: "boolean" as const } } : {}),
  }, action === "put");
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const keyring = await import("../credentials/keyring.ts");
  const profile = text(values, "env", "a profile name") ?? keyring.DEFAULT_PROFILE;
  debug(`keyring: service ${keyring.KEYRING_CREDENTIALS_SERVICE}, profile ${profile}`);

  if (action === "put") {
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? "credentials put needs the credentials FILE"
          : "credentials put takes one FILE",
      );
    }
    const { loadCredentials } = await import("../credentials/sources.ts");
    const { expandHome } = await import("../shared/env.ts");
    // Checked first, so that messages name the file; then stored as it is.
    const checked = await loadCredentials(positionals[0], io.env);
    const { readFile } = await import("node:fs/promises");
    const raw = await readFile(await expandHome(positionals[0], io.env), "utf8");
    await keyringStep(() => keyring.storeKeyringCredentials(raw, profile), KEEP_IN_FILE);
    io.stdout(
      `Stored the credentials of client ${checked.clientId} in the system keyring ` +
        `(profile '${profile}'); use them with --credentials keyring://${profile}\n`,
    );
    if (checked.expires && checked.expires.getTime() <= Date.now()) {
      io.stderr(`Warning: these credentials expired at ${checked.expires.toISOString()}\n`);
    }
    return EXIT_OK;
  }

  if (action === "get") {
    const stored = await keyringStep(() => keyring.readKeyringCredentials(profile), KEEP_IN_FILE);
    if (!stored) {
      throw new CredentialsError(
        "credentials_not_found",
        `No credentials found in keyring for profile '${profile}'`,
      );
    }
    const secret = values["show-secret"] === true ? stored.clientSecret : HIDDEN;
    const { toFileJson } = await import("../credentials/json.ts");
    io.stdout(JSON.stringify(toFileJson(stored, secret), null, 2) + "\n");
    return EXIT_OK;
  }

  const deleted = await keyringStep(
    () => keyring.deleteKeyringCredentials(profile),
    KEEP_IN_FILE,
  );
  io.stdout(
    deleted
      ? `Deleted the credentials of profile '${profile}' from the system keyring\n`
      : `No credentials stored for profile '${profile}' in the system keyring; nothing to delete\n`,
  );
  return EXIT_OK;
}

/** Credentials as the JSON of a credentials file, the secret hidden unless asked. */

async function clearCache(args: string[], io: CliIO, debug: Debug): Promise<number> {
  const { values } = parse(args, { "token-cache": { type: "string" } });
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const mode = cacheMode(values["token-cache"] as string | undefined, ["auto", "keyring", "file"]);
  const caches = await import("../config/token_cache.ts");

  if (mode === "auto" || mode === "file") {
    const file = new caches.FileTokenCache({ env: io.env });
    const path = await file.resolvePath();
    const count = await countFileTokens(path);
    if (count !== undefined) await file.clear();
    io.stdout(
      count === undefined
        ? `No token cache file at ${path}; nothing to remove\n`
        : `Removed the token cache file ${path} (${plural(count, "token")})\n`,
    );
  }

  if (mode === "keyring" || mode === "auto") {
    const { findKeyringAccounts } = await import("../shared/keyring.ts");
    if (mode === "auto") {
      const { keyringAvailable } = await import("../credentials/keyring.ts");
      if (!(await keyringAvailable())) {
        debug("no system keyring answered; only the file cache was cleared");
        return EXIT_OK;
      }
    }
    const count = await keyringStep(async () => {
      const cache = await caches.createTokenCache("keyring", { env: io.env });
      const count = (await findKeyringAccounts(caches.KEYRING_TOKEN_CACHE_SERVICE)).length;
      await cache!.clear();
      return count;
    }, "or clear only the file with --token-cache file");
    io.stdout(
      `Removed ${plural(count, "cached token")} from the system keyring ` +
        `(service ${caches.KEYRING_TOKEN_CACHE_SERVICE})\n`,
    );
  }
  return EXIT_OK;
}

/** How many tokens the cache file holds, or `undefined` when there is no file. */
async function countFileTokens(path: string): Promise<number | undefined> {
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const tokens = JSON.parse(text)?.tokens;
    return typeof tokens === "object" && tokens !== null ? Object.keys(tokens).length : 0;
  } catch {
    return 0;
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
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

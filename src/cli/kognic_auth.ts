/**
 * The `kognic-auth` command; its entry point is `cli.ts`.
 *
 * @module
 */

import type * as Config from "../../config.ts";
import { configApi, coreApi } from "./library.ts";
import { cliFetch, keyringStep } from "./common.ts";
import {
  type CliIO,
  type Command,
  type CommandContext,
  defaultIO,
  EXIT_OK,
  nonEmpty,
  type ParsedArgs,
  type Program,
  redactedIO,
  runProgram,
  scopeHelp,
  TOKEN_CACHE_HELP,
  TOKEN_CACHE_OPTION,
  tokenCacheMode,
  UsageError,
} from "./skeleton.ts";
import {
  chooseToken,
  formatFlag,
  formatToken,
  MCP_SERVER_URL_VARIABLE,
  TOKEN_FLAGS,
  tokenWithin,
} from "./token_choice.ts";

export { type CliIO, EXIT_ERROR, EXIT_OK, EXIT_USAGE } from "./skeleton.ts";

const HIDDEN = "[hidden]";
const KEEP_IN_FILE = "or keep the credentials in a file and use --credentials FILE";

const PROFILE_HELP = `  --env PROFILE                Keyring profile (default: default); use it as
                               --credentials keyring://PROFILE or in an environment
`;

/**
 * The commands of `kognic-auth`. A new command is one more entry: its words,
 * its options with their help lines, and the function that runs it.
 */
const COMMANDS: readonly Command[] = [
  {
    name: "get-access-token",
    synopsis: "[options]",
    summary: "Print an access token for Kognic APIs",
    options: {
      ...TOKEN_FLAGS,
      url: { type: "string" },
      format: { type: "string" },
      decode: { type: "boolean" },
      json: { type: "boolean" },
    },
    // A getter: the library, which names the default, is loaded when a command runs.
    get help(): string {
      return `  --server URL                 Auth server (default: the environment's, else
                               ${coreApi().DEFAULT_AUTH_SERVER})
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
${TOKEN_CACHE_HELP}${
        scopeHelp("default: the environment's, else the credentials file's")
      }  --token-endpoint-auth-method M
                               client_secret_post (the id and secret in the form
                               body) or client_secret_basic (an Authorization: Basic
                               header) (default: the environment's, else post)
  --url URL                    Take the environment whose host matches URL, as kog
                               does (without --url: the URL in
                               CLAUDE_CODE_MCP_SERVER_URL, when set); the token is
                               printed only if that environment's session would
                               send it to URL (https, or http to loopback, to its
                               origins), else nothing is printed and the exit is 1
  --allow-origin ORIGIN        Also send the token to this origin, such as
                               https://mcp.example.com (repeatable)
  --timeout SECONDS            Give up after this long, retries included (default: 20)
  --format FORMAT              token, json (access_token, token_type, expires_at),
                               headers ({"Authorization":"Bearer ..."}) or header
                               (Authorization: Bearer ...) (default: token)
  --decode                     Print the token's JWT header and payload as JSON
  --json                       The same as --format json
`;
    },
    run: getAccessToken,
  },
  {
    name: "mcp-proxy",
    synopsis: "URL [options]",
    summary: "Serve the MCP server at URL on stdio, every request with a current token",
    options: {
      ...TOKEN_FLAGS,
      H: { type: "string", short: "H", multiple: true },
      "input-timeout": { type: "string" },
    },
    help: `  The options of get-access-token that choose the token (--server,
  --credentials, --env, --env-config-file-path, --token-cache, --scopes,
  --scope, --token-endpoint-auth-method, --timeout, --allow-origin); the environment is
  the one of URL's host unless --env is given, and it must send its token to
  URL (https, or http to loopback, to its origins or one of --allow-origin),
  else nothing is sent and the exit is 1; and
  -H "Name: value"             A header for every request to the MCP server
                               (repeatable)
  --input-timeout SECONDS      Where the client and the server speak different MCP
                               eras: how long the client may take to answer the
                               server's requests (elicitation, sampling, roots)
                               before the server is told it did not (default: 600,
                               at most 3600)
`,
    positionals: true,
    run: mcpProxy,
  },
  {
    name: "credentials put",
    synopsis: "FILE [options]",
    summary: "Store a credentials file in the system keyring",
    options: { env: { type: "string" } },
    help: PROFILE_HELP,
    positionals: true,
    run: putCredentials,
  },
  {
    name: "credentials get",
    synopsis: "[options]",
    summary: "Print the stored credentials as JSON, the secret hidden",
    options: { env: { type: "string" }, "show-secret": { type: "boolean" } },
    help: `${PROFILE_HELP}  --show-secret                Print the client secret too
`,
    run: getCredentials,
  },
  {
    name: "credentials delete",
    synopsis: "[options]",
    summary: "Remove the stored credentials from the system keyring",
    options: { env: { type: "string" } },
    help: PROFILE_HELP,
    run: deleteCredentials,
  },
  {
    name: "clear-cache",
    synopsis: "[options]",
    summary: "Remove the cached access tokens",
    options: TOKEN_CACHE_OPTION,
    help: `  --token-cache MODE           auto (the file, and the keyring if one answers),
                               keyring, file, or redis://HOST:PORT[/DB] (removes only
                               the keys under kognic-auth:) (default:
                               $KOGNIC_TOKEN_CACHE, else auto)
`,
    run: clearCache,
  },
];

const PROGRAM: Program = {
  name: "kognic-auth",
  // From @kognic/auth/client, loaded only when asked: the command sends no API request.
  version: async () => (await import("../../client.ts")).VERSION,
  commands: COMMANDS,
  epilogue: `Files: token cache $XDG_CACHE_HOME/kognic-auth/tokens.json (~/.cache/...), or the
keyring service "kognic-auth"; credentials in the keyring service
"kognic-credentials", account = the profile.

Exit codes: 0 success, 1 error, 2 usage error. \`credentials delete\` of a profile
with nothing stored says so and exits 0.
`,
};

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
export function main(args: string[], io: CliIO = defaultIO()): Promise<number> {
  // Standard error passes the redactor; standard output carries the token on purpose.
  return runProgram(PROGRAM, args, redactedIO(io, { stdout: false }));
}

async function getAccessToken(
  { values }: ParsedArgs,
  { io, debug, command }: CommandContext,
): Promise<number> {
  const started = performance.now();
  const format = formatFlag(values, command);
  if (values.decode && (values.json || values.format !== undefined)) {
    throw new UsageError(
      `--decode and --${values.json ? "json" : "format"} cannot be combined`,
      command,
    );
  }
  const flagUrl = nonEmpty(values, "url", "a URL", command);
  const fromEnv = configApi().getEnv(MCP_SERVER_URL_VARIABLE, io.env);
  // The token is printed only for where it may go: the URL it is for
  // (--url, else the variable) is checked even when --env chooses the environment.
  const url = flagUrl !== undefined
    ? { url: flagUrl, from: "--url" }
    : fromEnv
    ? { url: fromEnv, from: MCP_SERVER_URL_VARIABLE }
    : undefined;
  const baseFetch = await cliFetch(io.fetch, io.env, debug);
  const choice = await chooseToken(values, url, io.env, baseFetch, debug, command, {
    warn: (text) => io.stderr(`Warning: ${text}\n`),
  });
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

async function mcpProxy(
  { values, positionals }: ParsedArgs,
  { io, debug }: CommandContext,
): Promise<number> {
  const { runMcpProxy } = await import("./mcp_proxy.ts");
  return await runMcpProxy(values, positionals, io, debug);
}

/** The keyring's functions (from @kognic/auth/config) and the profile of a credentials command. */
function keyringProfile(
  values: ParsedArgs["values"],
  { debug, command }: CommandContext,
): { keyring: typeof Config; profile: string } {
  const keyring = configApi();
  const profile = nonEmpty(values, "env", "a profile name", command) ?? keyring.DEFAULT_PROFILE;
  debug(`keyring: service ${keyring.KEYRING_CREDENTIALS_SERVICE}, profile ${profile}`);
  return { keyring, profile };
}

async function putCredentials(
  { values, positionals }: ParsedArgs,
  context: CommandContext,
): Promise<number> {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "credentials put needs the credentials FILE"
        : "credentials put takes one FILE",
    );
  }
  const { io } = context;
  const { keyring, profile } = keyringProfile(values, context);
  const { expandHome, loadCredentials, readTextFile } = configApi();
  // Checked first, so that messages name the file; then stored as it is.
  const checked = await loadCredentials(positionals[0], { env: io.env });
  const path = await expandHome(positionals[0], io.env);
  const raw = await readTextFile(path);
  if (raw === undefined) {
    throw new (coreApi().CredentialsError)(
      "credentials_not_found",
      `Could not find API Credentials file at ${path}`,
    );
  }
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

async function getCredentials({ values }: ParsedArgs, context: CommandContext): Promise<number> {
  const { keyring, profile } = keyringProfile(values, context);
  const stored = await keyringStep(() => keyring.readKeyringCredentials(profile), KEEP_IN_FILE);
  if (!stored) {
    throw new (coreApi().CredentialsError)(
      "credentials_not_found",
      `No credentials found in keyring for profile '${profile}'`,
    );
  }
  const secret = values["show-secret"] === true ? stored.clientSecret : HIDDEN;
  const { toFileJson } = configApi();
  context.io.stdout(JSON.stringify(toFileJson(stored, secret), null, 2) + "\n");
  return EXIT_OK;
}

async function deleteCredentials(
  { values }: ParsedArgs,
  context: CommandContext,
): Promise<number> {
  const { keyring, profile } = keyringProfile(values, context);
  const deleted = await keyringStep(
    () => keyring.deleteKeyringCredentials(profile),
    KEEP_IN_FILE,
  );
  context.io.stdout(
    deleted
      ? `Deleted the credentials of profile '${profile}' from the system keyring\n`
      : `No credentials stored for profile '${profile}' in the system keyring; nothing to delete\n`,
  );
  return EXIT_OK;
}

async function clearCache(
  { values }: ParsedArgs,
  { io, debug, command }: CommandContext,
): Promise<number> {
  const mode = tokenCacheMode(values, command, io.env, ["auto", "keyring", "file"]);
  const caches = configApi();

  if (mode.startsWith("redis")) {
    const { RedisTokenCache } = caches;
    const cache = new RedisTokenCache({ url: mode });
    try {
      const count = await cache.removeAll();
      io.stdout(`Removed ${plural(count, "key")} under ${cache.prefix} from Redis ${cache.url}\n`);
    } finally {
      await cache.close();
    }
    return EXIT_OK;
  }

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
    const { findKeyringAccounts, keyringAvailable } = caches;
    if (mode === "auto") {
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
  const { MAX_TOKEN_FILE_BYTES, readTextFile } = configApi();
  let text: string | undefined;
  try {
    text = await readTextFile(path, { maxBytes: MAX_TOKEN_FILE_BYTES });
  } catch {
    // Not a regular file, too large, or unreadable: no tokens can be in it.
    return 0;
  }
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 0;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return 0;
  // One entry per key, whoever wrote it; in the earlier shape, under "tokens".
  const { version, tokens, ...others } = json as Record<string, unknown>;
  const earlier = version === 1 && typeof tokens === "object" && tokens !== null;
  return earlier
    ? Object.keys(tokens).length + Object.keys(others).length
    : Object.keys(json).length;
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
    throw new (coreApi().TokenResponseError)(
      "The access token is not a JWT (expected three dot-separated parts); cannot --decode it",
      { retryable: false },
    );
  }
  const decode = (part: string, what: string): unknown => {
    try {
      const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
      const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
      const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new (coreApi().TokenResponseError)(
        `The access token's JWT ${what} is not base64url-encoded JSON; cannot --decode it`,
        { retryable: false },
      );
    }
  };
  return { header: decode(parts[0], "header"), payload: decode(parts[1], "payload") };
}

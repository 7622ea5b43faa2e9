/**
 * The `kog` command; its entry point is `kog.ts`.
 *
 * @module
 */

import type { ApiError } from "../../client.ts";
import type { EnvSource } from "../../mod.ts";
import { formatBody, isJsonMediaType, OUTPUT_FORMATS, type OutputFormat } from "./format.ts";
import type { TokenCacheMode } from "../../config.ts";
import { clientApi, loadClient } from "./api_client.ts";
import { configApi, coreApi } from "./library.ts";
import {
  chooseEnvironment,
  type ChosenEnvironment,
  cliFetch,
  type Debug,
  debugEvents,
  describe,
  environmentChoice,
  keyringStep,
  oneLine,
  openTokenCache,
} from "./common.ts";
import {
  type CliIO,
  COMMON_HELP,
  COMMON_OPTIONS,
  concat,
  defaultIO,
  didYouMean,
  EXIT_ERROR,
  EXIT_OK,
  nonEmpty,
  oneOf,
  parseOptions,
  readProcessStdin,
  redactedIO,
  runMain,
  SCOPE_OPTIONS,
  scopeHelp,
  scopesFlag,
  TOKEN_CACHE_HELP,
  TOKEN_CACHE_OPTION,
  tokenCacheMode,
  UsageError,
} from "./skeleton.ts";

export { EXIT_ERROR, EXIT_OK, EXIT_USAGE } from "./skeleton.ts";

/** Where `kog` reads and writes; tests pass their own. The same as `kognic-auth`'s. */
export type KogIO = CliIO;

/** The methods `kog` sends, given in any case. */
export const METHODS: readonly string[] = Object.freeze([
  "GET",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "HEAD",
  "OPTIONS",
]);

/**
 * The most a `-d @FILE` body may hold: 100 MiB. The file must be a regular
 * file; a FIFO, a device or a directory is refused before it is read.
 */
const MAX_BODY_FILE_BYTES = 100 * 1024 * 1024;
/** The most of an answer's body kog reads (and prints): 100 MiB. */
const MAX_RESPONSE_BYTES = 100 * 1024 * 1024;

const USAGE = `Usage: kog METHOD URL [options]
       kog mcp [options]       (an MCP server on stdio; kog mcp --help)

Authenticated calls to Kognic APIs: the environment (auth server, credentials,
scopes) is chosen from the URL's host in environments.json.

Arguments:
  METHOD                       GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS, in any case
  URL                          The full http(s) URL to call

Options:
  -d, --data DATA              Request body: JSON text, @FILE to read a file, or @- to
                               read standard input. Sent as application/json (and
                               checked to be JSON) unless -H sets another Content-Type
  -H, --header "Key: Value"    A request header (repeatable; "Key:Value" works too)
  --env NAME                   Use this environment instead of matching the URL's host
  --env-config-file-path FILE  Environments file (default:
                               $XDG_CONFIG_HOME/kognic/environments.json)
${
  scopeHelp("default: the environment's, else the credentials file's")
}  --format FORMAT              json (default, pretty), jsonl, csv, tsv or table
${TOKEN_CACHE_HELP}${COMMON_HELP}  --version                    Show the version

Output: JSON responses in the --format; jsonl, csv, tsv and table take the list
from a top-level array or from an object whose only key holds an array (other
JSON is printed as pretty JSON). csv and tsv have a header of every key in the
order first seen, an empty field for a missing key or null, nested values as
JSON, and quoting as RFC 4180 (LF line ends). table is a padded markdown table.
Items that are not objects go in a "value" column. An empty list (or one
without keys) prints nothing. Other responses are printed as they are.

Exit codes: 0 for a 2xx response; 1 for an HTTP error (status and the server's
message on stderr) or unusable input; 2 for a usage error.
`;

/**
 * Runs `kog` with the given arguments and returns the exit code; it never
 * calls `process.exit` itself.
 *
 * @param args The arguments after the program name.
 * @param io Output streams, standard input, environment and fetch. @default {the process's}
 * @returns The exit code: 0 for a 2xx response, 1 for an HTTP error or bad input, 2 for a usage error.
 *
 * @example
 * ```ts
 * import { main } from "@kognic/auth/kog";
 *
 * let out = "";
 * const code = await main(["--version"], { stdout: (text) => (out += text), stderr: () => {} });
 * console.log(code, out); // 0 "kog 0.1.0\n"
 * ```
 */
export function main(args: string[], given: KogIO = defaultIO()): Promise<number> {
  // Everything kog writes passes the redactor: kog never means to print a secret.
  const io = redactedIO(given, { stdout: true });
  let verbose = false;
  const debug: Debug = (text) => {
    if (verbose) io.stderr(`debug: ${oneLine(text)}\n`);
  };
  return runMain("kog", io, async () => {
    await loadClient();
    if (args[0] === "mcp") {
      const { runKogMcp } = await import("./kog_mcp.ts");
      return await runKogMcp(args.slice(1), io);
    }
    const options = parseCommandLine(args, io.env);
    if (options === "help") {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    if (options === "version") {
      io.stdout(`kog ${clientApi().VERSION}\n`);
      return EXIT_OK;
    }
    verbose = options.verbose;
    return await call(options, io, debug);
  });
}

interface Options {
  method: string;
  url: URL;
  data: string | undefined;
  headers: Headers;
  env: string | undefined;
  envFile: string | undefined;
  scopes: string[] | undefined;
  format: OutputFormat;
  tokenCache: TokenCacheMode;
  verbose: boolean;
}

/** kog's options, besides -v and -h. */
const OPTIONS = {
  data: { type: "string", short: "d", multiple: true },
  header: { type: "string", short: "H", multiple: true },
  env: { type: "string" },
  "env-config-file-path": { type: "string" },
  ...SCOPE_OPTIONS,
  format: { type: "string" },
  ...TOKEN_CACHE_OPTION,
  ...COMMON_OPTIONS,
  version: { type: "boolean" },
} as const;

function parseCommandLine(args: string[], env: CliIO["env"]): Options | "help" | "version" {
  const parsed = parseOptions(args, OPTIONS, "kog", true);
  const values = parsed.values as {
    data?: string[];
    header?: string[];
    format?: string;
    help?: boolean;
    version?: boolean;
    verbose?: boolean;
  };
  const positionals = parsed.positionals;
  if (values.help) return "help";
  if (values.version) return "version";

  if (positionals.length < 2) {
    throw new UsageError(
      (positionals.length === 0 ? "METHOD and URL are missing" : "URL is missing") +
        (parsed.values.scopes
          ? " (--scopes takes every word up to the next option: put it after METHOD URL, or use --scope S)"
          : ""),
    );
  }
  if (positionals.length > 2) {
    throw new UsageError(
      `Too many arguments: ${positionals.slice(2).map((arg) => `"${arg}"`).join(" ")}; ` +
        `quote a header or body that has spaces`,
    );
  }
  const method = positionals[0].toUpperCase();
  if (!METHODS.includes(method)) {
    throw new UsageError(
      `Unknown method "${positionals[0]}"${
        didYouMean(method, METHODS) || `; expected one of ${METHODS.join(", ")} (any case)`
      }`,
    );
  }
  let url: URL;
  try {
    url = new URL(positionals[1]);
  } catch {
    throw new UsageError(
      `"${
        positionals[1]
      }" is not a URL; give a full URL such as https://app.kognic.com/v1/projects`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`"${positionals[1]}" is not an http(s) URL`);
  }

  if ((values.data?.length ?? 0) > 1) throw new UsageError("-d/--data can be given only once");
  if (values.data !== undefined && (method === "GET" || method === "HEAD")) {
    throw new UsageError(
      `-d/--data cannot be used with ${method}: a ${method} request has no body`,
    );
  }
  const headers = new Headers();
  for (const header of values.header ?? []) {
    const colon = header.indexOf(":");
    const name = header.slice(0, colon).trim();
    if (colon < 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new UsageError(`Header "${header}" is not in the form "Key: Value"`);
    }
    try {
      headers.append(name, header.slice(colon + 1).trim());
    } catch {
      throw new UsageError(`Header "${header}" has a value that cannot be sent`);
    }
  }

  const format = oneOf("--format", values.format ?? "json", OUTPUT_FORMATS, "kog");
  const tokenCache = tokenCacheMode(parsed.values, "kog", env);
  const scopes = scopesFlag(parsed.values, "kog");
  return {
    method,
    url,
    data: values.data?.[0],
    headers,
    env: nonEmpty(parsed.values, "env", "an environment name", "kog"),
    envFile: nonEmpty(parsed.values, "env-config-file-path", "a file path", "kog"),
    scopes,
    format,
    tokenCache,
    verbose: values.verbose ?? false,
  };
}

async function call(options: Options, io: KogIO, debug: Debug): Promise<number> {
  const { method, url, headers } = options;
  const body = await readBody(options, io, debug);

  if (options.envFile !== undefined) await assertFileExists(options.envFile, io.env);
  const chosen = await chooseEnvironment(options.envFile, { name: options.env, url }, io.env);
  const { environment } = chosen;
  debug(
    `environment: ${environment.name} (host ${environment.host}, auth server ` +
      `${environment.authServer}), ${howChosen(chosen, options, url)}`,
  );

  const tokenCache = await openTokenCache(
    options.tokenCache,
    io.env,
    debug,
    (text) => io.stderr(`Warning: ${text}\n`),
  );
  const baseFetch = await cliFetch(io.fetch, io.env, debug);
  // The token URL is known once the session exists, before its first request.
  const seen: { tokenUrl?: string } = {};
  let tokenSent: boolean | undefined;
  const observed: typeof fetch = (input, init) => {
    const target = input instanceof Request ? input.url : String(input);
    if (target !== seen.tokenUrl) {
      const sent = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}));
      tokenSent = sent.has("authorization");
      debug(`${init?.method ?? "GET"} ${target}${tokenSent ? " with the access token" : ""}`);
    } else {
      debug(`token request to ${target}`);
    }
    return baseFetch(input, init);
  };
  const session = await keyringStep(
    () =>
      coreApi().AuthSession.forEnvironment({
        environment: options.env,
        url,
        environmentsFile: options.envFile,
        scopes: options.scopes,
        tokenCache,
        onEvent: debugEvents(debug),
        env: io.env,
        fetch: observed,
      }),
    "or use a credentials file in the environment",
  );
  seen.tokenUrl = session.tokenUrl.href;
  const credentials = await session.getCredentials();
  debug(`credentials: client ${credentials.clientId} from ${credentials.source}`);
  const scopes = options.scopes ?? environment.scopes ?? credentials.scopes;
  debug(
    `scopes: ${scopes ? (scopes.length ? scopes.join(" ") : "none (an empty list)") : "none"} (${
      options.scopes
        ? "--scope/--scopes"
        : environment.scopes
        ? `environment ${environment.name}`
        : credentials.scopes
        ? "the credentials file"
        : "none set"
    })`,
  );

  const client = new (clientApi().KognicClient)({
    session,
    clientName: `kog/${clientApi().VERSION}`,
    onDeprecation: (notice) => io.stderr(`Warning: ${oneLine(notice.message)}\n`),
    onRetry: (event) =>
      debug(
        `${event.status ? `HTTP ${event.status}` : describe(event.error)}; retry ${
          event.attempt - 1
        } in ${(event.delay / 1000).toFixed(1)} s`,
      ),
  });

  const warnIfNoToken = (): void => {
    if (tokenSent === false) {
      io.stderr(
        `Warning: no access token was sent to ${url.origin}: it is not the host of environment ` +
          `${environment.name} (${environment.host}) or one of its subdomains` +
          (url.protocol === "http:" ? " over the same scheme and port" : "") +
          `; use --env to choose the environment\n`,
      );
    }
  };

  let response: Response;
  try {
    response = await client.request(method, url, { headers, body });
  } catch (error) {
    if (!(error instanceof clientApi().ApiError)) throw error;
    if (error.status === 401) warnIfNoToken();
    io.stderr(`Error: ${describe(error)}\n`);
    const shown = errorBody(error);
    if (shown) io.stderr(shown);
    return EXIT_ERROR;
  }
  warnIfNoToken();
  const { text, complete } = await clientApi().readBoundedText(response, MAX_RESPONSE_BYTES);
  if (!complete) {
    io.stderr(
      `Error: the answer of ${url.origin} is larger than ${MAX_RESPONSE_BYTES} bytes (100 MiB), ` +
        "the most kog reads; nothing of it was printed\n",
    );
    return EXIT_ERROR;
  }
  debug(
    `HTTP ${response.status} ${response.statusText}`.trimEnd() +
      ` (${response.headers.get("content-type") ?? "no content type"})`,
  );
  io.stdout(formatBody(text, response.headers.get("content-type"), options.format));
  return EXIT_OK;
}

/** The request body from `-d`: the text itself, a file (`@FILE`) or standard input (`@-`). */
async function readBody(
  options: Options,
  io: KogIO,
  debug: Debug,
): Promise<string | Uint8Array<ArrayBuffer> | undefined> {
  const data = options.data;
  if (data === undefined) return undefined;
  let body: string | Uint8Array<ArrayBuffer>;
  let source: string;
  if (data === "@-") {
    source = "standard input";
    // Read with the bound of a -d file: at most one byte more than it allows.
    const input = await (io.stdin ?? readProcessStdin)(MAX_BODY_FILE_BYTES);
    body = typeof input === "string" ? input : concat([input]);
    const size = typeof body === "string" ? new TextEncoder().encode(body).length : body.length;
    if (size > MAX_BODY_FILE_BYTES) {
      throw new (coreApi().ConfigurationError)(
        `Standard input for -d @- is larger than ${MAX_BODY_FILE_BYTES} bytes (100 MiB), ` +
          "the most a request body may hold",
      );
    }
  } else if (data.startsWith("@")) {
    const path = data.slice(1);
    if (path === "") throw new UsageError("-d @ needs a file name, or @- for standard input");
    source = `file ${path}`;
    const { readFileBytes } = configApi();
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFileBytes(path, { maxBytes: MAX_BODY_FILE_BYTES });
    } catch (error) {
      throw new (coreApi().ConfigurationError)(
        `Could not read the -d file ${path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (bytes === undefined) {
      throw new (coreApi().ConfigurationError)(`Could not read the -d file ${path}: no such file`);
    }
    body = concat([bytes]);
  } else {
    source = "-d";
    body = data;
  }
  const size = typeof body === "string" ? new TextEncoder().encode(body).length : body.length;
  if (size === 0) {
    debug(`no request body: the data from ${source} is empty`);
    return undefined;
  }
  const contentType = options.headers.get("content-type");
  if (contentType === null || isJsonMediaType(contentType)) {
    const text = typeof body === "string" ? body : decodeUtf8(body, source);
    try {
      JSON.parse(text.replace(/^\uFEFF/, ""));
    } catch (error) {
      throw new (coreApi().ConfigurationError)(
        `The request body from ${source} is not JSON (${(error as Error).message}); ` +
          `set a Content-Type header with -H to send other data`,
      );
    }
    if (contentType === null) options.headers.set("content-type", "application/json");
  }
  debug(`request body: ${size} bytes from ${source}`);
  return body;
}

function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new (coreApi().ConfigurationError)(
      `The request body from ${source} is not UTF-8 text, so not JSON; ` +
        `set a Content-Type header with -H to send other data`,
    );
  }
}

async function assertFileExists(path: string, env: EnvSource | undefined): Promise<void> {
  const { expandHome } = configApi();
  const { stat } = await import("node:fs/promises");
  const full = await expandHome(path, env);
  try {
    await stat(full);
  } catch {
    throw new (coreApi().ConfigurationError)(
      `Environments file not found: ${full} (--env-config-file-path)`,
    );
  }
}

/** How the environment was chosen and where it came from, for -v. */
function howChosen(chosen: ChosenEnvironment, options: Options, url: URL): string {
  const { config } = chosen;
  if (!chosen.fromFile) {
    return chosen.fileExists
      ? `the built-in default (no environment in ${config.path} matches the URL's host, ` +
        `and it sets no default_environment)`
      : `the built-in default (no environments file at ${config.path})`;
  }
  const how = {
    env: "--env",
    host: "the URL's host",
    suffix: "the URL's host (the longest matching suffix)",
    default_environment: "default_environment",
    "built-in": "default_environment",
  }[environmentChoice(chosen, options.env, url)];
  return `chosen by ${how} from ${config.path}`;
}

/** What to show on stderr after the error line: the body, when it says more than the message. */
function errorBody(error: ApiError): string | undefined {
  const body = error.body?.trim();
  if (!body) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (json !== undefined) {
    if (
      typeof json === "object" && json !== null && !Array.isArray(json) &&
      Object.keys(json).length === 1 && error.serverMessage !== undefined
    ) {
      return undefined;
    }
    return formatBody(body, "application/json", "json");
  }
  if (/^<(!doctype|html)/i.test(body)) return undefined;
  if (body.replace(/\s+/g, " ") === error.serverMessage) return undefined;
  // As a body that is not JSON is printed: control characters escaped.
  return formatBody(body, null, "json");
}

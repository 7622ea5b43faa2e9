// `kog mcp`: Kognic's APIs as MCP tools on stdio, for agents without a shell.
// `kognic_request` makes the call `kog` would make (the environment of the
// URL's host, its credentials, scopes and the shared token cache,
// KognicClient's retries, User-Agent and deprecation notices), read-only
// unless started with --allow-write, to configured hosts only; results are
// formatted as `kog` formats and cut at a size. `kognic_environments` lists
// the environments. No token, secret or credentials file content reaches
// the agent.

import { parseArgs } from "node:util";
import type { AuthSession, EnvSource, TokenCache } from "../../mod.ts";
import type { Environment, EnvironmentsConfig, TokenCacheMode } from "../../config.ts";
import type { KognicClient } from "../../client.ts";
import { formatBody, OUTPUT_FORMATS, type OutputFormat } from "./format.ts";
import { hostGate } from "./host_gate.ts";
import { clientApi, loadClient } from "./api_client.ts";
import { configApi, coreApi, loadLibrary } from "./library.ts";
import { type Debug, describe, keyringStep, openTokenCache } from "./common.ts";
import { loadMcpServerKit } from "./mcp_sdk.ts";

/** What `kog mcp` writes besides the MCP messages on stdout. */
export interface KogMcpIO {
  /** Writes to standard output, for `--help` only (MCP messages go through the SDK). @default {process.stdout} */
  stdout?(text: string): void;
  /** Writes a diagnostic line to standard error. */
  stderr(text: string): void;
  /** Environment variables. @default {the process's} */
  env?: EnvSource;
  /** The fetch of token and API requests. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/** The default cut of a tool result, in characters. */
export const DEFAULT_MAX_CHARS = 100_000;
const READ_METHODS = new Set(["GET", "HEAD"]);
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const TOKEN_CACHE_MODES: readonly TokenCacheMode[] = ["auto", "keyring", "file", "none"];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set(["authorization", "host", "content-length", "cookie"]);
/** Headers that ask many frameworks and gateways to run another method than the one sent. */
const METHOD_OVERRIDE_HEADER = /^x-(http-)?method(-override)?$/i;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

const USAGE = `Usage: kog mcp [options]

An MCP server on stdio with two tools: kognic_request (an API call as kog makes
it, read-only unless --allow-write) and kognic_environments.

Options:
  --env NAME                   Use this environment for every URL
  --env-config-file-path FILE  Environments file (default:
                               $XDG_CONFIG_HOME/kognic/environments.json)
  --token-cache MODE           auto, keyring, file or none (default: auto)
  --allow-write                Allow methods other than GET and HEAD
  --allow-host HOST            Also allow this host (repeatable); otherwise only the
                               environments' hosts and their subdomains
  --max-chars N                Cut tool results at N characters (default: 100000)
  -v, --verbose                Debug output on stderr (never secrets or tokens)
`;

/** A usage error of `kog mcp`: exit code 2 with the usage. */
class McpUsageError extends Error {}

interface ServerOptions {
  env: string | undefined;
  envFile: string | undefined;
  tokenCache: TokenCacheMode;
  allowWrite: boolean;
  allowHosts: string[];
  maxChars: number;
  verbose: boolean;
}

function parseOptions(args: string[]): ServerOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        env: { type: "string" },
        "env-config-file-path": { type: "string" },
        "token-cache": { type: "string" },
        "allow-write": { type: "boolean" },
        "allow-host": { type: "string", multiple: true },
        "max-chars": { type: "string" },
        verbose: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw new McpUsageError((error as Error).message);
  }
  if (values.help) return "help";
  const mode = values["token-cache"] ?? "auto";
  if (!(TOKEN_CACHE_MODES as readonly string[]).includes(mode)) {
    throw new McpUsageError(
      `--token-cache must be one of ${TOKEN_CACHE_MODES.join(", ")}, not "${mode}"`,
    );
  }
  const maxText = values["max-chars"];
  const maxChars = maxText === undefined ? DEFAULT_MAX_CHARS : Number(maxText);
  if (!Number.isSafeInteger(maxChars) || maxChars < 100) {
    throw new McpUsageError(`--max-chars must be a whole number of at least 100, not "${maxText}"`);
  }
  const allowHosts = (values["allow-host"] ?? []).map((host) => host.toLowerCase());
  for (const host of allowHosts) {
    if (!/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/.test(host)) {
      throw new McpUsageError(
        `--allow-host needs a host name without scheme or port, not "${host}"`,
      );
    }
  }
  return {
    env: values.env,
    envFile: values["env-config-file-path"],
    tokenCache: mode as TokenCacheMode,
    allowWrite: values["allow-write"] ?? false,
    allowHosts,
    maxChars,
    verbose: values.verbose ?? false,
  };
}

/** A tool's result as MCP carries it. */
interface ToolResult {
  content: { type: "text"; text: string }[];
  isError?: boolean;
  [key: string]: unknown;
}

const REQUEST_TOOL = {
  name: "kognic_request",
  description:
    "Calls a Kognic platform API over HTTPS with this machine's Kognic credentials, as the " +
    "`kog` command does; you never see or need a token. Give the full URL, such as " +
    "https://app.kognic.com/v1/projects: its host picks the Kognic environment (see " +
    "kognic_environments), and only the hosts of configured environments are reachable. " +
    "Only GET and HEAD run unless the server was started with --allow-write; other methods " +
    "are refused without sending anything. The result starts with the HTTP status and content " +
    "type, then the body: JSON pretty-printed by default, or lists as jsonl, csv, tsv or a " +
    "markdown table (a list is a top-level array or an object whose only key holds one). Long " +
    "results are cut, with a note saying how much was left out; ask for a narrower request " +
    "(filters, pages) then. HTTP errors come back as an error result with the server's message.",
  inputSchema: {
    type: "object" as const,
    properties: {
      method: {
        type: "string",
        enum: METHODS,
        description: "The HTTP method. GET and HEAD always; others only with --allow-write.",
      },
      url: {
        type: "string",
        description: "The full https URL of the API endpoint, query string included.",
      },
      body: {
        description:
          "The request body: a JSON value (sent as application/json), or a string sent as it is.",
      },
      headers: {
        type: "object",
        additionalProperties: { type: "string" },
        description: "Extra request headers, names to values. Authorization cannot be set.",
      },
      format: {
        type: "string",
        enum: [...OUTPUT_FORMATS],
        description: "How to show a JSON body: json (default), jsonl, csv, tsv or table.",
      },
    },
    required: ["method", "url"],
    additionalProperties: false,
  },
};

const ENVIRONMENTS_TOOL = {
  name: "kognic_environments",
  description:
    "Lists the Kognic environments configured on this machine: each one's name, the platform " +
    "host its URLs use, its auth server, its scopes and where its credentials come from (file, " +
    "keyring or environment variables), and which one is the default. Use it to find the right " +
    "host for kognic_request. It shows no secret.",
  inputSchema: { type: "object" as const, properties: {}, additionalProperties: false },
};

/**
 * Runs `kog mcp` until the client closes stdin; returns the exit code.
 *
 * @param args The arguments after `mcp`.
 * @param io Diagnostics, environment and fetch.
 */
export async function runKogMcp(args: string[], io: KogMcpIO): Promise<number> {
  let options: ServerOptions | "help";
  try {
    options = parseOptions(args);
  } catch (error) {
    if (!(error instanceof McpUsageError)) throw error;
    io.stderr(`Error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    // Help goes to stdout like every other help page; it is never an MCP session.
    if (io.stdout) io.stdout(USAGE);
    else (await import("node:process")).default.stdout.write(USAGE);
    return 0;
  }
  const verbose = options.verbose;
  const debug: Debug = (text) => {
    if (verbose) io.stderr(`debug: ${text}\n`);
  };
  const kit = await loadMcpServerKit();
  await Promise.all([loadLibrary(), loadClient()]);
  const { loadEnvironments, resolveEnvironment, DEFAULT_ENVIRONMENT } = configApi();
  const config = await loadEnvironments(options.envFile, { env: io.env });
  if (options.env !== undefined) resolveEnvironment(config, { name: options.env });
  debug(`environments from ${config.path}`);
  const tokenCache = await openTokenCache(
    options.tokenCache,
    io.env,
    debug,
    (text) => io.stderr(`Warning: ${text}\n`),
  );
  const configured = Object.values(config.environments);
  const hosts = configured.length ? configured.map((e) => e.host) : [DEFAULT_ENVIRONMENT.host];

  const state: RequestState = {
    options,
    config,
    io,
    debug,
    tokenCache,
    hosts,
    sessions: new Map(),
    tokens: new Set(),
    resolve: (url) => resolveEnvironment(config, { name: options.env, url }),
    gate: hostGate(hosts, options.allowHosts),
  };

  // One server per connection, in the era the client opens with: serveStdio
  // may build a second one for a `server/discover` probe, so building is cheap.
  const newServer = (): InstanceType<typeof kit.Server> => {
    const server = new kit.Server(
      { name: "kog", version: clientApi().VERSION },
      { capabilities: { tools: {} } },
    );
    server.setRequestHandler("tools/list", () => ({ tools: [REQUEST_TOOL, ENVIRONMENTS_TOOL] }));
    server.setRequestHandler("tools/call", async (request) => {
      const { name, arguments: input = {} } = request.params;
      try {
        if (name === REQUEST_TOOL.name) return await kognicRequest(state, input);
        if (name === ENVIRONMENTS_TOOL.name) return environmentsResult(state);
        return errorResult(`Unknown tool "${clip(name, 100)}"`);
      } catch (error) {
        return errorResult(clean(state, describe(error)));
      }
    });
    return server;
  };
  const { default: process } = await import("node:process");
  const closed = new Promise<void>((resolve) => {
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
  });
  const handle = kit.serveStdio(newServer, {
    onerror: (error: Error) => debug(`MCP: ${clean(state, describe(error))}`),
  });
  debug(
    `serving kognic_request (${options.allowWrite ? "read and write" : "read-only"}) for ${
      [...hosts, ...options.allowHosts].join(", ")
    }, to clients of MCP 2026-07-28 and of 2025 (initialize)`,
  );
  await closed;
  await handle.close().catch(() => {});
  return 0;
}

interface RequestState {
  options: ServerOptions;
  config: EnvironmentsConfig;
  io: KogMcpIO;
  debug: Debug;
  tokenCache: TokenCache | undefined;
  hosts: string[];
  sessions: Map<string, Promise<AuthSession>>;
  /** The tokens sent (the latest 64), kept out of every result. */
  tokens: Set<string>;
  resolve(url: URL): Environment;
  /** The egress rule's host gate: why a request may not go to a URL, or undefined. */
  gate(url: URL): string | undefined;
}

function textResult(text: string): ToolResult {
  return { content: [{ type: "text", text }] };
}

function errorResult(text: string): ToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

async function kognicRequest(
  state: RequestState,
  input: Record<string, unknown>,
): Promise<ToolResult> {
  const { options } = state;
  const method = typeof input.method === "string" ? input.method.toUpperCase() : "";
  if (!METHODS.includes(method)) {
    return errorResult(`method must be one of ${METHODS.join(", ")}`);
  }
  if (!READ_METHODS.has(method) && !options.allowWrite) {
    return errorResult(
      `${method} refused: this kog mcp server is read-only, so only GET and HEAD run and ` +
        "nothing was sent. To allow writes, whoever configures the MCP server adds " +
        "--allow-write to its arguments (kog mcp --allow-write).",
    );
  }
  let url: URL;
  try {
    url = new URL(String(input.url));
  } catch {
    return errorResult(`url must be a full URL such as https://app.kognic.com/v1/projects`);
  }
  if (state.gate(url)) {
    return errorResult(
      `${clip(url.origin, 200)} is not reachable from here: ${clip(state.gate(url)!, 300)}; ` +
        `only https (http to a loopback address) to ${
          [...state.hosts, ...options.allowHosts].join(", ")
        } (the configured Kognic environments' hosts, their subdomains, and --allow-host). ` +
        "See kognic_environments. Nothing was sent.",
    );
  }
  if (
    !options.allowWrite && [...url.searchParams.keys()].some((key) => /^_method$/i.test(key))
  ) {
    return errorResult(
      "url: the _method query parameter refused: it asks many servers to run another method, " +
        "and this kog mcp server is read-only (no --allow-write). Nothing was sent.",
    );
  }
  const format = input.format === undefined ? "json" : String(input.format);
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    return errorResult(`format must be one of ${OUTPUT_FORMATS.join(", ")}`);
  }
  const headers = new Headers();
  if (input.headers !== undefined) {
    if (
      typeof input.headers !== "object" || input.headers === null || Array.isArray(input.headers)
    ) {
      return errorResult("headers must be an object of header names to string values");
    }
    for (const [name, value] of Object.entries(input.headers)) {
      if (!HEADER_NAME.test(name) || typeof value !== "string" || /[\r\n\0]/.test(value)) {
        return errorResult(
          `headers: "${clip(name, 100)}" needs a valid name and a one-line string value`,
        );
      }
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        return errorResult(`headers: ${name} cannot be set here`);
      }
      if (!options.allowWrite && METHOD_OVERRIDE_HEADER.test(name)) {
        return errorResult(
          `headers: ${name} refused: it asks many servers to run another method, and this ` +
            "kog mcp server is read-only (no --allow-write). Nothing was sent.",
        );
      }
      headers.set(name, value);
    }
  }
  let body: string | undefined;
  if (input.body !== undefined && input.body !== null) {
    if (typeof input.body === "string") body = input.body;
    else {
      body = JSON.stringify(input.body);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
  }

  const environment = state.resolve(url);
  state.debug(`${method} ${url.origin}${url.pathname} (environment ${environment.name})`);
  const session = await sessionFor(state, environment);
  const notes: string[] = [];
  const client = new (clientApi().KognicClient)({
    session,
    clientName: `kog/${clientApi().VERSION}`,
    onDeprecation: (notice) => notes.push(`Deprecation warning: ${notice.message}`),
  });
  let response: Response;
  try {
    const sent = await sendThroughGate(state, session, client, { url, method, headers, body });
    if (typeof sent === "string") return errorResult(clean(state, sent));
    response = sent;
  } catch (error) {
    if (!(error instanceof clientApi().ApiError)) throw error;
    const shown = error.body
      ? `\n\n${cut(escapeControls(clean(state, error.body)), options.maxChars)}`
      : "";
    return errorResult(clean(state, `${describe(error)}${shown}`));
  }
  // The body is read with a bound (body.ts): enough for max-chars characters
  // and a margin, so that an endless body answers with a cut result.
  const read = await clientApi().readBoundedText(response, options.maxChars * 4 + 16 * 1024);
  const contentType = response.headers.get("content-type");
  // A body cut by the read cannot be formatted: it is shown as it came, less
  // any secret cut off at its end.
  const formatted = method === "HEAD"
    ? ""
    : read.complete
    ? formatBody(read.text, contentType, format as OutputFormat)
    : configApi().redactTail(read.text);
  const head = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}\n` +
    `Content-Type: ${contentType ?? "(none)"}\n\n`;
  const tail = notes.length ? `\n\n${notes.join("\n")}` : "";
  // Secrets are removed before the cut, which falls between characters.
  return textResult(
    clean(state, head) +
      cut(escapeControls(clean(state, formatted)), options.maxChars, read.complete) +
      clean(state, tail),
  );
}

interface Hop {
  url: URL;
  method: string;
  headers: Headers;
  body: string | undefined;
}

/**
 * Sends a request and follows its redirects here, each hop asked of the
 * egress rule: the host gate, and the token only while every hop so far
 * could carry it. A redirect is not followed (and its reason returned) to a
 * host the gate refuses, with a body to another origin (a 307 or 308 of a
 * POST), or back to where the token goes after a hop it could not go to.
 * HTTP errors throw ApiError, as KognicClient's do.
 */
async function sendThroughGate(
  state: RequestState,
  session: AuthSession,
  client: KognicClient,
  first: Hop,
): Promise<Response | string> {
  let hop = first;
  let trusted = session.sendsTokenTo(hop.url);
  for (let count = 0;; count++) {
    const response = await client.request(hop.method, hop.url, {
      headers: hop.headers,
      body: hop.body,
      redirect: "manual",
      throwHttpErrors: false,
    });
    const location = response.headers.get("location");
    if (!REDIRECT_STATUS.has(response.status) || location === null) {
      if (!response.ok) {
        throw await clientApi().apiErrorFromResponse(response, {
          method: hop.method,
          url: hop.url,
        });
      }
      return response;
    }
    await response.body?.cancel();
    let next: URL;
    try {
      next = new URL(location, hop.url);
    } catch {
      return `${hop.url.origin} answered HTTP ${response.status} with a Location that is not a URL`;
    }
    const refused = (why: string): string =>
      `${hop.url.origin} redirected (HTTP ${response.status}) to ${
        clip(next.origin, 200)
      }, which was not followed: ${why}. Nothing was sent there.`;
    if (count >= MAX_REDIRECTS) return refused(`more than ${MAX_REDIRECTS} redirects`);
    const gate = state.gate(next);
    if (gate) return refused(`${gate} (see kognic_environments)`);
    const sameOrigin = configApi().normalOrigin(next) === configApi().normalOrigin(hop.url);
    let { method, body, headers } = hop;
    if (
      response.status === 303 && method !== "GET" && method !== "HEAD" ||
      (response.status === 301 || response.status === 302) && method === "POST"
    ) {
      method = "GET";
      body = undefined;
      headers = new Headers(headers);
      headers.delete("content-type");
    } else if (!sameOrigin && method !== "GET" && method !== "HEAD") {
      return refused(
        `a ${response.status} would send the ${method} and its body to another origin`,
      );
    }
    if (!sameOrigin) {
      // As fetch does on a change of origin.
      headers = new Headers(headers);
      for (const name of ["authorization", "cookie", "proxy-authorization"]) headers.delete(name);
    }
    const carries = session.sendsTokenTo(next);
    if (carries && !trusted) {
      return refused("the redirect chain went where the token does not go, and does not come back");
    }
    trusted &&= carries;
    hop = { url: next, method, headers, body };
  }
}

function sessionFor(state: RequestState, environment: Environment): Promise<AuthSession> {
  let session = state.sessions.get(environment.name);
  if (!session) {
    const baseFetch = state.io.fetch ?? ((input, init) => globalThis.fetch(input, init));
    session = keyringStep(
      () =>
        coreApi().AuthSession.forEnvironment({
          environment: state.options.env,
          url: `https://${environment.host}/`,
          environmentsFile: state.options.envFile,
          tokenCache: state.tokenCache,
          env: state.io.env,
          fetch: (input, init) => {
            const sent = new Headers(init?.headers).get("authorization");
            if (sent?.startsWith("Bearer ")) {
              state.tokens.add(sent.slice(7));
              if (state.tokens.size > 64) state.tokens.delete(state.tokens.values().next().value!);
            }
            return baseFetch(input, init);
          },
        }),
      "or use a credentials file in the environment",
    );
    // A failed start (missing credentials, say) is tried again on the next call.
    session.catch(() => state.sessions.delete(environment.name));
    state.sessions.set(environment.name, session);
  }
  return session;
}

function environmentsResult(state: RequestState): ToolResult {
  const { config, io } = state;
  const fromVariables = configApi().getEnv("KOGNIC_CREDENTIALS", io.env) !== undefined ||
    configApi().getEnv("KOGNIC_CLIENT_ID", io.env) !== undefined;
  const source = (environment: Environment): string => {
    const credentials = environment.credentials;
    if (credentials === undefined) return fromVariables ? "environment variables" : "keyring";
    return credentials.startsWith("keyring://") ? "keyring" : "file";
  };
  const list = Object.values(config.environments);
  const shown = list.map((environment) => ({
    name: environment.name,
    host: environment.host,
    auth_server: urlWithoutUserInfo(environment.authServer),
    scopes: environment.scopes ?? null,
    credentials: source(environment),
  }));
  return textResult(clean(
    state,
    JSON.stringify(
      {
        environments: shown,
        default: state.options.env ?? config.defaultEnvironment ?? (list.length ? null : "default"),
        read_only: !state.options.allowWrite,
        extra_hosts: state.options.allowHosts,
      },
      null,
      2,
    ),
  ));
}

/**
 * Text cut at `max` characters (code points: a character is never cut in
 * half), with a note of how much was left out; `complete: false` for text
 * whose read stopped at its bound, so that the total is a lower bound.
 */
function cut(text: string, max: number, complete = true): string {
  const total = configApi().codePointLength(text);
  if (total <= max && complete) return text;
  const shown = configApi().cutText(text, max);
  const of = complete ? `${total}` : `at least ${total}`;
  const left = complete
    ? `${total - max}`
    : `at least ${total - configApi().codePointLength(shown)}`;
  return `${shown}\n\n[Cut: showing ${configApi().codePointLength(shown)} of ${of} characters; ` +
    `${left} left out. Ask for less (filters, a page, a narrower URL).]`;
}

/** A URL as written, without its user info (a password is never shown to an agent). */
function urlWithoutUserInfo(url: string): string {
  return configApi().redactSecrets(url.replace(/\/\/[^/?#]*@/, "//"));
}

/** Control characters other than tab and line breaks, shown as \xNN. */
function escapeControls(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g,
    (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * Text with every token sent replaced, in case a server echoes one, and then
 * passed through the redactor (every other secret the process holds). Runs
 * before any cut.
 */
function clean(state: RequestState, text: string): string {
  let out = text;
  for (const token of state.tokens) out = out.split(token).join("[token]");
  return configApi().redactSecrets(out);
}

function clip(text: string, max: number): string {
  const shown = configApi().cutText(text, max);
  return escapeControls(shown.length < text.length ? `${shown}...` : text);
}

// The flags that choose a token, shared by `kognic-auth get-access-token` and
// `kognic-auth mcp-proxy`: the environment (by name, by a URL's host, or by
// Claude Code's CLAUDE_CODE_MCP_SERVER_URL), the credentials, scopes, token
// cache and the time budget; and the ways a token is printed.

import type { AccessToken, AuthSession, EnvSource, TokenTimeoutError } from "../../mod.ts";
import type { Environment } from "../../config.ts";
import { configApi, coreApi } from "./library.ts";
import {
  chooseEnvironment,
  type ChosenEnvironment,
  type Debug,
  debugEvents,
  environmentChoice,
  environmentOrigin,
  keyringStep,
  openTokenCache,
} from "./common.ts";
import {
  nonEmpty,
  oneOf,
  type OptionTable,
  type ParsedArgs,
  SCOPE_OPTIONS,
  scopesFlag,
  TOKEN_CACHE_OPTION,
  tokenCacheMode,
  UsageError,
} from "./skeleton.ts";

/** The flags that choose the token. */
export const TOKEN_FLAGS: OptionTable = {
  server: { type: "string" },
  credentials: { type: "string" },
  ...SCOPE_OPTIONS,
  env: { type: "string" },
  "env-config-file-path": { type: "string" },
  ...TOKEN_CACHE_OPTION,
  "token-endpoint-auth-method": { type: "string" },
  timeout: { type: "string" },
  "allow-origin": { type: "string", multiple: true },
};

/** The ways `get-access-token` prints a token. */
export const TOKEN_FORMATS = ["token", "json", "headers", "header"] as const;
/** One of {@linkcode TOKEN_FORMATS}. */
export type TokenFormat = typeof TOKEN_FORMATS[number];

/** The default of `--timeout`, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 20;
const MAX_TIMEOUT_SECONDS = 3600;
/** The variable Claude Code sets for a `headersHelper`: the MCP server's URL. */
export const MCP_SERVER_URL_VARIABLE = "CLAUDE_CODE_MCP_SERVER_URL";

/** Parsed token-choosing flags. */
export type FlagValues = ParsedArgs["values"];

/** A session ready to give tokens, and how it was chosen. */
export interface TokenChoice {
  /** The session; its fetch adds the token. */
  session: AuthSession;
  /** The environment, when one was chosen. */
  environment: Environment | undefined;
  /** The budget of one token acquisition, in milliseconds. */
  timeout: number;
  /** How many token requests the session has sent so far. */
  requests(): number;
}

/** `--timeout SECONDS` in milliseconds, with the default. */
export function timeoutFlag(values: FlagValues, command: string): number {
  const text = nonEmpty(values, "timeout", "a number of seconds", command);
  if (text === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(
      `--timeout must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not "${
        text.slice(0, 40)
      }"`,
      command,
    );
  }
  return Math.round(seconds * 1000);
}

/** `--format`, with `--json` as `--format json`. */
export function formatFlag(values: FlagValues, command: string): TokenFormat {
  const given = nonEmpty(values, "format", `one of ${TOKEN_FORMATS.join(", ")}`, command);
  const format = given === undefined ? undefined : oneOf("--format", given, TOKEN_FORMATS, command);
  if (values.json && format !== undefined && format !== "json") {
    throw new UsageError(`--json and --format ${format} cannot be combined`, command);
  }
  return values.json ? "json" : format ?? "token";
}

/** A token as `--format` prints it, ending in a line break. */
export function formatToken(token: AccessToken, format: TokenFormat): string {
  if (format === "json") {
    return JSON.stringify({
      access_token: token.accessToken,
      token_type: token.tokenType,
      expires_at: new Date(token.expiresAt).toISOString(),
    }) + "\n";
  }
  if (format === "headers") {
    return JSON.stringify({ Authorization: `Bearer ${token.accessToken}` }) + "\n";
  }
  if (format === "header") return `Authorization: Bearer ${token.accessToken}\n`;
  return token.accessToken + "\n";
}

/** Where a request URL came from, for messages. */
export interface UrlChoice {
  /** The URL. */
  url: string;
  /** Its source: a flag, an argument or a variable. */
  from: string;
}

/**
 * Chooses the session from the flags: `--env` first, else the environment of
 * `url`'s host (the longest matching host, then the file's
 * default_environment, then the built-in one), else, with only
 * `--env-config-file-path`, that file's default_environment.
 */
export async function chooseToken(
  values: FlagValues,
  url: UrlChoice | undefined,
  env: EnvSource | undefined,
  baseFetch: typeof fetch,
  debug: Debug,
  command: string,
  sessionOptions: { warn?: Debug } = {},
): Promise<TokenChoice> {
  const server = nonEmpty(values, "server", "a URL", command);
  // A password in --server is a secret from now on (the redactor removes it from every line).
  if (server !== undefined) configApi().rememberUrlSecrets(server);
  const auth = nonEmpty(values, "credentials", "a file path", command);
  const envName = nonEmpty(values, "env", "an environment name", command);
  const envFile = nonEmpty(values, "env-config-file-path", "a file path", command);
  const mode = tokenCacheMode(values, command, env);
  const timeout = timeoutFlag(values, command);
  const explicitScopes = scopesFlag(values, command);
  const method = nonEmpty(values, "token-endpoint-auth-method", "a method name", command);
  const extraOrigins = (values["allow-origin"] as string[] | undefined) ?? [];
  for (const origin of extraOrigins) {
    try {
      configApi().tokenEgress([origin]);
    } catch {
      throw new UsageError(
        `--allow-origin needs an origin such as https://mcp.example.com, not "${
          origin.slice(0, 200)
        }"`,
        command,
      );
    }
  }
  const authMethod = method === undefined ? undefined : oneOf(
    "--token-endpoint-auth-method",
    method,
    configApi().TOKEN_ENDPOINT_AUTH_METHODS,
    command,
  );

  let environment: Environment | undefined;
  if (envName !== undefined || envFile !== undefined || url !== undefined) {
    const byUrl = envName === undefined ? url : undefined;
    if (url) {
      try {
        new URL(url.url);
      } catch {
        throw new UsageError(
          `${url.from} is not a valid absolute URL: "${url.url.slice(0, 200)}"`,
          command,
        );
      }
    }
    const chosen = await chooseEnvironment(envFile, { name: envName, url: byUrl?.url }, env);
    environment = chosen.environment;
    debug(
      `environment: ${environment.name}${chosen.fromFile ? " " : ", "}${
        environmentOrigin(chosen)
      }: auth server ${environment.authServer}, credentials ${
        environment.credentials ?? "from the usual search"
      }${byUrl ? `, chosen by ${howChosen(chosen, envName, byUrl)}` : ""}`,
    );
  }

  const credentials = await keyringStep(
    () =>
      coreApi().resolveCredentials({
        auth: auth ?? environment?.credentials,
        env,
        explicitSourceName: "--credentials",
      }),
    "or use a credentials file with --credentials FILE",
  );
  debug(`credentials: client ${credentials.clientId} from ${credentials.source}`);
  const scopes = explicitScopes ?? environment?.scopes;
  debug(
    `scopes: ${describeScopes(scopes ?? credentials.scopes)} (${
      explicitScopes
        ? "--scopes/--scope"
        : environment?.scopes
        ? `environment ${environment.name}`
        : credentials.scopes
        ? "the credentials file"
        : "none set"
    })`,
  );

  const tokenCache = await openTokenCache(mode, env, debug, sessionOptions.warn);
  let requested = 0;
  let tokenUrl = "";
  const authServer = server ?? environment?.authServer ?? coreApi().DEFAULT_AUTH_SERVER;
  // The token goes where the environment's session sends it (its auth
  // server's domain and its host), and to the origins of --allow-origin.
  const serverUrl = configApi().tokenUrlFor(authServer, coreApi().DEFAULT_TOKEN_ENDPOINT);
  const allowedOrigins = [
    ...(environment
      ? configApi().environmentAllowedOrigins(
        environment,
        serverUrl,
      )
      : configApi().defaultAllowedOrigins(serverUrl)),
    ...extraOrigins,
  ];
  const session = new (coreApi().AuthSession)({
    authServer,
    allowedOrigins,
    auth: credentials,
    scopes,
    tokenEndpointAuthMethod: authMethod ?? environment?.tokenEndpointAuthMethod,
    fetch: (input, init) => {
      // Not `instanceof Request`: on Node.js the global Request loads undici
      // (the global fetch's code), which the bin's own fetch does without.
      const target = typeof input === "string"
        ? input
        : input instanceof URL
        ? input.href
        : input.url;
      if (target === tokenUrl) requested++;
      return baseFetch(input, init);
    },
    tokenCache,
    totalTimeout: timeout,
    onEvent: debugEvents(debug),
  });
  tokenUrl = session.tokenUrl.href;
  debug(`token URL: ${tokenUrl}`);
  if (url) assertTokenGoes(session, url, environment, allowedOrigins);
  return { session, environment, timeout, requests: () => requested };
}

/**
 * How long past the deadline a token request already on its way may take to
 * end with its own budget's error, which says more (attempts, the last
 * cause), before the command gives up without it. Only a bound: that budget
 * ends the request first unless the machine is stalled.
 */
const BUDGET_GRACE_MS = 5_000;

/**
 * Gets a token within `timeout` ms. The token request's own budget reports
 * attempts and the last cause; this also bounds the steps around it (the
 * credentials, the cache and its lock) and says so when they overran.
 *
 * There is one deadline, not two timers racing: at the deadline, when no
 * token request has been sent, the steps before it overran and the command
 * gives up; when one has been sent, its budget (as long as `timeout`, started
 * before the deadline) ends it, and this waits for that outcome, bounded.
 */
export async function tokenWithin(choice: TokenChoice, started: number): Promise<AccessToken> {
  const left = Math.max(1, choice.timeout - (performance.now() - started));
  let overran: TokenTimeoutError | undefined;
  const reason = (): TokenTimeoutError => {
    const attempts = choice.requests();
    return overran = new (coreApi().TokenTimeoutError)(
      `No access token within the ${
        (choice.timeout / 1000).toFixed(1)
      } s timeout (--timeout); ${attempts} token request attempts were sent; the last step was still waiting (for the token cache or the token server)`,
      { retryable: true, attempts },
    );
  };
  const controller = new AbortController();
  const token = choice.session.getToken({ signal: controller.signal });
  token.catch(() => {});
  // unref: the deadline seldom fires, and the wait keeps the process alive
  // by itself (files, sockets); a global timer would cost a warm Deno run
  // more than the cache read.
  try {
    try {
      return await configApi().withDeadline(left, () => token, { reason, unref: true });
    } catch (error) {
      if (error !== overran || choice.requests() === 0) throw error;
    }
    return await configApi().withDeadline(choice.timeout + BUDGET_GRACE_MS, () => token, {
      reason,
      unref: true,
    });
  } catch (error) {
    controller.abort(error);
    throw error;
  }
}

/**
 * Fails unless the session would send its token to `url` (the egress rule
 * of `getRequestHeaders`): a token is handed out only for where it may go.
 */
function assertTokenGoes(
  session: AuthSession,
  url: UrlChoice,
  environment: Environment | undefined,
  allowedOrigins: readonly string[],
): void {
  const target = new URL(url.url);
  if (session.sendsTokenTo(target)) return;
  const origin = target.origin.slice(0, 200);
  const why = target.username || target.password
    ? "a URL with a user name or password never gets a token"
    : target.protocol !== "https:" && target.protocol !== "http:"
    ? "only an https URL (or http to a loopback address) gets a token"
    : !configApi().isSecureDestination(target)
    ? "plain http carries a token only to a loopback address; use https"
    : `the token of ${
      environment ? `environment ${environment.name}` : "this session"
    } goes only to ${allowedOrigins.join(", ")}; to allow ${origin}, add an environment whose ` +
      `"host" is "${
        target.hostname.replace(/\.$/, "").slice(0, 200)
      }" to environments.json, or pass --allow-origin ${origin}`;
  throw new (coreApi().ConfigurationError)(`No token for ${url.from} (${origin}): ${why}`);
}

function describeScopes(scopes: readonly string[] | undefined): string {
  if (!scopes) return "none";
  return scopes.length === 0 ? "none (an empty list)" : scopes.join(" ");
}

function howChosen(chosen: ChosenEnvironment, envName: string | undefined, url: UrlChoice): string {
  return {
    env: "--env",
    host: `the host of ${url.from}`,
    suffix: `the host of ${url.from} (the longest matching suffix)`,
    default_environment: "default_environment",
    "built-in": `the built-in default (no environment matches the host of ${url.from})`,
  }[environmentChoice(chosen, envName, url.url)];
}

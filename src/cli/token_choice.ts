// The flags that choose a token, shared by `kognic-auth get-access-token` and
// `kognic-auth mcp-proxy`: the environment (by name, by a URL's host, or by
// Claude Code's CLAUDE_CODE_MCP_SERVER_URL), the credentials, scopes, token
// cache and the time budget; and the ways a token is printed.

import type { ParseArgsConfig } from "node:util";
import type { EnvSource } from "../shared/env.ts";
import { resolveCredentials } from "../core/credentials.ts";
import { KognicAuthError } from "../shared/errors.ts";
import { AuthSession } from "../core/session.ts";
import { DEFAULT_AUTH_SERVER } from "../core/options.ts";
import type { AccessToken } from "../core/access_token.ts";
import type { Environment, EnvironmentsConfig } from "../config/environments.ts";
import type { TokenCacheMode } from "../config/token_cache.ts";
import { type Debug, keyringStep, openTokenCache } from "./common.ts";

/** A command line that could not be understood; the commands exit with 2. */
export class UsageError extends Error {}

/** The flags that choose the token, as `parseArgs` options. */
export const TOKEN_FLAGS: NonNullable<ParseArgsConfig["options"]> = {
  server: { type: "string" },
  credentials: { type: "string" },
  scopes: { type: "string", multiple: true },
  env: { type: "string" },
  "env-config-file-path": { type: "string" },
  "token-cache": { type: "string" },
  timeout: { type: "string" },
};

/** The ways `get-access-token` prints a token. */
export const TOKEN_FORMATS = ["token", "json", "headers", "header"] as const;
/** One of {@linkcode TOKEN_FORMATS}. */
export type TokenFormat = typeof TOKEN_FORMATS[number];

/** The default of `--timeout`, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 20;
const MAX_TIMEOUT_SECONDS = 3600;
const TOKEN_CACHE_MODES: readonly TokenCacheMode[] = ["auto", "keyring", "file", "none"];
/** The variable Claude Code sets for a `headersHelper`: the MCP server's URL. */
export const MCP_SERVER_URL_VARIABLE = "CLAUDE_CODE_MCP_SERVER_URL";

/** Parsed token-choosing flags. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

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

/** A string option that, when given, must not be empty. */
export function textFlag(values: FlagValues, name: string, what: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new UsageError(`--${name} needs ${what}`);
  return value;
}

/** `--timeout SECONDS` in milliseconds, with the default. */
export function timeoutFlag(values: FlagValues): number {
  const text = textFlag(values, "timeout", "a number of seconds");
  if (text === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(
      `--timeout must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not "${text}"`,
    );
  }
  return Math.round(seconds * 1000);
}

/** `--format`, with `--json` as `--format json`. */
export function formatFlag(values: FlagValues): TokenFormat {
  const given = textFlag(values, "format", `one of ${TOKEN_FORMATS.join(", ")}`);
  if (given !== undefined && !(TOKEN_FORMATS as readonly string[]).includes(given)) {
    throw new UsageError(`--format must be one of ${TOKEN_FORMATS.join(", ")}, not "${given}"`);
  }
  if (values.json && given !== undefined && given !== "json") {
    throw new UsageError(`--json and --format ${given} cannot be combined`);
  }
  return values.json ? "json" : (given as TokenFormat | undefined) ?? "token";
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
  sessionOptions: { allowedOrigins?: readonly string[] } = {},
): Promise<TokenChoice> {
  const server = textFlag(values, "server", "a URL");
  const auth = textFlag(values, "credentials", "a file path");
  const envName = textFlag(values, "env", "an environment name");
  const envFile = textFlag(values, "env-config-file-path", "a file path");
  const mode = cacheMode(values["token-cache"] as string | undefined);
  const timeout = timeoutFlag(values);
  const explicitScopes = values.scopes as string[] | undefined;

  let environment: Environment | undefined;
  if (envName !== undefined || envFile !== undefined || url !== undefined) {
    const { loadEnvironments, resolveEnvironment } = await import("../config/environments.ts");
    const config = await loadEnvironments(envFile, env);
    const byUrl = envName === undefined ? url : undefined;
    if (byUrl) {
      try {
        new URL(byUrl.url);
      } catch {
        throw new UsageError(`${byUrl.from} is not a valid absolute URL: "${byUrl.url}"`);
      }
    }
    environment = resolveEnvironment(config, { name: envName, url: byUrl?.url });
    debug(
      `environment: ${environment.name} from ${config.path} (auth server ${environment.authServer}` +
        `, credentials ${environment.credentials ?? "from the usual search"}), chosen by ${
          howChosen(environment, config, envName, byUrl)
        }`,
    );
  }

  const credentials = await keyringStep(
    () =>
      resolveCredentials({
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
        ? "--scopes"
        : environment?.scopes
        ? `environment ${environment.name}`
        : credentials.scopes
        ? "the credentials file"
        : "none set"
    })`,
  );

  const tokenCache = await openTokenCache(mode, env, debug);
  let requested = 0;
  let tokenUrl = "";
  const session = new AuthSession({
    authServer: server ?? environment?.authServer ?? DEFAULT_AUTH_SERVER,
    auth: credentials,
    scopes,
    fetch: (input, init) => {
      const target = input instanceof Request ? input.url : String(input);
      if (target === tokenUrl) requested++;
      return baseFetch(input, init);
    },
    tokenCache,
    totalTimeout: timeout,
    ...sessionOptions,
  });
  tokenUrl = session.tokenUrl.href;
  debug(`token URL: ${tokenUrl}`);
  return { session, environment, timeout, requests: () => requested };
}

/**
 * Gets a token within `timeout` ms. The token request's own budget reports
 * attempts and the last cause; this also bounds the steps around it (the
 * credentials, the cache and its lock) and says so when they overran.
 */
export async function tokenWithin(choice: TokenChoice, started: number): Promise<AccessToken> {
  const controller = new AbortController();
  const left = Math.max(1, choice.timeout - (performance.now() - started));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const overrun = new Promise<never>((_, reject) => {
    // A little later than the token request's budget, whose error says more.
    timer = setTimeout(() => {
      const seconds = (choice.timeout / 1000).toFixed(1);
      const error = new KognicAuthError(
        "token_timeout",
        `No access token within the ${seconds} s timeout (--timeout); ${choice.requests()} token request attempts were sent; the last step was still waiting (for the token cache or the token server)`,
      );
      controller.abort(error);
      reject(error);
    }, left + 250);
  });
  try {
    return await Promise.race([choice.session.getToken(controller.signal), overrun]);
  } finally {
    clearTimeout(timer);
  }
}

function cacheMode(value: string | undefined): TokenCacheMode {
  const mode = value ?? "auto";
  if (!(TOKEN_CACHE_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(
      `--token-cache must be one of ${TOKEN_CACHE_MODES.join(", ")}, not "${mode}"`,
    );
  }
  return mode as TokenCacheMode;
}

function describeScopes(scopes: readonly string[] | undefined): string {
  if (!scopes) return "none";
  return scopes.length === 0 ? "none (an empty list)" : scopes.join(" ");
}

function howChosen(
  environment: Environment,
  config: EnvironmentsConfig,
  envName: string | undefined,
  url: UrlChoice | undefined,
): string {
  if (envName !== undefined) return "--env";
  if (url !== undefined) {
    const host = new URL(url.url).hostname.toLowerCase().replace(/\.$/, "");
    if (environment.host === host) return `the host of ${url.from}`;
    if (host.endsWith(`.${environment.host}`)) {
      return `the host of ${url.from} (the longest matching suffix)`;
    }
  }
  if (config.defaultEnvironment === environment.name) return "default_environment";
  return url !== undefined
    ? `the built-in default (no environment matches the host of ${url.from})`
    : "the built-in default";
}

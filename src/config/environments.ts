// Kognic environments from `environments.json` in the configuration directory: an optional
// `default_environment` and the `environments` by name, each with a `host`, an `auth_server` and
// optional `credentials`, `scopes` and `token_endpoint_auth_method`.

import { defaultAllowedOrigins, isLoopbackHost, normalHost, tokenUrlFor } from "../core/egress.ts";
import {
  type AuthSessionOptions,
  DEFAULT_TOKEN_ENDPOINT,
  type EnvironmentSessionOptions,
  TOKEN_ENDPOINT_AUTH_METHODS,
  type TokenEndpointAuthMethod,
} from "../core/options.ts";
import { type EnvOptions, expandHome, xdgDir } from "../shared/env.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { rememberUrlSecrets } from "../shared/redact.ts";
import { readTextFile } from "../shared/files.ts";

/** One Kognic environment: where its API lives and how to authenticate to it. */
export interface Environment {
  /** The environment's name: its key in the file, or `"default"` for the built-in one. */
  name: string;
  /** The platform host name, such as `app.kognic.com`, matched against request URLs. */
  host: string;
  /** The auth server's base URL, such as `https://auth.app.kognic.com`. */
  authServer: string;
  /** The credentials: a file path (`~` expanded when read), `keyring://PROFILE`, or the usual search. */
  credentials?: string;
  /** The scopes to request; absent falls back to the credentials', an empty list requests none. */
  scopes?: readonly string[];
  /** How the client authenticates at the token endpoint. @default {"client_secret_post"} */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
}

/** The content of an environments file. */
export interface EnvironmentsConfig {
  /** The file the configuration was read from (it may not exist), named in errors. */
  path: string;
  /** The environment to use when none is named and no host matches. */
  defaultEnvironment?: string;
  /** The environments by name. */
  environments: Readonly<Record<string, Environment>>;
}

/** The built-in environment when none is configured: `app.kognic.com` and its auth server. */
export const DEFAULT_ENVIRONMENT: Environment = Object.freeze({
  name: "default",
  host: "app.kognic.com",
  authServer: "https://auth.app.kognic.com",
});

/**
 * The default environments file: `$XDG_CONFIG_HOME/kognic/environments.json` (or `~/.config/...`).
 *
 * @param options Environment variables to read (`XDG_CONFIG_HOME`, `HOME`), in `env`.
 * @returns The absolute path of the file, which may not exist.
 */
export async function environmentsConfigPath(options: EnvOptions = {}): Promise<string> {
  return `${await xdgDir("config", options.env)}/kognic/environments.json`;
}

/**
 * Reads an environments file; a missing one is an empty configuration.
 *
 * @param path The file to read; a leading `~` is expanded. @default {environmentsConfigPath(options)}
 * @param options Environment variables for the default path and `~`, in `env`.
 * @returns The configuration, with `path` set to the file read.
 * @throws {ConfigurationError} When it cannot be read, is not a regular file,
 *   is over 1 MiB, is not JSON, or has a bad value (naming the file and key).
 */
export async function loadEnvironments(
  path?: string,
  options: EnvOptions = {},
): Promise<EnvironmentsConfig> {
  const fullPath = path === undefined
    ? await environmentsConfigPath(options)
    : await expandHome(path, options.env);
  let text: string | undefined;
  try {
    text = await readTextFile(fullPath);
  } catch (error) {
    throw new ConfigurationError(
      `Could not read environments file ${fullPath}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (text === undefined) return { path: fullPath, environments: {} };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(
      `Bad environments file, must be JSON: ${fullPath} (${(error as Error).message})`,
      { cause: error },
    );
  }
  return parseEnvironments(json, fullPath);
}

/**
 * Checks and converts the parsed JSON of an environments file; unknown keys are ignored.
 *
 * @param json The parsed file content.
 * @param path The file it came from, named in errors and kept in the result.
 * @returns The configuration.
 * @throws {ConfigurationError} When a value has the wrong type, naming the file and key.
 */
export function parseEnvironments(json: unknown, path: string): EnvironmentsConfig {
  const bad = (key: string, problem: string): ConfigurationError =>
    new ConfigurationError(`Invalid environments file ${path}: ${key} ${problem}`);
  if (!isRecord(json)) throw bad("the top level", "must be a JSON object");

  // An optional key: absent or null is not set; a set value must pass its check.
  const optional = (raw: Record<string, unknown>, key: keyof typeof CHECKS, at = ""): unknown => {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    if (!CHECKS[key][0](value)) throw bad(at + key, CHECKS[key][1]);
    return value;
  };
  const defaultEnvironment = optional(json, "default_environment") as string | undefined;
  const environments: [string, Environment][] = [];
  const rawEnvironments = optional(json, "environments") as Record<string, unknown> | undefined;
  for (const [name, raw] of Object.entries(rawEnvironments ?? {})) {
    const prefix = `environments.${name}`;
    if (!isRecord(raw)) throw bad(prefix, "must be an object");
    const required = (key: string): string => {
      const value = raw[key];
      if (value === undefined || value === null) throw bad(`${prefix}.${key}`, "is missing");
      if (typeof value !== "string") throw bad(`${prefix}.${key}`, "must be a string");
      return value;
    };

    const host = required("host");
    const normalizedHost = host.trim().toLowerCase().replace(/\.$/, "");
    if (!HOST_PATTERN.test(normalizedHost)) {
      throw bad(`${prefix}.host`, `must be a host name such as "app.kognic.com", not "${host}"`);
    }
    const authServer = required("auth_server");
    // A password in the URL is a secret from now on; messages show the URL without it.
    const shownServer = rememberUrlSecrets(authServer);
    if (!URL.canParse(authServer) || !/^https?:$/.test(new URL(authServer).protocol)) {
      throw bad(
        `${prefix}.auth_server`,
        `must be an http(s) URL such as "https://auth.app.kognic.com", not "${shownServer}"`,
      );
    }

    const environment: Environment = { name, host: normalizedHost, authServer };
    const credentials = optional(raw, "credentials", `${prefix}.`) as string | undefined;
    if (credentials !== undefined) environment.credentials = credentials;
    const scopes = optional(raw, "scopes", `${prefix}.`) as string[] | undefined;
    if (scopes) environment.scopes = Object.freeze([...scopes]);
    const method = optional(raw, "token_endpoint_auth_method", `${prefix}.`);
    if (method) environment.tokenEndpointAuthMethod = method as TokenEndpointAuthMethod;

    environments.push([name, Object.freeze(environment)]);
  }

  // Object.fromEntries defines properties, so a name such as "__proto__" stays an entry.
  const config: EnvironmentsConfig = {
    path,
    environments: Object.freeze(Object.fromEntries(environments)),
  };
  if (defaultEnvironment !== undefined) config.defaultEnvironment = defaultEnvironment;
  return config;
}

/** What to resolve an environment for: a name, a request URL, or both (the name wins). */
export interface ResolveEnvironmentOptions {
  /** An environment's name, as given with `--env`. */
  name?: string;
  /** A request URL, matched by host name against the environments' `host`. */
  url?: string | URL;
}

/**
 * Picks the environment for a request: `select.name` (which must exist), else
 * the one whose `host` equals the URL's host, else the one whose `host` is the
 * URL host's longest parent domain (`api.app.kognic.com` -> `app.kognic.com`),
 * else `default_environment` (which must exist), else {@linkcode DEFAULT_ENVIRONMENT}.
 * Among environments with the same `host`, the first in the file wins.
 *
 * @param config The configuration from {@linkcode loadEnvironments}.
 * @param select The environment's name and/or a request URL. @default {{}}
 * @returns The environment.
 * @throws {ConfigurationError} When `select.name` or `default_environment` names no environment.
 * @throws {TypeError} When `select.url` is not a valid absolute URL.
 *
 * @example
 * ```ts
 * import { parseEnvironments, resolveEnvironment } from "@kognic/auth/config";
 *
 * const config = parseEnvironments({
 *   environments: {
 *     prod: { host: "app.kognic.com", auth_server: "https://auth.app.kognic.com" },
 *     demo: { host: "demo.kognic.com", auth_server: "https://auth.demo.kognic.com" },
 *   },
 * }, "inline");
 * console.log(resolveEnvironment(config, { url: "https://api.app.kognic.com/v1" }).name); // "prod"
 * console.log(resolveEnvironment(config, { name: "demo" }).host); // "demo.kognic.com"
 * console.log(resolveEnvironment(config).name); // "default"
 * ```
 */
export function resolveEnvironment(
  config: EnvironmentsConfig,
  select: ResolveEnvironmentOptions = {},
): Environment {
  const environments = config.environments;
  // A name given or the default: it must exist.
  const named = (name: string, what: string): Environment => {
    if (Object.hasOwn(environments, name)) return environments[name];
    throw new ConfigurationError(
      `Unknown environment: ${what}${name} not found in config at ${config.path}`,
    );
  };
  if (select.name !== undefined) return named(select.name, "");

  if (select.url !== undefined) {
    if (!URL.canParse(select.url)) throw new TypeError(`Invalid URL: "${String(select.url)}"`);
    const hostname = normalHost(new URL(select.url));
    // An IP address has no parent domains: "0.1" must not match 127.0.0.1.
    const isAddress = hostname.startsWith("[") || /^\d+(\.\d+){3}$/.test(hostname);
    let best: Environment | undefined;
    for (const environment of Object.values(environments)) {
      if (environment.host === hostname) return environment;
      if (
        !isAddress && hostname.endsWith(`.${environment.host}`) &&
        (best === undefined || environment.host.length > best.host.length)
      ) {
        best = environment;
      }
    }
    if (best) return best;
  }

  if (config.defaultEnvironment === undefined) return DEFAULT_ENVIRONMENT;
  return named(config.defaultEnvironment, "default_environment ");
}

const isNonEmpty = (value: unknown): boolean => typeof value === "string" && value !== "";
const NON_EMPTY = "must be a non-empty string";
/** The optional keys of an environments file: each value's check, and what it must be. */
const CHECKS: Record<string, readonly [(value: unknown) => boolean, string]> = {
  default_environment: [isNonEmpty, NON_EMPTY],
  environments: [isRecord, "must be an object"],
  credentials: [isNonEmpty, NON_EMPTY],
  scopes: [
    (value) => Array.isArray(value) && value.every((scope) => typeof scope === "string"),
    "must be an array of strings",
  ],
  token_endpoint_auth_method: [
    (value) => TOKEN_ENDPOINT_AUTH_METHODS.includes(value as TokenEndpointAuthMethod),
    `must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.map((m) => `"${m}"`).join(", ")}`,
  ],
};

// A host name, an IPv4 address, or a bracketed IPv6 address: no scheme, port or path.
const HOST_PATTERN =
  /^(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*|\[[0-9a-f:.]+\])$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A session's options for an environment (for `AuthSession.forEnvironment`):
 * its auth server, credentials, scopes and token origins under the options given.
 *
 * @param options The environment to use, and session options that override it.
 * @returns Options for `AuthSession.create`.
 * @throws {ConfigurationError} For an unknown environment or a broken environments file.
 */
export async function environmentSessionOptions(
  options: EnvironmentSessionOptions,
): Promise<AuthSessionOptions> {
  const config = await loadEnvironments(options.environmentsFile, options);
  const environment = resolveEnvironment(config, { name: options.environment, url: options.url });
  const explicit = options.auth !== undefined || options.clientId !== undefined ||
    options.clientSecret !== undefined;
  const authServer = options.authServer ?? environment.authServer;
  const endpoint = options.tokenEndpoint ?? DEFAULT_TOKEN_ENDPOINT;
  const allowedOrigins = options.allowedOrigins ?? environmentAllowedOrigins(
    environment,
    tokenUrlFor(authServer, endpoint, options.allowInsecureHttp ?? false),
  );
  return {
    ...options,
    authServer,
    auth: explicit ? options.auth : environment.credentials,
    scopes: options.scopes ?? environment.scopes,
    tokenEndpointAuthMethod: options.tokenEndpointAuthMethod ??
      environment.tokenEndpointAuthMethod,
    allowedOrigins,
  };
}

/**
 * The origins that get an environment's token: the auth server's domain and
 * the environment's host, with subdomains, over https (http for loopback).
 *
 * @param environment The environment.
 * @param tokenUrl The token URL of its session.
 * @returns Patterns for `allowedOrigins`.
 */
export function environmentAllowedOrigins(environment: Environment, tokenUrl: URL): string[] {
  const scheme = isLoopbackHost(environment.host) ? "http" : "https";
  return [
    ...defaultAllowedOrigins(tokenUrl),
    `${scheme}://${environment.host}`,
    `${scheme}://*.${environment.host}`,
  ];
}

/**
 * Kognic environments: named pairs of a platform host and an auth server,
 * with optional credentials and scopes, read from `environments.json` in the
 * user's configuration directory.
 *
 * ```json
 * {
 *   "default_environment": "production",
 *   "environments": {
 *     "production": {
 *       "host": "app.kognic.com",
 *       "auth_server": "https://auth.app.kognic.com",
 *       "credentials": "~/.config/kognic/credentials-prod.json",
 *       "scopes": ["api:read"]
 *     }
 *   }
 * }
 * ```
 *
 * @module
 */

import { defaultAllowedOrigins, isLoopbackHost, tokenUrlFor } from "../shared/url.ts";
import { normalHost } from "../core/egress.ts";
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
  /**
   * Where the credentials are: a file path (a leading `~` is expanded when the
   * file is read, not here), `keyring://PROFILE`, or absent for the usual
   * search (`KOGNIC_CREDENTIALS`, `KOGNIC_CLIENT_ID`/`KOGNIC_CLIENT_SECRET`, the keyring).
   */
  credentials?: string;
  /**
   * The scopes to request. Absent means "not set" (fall back to the
   * credentials file's scopes); an empty list requests no scope.
   */
  scopes?: readonly string[];
  /**
   * How the client authenticates at the token endpoint (the file's
   * `token_endpoint_auth_method`). Absent means `client_secret_post`.
   */
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

/**
 * The built-in environment, used when the configuration names none:
 * host `app.kognic.com`, auth server `https://auth.app.kognic.com`, and the
 * usual credentials search.
 *
 * @example
 * ```ts
 * import { DEFAULT_ENVIRONMENT } from "@kognic/auth/config";
 *
 * console.log(DEFAULT_ENVIRONMENT.authServer); // "https://auth.app.kognic.com"
 * ```
 */
export const DEFAULT_ENVIRONMENT: Environment = Object.freeze({
  name: "default",
  host: "app.kognic.com",
  authServer: "https://auth.app.kognic.com",
});

/**
 * The default location of the environments file:
 * `$XDG_CONFIG_HOME/kognic/environments.json`, or
 * `~/.config/kognic/environments.json` when `XDG_CONFIG_HOME` is unset or relative.
 *
 * @param options Environment variables to read (`XDG_CONFIG_HOME`, `HOME`), in `env`.
 * @returns The absolute path of the file, which may not exist.
 *
 * @example
 * ```ts
 * import { environmentsConfigPath } from "@kognic/auth/config";
 *
 * const path = await environmentsConfigPath({ env: { XDG_CONFIG_HOME: "/etc/xdg" } });
 * console.log(path); // "/etc/xdg/kognic/environments.json"
 * ```
 */
export async function environmentsConfigPath(options: EnvOptions = {}): Promise<string> {
  return `${await xdgDir("config", options.env)}/kognic/environments.json`;
}

/**
 * Reads an environments file. A missing file (or a missing parent directory)
 * is an empty configuration, so that resolution falls through to the
 * built-in default.
 *
 * @param path The file to read; a leading `~` is expanded. @default {environmentsConfigPath(options)}
 * @param options Environment variables for the default path and `~`, in `env`.
 * @returns The configuration, with `path` set to the file read.
 * @throws {ConfigurationError} When the file exists but cannot be read, is not
 *   a regular file (a FIFO, a device, a directory), is larger than 1 MiB, is
 *   not JSON, or has a value of the wrong type; the message names the file and the key.
 *
 * @example
 * ```ts ignore
 * import { loadEnvironments, resolveEnvironment } from "@kognic/auth/config";
 *
 * const config = await loadEnvironments();
 * const environment = resolveEnvironment(config, { url: "https://app.kognic.com/v1/projects" });
 * console.log(environment.authServer);
 * ```
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
 * Checks and converts the parsed JSON of an environments file. Keys this
 * version does not know are ignored.
 *
 * @param json The parsed file content.
 * @param path The file it came from, named in errors and kept in the result.
 * @returns The configuration.
 * @throws {ConfigurationError} When a value has the wrong type, naming the file and
 *   the key, as in `environments.prod.auth_server must be a string`.
 *
 * @example
 * ```ts
 * import { parseEnvironments } from "@kognic/auth/config";
 *
 * const config = parseEnvironments({
 *   default_environment: "prod",
 *   environments: { prod: { host: "app.kognic.com", auth_server: "https://auth.app.kognic.com" } },
 * }, "inline");
 * console.log(config.environments.prod.authServer); // "https://auth.app.kognic.com"
 * ```
 */
export function parseEnvironments(json: unknown, path: string): EnvironmentsConfig {
  const bad = (key: string, problem: string): ConfigurationError =>
    new ConfigurationError(`Invalid environments file ${path}: ${key} ${problem}`);
  if (!isRecord(json)) throw bad("the top level", "must be a JSON object");

  let defaultEnvironment: string | undefined;
  const rawDefault = json.default_environment;
  if (rawDefault !== undefined && rawDefault !== null) {
    if (typeof rawDefault !== "string" || rawDefault === "") {
      throw bad("default_environment", "must be a non-empty string");
    }
    defaultEnvironment = rawDefault;
  }

  const environments: Record<string, Environment> = {};
  const rawEnvironments = json.environments;
  if (rawEnvironments !== undefined && rawEnvironments !== null) {
    if (!isRecord(rawEnvironments)) throw bad("environments", "must be an object");
    for (const [name, raw] of Object.entries(rawEnvironments)) {
      const prefix = `environments.${name}`;
      if (!isRecord(raw)) throw bad(prefix, "must be an object");

      const host = raw.host;
      if (host === undefined || host === null) throw bad(`${prefix}.host`, "is missing");
      if (typeof host !== "string") throw bad(`${prefix}.host`, "must be a string");
      const normalizedHost = host.trim().toLowerCase().replace(/\.$/, "");
      if (!HOST_PATTERN.test(normalizedHost)) {
        throw bad(`${prefix}.host`, `must be a host name such as "app.kognic.com", not "${host}"`);
      }

      const authServer = raw.auth_server;
      if (authServer === undefined || authServer === null) {
        throw bad(`${prefix}.auth_server`, "is missing");
      }
      if (typeof authServer !== "string") throw bad(`${prefix}.auth_server`, "must be a string");
      // A password in the URL is a secret from now on; messages show the URL without it.
      const shownServer = rememberUrlSecrets(authServer);
      if (!isHttpUrl(authServer)) {
        throw bad(
          `${prefix}.auth_server`,
          `must be an http(s) URL such as "https://auth.app.kognic.com", not "${shownServer}"`,
        );
      }

      const environment: Environment = { name, host: normalizedHost, authServer };

      const credentials = raw.credentials;
      if (credentials !== undefined && credentials !== null) {
        if (typeof credentials !== "string" || credentials === "") {
          throw bad(`${prefix}.credentials`, "must be a non-empty string");
        }
        environment.credentials = credentials;
      }

      const scopes = raw.scopes;
      if (scopes !== undefined && scopes !== null) {
        if (!Array.isArray(scopes) || scopes.some((scope) => typeof scope !== "string")) {
          throw bad(`${prefix}.scopes`, "must be an array of strings");
        }
        environment.scopes = Object.freeze([...scopes as string[]]);
      }

      const authMethod = raw.token_endpoint_auth_method;
      if (authMethod !== undefined && authMethod !== null) {
        if (!TOKEN_ENDPOINT_AUTH_METHODS.includes(authMethod as TokenEndpointAuthMethod)) {
          throw bad(
            `${prefix}.token_endpoint_auth_method`,
            `must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.map((m) => `"${m}"`).join(", ")}`,
          );
        }
        environment.tokenEndpointAuthMethod = authMethod as TokenEndpointAuthMethod;
      }

      // defineProperty, not assignment: a name such as "__proto__" stays an entry.
      Object.defineProperty(environments, name, {
        value: Object.freeze(environment),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }

  const config: EnvironmentsConfig = { path, environments: Object.freeze(environments) };
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
 * Picks the environment for a request, in this order:
 *
 * 1. `select.name`, which must exist;
 * 2. the environment whose `host` equals the URL's host name;
 * 3. the environment whose `host` is the longest parent domain of the URL's
 *    host name (`api.app.kognic.com` matches `app.kognic.com`; `evilapp.kognic.com` does not);
 * 4. the file's `default_environment`, which must exist;
 * 5. {@linkcode DEFAULT_ENVIRONMENT}.
 *
 * Among environments with the same `host`, the first in the file wins.
 *
 * @param config The configuration from {@linkcode loadEnvironments}.
 * @param select The environment's name and/or a request URL. @default {{}}
 * @returns The environment.
 * @throws {ConfigurationError} When `select.name` or `default_environment` names
 *   an environment that the configuration does not have.
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
  if (select.name !== undefined) {
    const named = lookup(environments, select.name);
    if (!named) {
      throw new ConfigurationError(
        `Unknown environment: ${select.name} not found in config at ${config.path}`,
      );
    }
    return named;
  }

  if (select.url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(select.url);
    } catch {
      throw new TypeError(`Invalid URL: "${String(select.url)}"`);
    }
    const hostname = normalHost(parsed);
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

  if (config.defaultEnvironment !== undefined) {
    const fallback = lookup(environments, config.defaultEnvironment);
    if (!fallback) {
      throw new ConfigurationError(
        `Unknown environment: default_environment ${config.defaultEnvironment} not found in config at ${config.path}`,
      );
    }
    return fallback;
  }

  return DEFAULT_ENVIRONMENT;
}

// A host name, an IPv4 address, or a bracketed IPv6 address: no scheme, port or path.
const HOST_PATTERN =
  /^(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*|\[[0-9a-f:.]+\])$/;

function lookup(
  environments: Readonly<Record<string, Environment>>,
  name: string,
): Environment | undefined {
  return Object.hasOwn(environments, name) ? environments[name] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/**
 * The options of a session for an environment: the environment's auth server,
 * credentials and scopes, under the options given, and the origins that get
 * the token (the auth server's domain and the environment's host). Used by
 * `AuthSession.forEnvironment`, which loads this module only then.
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
  let allowedOrigins = options.allowedOrigins;
  if (!allowedOrigins) {
    const tokenUrl = tokenUrlFor(
      authServer,
      options.tokenEndpoint ?? DEFAULT_TOKEN_ENDPOINT,
      options.allowInsecureHttp ?? false,
    );
    allowedOrigins = environmentAllowedOrigins(environment, tokenUrl);
  }
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
 * its subdomains (as a session's default), and the environment's host and
 * its subdomains, over https (http for a loopback host).
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

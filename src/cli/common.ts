// What the kognic-auth and kog commands share: errors as one line, the
// keyring's advice when it cannot be used, the environment with where it came
// from, and the token cache with -v lines. Their frame (exit codes, usage
// errors, options, commands) is in skeleton.ts.

import { platform } from "./process_io.ts";
import type { AuthEvent, AuthEventListener, EnvSource, TokenCache, TokenSet } from "../../mod.ts";
import type {
  Environment,
  EnvironmentsConfig,
  ResolveEnvironmentOptions,
  TokenCacheMode,
} from "../../config.ts";
import { configApi, coreApi, loadedLibrary } from "./library.ts";

/** Writes one debug line (the commands' -v); never given a secret or a token. */
export type Debug = (text: string) => void;

/** Whether an error is Deno's refusal for want of a permission (`NotCapable`, `PermissionDenied`). */
export function isPermissionDenied(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 5; depth++) {
    const name = (cause as { name?: unknown }).name;
    if (name === "NotCapable" || name === "PermissionDenied") return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/** An error as one line for stderr: the message, without a stack. */
export function describe(error: unknown): string {
  // Only an error of loading the library itself comes before it is loaded.
  const library = loadedLibrary();
  let message: string;
  if (
    error instanceof TypeError ||
    (library && error instanceof library.core.KognicAuthError)
  ) message = error.message;
  else if (error instanceof Error) message = `${error.name}: ${error.message}`;
  else message = String(error);
  return oneLine(library ? library.config.redactSecrets(message) : message);
}

/**
 * A message made safe for one line of a terminal: line breaks become spaces,
 * and other control characters (which a token server or a native library
 * may put in a message, such as terminal escapes) are shown as `\xNN`
 * (U+2028 and U+2029 as `\uNNNN`).
 */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, " ").replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (char) => {
      const code = char.charCodeAt(0);
      return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`;
    },
  );
}

/**
 * Runs a step that uses the system keyring; when the keyring cannot be used,
 * its error gains how to fix that (unless it says so already, as it does for
 * a missing @napi-rs/keyring or Deno's --allow-ffi) and the way around it.
 */
export async function keyringStep<T>(fn: () => Promise<T>, alternative: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const { KeyringError } = configApi();
    if (!(error instanceof KeyringError)) throw error;
    const message = oneLine(error.message).replace(/\.$/, "");
    const os = platform();
    const fix = error.unreachable && os !== "darwin" && os !== "windows" && os !== "win32"
      ? ". Start a Secret Service (such as gnome-keyring or KeePassXC) on the D-Bus session bus"
      : "";
    throw new KeyringError(`${message}${fix}, ${alternative}`, {
      cause: error,
      unreachable: error.unreachable,
    });
  }
}

/** An environment, the file it was looked up in, and where it came from. */
export interface ChosenEnvironment {
  /** The environment. */
  environment: Environment;
  /** The environments file read (it may not exist). */
  config: EnvironmentsConfig;
  /** Whether the environment is one of the file's (else it is the built-in default). */
  fromFile: boolean;
  /** Whether the environments file exists. */
  fileExists: boolean;
}

/** At most this many environment names are listed in an error. */
const LISTED_NAMES = 20;

/**
 * Reads the environments file and picks an environment from it. An unknown
 * name is an error that lists the environments the file has (names only), or
 * says that there is no such file.
 */
export async function chooseEnvironment(
  file: string | undefined,
  select: ResolveEnvironmentOptions,
  env: EnvSource | undefined,
): Promise<ChosenEnvironment> {
  const { loadEnvironments, resolveEnvironment } = configApi();
  const config = await loadEnvironments(file, { env });
  const names = Object.keys(config.environments);
  // A missing file reads as an empty one; only then is it worth asking which it is.
  const fileExists = names.length > 0 || config.defaultEnvironment !== undefined ||
    await exists(config.path);
  if (select.name !== undefined && !Object.hasOwn(config.environments, select.name)) {
    const known = !fileExists
      ? "there is no such file"
      : names.length === 0
      ? "it has no environments"
      : `its environments: ${names.slice(0, LISTED_NAMES).map(clipName).join(", ")}${
        names.length > LISTED_NAMES ? ` and ${names.length - LISTED_NAMES} more` : ""
      }`;
    throw new (coreApi().ConfigurationError)(
      `Unknown environment: ${select.name} not found in config at ${config.path}; ${known}`,
    );
  }
  const environment = resolveEnvironment(config, select);
  const fromFile = Object.hasOwn(config.environments, environment.name) &&
    config.environments[environment.name] === environment;
  return { environment, config, fromFile, fileExists };
}

/** An environment name as an error lists it: at most 60 characters. */
function clipName(name: string): string {
  return name.length > 60 ? `${name.slice(0, 60)}...` : name;
}

/** How an environment was chosen: by name, by a request URL's host (or a suffix of it), or by default. */
export type EnvironmentChoice = "env" | "host" | "suffix" | "default_environment" | "built-in";

/**
 * How `chosen` was picked: `--env` when a name was given, else the URL's
 * host (exactly, or as its longest matching suffix), else the file's
 * default_environment, else the built-in one.
 */
export function environmentChoice(
  chosen: ChosenEnvironment,
  name: string | undefined,
  url: string | URL | undefined,
): EnvironmentChoice {
  const { environment, config } = chosen;
  if (name !== undefined) return "env";
  if (url !== undefined) {
    const host = configApi().normalHost(new URL(url));
    if (environment.host === host) return "host";
    if (host.endsWith(`.${environment.host}`)) return "suffix";
  }
  return chosen.fromFile && config.defaultEnvironment === environment.name
    ? "default_environment"
    : "built-in";
}

/** Where a chosen environment came from, for a debug line. */
export function environmentOrigin(chosen: ChosenEnvironment): string {
  const path = chosen.config.path;
  if (chosen.fromFile) return `from ${path}`;
  return chosen.fileExists
    ? `the built-in default (no environment in ${path} applies)`
    : `the built-in default (no environments file at ${path})`;
}

/**
 * Whether `path` exists (an error other than "not found" counts as yes). On
 * Deno through `Deno.stat`: `node:fs` would start Deno's Node layer, which
 * costs a warm `get-access-token` (a URL and no environments file) more than
 * the rest of it.
 */
async function exists(path: string): Promise<boolean> {
  const { isNotFound } = configApi();
  const deno = (globalThis as { Deno?: { stat(path: string): Promise<unknown> } }).Deno;
  try {
    await (deno ? deno.stat(path) : (await import("node:fs/promises")).stat(path));
    return true;
  } catch (error) {
    return !isNotFound(error);
  }
}

/**
 * The token cache of a mode, with debug lines for hits and misses, and one
 * `warn` line when Deno's write permission keeps the cache from being written.
 */
export async function openTokenCache(
  mode: TokenCacheMode,
  env: EnvSource | undefined,
  debug: Debug,
  warn: Debug = debug,
): Promise<TokenCache | undefined> {
  const { createTokenCache, FileTokenCache, isUsable, RedisTokenCache } = configApi();
  const cache = await keyringStep(
    () =>
      createTokenCache(mode, {
        env,
        redis: {
          onFallback: (event) =>
            debug(
              `token cache: Redis failed to ${event.operation} (${
                oneLine(event.message)
              }); this process goes on with its own token request`,
            ),
        },
      }),
    "or use --token-cache file",
  );
  if (!cache) {
    debug("token cache: none");
    return undefined;
  }
  const name = cache instanceof FileTokenCache
    ? `file ${await cache.resolvePath()}`
    : cache instanceof RedisTokenCache
    ? `Redis ${cache.url} (keys ${cache.prefix}*), shared with every process using it`
    : "system keyring (service kognic-auth)";
  debug(`token cache: ${name}${mode === "auto" ? " (chosen by --token-cache auto)" : ""}`);
  let warned = false;
  return {
    async get(key: string): Promise<TokenSet | undefined> {
      let token: TokenSet | undefined;
      try {
        token = await cache.get(key);
      } catch (error) {
        debug(`token cache: cannot read (${describe(error)}); requesting a token`);
        throw error;
      }
      if (key.endsWith(":retry-after")) {
        // Not a token: a server's Retry-After that another process was told.
        if (token && token.expiresAt > Date.now()) {
          debug(`token cache: the token server asked to wait until ${iso(token.expiresAt)}`);
        }
      } else if (!token) debug(`token cache miss for ${key}`);
      else if (!isUsable(token)) {
        debug(`token cache: the token for ${key} expires too soon (at ${iso(token.expiresAt)})`);
      } else debug(`token cache hit for ${key}, expires at ${iso(token.expiresAt)}`);
      return token;
    },
    async set(key: string, token: TokenSet): Promise<void> {
      try {
        await cache.set(key, token);
      } catch (error) {
        debug(`token cache: cannot store the new token (${describe(error)})`);
        if (isPermissionDenied(error) && !warned) {
          warned = true;
          warn(
            `the token cache (${name}) is not written: Deno's --allow-write permission is ` +
              "missing, so every run requests a new token (run with --allow-write, or " +
              "--token-cache none to not cache)",
          );
        }
        throw error;
      }
      debug(
        key.endsWith(":retry-after")
          ? `token cache: stored the server's Retry-After for other processes`
          : `token cache: stored the new token for ${key}`,
      );
    },
    delete: (key) => cache.delete(key),
    clear: () => cache.clear(),
    withLock: (key, fn, options) => cache.withLock(key, fn, options),
  };
}

function iso(time: number): string {
  return new Date(time).toISOString();
}

/**
 * The fetch a command sends its requests with: the one given (tests, the
 * Node bin's transport), else one that honours the proxy variables on every
 * runtime (see src/config/proxy.ts). The -v line names the proxy's host
 * only, never its credentials.
 */
export async function cliFetch(
  given: typeof fetch | undefined,
  env: EnvSource | undefined,
  debug: Debug,
): Promise<typeof fetch> {
  if (given) return given;
  const { configuredProxy, createProxyFetch, fetchHonoursProxy } = configApi();
  const proxy = configuredProxy({ env });
  if (proxy) {
    let host = "an invalid URL";
    try {
      host = new URL(proxy).host;
    } catch { /* createProxyFetch names the problem */ }
    debug(
      `proxy: ${host} from the environment (${
        fetchHonoursProxy({ env }) ? "the runtime's fetch" : "undici's EnvHttpProxyAgent"
      }; NO_PROXY honoured)`,
    );
  }
  return await createProxyFetch({ env });
}

/** The session events a command's -v shows (its own lines cover the rest). */
const DEBUG_EVENTS: ReadonlySet<AuthEvent["type"]> = new Set([
  "token.request",
  "token.response",
  "token.retry",
  "token.failed",
  "cache.lock_wait",
  "request.replay",
  "request.unauthenticated",
]);

/**
 * A session's `onEvent` that writes -v lines for its events, described by
 * `@kognic/auth/telemetry`: a command loads that with -v (kognic-auth loads
 * it only then, so without it the line, which is not shown, is the type).
 */
export function debugEvents(debug: Debug): AuthEventListener {
  return (event) => {
    if (!DEBUG_EVENTS.has(event.type)) return;
    const telemetry = loadedLibrary()?.telemetry;
    debug(telemetry ? telemetry.describeEvent(event) : event.type);
  };
}

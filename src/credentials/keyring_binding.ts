// The system keyring through the optional native peer @napi-rs/keyring, loaded on use. Nothing here
// may hang: the native library blocks (even in a constructor) when the D-Bus bus or Secret Service
// does not answer, so the bus is asked first, with a timeout, and every native call is raced
// against one.

import { withDeadline } from "../shared/deadline.ts";
import { getEnv } from "../shared/env.ts";
import { errorCode } from "../shared/files.ts";
import {
  ConfigurationError,
  type CredentialsError,
  KognicAuthError,
  type OAuthError,
  setErrorFields,
  type TokenNetworkError,
  type TokenResponseError,
  type TokenTimeoutError,
} from "../shared/errors.ts";
import { secretServiceOnBus } from "./dbus.ts";
import type { OptionalPeer } from "../shared/optional_peer.ts";

/** Options of {@linkcode KeyringError}. */
export interface KeyringErrorOptions extends ErrorOptions {
  /** Whether the keyring's service was unreachable, failed or did not answer (no fix to suggest). @default {false} */
  unreachable?: boolean;
}

/**
 * The system keyring cannot be used: `@napi-rs/keyring` missing, no `--allow-ffi`, no Secret
 * Service, or no answer in time. Code `keyring_unavailable`; also a {@linkcode ConfigurationError}.
 *
 * @example
 * ```ts
 * import { KeyringError } from "@kognic/auth/config";
 *
 * const error = new KeyringError("The system keyring is not available: no D-Bus session bus", {
 *   unreachable: true,
 * });
 * console.log(error.code, error instanceof KeyringError); // "keyring_unavailable" true
 * ```
 */
export class KeyringError extends KognicAuthError {
  /** The condition's stable code. */
  declare readonly code: "keyring_unavailable";
  /** Whether the keyring's service was unreachable, failed or did not answer. */
  declare readonly unreachable: boolean;

  /** Creates the error. */
  constructor(message: string, options: KeyringErrorOptions = {}) {
    super("keyring_unavailable", message, options);
    setErrorFields(this, { name: "KeyringError", unreachable: options.unreachable ?? false });
  }
}
// A ConfigurationError by prototype, so that class's constructor (which fixes code and name) does not run.
Object.setPrototypeOf(KeyringError.prototype, ConfigurationError.prototype);

/**
 * The core's errors, discriminated by `code`: a `switch` narrows to the class.
 *
 * @example
 * ```ts
 * import { AuthSession, type KognicAuthErrors } from "@kognic/auth";
 *
 * function advice(error: KognicAuthErrors): string {
 *   switch (error.code) {
 *     case "oauth_error":
 *       return error.error === "invalid_client" ? "check the client id and secret" : "try later";
 *     case "keyring_unavailable":
 *       return error.unreachable ? "start a Secret Service" : error.message;
 *     default:
 *       return error.message;
 *   }
 * }
 * try {
 *   await new AuthSession({ auth: ["id", "secret"] }).getAccessToken();
 * } catch (error) {
 *   console.error(advice(error as KognicAuthErrors));
 * }
 * ```
 */
export type KognicAuthErrors =
  | CredentialsError
  | (ConfigurationError & { readonly code: "configuration_invalid" })
  | KeyringError
  | OAuthError
  | TokenResponseError
  | TokenTimeoutError
  | TokenNetworkError;

/** The async entry API of @napi-rs/keyring 2.1 that this package uses. */
export interface KeyringEntry {
  getPassword(signal?: AbortSignal | null): Promise<string | null>;
  setPassword(password: string, signal?: AbortSignal | null): Promise<void>;
  deletePassword(signal?: AbortSignal | null): Promise<boolean>;
}

/** The part of @napi-rs/keyring 2.1 used here. */
interface KeyringModule {
  AsyncEntry: new (service: string, account: string, options: typeof ENTRY_OPTIONS) => KeyringEntry;
  findCredentialsAsync(service: string, target: null, signal: AbortSignal): Promise<Account[]>;
}
type Account = { account: string; password: string };

/** How long a keyring operation may take, in ms (a desktop may ask the user to unlock it). */
export const KEYRING_TIMEOUT = 10_000;
/** How long {@linkcode checkKeyring} waits, in ms. */
export const KEYRING_PROBE_TIMEOUT = 1_500;
/** How long a session bus may take to answer its first line, in ms: a live one answers in a few. */
const BUS_CHECK_TIMEOUT = 1_000;

// Pin the Secret Service on Linux: the default falls back to the kernel keyring, which does not persist.
const ENTRY_OPTIONS = { linux: { store: "secret-service" as const } };

/** @napi-rs/keyring, once the bus check finds nothing wrong; else a {@linkcode KeyringError}. */
async function reachableKeyring(timeout: number): Promise<KeyringModule> {
  const problem = await keyringProblem(Math.min(timeout, BUS_CHECK_TIMEOUT));
  if (problem) {
    throw new KeyringError(`The system keyring is not available: ${problem}`, {
      unreachable: true,
    });
  }
  const ffi = denoPermission({ name: "ffi" });
  if (ffi !== undefined && ffi !== "granted") {
    throw new KeyringError(
      "The system keyring needs Deno's --allow-ffi permission (with --allow-env and " +
        "--allow-read) to load its native module @napi-rs/keyring",
    );
  }
  return await loadOptionalModule<KeyringModule>(
    "@napi-rs/keyring",
    { feature: "The system keyring", members: ["AsyncEntry"], version: "2.1" },
    (message, cause) => new KeyringError(message, { cause }),
  );
}

/**
 * Loads an optional package (its module or default export) that has the functions `members`; a
 * failure is thrown as `fail` makes it, naming the `feature`, the package and how to install it.
 */
export async function loadOptionalModule<T>(
  name: OptionalPeer,
  what: { feature: string; members: string[]; version?: string; advice?: string },
  fail: (message: string, cause?: unknown) => Error,
): Promise<T> {
  const hint = `install it with \`npm install ${name}\``;
  let namespace: Record<string, unknown>;
  try {
    // Loaded with the package: a keyring that is never used loads neither.
    const { importOptionalPeer } = await import("../shared/optional_peer.ts");
    namespace = await importOptionalPeer(name);
  } catch (error) {
    const missing = errorCode(error) === "ERR_MODULE_NOT_FOUND" ||
      /cannot find (module|package)/i.test(String((error as Error)?.message));
    throw fail(
      missing
        ? `${what.feature} needs the optional package ${name}: ${hint}${what.advice ?? ""}`
        : `${what.feature} could not load the package ${name} (${firstLine(error)}); ${hint}`,
      error,
    );
  }
  const has = (module: unknown): boolean =>
    what.members.every((member) =>
      typeof (module as Record<string, unknown> | undefined)?.[member] === "function"
    );
  const module = has(namespace) ? namespace : namespace.default;
  if (!has(module)) {
    const version = what.version ? ` (version ${what.version} or later)` : "";
    throw fail(`The installed ${name} has no ${what.members.join(" or ")}; ${hint}${version}`);
  }
  return module as T;
}

/**
 * Why the keyring cannot be reached, asked without the native library, or
 * `undefined` when it may be. Only the D-Bus platforms (not macOS, Windows) are checked.
 */
export async function keyringProblem(timeout: number): Promise<string | undefined> {
  if (!usesDbus()) return undefined;
  const address = getEnv("DBUS_SESSION_BUS_ADDRESS");
  if (!address) {
    return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service " +
      "can be reached";
  }
  const socketPath = unixSocketPath(address);
  if (socketPath === undefined || !mayConnect(socketPath)) return undefined;
  const answer = await secretServiceOnBus(socketPath, timeout);
  if (answer === "timeout") return `the D-Bus session bus did not answer within ${timeout} ms`;
  if (answer === "ENOENT" || answer === "ECONNREFUSED") {
    return `the D-Bus session bus cannot be reached (${answer})`;
  }
  // A bus that answers may still have no Secret Service.
  if (answer === "absent") {
    return "no Secret Service on the D-Bus session bus (nothing owns org.freedesktop.secrets, " +
      "and the bus cannot start it)";
  }
  return undefined;
}

/**
 * Opens an entry of the system keyring, pinned to the Secret Service on Linux.
 *
 * @throws {KeyringError} When the keyring cannot be reached or loaded.
 */
export async function openKeyringEntry(
  service: string,
  account: string,
  timeout: number = KEYRING_TIMEOUT,
): Promise<KeyringEntry> {
  const module = await reachableKeyring(timeout);
  try {
    return new module.AsyncEntry(service, account, ENTRY_OPTIONS);
  } catch (error) {
    const hint = usesDbus()
      ? " (a Secret Service such as gnome-keyring or KeePassXC must run on the D-Bus session bus)"
      : "";
    throw new KeyringError(
      `The system keyring is not available: ${firstLine(error)}${hint}`,
      { cause: error },
    );
  }
}

/** Runs one keyring operation with a timeout; failures become {@linkcode KeyringError}s naming `what`. */
export async function callKeyring<T>(
  what: string,
  operation: (signal: AbortSignal) => Promise<T>,
  timeout: number = KEYRING_TIMEOUT,
): Promise<T> {
  try {
    return await withDeadline(timeout, operation, {
      reason: () =>
        new KeyringError(
          `The system keyring did not answer within ${timeout} ms while trying to ${what}`,
          { unreachable: true },
        ),
    });
  } catch (error) {
    if (error instanceof KeyringError) throw error;
    throw new KeyringError(
      `The system keyring failed to ${what}: ${firstLine(error)}`,
      { cause: error, unreachable: true },
    );
  }
}

/**
 * Lists the accounts stored under `service` in the system keyring: the profiles of
 * `KEYRING_CREDENTIALS_SERVICE`, the keys of `KEYRING_TOKEN_CACHE_SERVICE`. Needs the optional
 * package `@napi-rs/keyring`.
 *
 * @param service The keyring service.
 * @param timeout The most milliseconds the keyring may take. @default {10000}
 * @returns The account names.
 * @throws {KeyringError} When no keyring answers, or it fails (`unreachable`).
 *
 * @example
 * ```ts ignore
 * import { findKeyringAccounts, KEYRING_CREDENTIALS_SERVICE } from "@kognic/auth/config";
 *
 * console.log(await findKeyringAccounts(KEYRING_CREDENTIALS_SERVICE)); // ["default", ...]
 * ```
 */
export async function findKeyringAccounts(
  service: string,
  timeout: number = KEYRING_TIMEOUT,
): Promise<string[]> {
  const module = await reachableKeyring(timeout);
  const found = await callKeyring(
    `list the entries of ${service}`,
    (signal) => module.findCredentialsAsync(service, null, signal),
    timeout,
  );
  return found.map((credential) => credential.account);
}

/** Why the keyring cannot be used now (a bounded read of a missing entry), or `undefined`. Never throws. */
export async function checkKeyring(
  timeout: number = KEYRING_PROBE_TIMEOUT,
): Promise<KeyringError | undefined> {
  try {
    const entry = await openKeyringEntry("kognic-auth", "kognic-auth-probe", timeout);
    await callKeyring("read a test entry", (signal) => entry.getPassword(signal), timeout);
    return undefined;
  } catch (error) {
    return error instanceof KeyringError
      ? error
      : new KeyringError(`The system keyring failed: ${firstLine(error)}`, { cause: error });
  }
}

/**
 * Whether the keyring is a Secret Service on D-Bus (not macOS's or Windows'); `process` is read
 * only where `Deno` cannot say (it starts Deno's Node layer).
 */
function usesDbus(): boolean {
  const os = (globalThis as { Deno?: { build?: { os?: string } } }).Deno?.build?.os ||
    (globalThis as { process?: { platform?: string } }).process?.platform;
  return os !== "darwin" && os !== "windows" && os !== "win32";
}

/** The socket of the first `unix:path=` or `unix:abstract=` address, if any. */
function unixSocketPath(address: string): string | undefined {
  for (const entry of address.split(";")) {
    const match = /^unix:(.*)$/.exec(entry.trim());
    if (!match) continue;
    const keys = new Map<string, string>();
    for (const pair of match[1].split(",")) {
      const at = pair.indexOf("=");
      if (at > 0) keys.set(pair.slice(0, at), decodeOrKeep(pair.slice(at + 1)));
    }
    const path = keys.get("path");
    if (path) return path;
    const abstract = keys.get("abstract");
    if (abstract) return `\0${abstract}`;
  }
  return undefined;
}

/** `value` percent-decoded, or as it is when it is not valid percent-encoding. */
export function decodeOrKeep(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Whether Deno lets this process open the socket without a prompt (else the bus check is skipped). */
function mayConnect(socketPath: string): boolean {
  const path = socketPath;
  try {
    return [{ name: "net" }, { name: "read", path }, { name: "write", path }]
      .every((descriptor) => (denoPermission(descriptor) ?? "granted") === "granted");
  } catch {
    return false;
  }
}

/** Deno's state of a permission (`"granted"`, `"prompt"`, `"denied"`), or `undefined` off Deno. */
function denoPermission(descriptor: { name: string; path?: string }): string | undefined {
  const permissions = (globalThis as {
    Deno?: { permissions?: { querySync?(descriptor: object): { state: string } } };
  }).Deno?.permissions;
  return permissions?.querySync?.(descriptor).state;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

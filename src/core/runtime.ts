/**
 * Where credentials and environments come from: explicit options, checked at
 * once, else the core's seam to what needs a runtime (files, variables, the
 * keyring), which the entry points install; in a browser it rejects, saying
 * what to pass instead.
 *
 * @module
 */

import {
  ApiCredentials,
  type ApiCredentialsInit,
  type ResolveCredentialsOptions,
} from "./api_credentials.ts";
import type { AuthSessionOptions, EnvironmentSessionOptions } from "./options.ts";
import { ConfigurationError } from "../shared/errors.ts";

/** What a runtime provides to the core. */
export interface RuntimeSources {
  /** Reads credentials from `path` (a file or `keyring://PROFILE`), else the environment and keyring. */
  credentials(
    path: string | undefined,
    options: ResolveCredentialsOptions,
  ): Promise<ApiCredentials>;
  /** The session options of the environment `options` choose in `environments.json`. */
  environment(options: EnvironmentSessionOptions): Promise<AuthSessionOptions>;
}

async function needsRuntime(): Promise<never> {
  // The message loads with the session's rarer paths.
  throw new ConfigurationError((await import("./session_lazy.ts")).NEEDS_RUNTIME);
}

// Live bindings, reassigned by installRuntime; a browser bundle keeps the defaults.

/** The installed {@linkcode RuntimeSources.credentials}, else a rejection. */
export let loadCredentials: RuntimeSources["credentials"] = needsRuntime;

/** The installed {@linkcode RuntimeSources.environment}, else a rejection. */
export let environmentOptions: RuntimeSources["environment"] = needsRuntime;

/** Installs the sources the core reads through; `undefined` leaves none, as in a browser. */
export function installRuntime(sources: RuntimeSources | undefined): void {
  loadCredentials = sources?.credentials ?? needsRuntime;
  environmentOptions = sources?.environment ?? needsRuntime;
}

/**
 * Finds credentials: from the options, else `KOGNIC_CREDENTIALS` (a path or
 * `keyring://PROFILE`), else `KOGNIC_CLIENT_ID` and `KOGNIC_CLIENT_SECRET`,
 * else the keyring's `default` profile. Does not check expiry.
 *
 * @throws {CredentialsError} When none are found (listing the sources tried), a file
 *   is missing or bad, only half a pair is set, or a field is bad (naming it and the source).
 * @throws {TypeError} When `auth` is combined with `clientId`/`clientSecret`, or has an unknown form.
 *
 * @example
 * ```ts
 * import { resolveCredentials } from "@kognic/auth";
 *
 * const credentials = await resolveCredentials({
 *   env: { KOGNIC_CLIENT_ID: "id", KOGNIC_CLIENT_SECRET: "secret" },
 * });
 * console.log(credentials.source); // "KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET"
 * ```
 */
export async function resolveCredentials(
  options: ResolveCredentialsOptions = {},
): Promise<ApiCredentials> {
  const explicit = explicitCredentials(options);
  return explicit instanceof ApiCredentials ? explicit : await loadCredentials(explicit, options);
}

/**
 * The credentials options give, checked at once: a path to read later, ready
 * credentials, or `undefined`. A `TypeError` for conflicting options or an
 * unknown form, a `CredentialsError` for a bad field.
 */
export function explicitCredentials(
  options: ResolveCredentialsOptions,
): string | ApiCredentials | undefined {
  const { auth, clientId, clientSecret } = options;
  if (clientId !== undefined || clientSecret !== undefined) {
    if (auth !== undefined) {
      throw new TypeError("Choose either auth or clientId+clientSecret, not both");
    }
    return new ApiCredentials(
      { clientId, clientSecret } as ApiCredentialsInit,
      "the clientId and clientSecret options",
    );
  }
  if (auth === undefined || auth === null) return undefined;
  if (auth instanceof ApiCredentials || typeof auth === "string" && auth) return auth;
  if (Array.isArray(auth)) {
    if (auth.length !== 2) {
      throw new TypeError("Credentials tuple must be [clientId, clientSecret]");
    }
    return new ApiCredentials({ clientId: auth[0], clientSecret: auth[1] }, "the auth option");
  }
  if (typeof auth === "object") {
    return new ApiCredentials(auth as ApiCredentialsInit, "the auth option");
  }
  throw new TypeError(
    "The auth option must be a credentials file path, keyring://PROFILE, a [clientId, clientSecret] pair " +
      "or a credentials object",
  );
}

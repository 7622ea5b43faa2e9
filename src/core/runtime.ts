/**
 * The core's seam to what needs a runtime (credentials sources,
 * `environments.json`): installed by the entry points; in a browser each call
 * rejects, saying what to pass instead.
 *
 * @module
 */

import type { ApiCredentials, ResolveCredentialsOptions } from "./api_credentials.ts";
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

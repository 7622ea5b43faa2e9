/**
 * The core's seam to what needs a runtime (Deno, Node.js, Bun): credentials
 * from files, the environment and the keyring, and `environments.json`. The
 * entry points install the sources (`src/runtime/install.ts`); browsers and
 * edge workers install none, so each call rejects, saying what to pass instead.
 *
 * @module
 */

import type { ApiCredentials, ResolveCredentialsOptions } from "./api_credentials.ts";
import type { AuthSessionOptions, EnvironmentSessionOptions } from "./options.ts";
import { ConfigurationError } from "../shared/errors.ts";

/** What a runtime provides to the core. */
export interface RuntimeSources {
  /**
   * Reads credentials from `path` (a file or `keyring://PROFILE`), or when it
   * is `undefined` from `KOGNIC_CREDENTIALS`,
   * `KOGNIC_CLIENT_ID`/`KOGNIC_CLIENT_SECRET` and the keyring.
   */
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

// Reassigned by installRuntime: the core's modules see the installed sources
// through these live bindings, and a browser bundle keeps only the defaults.

/** The installed {@linkcode RuntimeSources.credentials}, else a rejection. */
export let loadCredentials: RuntimeSources["credentials"] = needsRuntime;

/** The installed {@linkcode RuntimeSources.environment}, else a rejection. */
export let environmentOptions: RuntimeSources["environment"] = needsRuntime;

/** Installs the sources the core reads through; `undefined` leaves none, as in a browser. */
export function installRuntime(sources: RuntimeSources | undefined): void {
  loadCredentials = sources?.credentials ?? needsRuntime;
  environmentOptions = sources?.environment ?? needsRuntime;
}

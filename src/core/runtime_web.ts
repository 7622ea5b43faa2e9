/**
 * The browser and edge-worker side of `runtime.ts`, chosen by the npm
 * package's `browser`, `worker`, `workerd` and `edge-light` import
 * conditions: there are no files, process environment or keyring there, so
 * asking for them fails with an error that says what to pass instead.
 *
 * @module
 */

import type { ApiCredentials } from "./api_credentials.ts";
import type { AuthSessionOptions } from "./options.ts";
import { ConfigurationError } from "../shared/errors.ts";

/** Always rejects: files, variables, the keyring and `environments.json` need a runtime. */
async function unsupported(): Promise<never> {
  // The message loads with the session's rarer paths.
  throw new ConfigurationError((await import("./session_lazy.ts")).NEEDS_RUNTIME);
}

/** Always rejects: a credentials file, variable or keyring needs a runtime. */
export const loadCredentials: () => Promise<ApiCredentials> = unsupported;

/** Always rejects: `environments.json` needs a runtime. */
export const environmentOptions: () => Promise<AuthSessionOptions> = unsupported;

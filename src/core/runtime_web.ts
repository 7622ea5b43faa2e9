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

/** Always throws: a credentials file, variable or keyring needs a runtime. */
export function loadCredentials(): Promise<ApiCredentials> {
  return unsupported();
}

/** Always throws: `environments.json` needs a runtime. */
export function environmentOptions(): Promise<AuthSessionOptions> {
  return unsupported();
}

function unsupported(): Promise<never> {
  return Promise.reject(
    new ConfigurationError(
      "Credentials files, environment variables, environments.json and the keyring need Deno, " +
        "Node.js or Bun; here pass clientId and clientSecret (on a server), initialToken or " +
        "tokenProvider",
    ),
  );
}

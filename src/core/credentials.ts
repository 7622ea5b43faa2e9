/**
 * Finding credentials: explicit options, checked at once, or the credentials
 * file, the `KOGNIC_*` environment variables and the system keyring, read
 * by the lazily loaded credentials layer.
 *
 * @module
 */

import {
  ApiCredentials,
  type ApiCredentialsInit,
  type ResolveCredentialsOptions,
} from "./api_credentials.ts";
import { loadCredentials } from "./runtime.ts";

/**
 * Finds credentials: from the options, else `KOGNIC_CREDENTIALS` (a path or
 * `keyring://PROFILE`), else `KOGNIC_CLIENT_ID` and `KOGNIC_CLIENT_SECRET`,
 * else the keyring's `default` profile. Does not check expiry.
 *
 * @param options Explicit credentials and the environment to search.
 * @returns The credentials found.
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
  if (explicit instanceof ApiCredentials) return explicit;
  return await loadCredentials(explicit, options);
}

/**
 * The credentials options give, checked at once: a path to read later, ready
 * credentials, or `undefined`.
 *
 * @throws {TypeError} For conflicting options, or an `auth` of an unknown form.
 * @throws {CredentialsError} `credentials_invalid` for a bad field, naming it and the option.
 */
export function explicitCredentials(
  options: ResolveCredentialsOptions,
): string | ApiCredentials | undefined {
  const { auth, clientId, clientSecret } = options;
  if (auth !== undefined && (clientId !== undefined || clientSecret !== undefined)) {
    throw new TypeError("Choose either auth or clientId+clientSecret, not both");
  }
  if (clientId !== undefined || clientSecret !== undefined) {
    return new ApiCredentials(
      { clientId, clientSecret } as ApiCredentialsInit,
      "the clientId and clientSecret options",
    );
  }
  if (auth === undefined || auth === null) return undefined;
  if (typeof auth === "string" && auth) return auth;
  if (auth instanceof ApiCredentials) return auth;
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

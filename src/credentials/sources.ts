// The credential sources that need a runtime (the credentials file, the `KOGNIC_*` variables),
// loaded lazily.

import { type EnvOptions, type EnvSource, expandHome, getEnv } from "../shared/env.ts";
import {
  ApiCredentials,
  invalid,
  type ResolveCredentialsOptions,
} from "../core/api_credentials.ts";
import { parseCredentialsText } from "./json.ts";
import { CredentialsError } from "../shared/errors.ts";
import { isNotFound, readTextFile } from "../shared/files.ts";

/**
 * Reads and checks a credentials file. A leading `~` is expanded; the name
 * must end in `.json` (in any case).
 *
 * @param path The file's path.
 * @param options Environment variables for `~` expansion (`HOME`) in `env`.
 * @returns The credentials.
 * @throws {CredentialsError} `credentials_not_found` for a missing file, `credentials_invalid`
 *   for one that cannot be read, is not a regular file, is over 1 MiB, not JSON or misses a key.
 *
 * @example
 * ```ts ignore
 * import { loadCredentials } from "@kognic/auth/config";
 *
 * const credentials = await loadCredentials("~/.config/kognic/credentials.json");
 * console.log(credentials.clientId);
 * ```
 */
export async function loadCredentials(
  path: string,
  options: EnvOptions = {},
): Promise<ApiCredentials> {
  const fullPath = await expandHome(path, options.env);
  const missing = `Could not find API Credentials file at ${fullPath}`;
  if (!/\.json$/i.test(path)) {
    const { stat } = await import("node:fs/promises");
    // A file that is not there is not found, whatever its name.
    if (await stat(fullPath).then(() => false, isNotFound)) {
      throw new CredentialsError("credentials_not_found", missing);
    }
    throw invalid(`Bad auth credentials file, must be json: ${path}`);
  }
  let text: string | undefined;
  try {
    text = await readTextFile(fullPath);
  } catch (error) {
    throw new CredentialsError(
      "credentials_invalid",
      `Could not read API Credentials file at ${fullPath}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (text === undefined) throw new CredentialsError("credentials_not_found", missing);
  return parseCredentialsText(text, fullPath);
}

/**
 * The environment's credentials: `KOGNIC_CREDENTIALS` (a file path or `keyring://PROFILE`), then
 * `KOGNIC_CLIENT_ID` with `KOGNIC_CLIENT_SECRET`, then the system keyring's `default` profile.
 *
 * @throws {CredentialsError} When none are found, listing the sources tried.
 */
export async function resolveFromEnvironment(
  options: ResolveCredentialsOptions,
): Promise<ApiCredentials> {
  const env = options.env;
  const file = getEnv("KOGNIC_CREDENTIALS", env);
  if (file) return await loadCredentialsFrom(file, env);
  const clientId = getEnv("KOGNIC_CLIENT_ID", env);
  const clientSecret = getEnv("KOGNIC_CLIENT_SECRET", env);
  if (clientId && clientSecret) {
    return new ApiCredentials(
      { clientId, clientSecret },
      "KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET",
    );
  }
  if (clientId || clientSecret) {
    const [set, missing] = clientId
      ? ["KOGNIC_CLIENT_ID", "KOGNIC_CLIENT_SECRET"]
      : ["KOGNIC_CLIENT_SECRET", "KOGNIC_CLIENT_ID"];
    throw invalid(`Environment variable ${set} is set but ${missing} is not; set both or neither`);
  }
  const keyring = await import("./keyring.ts");
  let found = "no keyring available";
  try {
    if (await keyring.keyringAvailable()) {
      const stored = await keyring.readKeyringCredentials(keyring.DEFAULT_PROFILE);
      if (stored) return stored;
      found = "nothing stored";
    }
  } catch (error) {
    // Bad stored credentials are reported; an unusable keyring is a source not there.
    if (error instanceof CredentialsError) throw error;
  }
  throw new CredentialsError(
    "credentials_not_found",
    `No credentials found. Tried: ${
      options.explicitSourceName ?? "the auth option, the clientId and clientSecret options"
    }, KOGNIC_CREDENTIALS (a credentials file path), KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET, ` +
      `the keyring profile '${keyring.DEFAULT_PROFILE}' (${found})`,
  );
}

/**
 * Reads credentials named by a string: `keyring://PROFILE` from the system
 * keyring, anything else as a credentials file path.
 *
 * @throws {CredentialsError} When the file or keyring profile has none, or they are bad.
 */
export async function loadCredentialsFrom(
  auth: string,
  env?: EnvSource,
): Promise<ApiCredentials> {
  if (!/^\s*keyring:/i.test(auth)) return await loadCredentials(auth, { env });
  const keyring = await import("./keyring.ts");
  const profile = keyring.parseKeyringUrl(auth) ?? keyring.DEFAULT_PROFILE;
  const stored = await keyring.readKeyringCredentials(profile);
  if (!stored) {
    throw new CredentialsError(
      "credentials_not_found",
      `No credentials found in keyring for profile '${profile}'`,
    );
  }
  return stored;
}

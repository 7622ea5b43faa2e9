/**
 * Kognic API credentials in the system keyring (macOS Keychain, Windows
 * Credential Manager, the Secret Service on Linux), stored as the Python
 * `kognic-auth` stores them: service `kognic-credentials`, account = the
 * profile name, value = the credentials file's JSON text.
 *
 * The keyring is reached through the npm package `@napi-rs/keyring`, loaded
 * only when one of these functions is called. From npm it is an optional peer
 * dependency: `npm install @napi-rs/keyring` to use the keyring. Deno needs
 * `--allow-ffi --allow-env --allow-read`.
 *
 * @module
 */

import {
  callKeyring,
  KEYRING_PROBE_TIMEOUT,
  type KeyringEntry,
  openKeyringEntry,
  probeKeyring,
} from "./keyring_binding.ts";
import { ApiCredentials } from "../core/api_credentials.ts";
import { parseCredentials, toFileJson } from "./json.ts";
import { CredentialsError } from "../shared/errors.ts";

/**
 * The keyring service under which credentials are stored.
 *
 * @example
 * ```ts
 * import { KEYRING_CREDENTIALS_SERVICE } from "@kognic/auth/config";
 *
 * console.log(KEYRING_CREDENTIALS_SERVICE); // "kognic-credentials"
 * ```
 */
export const KEYRING_CREDENTIALS_SERVICE = "kognic-credentials";

/**
 * The profile used when none is named, and the one searched by default.
 *
 * @example
 * ```ts
 * import { DEFAULT_PROFILE } from "@kognic/auth/config";
 *
 * console.log(DEFAULT_PROFILE); // "default"
 * ```
 */
export const DEFAULT_PROFILE = "default";

/**
 * Reads the credentials stored in the system keyring for a profile.
 *
 * @param profile The profile (the keyring account). @default {"default"}
 * @returns The credentials, with `source` `keyring://PROFILE`, or `undefined`
 *   when nothing is stored for the profile.
 * @throws {CredentialsError} `credentials_invalid` when the stored value is not a
 *   valid credentials file.
 * @throws {KeyringError} When the keyring is not available (no Secret
 *   Service, `@napi-rs/keyring` not installed, Deno without `--allow-ffi`) or
 *   does not answer in time.
 * @throws {TypeError} When `profile` is not a non-empty string.
 *
 * @example
 * ```ts ignore
 * import { readKeyringCredentials } from "@kognic/auth/config";
 *
 * const credentials = await readKeyringCredentials("prod");
 * if (!credentials) console.error("No credentials found in keyring for profile 'prod'");
 * ```
 */
export async function readKeyringCredentials(
  profile: string = DEFAULT_PROFILE,
): Promise<ApiCredentials | undefined> {
  const entry = await credentialsEntry(profile);
  const text = await callKeyring(
    `read the credentials of profile '${profile}'`,
    (signal) => entry.getPassword(signal),
  );
  if (text === null || text === undefined) return undefined;
  return parseStored(text, profile);
}

/**
 * Stores credentials in the system keyring for a profile, replacing what was
 * there. A credentials file's JSON text is checked and stored as it is (so
 * `scopes` and any other keys are kept); an {@linkcode ApiCredentials} object is
 * stored as the JSON of a credentials file.
 *
 * @param credentials A credentials file's JSON text, or credentials with all the
 *   keys a credentials file requires (`clientId`, `clientSecret`, `email`, `userId`, `issuer`).
 * @param profile The profile (the keyring account). @default {"default"}
 * @throws {CredentialsError} `credentials_invalid` when the text is not JSON or
 *   misses a required key; nothing is stored then.
 * @throws {KeyringError} When the keyring is not available or does not
 *   answer in time.
 * @throws {TypeError} When `credentials` is neither a string nor
 *   `ApiCredentials`, or `profile` is not a non-empty string.
 *
 * @example
 * ```ts ignore
 * import { storeKeyringCredentials } from "@kognic/auth/config";
 * import { readFile } from "node:fs/promises";
 *
 * await storeKeyringCredentials(await readFile("credentials.json", "utf8"), "prod");
 * ```
 */
export async function storeKeyringCredentials(
  credentials: ApiCredentials | string,
  profile: string = DEFAULT_PROFILE,
): Promise<void> {
  checkProfile(profile);
  let text: string;
  if (typeof credentials === "string") {
    text = credentials;
  } else if (credentials instanceof ApiCredentials) {
    text = JSON.stringify(toFileJson(credentials), null, 2);
  } else {
    throw new TypeError("credentials must be a credentials file's JSON text or ApiCredentials");
  }
  parseStored(text, profile);
  const entry = await credentialsEntry(profile);
  await callKeyring(
    `store the credentials of profile '${profile}'`,
    (signal) => entry.setPassword(text, signal),
  );
}

/**
 * Removes the credentials stored in the system keyring for a profile.
 *
 * @param profile The profile (the keyring account). @default {"default"}
 * @returns `true` when credentials were removed, `false` when there were none.
 * @throws {KeyringError} When the keyring is not available or does not
 *   answer in time.
 * @throws {TypeError} When `profile` is not a non-empty string.
 *
 * @example
 * ```ts ignore
 * import { deleteKeyringCredentials } from "@kognic/auth/config";
 *
 * if (!(await deleteKeyringCredentials("prod"))) console.log("Nothing stored for profile 'prod'");
 * ```
 */
export async function deleteKeyringCredentials(
  profile: string = DEFAULT_PROFILE,
): Promise<boolean> {
  const entry = await credentialsEntry(profile);
  return await callKeyring(
    `delete the credentials of profile '${profile}'`,
    (signal) => entry.deletePassword(signal),
  );
}

/**
 * The profile named by a `keyring://PROFILE` auth string. The scheme is
 * matched in any case and trailing slashes are dropped; `keyring://` alone
 * names the default profile.
 *
 * @param auth An `auth` string, such as `keyring://prod` or a file path.
 * @returns The profile, or `undefined` when `auth` is not a keyring URL.
 *
 * @example
 * ```ts
 * import { parseKeyringUrl } from "@kognic/auth/config";
 *
 * console.log(parseKeyringUrl("keyring://prod")); // "prod"
 * console.log(parseKeyringUrl("keyring://")); // "default"
 * console.log(parseKeyringUrl("~/credentials.json")); // undefined
 * ```
 */
export function parseKeyringUrl(auth: string): string | undefined {
  if (typeof auth !== "string") return undefined;
  const match = /^keyring:\/\/(.*)$/is.exec(auth.trim());
  if (!match) return undefined;
  return match[1].replace(/\/+$/, "") || DEFAULT_PROFILE;
}

/** Options of {@linkcode keyringAvailable}. */
export interface KeyringAvailableOptions {
  /** How long to wait for the keyring to answer, in ms. @default {1500} */
  timeout?: number;
}

/**
 * Whether the system keyring can be used now: `@napi-rs/keyring` loads and
 * the keyring answers a read within the timeout. On Linux this needs a D-Bus
 * session bus with a Secret Service (such as gnome-keyring or KeePassXC) on
 * it. Never throws, and returns within about the timeout (plus up to 2 s
 * that the native library itself may block on a Secret Service that has
 * stopped answering).
 *
 * @param options The probe's timeout.
 * @returns `true` when the keyring answered.
 *
 * @example
 * ```ts
 * import { keyringAvailable } from "@kognic/auth/config";
 *
 * console.log(await keyringAvailable({ timeout: 500 }) ? "keyring" : "file");
 * ```
 */
export async function keyringAvailable(options: KeyringAvailableOptions = {}): Promise<boolean> {
  return await probeKeyring(options.timeout ?? KEYRING_PROBE_TIMEOUT);
}

function checkProfile(profile: string): void {
  if (typeof profile !== "string" || profile === "") {
    throw new TypeError("The keyring profile must be a non-empty string");
  }
}

async function credentialsEntry(profile: string): Promise<KeyringEntry> {
  checkProfile(profile);
  return await openKeyringEntry(KEYRING_CREDENTIALS_SERVICE, profile);
}

function parseStored(text: string, profile: string): ApiCredentials {
  const source = `keyring://${profile}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message may quote the text, which holds the secret.
    throw new CredentialsError(
      "credentials_invalid",
      `Bad auth credentials file, must be json: ${source}`,
    );
  }
  return parseCredentials(json, source);
}

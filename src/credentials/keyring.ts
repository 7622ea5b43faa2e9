// Kognic API credentials in the system keyring, stored as the Python `kognic-auth` stores them
// (service `kognic-credentials`, account = profile, value = the credentials file's JSON), through
// the optional peer `@napi-rs/keyring`, loaded on first use. Deno needs `--allow-ffi --allow-env
// --allow-read`.

import {
  callKeyring,
  checkKeyring,
  KEYRING_PROBE_TIMEOUT,
  type KeyringEntry,
  openKeyringEntry,
} from "./keyring_binding.ts";
import { ApiCredentials } from "../core/api_credentials.ts";
import { parseCredentialsText, toFileJson } from "./json.ts";

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
 * @returns The credentials (`source` `keyring://PROFILE`), or `undefined` when none are stored.
 * @throws {CredentialsError} `credentials_invalid` for a stored value that is not a credentials file.
 * @throws {KeyringError} When the keyring is not available or does not answer in time.
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
  return parseCredentialsText(text, `keyring://${profile}`);
}

/**
 * Stores credentials in the system keyring for a profile, replacing what was
 * there: a credentials file's JSON text checked and kept as it is, or
 * {@linkcode ApiCredentials} as a credentials file's JSON.
 *
 * @param credentials A credentials file's JSON text, or credentials with every key a file requires.
 * @param profile The profile (the keyring account). @default {"default"}
 * @throws {CredentialsError} `credentials_invalid` for text that is not a credentials file; nothing is stored.
 * @throws {KeyringError} When the keyring is not available or does not answer in time.
 * @throws {TypeError} For `credentials` of another type, or a `profile` that is not a non-empty string.
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
  const text = typeof credentials === "string"
    ? credentials
    : credentials instanceof ApiCredentials
    ? JSON.stringify(toFileJson(credentials), null, 2)
    : undefined;
  if (text === undefined) {
    throw new TypeError("credentials must be a credentials file's JSON text or ApiCredentials");
  }
  parseCredentialsText(text, `keyring://${profile}`);
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
 * @throws {KeyringError} When the keyring is not available or does not answer in time.
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
 * The profile of a `keyring://PROFILE` auth string (any case, trailing slashes
 * dropped; `keyring://` alone is the default profile).
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
 * Whether the system keyring answers a read within the timeout (on Linux, a
 * Secret Service on the D-Bus session bus). Never throws; returns within about
 * the timeout (plus up to 2 s the native library may block).
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
  return (await checkKeyring(options.timeout ?? KEYRING_PROBE_TIMEOUT)) === undefined;
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

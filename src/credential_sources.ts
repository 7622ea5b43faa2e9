/**
 * The credential sources that need a runtime: the credentials file downloaded
 * from the Kognic platform (read, and every field's type checked) and the
 * `KOGNIC_*` environment variables. The core imports this module lazily.
 *
 * @module
 */

import { type EnvSource, expandHome, getEnv } from "./_env.ts";
import { ApiCredentials, invalid, type ResolveCredentialsOptions } from "./credentials.ts";
import { CredentialsError } from "./errors.ts";

const REQUIRED_KEYS = ["clientId", "clientSecret", "email", "userId", "issuer"] as const;

/**
 * Checks and converts the parsed JSON of a credentials file.
 *
 * @param json The parsed file content.
 * @param source Where it came from (a path), named in errors.
 * @returns The credentials.
 * @throws {CredentialsError} `credentials_invalid`, naming the key and the source.
 *
 * @example
 * ```ts
 * import { parseCredentials } from "@kognic/auth/config";
 *
 * const credentials = parseCredentials({
 *   clientId: "id", clientSecret: "secret", email: "me@example.com", userId: 1, issuer: "kognic",
 * }, "inline");
 * console.log(credentials.clientId); // "id"
 * ```
 */
export function parseCredentials(json: unknown, source: string): ApiCredentials {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid(`Bad auth credentials file, must be a JSON object: ${source}`);
  }
  const data = json as Record<string, unknown>;
  for (const key of REQUIRED_KEYS) {
    if (!(key in data) || data[key] === null || data[key] === undefined) {
      throw invalid(`Missing key ${key} in credentials file ${source}`);
    }
  }
  const text = (key: string, optional = false): string | undefined => {
    const value = data[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || (!optional && value === "")) {
      throw invalid(`Key ${key} in credentials file ${source} must be a non-empty string`);
    }
    return value;
  };
  const userId = data.userId;
  if (typeof userId !== "number" || !Number.isSafeInteger(userId)) {
    throw invalid(`Key userId in credentials file ${source} must be an integer`);
  }
  let scopes: string[] | undefined;
  if (data.scopes !== undefined && data.scopes !== null) {
    if (!Array.isArray(data.scopes) || data.scopes.some((s) => typeof s !== "string")) {
      throw invalid(`Key scopes in credentials file ${source} must be an array of strings`);
    }
    scopes = data.scopes as string[];
  }
  return new ApiCredentials({
    clientId: text("clientId")!,
    clientSecret: text("clientSecret")!,
    email: text("email"),
    userId,
    issuer: text("issuer"),
    name: text("name", true),
    created: parseTimestamp(data.created, "created", source),
    expires: parseTimestamp(data.expires, "expires", source),
    scopes,
  }, source);
}

/**
 * Parses an ISO-8601 timestamp with a `Z` or an offset. Kognic files carry up
 * to nanosecond precision, which is cut to milliseconds. A timestamp without a
 * zone is refused: it names no instant.
 */
function parseTimestamp(value: unknown, key: string, source: string): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const match = typeof value === "string"
    ? /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(
      value.trim(),
    )
    : null;
  if (!match) {
    throw invalid(
      `Key ${key} in credentials file ${source} must be an ISO-8601 timestamp such as "2030-01-01T00:00:00Z"`,
    );
  }
  const [, dateTime, fraction, zone] = match;
  if (!zone) {
    throw invalid(
      `Key ${key} in credentials file ${source} has no time zone; expected a "Z" or an offset`,
    );
  }
  const millis = fraction ? `.${fraction.slice(0, 3).padEnd(3, "0")}` : "";
  const date = new Date(`${dateTime.replace(" ", "T")}${millis}${zone.toUpperCase()}`);
  if (Number.isNaN(date.getTime())) {
    throw invalid(`Key ${key} in credentials file ${source} is not a valid date`);
  }
  return date;
}

/**
 * Reads and checks a credentials file. A leading `~` is expanded; the name
 * must end in `.json` (in any case).
 *
 * @param path The file's path.
 * @param env Environment variables for `~` expansion (`HOME`). @default {the process's}
 * @returns The credentials.
 * @throws {CredentialsError} `credentials_not_found` for a missing file,
 *   `credentials_invalid` for one that is not JSON or misses a key.
 *
 * @example
 * ```ts ignore
 * import { loadCredentials } from "@kognic/auth/config";
 *
 * const credentials = await loadCredentials("~/.config/kognic/credentials.json");
 * console.log(credentials.clientId);
 * ```
 */
export async function loadCredentials(path: string, env?: EnvSource): Promise<ApiCredentials> {
  if (!/\.json$/i.test(path)) {
    throw invalid(`Bad auth credentials file, must be json: ${path}`);
  }
  const fullPath = await expandHome(path, env);
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(fullPath, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR" || (error as Error).name === "NotFound") {
      throw new CredentialsError(
        "credentials_not_found",
        `Could not find API Credentials file at ${fullPath}`,
      );
    }
    throw new CredentialsError(
      "credentials_invalid",
      `Could not read API Credentials file at ${fullPath}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid(`Bad auth credentials file, must be json: ${fullPath}`);
  }
  return parseCredentials(json, fullPath);
}

/**
 * The environment's credentials: `KOGNIC_CREDENTIALS` (a file path or
 * `keyring://PROFILE`), then `KOGNIC_CLIENT_ID` with `KOGNIC_CLIENT_SECRET`,
 * then the system keyring's `default` profile.
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
    // Stored credentials that are bad are reported; a keyring that cannot be
    // used is a source that is not there.
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
  if (!/^\s*keyring:/i.test(auth)) return await loadCredentials(auth, env);
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

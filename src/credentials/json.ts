// The credentials file's JSON, as the Kognic platform writes it: parsed, checked, written back.

import {
  ApiCredentials,
  type ApiCredentialsInit,
  checkCredentials,
  invalid,
} from "../core/api_credentials.ts";
import type { CredentialsError } from "../shared/errors.ts";

const REQUIRED_KEYS = ["clientId", "clientSecret", "email", "userId", "issuer"] as const;

/**
 * Checks and converts the parsed JSON of a credentials file: the required
 * keys, the timestamps, then every field as {@linkcode checkCredentials} does.
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
  const missing = REQUIRED_KEYS.find((key) => data[key] === null || data[key] === undefined);
  if (missing) throw invalid(`Missing key ${missing} in credentials file ${source}`);
  const fields = {
    ...data,
    created: parseTimestamp(data.created, "created", source),
    expires: parseTimestamp(data.expires, "expires", source),
  } as unknown as ApiCredentialsInit;
  // The same check as every other source's, with the file named.
  checkCredentials(fields, `credentials file ${source}`);
  return new ApiCredentials({ ...fields, scopes: fields.scopes ?? undefined }, source);
}

/** A credentials file's text, parsed and checked; the JSON parser's message, which may quote the secret, is dropped. */
export function parseCredentialsText(text: string, source: string): ApiCredentials {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid(`Bad auth credentials file, must be json: ${source}`);
  }
  return parseCredentials(json, source);
}

/** An ISO-8601 timestamp with a `Z` or an offset (none names no instant), cut to ms. */
function parseTimestamp(value: unknown, key: string, source: string): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const match = typeof value === "string"
    ? /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(
      value.trim(),
    )
    : null;
  const bad = (problem: string): CredentialsError =>
    invalid(`Key ${key} in credentials file ${source} ${problem}`);
  if (!match) throw bad('must be an ISO-8601 timestamp such as "2030-01-01T00:00:00Z"');
  const [, dateTime, fraction, zone] = match;
  if (!zone) throw bad('has no time zone; expected a "Z" or an offset');
  const millis = fraction ? `.${fraction.slice(0, 3).padEnd(3, "0")}` : "";
  const date = new Date(`${dateTime.replace(" ", "T")}${millis}${zone.toUpperCase()}`);
  if (Number.isNaN(date.getTime())) throw bad("is not a valid date");
  return date;
}

/**
 * Credentials as the JSON of a credentials file, the inverse of
 * {@linkcode parseCredentials} (dates in ISO 8601, absent keys left out).
 * `clientSecret` replaces the secret, for output that must not show it.
 *
 * @param credentials The credentials.
 * @param clientSecret What to write as `clientSecret`. @default {credentials.clientSecret}
 * @returns The credentials file's JSON object.
 *
 * @example
 * ```ts
 * import { parseCredentials, toFileJson } from "@kognic/auth/config";
 *
 * const credentials = parseCredentials({
 *   clientId: "id", clientSecret: "secret", email: "me@example.com", userId: 1, issuer: "kognic",
 * }, "inline");
 * console.log(JSON.stringify(toFileJson(credentials, "***"))); // {"clientId":"id","clientSecret":"***",...}
 * ```
 */
export function toFileJson(
  credentials: ApiCredentials,
  clientSecret: string = credentials.clientSecret,
): Record<string, unknown> {
  const json: Record<string, unknown> = {
    clientId: credentials.clientId,
    clientSecret,
    email: credentials.email,
    userId: credentials.userId,
    issuer: credentials.issuer,
    name: credentials.name,
    created: credentials.created?.toISOString(),
    expires: credentials.expires?.toISOString(),
    scopes: credentials.scopes,
  };
  for (const key of Object.keys(json)) if (json[key] === undefined) delete json[key];
  return json;
}

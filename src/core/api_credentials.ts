/**
 * Kognic API credentials: the file downloaded from the Kognic platform or an
 * explicit client id and secret, and the forms the `auth` option takes.
 *
 * @module
 */

import type { EnvSource } from "../shared/env.ts";
import { CredentialsError, inspectAsJson, rememberSecret } from "../shared/errors.ts";

/** The fields of a credentials file, as the Kognic platform writes it. */
export interface ApiCredentialsInit {
  /** The OAuth client id. */
  clientId: string;
  /** The OAuth client secret. */
  clientSecret: string;
  /** The e-mail address of the user the credentials belong to. */
  email?: string;
  /** The id of the user the credentials belong to. */
  userId?: number;
  /** The issuer of the credentials. */
  issuer?: string;
  /** A name for the credentials. @default {"API Credentials"} */
  name?: string;
  /** When the credentials were created (a `Date`, or an ISO-8601 timestamp). */
  created?: Date | string;
  /** When the credentials stop working (a `Date`, or an ISO-8601 timestamp). */
  expires?: Date | string;
  /** The scopes to request when no others are given. */
  scopes?: readonly string[];
}

/**
 * A client id and secret with the file's other fields. The secret is private:
 * JSON, `String()` and the inspectors show `[redacted]`.
 *
 * @example
 * ```ts
 * import { ApiCredentials } from "@kognic/auth";
 *
 * const credentials = new ApiCredentials({ clientId: "my-id", clientSecret: "my-secret" });
 * console.log(JSON.stringify(credentials)); // {"clientId":"my-id","clientSecret":"[redacted]",...}
 * ```
 */
export class ApiCredentials {
  /** The OAuth client id. */
  declare readonly clientId: string;
  /** The e-mail address of the user the credentials belong to. */
  declare readonly email: string | undefined;
  /** The id of the user the credentials belong to. */
  declare readonly userId: number | undefined;
  /** The issuer of the credentials. */
  declare readonly issuer: string | undefined;
  /** A name for the credentials. */
  declare readonly name: string;
  /** When the credentials were created. */
  declare readonly created: Date | undefined;
  /** When the credentials stop working. */
  declare readonly expires: Date | undefined;
  /** The scopes to request when no others are given; `undefined` when the file has none. */
  declare readonly scopes: readonly string[] | undefined;
  /** Where the credentials came from, for messages: a file path or a variable name. */
  declare readonly source: string;
  #clientSecret: string;

  /**
   * Creates credentials from their fields.
   *
   * @param init The client id, secret and optional fields.
   * @param source Where the credentials came from, for messages. @default {"explicit credentials"}
   * @throws {CredentialsError} `credentials_invalid` for a bad field, naming it.
   */
  constructor(init: ApiCredentialsInit, source = "explicit credentials") {
    checkCredentials(init, source);
    this.clientId = init.clientId;
    this.#clientSecret = init.clientSecret;
    // Known to the redactor from here on, before any text could carry it.
    rememberSecret(init.clientSecret);
    this.email = init.email;
    this.userId = init.userId;
    this.issuer = init.issuer;
    this.name = init.name ?? "API Credentials";
    this.created = toDate(init.created);
    this.expires = toDate(init.expires);
    this.scopes = init.scopes && Object.freeze([...init.scopes]);
    this.source = source;
  }

  /** The OAuth client secret. Read it only to send it to the token endpoint. */
  get clientSecret(): string {
    return this.#clientSecret;
  }

  /**
   * Throws when the credentials have expired by `now` (ms since the epoch).
   *
   * @throws {CredentialsError} `credentials_expired`, naming the time and the source.
   */
  assertNotExpired(now: number = Date.now()): void {
    if (this.expires && this.expires.getTime() <= now) {
      throw new CredentialsError(
        "credentials_expired",
        `Credentials expired at ${this.expires.toISOString()} (${this.source})`,
      );
    }
  }

  /** The fields without the secret, which shows as `[redacted]`. */
  toJSON(): Record<string, unknown> {
    return {
      clientId: this.clientId,
      clientSecret: "[redacted]",
      ...(this as Record<string, unknown>),
      created: this.created?.toISOString(),
      expires: this.expires?.toISOString(),
    };
  }

  /** A short description without the secret. */
  toString(): string {
    return `ApiCredentials(${this.clientId}, ${this.source})`;
  }
}
inspectAsJson(ApiCredentials, "ApiCredentials");

/** The forms the `auth` option takes. */
export type AuthInput =
  | string
  | readonly [clientId: string, clientSecret: string]
  | ApiCredentials
  | ApiCredentialsInit;

/** Options of {@linkcode resolveCredentials}. */
export interface ResolveCredentialsOptions {
  /** A file path, `keyring://PROFILE`, an id-secret pair or credentials; else the environment and keyring. */
  auth?: AuthInput;
  /** A client id, given together with `clientSecret` instead of `auth`. */
  clientId?: string;
  /** A client secret, given together with `clientId` instead of `auth`. */
  clientSecret?: string;
  /** Environment variables to read instead of the process's. */
  env?: EnvSource;
  /** The explicit sources' name in "No credentials found" (`"--credentials"`). @default {"the auth option, the clientId and clientSecret options"} */
  explicitSourceName?: string;
}

/** A `credentials_invalid` error with the message. */
export function invalid(message: string): CredentialsError {
  return new CredentialsError("credentials_invalid", message);
}

/**
 * The one check of credentials' fields, whatever their source (`where`): id
 * and secret non-empty strings, the others of their type when present; else a
 * `credentials_invalid` error naming the field and `where`.
 */
export function checkCredentials(init: ApiCredentialsInit, where: string): void {
  const data = (init ?? {}) as unknown as Record<string, unknown>;
  const rules: [string[], (value: unknown) => unknown, string, boolean?][] = [
    [["clientId", "clientSecret"], nonEmpty, "a non-empty string", true],
    [["email", "issuer"], nonEmpty, "a non-empty string"],
    [["name"], isString, "a string"],
    [["userId"], Number.isSafeInteger, "an integer"],
    [["scopes"], (value) => Array.isArray(value) && value.every(isString), "an array of strings"],
    [["created", "expires"], toDate, "a Date or an ISO-8601 timestamp"],
  ];
  for (const [keys, ok, what, required] of rules) {
    for (const key of keys) {
      const value = data[key];
      if ((value != null || required) && !ok(value)) {
        throw invalid(`Key ${key} in ${where} must be ${what}`);
      }
    }
  }
}

/** A `Date` from a `Date` or a timestamp string; `undefined` when absent or invalid. */
function toDate(value: unknown): Date | undefined {
  const date = value instanceof Date ? value : new Date(typeof value == "string" ? value : NaN);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isString(value: unknown): value is string {
  return typeof value == "string";
}

function nonEmpty(value: unknown): value is string {
  return isString(value) && value !== "";
}

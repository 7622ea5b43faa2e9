/**
 * Kognic API credentials: the file downloaded from the Kognic platform or an
 * explicit client id and secret, and the forms the `auth` option takes.
 *
 * @module
 */

import { inspectAsJson } from "../shared/redact.ts";
import type { EnvSource } from "../shared/env.ts";
import { CredentialsError } from "../shared/errors.ts";

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
 * A client id and secret with the file's other fields. The secret is kept in
 * a private field: `JSON.stringify`, `String()`, `console.log` and the Deno
 * and Node inspectors show `[redacted]` in its place.
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
  readonly clientId: string;
  /** The e-mail address of the user the credentials belong to. */
  readonly email: string | undefined;
  /** The id of the user the credentials belong to. */
  readonly userId: number | undefined;
  /** The issuer of the credentials. */
  readonly issuer: string | undefined;
  /** A name for the credentials. */
  readonly name: string;
  /** When the credentials were created. */
  readonly created: Date | undefined;
  /** When the credentials stop working. */
  readonly expires: Date | undefined;
  /** The scopes to request when no others are given; `undefined` when the file has none. */
  readonly scopes: readonly string[] | undefined;
  /** Where the credentials came from, for messages: a file path or a variable name. */
  readonly source: string;
  #clientSecret: string;

  /**
   * Creates credentials from their fields.
   *
   * @param init The client id, secret and optional fields.
   * @param source Where the credentials came from, for messages. @default {"explicit credentials"}
   * @throws {TypeError} When the client id or secret is not a non-empty string,
   *   a date is not a date, or scopes are not a list of strings.
   */
  constructor(init: ApiCredentialsInit, source = "explicit credentials") {
    if (typeof init?.clientId !== "string" || init.clientId === "") {
      throw new TypeError("clientId must be a non-empty string");
    }
    if (typeof init.clientSecret !== "string" || init.clientSecret === "") {
      throw new TypeError("clientSecret must be a non-empty string");
    }
    this.clientId = init.clientId;
    this.#clientSecret = init.clientSecret;
    this.email = init.email;
    this.userId = init.userId;
    this.issuer = init.issuer;
    this.name = init.name ?? "API Credentials";
    this.created = toDate(init.created, "created");
    this.expires = toDate(init.expires, "expires");
    const scopes: unknown = init.scopes;
    if (
      scopes != null && (!Array.isArray(scopes) || scopes.some((s) => typeof s !== "string"))
    ) {
      throw new TypeError("scopes must be an array of strings");
    }
    this.scopes = scopes ? Object.freeze([...scopes as string[]]) : undefined;
    this.source = source;
  }

  /** The OAuth client secret. Read it only to send it to the token endpoint. */
  get clientSecret(): string {
    return this.#clientSecret;
  }

  /**
   * Throws when the credentials have expired.
   *
   * @param now The current time in milliseconds since the epoch. @default {Date.now()}
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
    // The public fields in their order, the secret (a private field) left out.
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
  /**
   * A credentials file path (`~` expanded), `keyring://PROFILE`, a
   * `[clientId, clientSecret]` pair, or a credentials object. When absent,
   * the environment and the keyring are searched.
   */
  auth?: AuthInput;
  /** A client id, given together with `clientSecret` instead of `auth`. */
  clientId?: string;
  /** A client secret, given together with `clientId` instead of `auth`. */
  clientSecret?: string;
  /** Environment variables to read instead of the process's. */
  env?: EnvSource;
  /**
   * How the explicit sources are named in the "No credentials found" message,
   * such as `"--credentials"` in a CLI.
   * @default {"the auth option, the clientId and clientSecret options"}
   */
  explicitSourceName?: string;
}

/** A `credentials_invalid` error with the message. */
export function invalid(message: string): CredentialsError {
  return new CredentialsError("credentials_invalid", message);
}

/** A `Date` from a `Date` or a timestamp string, as a credentials object may hold either. */
function toDate(value: unknown, key: string): Date | undefined {
  if (value == null) return undefined;
  const date = value instanceof Date ? value : new Date(typeof value === "string" ? value : NaN);
  if (Number.isNaN(date.getTime())) {
    throw new TypeError(`${key} must be a Date or an ISO-8601 timestamp`);
  }
  return date;
}

/** Whether `value` is a non-empty string. */
export function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

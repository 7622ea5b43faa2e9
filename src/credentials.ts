/**
 * Kognic API credentials: the file downloaded from the Kognic platform, an
 * explicit client id and secret, or the `KOGNIC_*` environment variables.
 *
 * @module
 */

import { type EnvSource, expandHome, getEnv } from "./_env.ts";
import { CredentialsError } from "./errors.ts";

const inspectDeno = Symbol.for("Deno.customInspect");
const inspectNode = Symbol.for("nodejs.util.inspect.custom");

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
  /** When the credentials were created. */
  created?: Date;
  /** When the credentials stop working. */
  expires?: Date;
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
   * @throws {TypeError} When the client id or secret is not a non-empty string.
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
    this.created = init.created;
    this.expires = init.expires;
    this.scopes = init.scopes ? Object.freeze([...init.scopes]) : undefined;
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
    return {
      clientId: this.clientId,
      clientSecret: "[redacted]",
      email: this.email,
      userId: this.userId,
      issuer: this.issuer,
      name: this.name,
      created: this.created?.toISOString(),
      expires: this.expires?.toISOString(),
      scopes: this.scopes,
      source: this.source,
    };
  }

  /** A short description without the secret. */
  toString(): string {
    return `ApiCredentials(${this.clientId}, ${this.source})`;
  }

  /** Deno's inspector shows the redacted form. */
  [inspectDeno](): string {
    return `ApiCredentials ${JSON.stringify(this.toJSON())}`;
  }

  /** Node's inspector shows the redacted form. */
  [inspectNode](): string {
    return `ApiCredentials ${JSON.stringify(this.toJSON())}`;
  }
}

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
 * import { parseCredentials } from "@kognic/auth";
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
 * import { loadCredentials } from "@kognic/auth";
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

/** The forms the `auth` option takes. */
export type AuthInput =
  | string
  | readonly [clientId: string, clientSecret: string]
  | ApiCredentials
  | ApiCredentialsInit;

/** Options of {@linkcode resolveCredentials}. */
export interface ResolveCredentialsOptions {
  /**
   * A credentials file path (`~` expanded), a `[clientId, clientSecret]`
   * pair, or a credentials object. When absent, the environment is searched.
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

/**
 * Finds credentials: from the options when given, else from
 * `KOGNIC_CREDENTIALS` (a file path), else from `KOGNIC_CLIENT_ID` and
 * `KOGNIC_CLIENT_SECRET`. Does not check expiry.
 *
 * @param options Explicit credentials and the environment to search.
 * @returns The credentials found.
 * @throws {CredentialsError} When none are found (listing the sources tried),
 *   when a file is missing or bad, or when only one variable of the pair is set.
 * @throws {TypeError} When `auth` is combined with `clientId`/`clientSecret`,
 *   or has an unknown form.
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
  if (explicit !== undefined) {
    return typeof explicit === "string" ? await loadCredentials(explicit, options.env) : explicit;
  }
  const env = options.env;
  const file = getEnv("KOGNIC_CREDENTIALS", env);
  if (file) return await loadCredentials(file, env);
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
  // The keyring's `default` profile becomes the third source here.
  throw new CredentialsError(
    "credentials_not_found",
    `No credentials found. Tried: ${
      options.explicitSourceName ?? "the auth option, the clientId and clientSecret options"
    }, KOGNIC_CREDENTIALS (a credentials file path), KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET`,
  );
}

/**
 * The credentials given in options, checked synchronously: a path to read
 * later, or ready credentials. `undefined` when the options give none.
 *
 * @throws {TypeError} For conflicting or malformed options.
 * @throws {CredentialsError} For a credentials object with bad fields.
 */
export function explicitCredentials(
  options: ResolveCredentialsOptions,
): string | ApiCredentials | undefined {
  const { auth, clientId, clientSecret } = options;
  if (auth !== undefined && (clientId !== undefined || clientSecret !== undefined)) {
    throw new TypeError("Choose either auth or clientId+clientSecret, not both");
  }
  if (clientId !== undefined || clientSecret !== undefined) {
    if (typeof clientId !== "string" || clientId === "") {
      throw new TypeError(
        "The clientId option must be a non-empty string when clientSecret is given",
      );
    }
    if (typeof clientSecret !== "string" || clientSecret === "") {
      throw new TypeError(
        "The clientSecret option must be a non-empty string when clientId is given",
      );
    }
    return new ApiCredentials({ clientId, clientSecret }, "the clientId and clientSecret options");
  }
  if (auth === undefined || auth === null) return undefined;
  if (typeof auth === "string") {
    if (auth === "") throw new TypeError("The auth option must not be an empty string");
    return auth;
  }
  if (auth instanceof ApiCredentials) return auth;
  if (Array.isArray(auth)) {
    const [id, secret] = auth;
    if (
      auth.length !== 2 || typeof id !== "string" || typeof secret !== "string" || !id || !secret
    ) {
      throw new TypeError("Credentials tuple must be [clientId, clientSecret]");
    }
    return new ApiCredentials({ clientId: id, clientSecret: secret }, "the auth option");
  }
  if (typeof auth === "object") {
    const init = auth as ApiCredentialsInit;
    if (typeof init.clientId !== "string" || !init.clientId) {
      throw new TypeError("The auth object must have a non-empty string clientId");
    }
    if (typeof init.clientSecret !== "string" || !init.clientSecret) {
      throw new TypeError("The auth object must have a non-empty string clientSecret");
    }
    return new ApiCredentials(init, "the auth option");
  }
  throw new TypeError(
    "The auth option must be a credentials file path, a [clientId, clientSecret] pair " +
      "or a credentials object",
  );
}

function invalid(message: string): CredentialsError {
  return new CredentialsError("credentials_invalid", message);
}

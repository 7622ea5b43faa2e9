/**
 * The errors this package throws for conditions a caller can handle, and the
 * secrets their messages never hold, remembered here the moment each exists.
 * Apart from redact.ts, whose redactor every message passes, for the size
 * budget: the core loads this on import, redact.ts lazily.
 *
 * @module
 */

/** Secrets, most recently used last (client secrets are re-registered each attempt, so token churn keeps them). */
export const knownSecrets: string[] = [];

/** Remembers a secret for the redactor; under 4 characters it is not (removing it would mangle text). */
export function rememberSecret(secret: unknown): void {
  if (typeof secret != "string" || secret.length < 4) return;
  const index = knownSecrets.indexOf(secret);
  if (index >= 0) knownSecrets.splice(index, 1);
  if (knownSecrets.push(secret) > 128) knownSecrets.shift();
}

/** The redactor errors and `emit` call: the identity until redact.ts installs itself. */
export const redactor: { text(text: string): string; value<T>(value: T): T } = {
  text: (text) => text,
  value: (value) => value,
};

/** Makes the Deno and Node inspectors print `Name {...toJSON()}`, never a #private secret. */
export function inspectAsJson(target: { prototype: { toJSON(): unknown } }, name: string): void {
  for (const key of ["Deno.customInspect", "nodejs.util.inspect.custom"]) {
    Object.defineProperty(target.prototype, Symbol.for(key), {
      value(this: { toJSON(): unknown }): string {
        return `${name} ${JSON.stringify(this.toJSON())}`;
      },
    });
  }
}

/** Stable codes of the core's errors (the API client's: {@linkcode ApiErrorCode}). */
export type KognicAuthErrorCode =
  | "credentials_not_found"
  | "credentials_invalid"
  | "credentials_expired"
  | "configuration_invalid"
  | "keyring_unavailable"
  | "oauth_error"
  | "token_response_invalid"
  | "token_timeout"
  | "token_network_error";

/** Stable codes of the API client's errors (`@kognic/auth/client`). */
export type ApiErrorCode = "api_error" | "api_timeout" | "api_network_error";

/** Sets an error's fields as read-only, enumerable own properties: every error class's one way. */
export function setErrorFields(error: Error, fields: Record<string, unknown>): void {
  for (const key in fields) {
    Object.defineProperty(error, key, { value: fields[key], enumerable: true });
  }
}

/**
 * Base class of every error this package throws for a condition a caller can
 * handle (the core's, the keyring's and the API client's), never thrown
 * itself: each code belongs to one subclass (see `KognicAuthErrors`). All
 * fields are read-only. Misuse of the API throws `TypeError` instead.
 *
 * @example Telling errors apart by class or by code
 * ```ts
 * import { AuthSession, CredentialsError, KognicAuthError, OAuthError, TokenError } from "@kognic/auth";
 *
 * try {
 *   await new AuthSession({ auth: ["id", "secret"] }).getAccessToken();
 * } catch (error) {
 *   if (error instanceof CredentialsError) console.error("Check the credentials:", error.message);
 *   else if (error instanceof OAuthError && error.error === "invalid_client") console.error("Bad secret");
 *   else if (error instanceof TokenError && error.retryable) console.error("Try again later");
 *   else if (error instanceof KognicAuthError) console.error(error.code, error.message);
 * }
 * ```
 */
export abstract class KognicAuthError extends Error {
  /** The condition's stable code; each subclass narrows it to its own. */
  declare readonly code: KognicAuthErrorCode | ApiErrorCode;

  /** Creates the error. */
  constructor(code: KognicAuthErrorCode | ApiErrorCode, message: string, options?: ErrorOptions) {
    // Redacted so neither message nor stack holds a secret (causes: `redactCause`).
    super(redactor.text(message), options);
    setErrorFields(this, { code });
  }
}

/**
 * Credentials could not be found, read or accepted (a missing or malformed
 * file, half a pair of variables, expired credentials), before any network call.
 */
export class CredentialsError extends KognicAuthError {
  /** The condition's stable code. */
  declare readonly code: "credentials_not_found" | "credentials_invalid" | "credentials_expired";

  /** Creates the error. */
  constructor(code: CredentialsError["code"], message: string, options?: ErrorOptions) {
    super(code, message, options);
    setErrorFields(this, { name: "CredentialsError" });
  }
}

/** A setting is unusable, such as a token server URL that is not https. */
export class ConfigurationError extends KognicAuthError {
  /** `configuration_invalid`, or `keyring_unavailable` for a `KeyringError`. */
  declare readonly code: "configuration_invalid" | "keyring_unavailable";

  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super("configuration_invalid", message, options);
    setErrorFields(this, { name: "ConfigurationError" });
  }
}

/** Options of {@linkcode TokenError}. */
export interface TokenErrorOptions extends ErrorOptions {
  /** HTTP status of the token endpoint's response, when there was one. */
  status?: number;
  /** Whether the same request may succeed if tried again later. */
  retryable: boolean;
  /** How many requests were sent to the token endpoint, retries included. @default {1} */
  attempts?: number;
  /** The wait the server asked for with `Retry-After`, in milliseconds. */
  retryAfter?: number;
}

/**
 * Base class of the errors of a token request (one subclass per code): the
 * server's refusal ({@linkcode OAuthError}), a malformed response
 * ({@linkcode TokenResponseError}), a timeout ({@linkcode TokenTimeoutError})
 * or a network failure ({@linkcode TokenNetworkError}). Caught as
 * {@linkcode KognicAuthError}'s example shows.
 */
export abstract class TokenError extends KognicAuthError {
  /** The condition's stable code. */
  declare readonly code:
    | "oauth_error"
    | "token_response_invalid"
    | "token_timeout"
    | "token_network_error";
  /** HTTP status of the token endpoint's response, when there was one. */
  declare readonly status: number | undefined;
  /** Whether the same request may succeed if tried again later. */
  declare readonly retryable: boolean;
  /** How many requests were sent to the token endpoint, retries included. */
  declare readonly attempts: number;
  /** The wait the server asked for with `Retry-After`, in milliseconds. */
  declare readonly retryAfter: number | undefined;

  /** Creates the error. */
  constructor(code: TokenError["code"], message: string, options: TokenErrorOptions) {
    super(code, message, options);
    setErrorFields(this, {
      status: options.status,
      retryable: options.retryable,
      attempts: options.attempts ?? 1,
      retryAfter: options.retryAfter,
    });
  }
}

/** Options of {@linkcode OAuthError}. */
export interface OAuthErrorOptions extends TokenErrorOptions {
  /** The `error` code of the response body (RFC 6749 section 5.2), if it had one. */
  error?: string;
  /** The `error_description` of the response body, if it had one. */
  errorDescription?: string;
  /** The `error_uri` of the response body, if it had one. */
  errorUri?: string;
}

/**
 * The token endpoint answered with an HTTP error, such as `invalid_client`
 * (RFC 6749 section 5.2), a rate limit or a server error.
 */
export class OAuthError extends TokenError {
  /** The condition's stable code. */
  declare readonly code: "oauth_error";
  /** The `error` code of the response body (RFC 6749 section 5.2), if it had one. */
  declare readonly error: string | undefined;
  /** The `error_description` of the response body, if it had one. */
  declare readonly errorDescription: string | undefined;
  /** The `error_uri` of the response body, if it had one. */
  declare readonly errorUri: string | undefined;

  /** Creates the error. */
  constructor(message: string, options: OAuthErrorOptions) {
    super("oauth_error", message, options);
    setErrorFields(this, {
      name: "OAuthError",
      error: options.error,
      errorDescription: options.errorDescription,
      errorUri: options.errorUri,
    });
  }
}

/**
 * The token endpoint answered 2xx with no usable token: not JSON, no
 * `access_token`, a `token_type` other than bearer, or a bad `expires_in`.
 */
export class TokenResponseError extends TokenError {
  /** The condition's stable code. */
  declare readonly code: "token_response_invalid";
  /** Creates the error. */
  constructor(message: string, options: TokenErrorOptions) {
    super("token_response_invalid", message, options);
    setErrorFields(this, { name: "TokenResponseError" });
  }
}

/** A token request took longer than the session's `timeout` (or `totalTimeout`). */
export class TokenTimeoutError extends TokenError {
  /** The condition's stable code. */
  declare readonly code: "token_timeout";
  /** Creates the error. */
  constructor(message: string, options: TokenErrorOptions) {
    super("token_timeout", message, options);
    setErrorFields(this, { name: "TokenTimeoutError" });
  }
}

/**
 * The token endpoint could not be reached (connection refused or reset, a
 * name that does not resolve); the underlying error is the `cause`.
 */
export class TokenNetworkError extends TokenError {
  /** The condition's stable code. */
  declare readonly code: "token_network_error";
  /** Creates the error. */
  constructor(message: string, options: TokenErrorOptions) {
    super("token_network_error", message, options);
    setErrorFields(this, { name: "TokenNetworkError" });
  }
}

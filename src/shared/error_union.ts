/**
 * The union of the core's error classes, for narrowing on `code`.
 *
 * @module
 */

import type {
  ConfigurationError,
  CredentialsError,
  OAuthError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "./errors.ts";
import type { KeyringError } from "./keyring.ts";

/**
 * The core's errors, told apart by their `code`: a `switch (error.code)`
 * narrows to the class, so each case sees its class's own fields.
 *
 * @example
 * ```ts
 * import { AuthSession, type KognicAuthErrors } from "@kognic/auth";
 *
 * function advice(error: KognicAuthErrors): string {
 *   switch (error.code) {
 *     case "oauth_error":
 *       return error.error === "invalid_client" ? "check the client id and secret" : "try later";
 *     case "keyring_unavailable":
 *       return error.unreachable ? "start a Secret Service" : error.message;
 *     default:
 *       return error.message;
 *   }
 * }
 * try {
 *   await new AuthSession({ auth: ["id", "secret"] }).getAccessToken();
 * } catch (error) {
 *   console.error(advice(error as KognicAuthErrors));
 * }
 * ```
 */
export type KognicAuthErrors =
  | CredentialsError
  | (ConfigurationError & { readonly code: "configuration_invalid" })
  | KeyringError
  | OAuthError
  | TokenResponseError
  | TokenTimeoutError
  | TokenNetworkError;

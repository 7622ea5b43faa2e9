/**
 * OAuth 2.0 client-credentials authentication for Kognic APIs, on Deno, Node,
 * Bun, browsers and edge runtimes: {@linkcode AuthSession} gives a `fetch`
 * that adds a bearer token, caches and renews it, recovers from a 401 and
 * sends it only to allowed origins. Credentials come from the `auth` option,
 * the `KOGNIC_CREDENTIALS` file, the `KOGNIC_CLIENT_ID` and
 * `KOGNIC_CLIENT_SECRET` variables or the system keyring, as in Kognic's
 * Python `kognic-auth`; files, `environments.json`, token caches and the
 * keyring are in `@kognic/auth/config`.
 *
 * @example
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 *
 * const session = new AuthSession({ auth: "~/.config/kognic/credentials.json" });
 * const response = await session.fetch("https://app.kognic.com/v1/projects");
 * console.log(await response.json());
 * ```
 *
 * @module
 */

// Wires files, variables, the keyring and environments.json into the core.
import "./src/runtime/install.ts";

export { AuthSession } from "./src/core/session.ts";
export {
  type AuthSessionOptions,
  type ClientAuth,
  DEFAULT_AUTH_SERVER,
  DEFAULT_LEEWAY,
  DEFAULT_TOKEN_ENDPOINT,
  DEFAULT_TOKEN_TIMEOUT,
  type EnvironmentSessionOptions,
  type GetTokenOptions,
  type RequestTokenOptions,
  type RetryOptions,
  type TokenEndpointAuthMethod,
} from "./src/core/options.ts";
export {
  ApiCredentials,
  type ApiCredentialsInit,
  type AuthInput,
  type ResolveCredentialsOptions,
} from "./src/core/api_credentials.ts";
export { resolveCredentials } from "./src/core/runtime.ts";
export {
  AccessToken,
  type TokenResponse,
  type TokenSet,
  tokenSetFromResponse,
} from "./src/core/access_token.ts";
export { requestToken } from "./src/core/request_token.ts";
export {
  ConfigurationError,
  CredentialsError,
  KognicAuthError,
  type KognicAuthErrorCode,
  OAuthError,
  type OAuthErrorOptions,
  TokenError,
  type TokenErrorOptions,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "./src/shared/errors.ts";
export type { KognicAuthErrors } from "./src/credentials/keyring_binding.ts";
export type { KeyringError, KeyringErrorOptions } from "./src/credentials/keyring_binding.ts";
export type { EnvSource } from "./src/shared/env.ts";
export type { TokenCache } from "./src/core/token_cache.ts";
export type {
  ApiRetryEventEntry,
  AuthEvent,
  AuthEventListener,
  CacheEvent,
  CacheLockWaitEvent,
  DeprecationEvent,
  ReplayEvent,
  TokenAcquiredEvent,
  TokenFailedEvent,
  TokenRenewalEvent,
  TokenRequestEvent,
  TokenResponseEvent,
  TokenRetryEvent,
  UnauthenticatedRequestEvent,
} from "./src/core/events.ts";

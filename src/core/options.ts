/**
 * The session's and the token request's options and defaults. This module
 * has no runtime imports, so every layer can read the defaults without
 * loading another.
 *
 * @module
 */

import type { AccessToken, TokenSet } from "./access_token.ts";
import type { AuthInput } from "./api_credentials.ts";
import type { TokenCache } from "./token_cache.ts";
import type { EnvSource } from "../shared/env.ts";

/** The default Kognic auth server. */
export const DEFAULT_AUTH_SERVER = "https://auth.app.kognic.com";
/** The default token endpoint path, joined to the auth server. */
export const DEFAULT_TOKEN_ENDPOINT = "/v1/auth/oauth/token";
/** The default leeway: a token is renewed when less than this is left (or half its lifetime). */
export const DEFAULT_LEEWAY = 60_000;

/** Options of {@linkcode AuthSession}. */
export interface AuthSessionOptions {
  /**
   * Credentials: a credentials file path (`~` expanded, must end in `.json`),
   * `keyring://PROFILE`, a `[clientId, clientSecret]` pair or a credentials
   * object. When neither this nor `clientId`/`clientSecret` is given,
   * `KOGNIC_CREDENTIALS`, then `KOGNIC_CLIENT_ID` with `KOGNIC_CLIENT_SECRET`,
   * then the system keyring's `default` profile are used.
   */
  auth?: AuthInput;
  /** A client id, with `clientSecret`, instead of `auth`. */
  clientId?: string;
  /** A client secret, with `clientId`, instead of `auth`. */
  clientSecret?: string;
  /** The auth server. @default {"https://auth.app.kognic.com"} */
  authServer?: string;
  /** The token endpoint: a path joined to `authServer`, or an absolute URL. @default {"/v1/auth/oauth/token"} */
  tokenEndpoint?: string;
  /**
   * The scopes to request. When absent, the credentials file's `scopes` are
   * used; an empty list requests no scope and stops that fall-back.
   */
  scopes?: readonly string[];
  /**
   * The origins that receive the token, such as `"https://api.example.com"`
   * or `"https://*.example.com"` (any subdomain), matched on scheme, host and
   * port. @default {the auth server's domain without "auth." and its subdomains, over https; a loopback auth server's own origin}
   */
  allowedOrigins?: readonly string[];
  /** The fetch used for token and API requests. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** The timeout of each token request in milliseconds. @default {10000} */
  timeout?: number;
  /**
   * The most time one token request may take in all, retries and the waits
   * between them included, in milliseconds; when it runs out, the request
   * fails with a `TokenTimeoutError` that names the attempts and the last
   * cause. @default {no limit beyond `timeout` and `retry`}
   */
  totalTimeout?: number;
  /** How token requests are retried. @default {{ limit: 3, baseDelay: 200, maxDelay: 5000, maxRetryAfter: 30000 }} */
  retry?: RetryOptions;
  /** Renew a token when less than this is left, in milliseconds (or half its lifetime if shorter). @default {60000} */
  leeway?: number;
  /** Allow a plain-http auth server that is not a loopback address. @default {false} */
  allowInsecureHttp?: boolean;
  /** A token to start with, such as one saved from `onTokenUpdated`. */
  initialToken?: TokenSet;
  /** Called with each new token, for example to save it. */
  onTokenUpdated?: (token: AccessToken) => void;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
  /** Environment variables to read instead of the process's. */
  env?: EnvSource;
  /**
   * A token cache shared with other sessions and processes, such as
   * `FileTokenCache` or `createTokenCache("auto")` from `@kognic/auth/config`.
   * A cached token is used while more than 30 s and the renewal margin are
   * left; concurrent processes on a cold cache make one token request.
   */
  tokenCache?: TokenCache;
}

/** Options of {@linkcode AuthSession.forEnvironment}. */
export interface EnvironmentSessionOptions extends AuthSessionOptions {
  /** The environment's name in `environments.json`, as `--env` gives it. */
  environment?: string;
  /** A request URL: the environment is the one whose host matches it best. */
  url?: string | URL;
  /** The environments file. @default {"$XDG_CONFIG_HOME/kognic/environments.json"} */
  environmentsFile?: string;
}

/** Options of {@linkcode AuthSession.getAccessToken}. */
export interface GetTokenOptions {
  /** Cancels waiting for the token. */
  signal?: AbortSignal;
  /** Request a new token even if the cached one is still fresh. @default {false} */
  forceRefresh?: boolean;
}

/** How token requests are retried. */
export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. @default {3} */
  limit?: number;
  /** The first backoff's upper bound in milliseconds; each retry doubles it. @default {200} */
  baseDelay?: number;
  /** The longest backoff in milliseconds. @default {5000} */
  maxDelay?: number;
  /** The longest `Retry-After` honoured, in milliseconds; a longer one fails at once. @default {30000} */
  maxRetryAfter?: number;
}

/** The default timeout of one token request, in milliseconds. */
export const DEFAULT_TOKEN_TIMEOUT = 10_000;

/** The client id and secret a token request authenticates with. */
export interface ClientAuth {
  /** The OAuth client id. */
  readonly clientId: string;
  /** The OAuth client secret. */
  readonly clientSecret: string;
}

/** Options of {@linkcode requestToken}. */
export interface RequestTokenOptions {
  /** The token endpoint's full URL. */
  tokenUrl: URL | string;
  /** The client id and secret, sent in the form body (`client_secret_post`). */
  credentials: ClientAuth;
  /** The scopes to request; none when absent or empty. */
  scopes?: readonly string[];
  /** A refresh token: when given, the refresh-token grant is used instead of client credentials. */
  refreshToken?: string;
  /** The fetch to send the request with. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** The timeout of each attempt in milliseconds. @default {10000} */
  timeout?: number;
  /**
   * The most time the request may take in all, retries and the waits between
   * them included, in milliseconds. @default {no limit beyond `timeout` and `retry`}
   */
  totalTimeout?: number;
  /** How to retry network errors, timeouts, 5xx, 408 and 429. */
  retry?: RetryOptions;
  /** Cancels the request and any wait between retries. */
  signal?: AbortSignal;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
}

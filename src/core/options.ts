/**
 * The session's and the token request's options and defaults; no runtime imports.
 *
 * @module
 */

import type { AccessToken, TokenSet } from "./access_token.ts";
import type { AuthInput } from "./api_credentials.ts";
import type { TokenCache } from "./token_cache.ts";
import type { EnvSource } from "../shared/env.ts";
import type { AuthEventListener } from "./events.ts";

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
  /** The scopes to request. @default {the credentials file's `scopes`; `[]` requests none} */
  scopes?: readonly string[];
  /**
   * The origins that receive the token, such as `"https://*.example.com"`
   * (any subdomain), compared in normal form; only over https (or http to
   * loopback, or any with `allowInsecureHttp`), never with userinfo. @default {the auth server's domain without "auth." and its subdomains, over https; a loopback auth server's own origin}
   */
  allowedOrigins?: readonly string[];
  /** The fetch used for token and API requests. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** The timeout of each token request in milliseconds. @default {10000} */
  timeout?: number;
  /** The most time one token request may take with its retries, in ms; then a `TokenTimeoutError`. @default {no limit beyond `timeout` and `retry`} */
  totalTimeout?: number;
  /** How token requests are retried. @default {{ limit: 3, baseDelay: 200, maxDelay: 5000, maxRetryAfter: 30000 }} */
  retry?: RetryOptions;
  /** Renew a token when less than this is left, in milliseconds (or half its lifetime if shorter). @default {60000} */
  leeway?: number;
  /** How the client authenticates at the token endpoint. @default {"client_secret_post"} */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** Allow a non-loopback plain-http auth server and allowed origins. @default {false} */
  allowInsecureHttp?: boolean;
  /** A token to start with, such as one saved from `onTokenUpdated`. */
  initialToken?: TokenSet;
  /**
   * Gets each new token elsewhere instead of the client-credentials grant (in
   * a browser, from the user's backend: a secret never ships to a browser).
   * Called as a token request would be, one in flight; the signal aborts when
   * its starter gives up. Not combined with credentials or `tokenCache`.
   */
  tokenProvider?: (options: { signal: AbortSignal }) => Promise<TokenSet>;
  /** Called with each new token; one that throws or rejects is reported on `console.error` and ignored. */
  onTokenUpdated?: (token: AccessToken) => unknown;
  /**
   * Called with each `AuthEvent`, never given a secret or a token; a listener
   * that throws or rejects is ignored. @default {none: a request sent without the token because its origin is not allowed is reported on stderr once per origin; with `KOGNIC_AUTH_LOG=debug|info|warn` set, events of that level and above are written there too; `KOGNIC_AUTH_LOG=off` writes nothing}
   */
  onEvent?: AuthEventListener;
  /** The clock, in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
  /** Environment variables to read instead of the process's. */
  env?: EnvSource;
  /** A token cache shared with other sessions and processes (`@kognic/auth/config`). */
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

/** Options of {@linkcode AuthSession.getToken}, `getAccessToken` and `getRequestHeaders`. */
export interface GetTokenOptions {
  /** Cancels waiting for the token. */
  signal?: AbortSignal;
  /** Request a new token even if the cached one is still fresh. @default {false} */
  forceRefresh?: boolean;
}

/**
 * How token and API requests are retried: full-jitter backoff up to
 * `min(maxDelay, baseDelay * 2 ** (n - 1))`, or `Retry-After` up to `maxRetryAfter`.
 */
export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. @default {3} */
  limit?: number;
  /** The first backoff's upper bound in milliseconds; each retry doubles it. @default {200 for token requests, 500 for API requests} */
  baseDelay?: number;
  /** The longest backoff in milliseconds. @default {5000 for token requests, 30000 for API requests} */
  maxDelay?: number;
  /** The longest `Retry-After` honoured, in ms; a longer one fails at once. @default {30000 for token requests, 60000 for API requests} */
  maxRetryAfter?: number;
  /** The API request methods retried (token requests always are). @default {["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]} */
  methods?: readonly string[];
  /** The API response statuses retried (token requests: 408, 425, 429, 5xx). @default {[429, 502, 503, 504]} */
  statuses?: readonly number[];
}

/** The default timeout of one token request, in milliseconds. */
export const DEFAULT_TOKEN_TIMEOUT = 10_000;

/** RFC 7591's token endpoint auth methods: the secret in the form body, or in `Authorization: Basic`. */
export type TokenEndpointAuthMethod = "client_secret_post" | "client_secret_basic";

/** The token endpoint authentication methods, in the order they are documented. */
export const TOKEN_ENDPOINT_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  "client_secret_post",
  "client_secret_basic",
];

/** The client id and secret a token request authenticates with. */
export interface ClientAuth {
  /** The OAuth client id. */
  readonly clientId: string;
  /** The OAuth client secret. */
  readonly clientSecret: string;
}

/** Options of {@linkcode requestToken}; those it shares with the session mean the same. */
export interface RequestTokenOptions extends
  Pick<
    AuthSessionOptions,
    "fetch" | "timeout" | "totalTimeout" | "retry" | "now" | "onTokenUpdated"
  > {
  /** The token endpoint's full URL. */
  tokenUrl: URL | string;
  /** The client id and secret. */
  credentials: ClientAuth;
  /** How the client authenticates. @default {"client_secret_post"} */
  authMethod?: TokenEndpointAuthMethod;
  /** Told of each attempt, answer, retry and failure. */
  onEvent?: AuthEventListener;
  /** The scopes to request; none when absent or empty. */
  scopes?: readonly string[];
  /** A refresh token: when given, the refresh-token grant is used instead of client credentials. */
  refreshToken?: string;
  /** Cancels the request and any wait between retries. */
  signal?: AbortSignal;
}

/** A session's memory of a `Retry-After` over `maxRetryAfter`: until then a token request fails at once, sending nothing. Internal. */
export type Holdoff = { until?: number; status?: number };

/** The token request's options inside the package: the public ones and the session's hold-off. */
export type TokenRequestInit = RequestTokenOptions & { holdoff?: Holdoff };

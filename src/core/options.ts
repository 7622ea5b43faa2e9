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
  /**
   * The scopes to request. When absent, the credentials file's `scopes` are
   * used; an empty list requests no scope and stops that fall-back.
   */
  scopes?: readonly string[];
  /**
   * The origins that receive the token, such as `"https://api.example.com"`
   * or `"https://*.example.com"` (any subdomain), matched on scheme, host and
   * port in one normal form (lower-case, the default port dropped, a trailing
   * dot removed). The token goes only over https, or plain http to a loopback
   * address (to any host with `allowInsecureHttp`), and never to a URL with a
   * user name or password. @default {the auth server's domain without "auth." and its subdomains, over https; a loopback auth server's own origin}
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
  /**
   * How the client authenticates at the token endpoint (RFC 7591 names):
   * the id and secret in the form body, or in an `Authorization: Basic`
   * header. @default {"client_secret_post"}
   */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /**
   * Allow a plain-http auth server that is not a loopback address, and the
   * token to go to plain-http allowed origins. @default {false}
   */
  allowInsecureHttp?: boolean;
  /** A token to start with, such as one saved from `onTokenUpdated`. */
  initialToken?: TokenSet;
  /**
   * Gets each new token from elsewhere instead of the client-credentials grant:
   * in a browser, from the user's own backend (a client secret must never
   * ship to a browser); on a server, from any other token service. The
   * session calls it when it needs a token, with one call in flight however
   * many requests wait, again before the token expires and after a 401, just
   * as it would request a token. The signal aborts when the caller that
   * started the call gives up (those still waiting then call again). Not
   * combined with credentials or `tokenCache`.
   */
  tokenProvider?: (options: { signal: AbortSignal }) => Promise<TokenSet>;
  /**
   * Called with each new token, for example to save it. A callback that
   * throws or rejects never affects the session: the token is kept, and one
   * line on `console.error` says that the callback failed.
   */
  onTokenUpdated?: (token: AccessToken) => unknown;
  /**
   * Called with each event: token requests, retries and failures, renewals,
   * cache hits and misses, 401 replays, requests sent without the token
   * (see `AuthEvent`). Never given a secret or a token; a listener
   * that throws or rejects is ignored. @default {none: a request sent without the token because its origin is not allowed is reported on stderr once per origin; with `KOGNIC_AUTH_LOG=debug|info|warn` set, events of that level and above are written there too; `KOGNIC_AUTH_LOG=off` writes nothing}
   */
  onEvent?: AuthEventListener;
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

/** Options of {@linkcode AuthSession.getToken}, `getAccessToken` and `getRequestHeaders`. */
export interface GetTokenOptions {
  /** Cancels waiting for the token. */
  signal?: AbortSignal;
  /** Request a new token even if the cached one is still fresh. @default {false} */
  forceRefresh?: boolean;
}

/**
 * How requests are retried: token requests (the session's and
 * `requestToken`'s `retry`) and API requests (`KognicClient`'s). Both back
 * off exponentially with full jitter, retry n waiting a random time up to
 * `min(maxDelay, baseDelay * 2 ** (n - 1))`, or the server's `Retry-After`
 * up to `maxRetryAfter`. The defaults differ: a token request is small and
 * waited for by every caller, so it retries sooner.
 */
export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. @default {3} */
  limit?: number;
  /** The first backoff's upper bound in milliseconds; each retry doubles it. @default {200 for token requests, 500 for API requests} */
  baseDelay?: number;
  /** The longest backoff in milliseconds. @default {5000 for token requests, 30000 for API requests} */
  maxDelay?: number;
  /**
   * The longest `Retry-After` honoured, in milliseconds; a response asking for
   * a longer wait fails (or is returned) at once. @default {30000 for token requests, 60000 for API requests}
   */
  maxRetryAfter?: number;
  /**
   * The methods of API requests that are retried; POST and PATCH are not
   * idempotent and are left out unless listed here. A token request (a POST)
   * is retried whatever this says. @default {["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]}
   */
  methods?: readonly string[];
  /**
   * The response statuses of API requests that are retried. A token request
   * retries 408, 425, 429 and 5xx, whatever this says. @default {[429, 502, 503, 504]}
   */
  statuses?: readonly number[];
}

/** The default timeout of one token request, in milliseconds. */
export const DEFAULT_TOKEN_TIMEOUT = 10_000;

/**
 * How a client authenticates at the token endpoint, as RFC 7591 names it:
 * `client_secret_post` sends the id and secret in the form body,
 * `client_secret_basic` in an `Authorization: Basic` header (each part
 * form-urlencoded first, as RFC 6749 section 2.3.1 says).
 */
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

/** Options of {@linkcode requestToken}. */
export interface RequestTokenOptions {
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
  /**
   * Called with the new token. A callback that throws or returns a rejected
   * promise changes nothing: the token is returned all the same, and one line
   * on `console.error` says that the callback failed (without its error, which
   * may hold the token).
   */
  onTokenUpdated?: (token: AccessToken) => unknown;
}

/**
 * Where a server's `Retry-After` longer than `retry.maxRetryAfter` is
 * remembered (its end, in ms since the epoch, and the status that asked):
 * until it has passed, a token request given the same object fails at once
 * with an `OAuthError` that says how long is left, sending nothing. Each
 * session keeps one; not part of the public API.
 */
export interface Holdoff {
  until?: number;
  status?: number;
}

/** The token request's options inside the package: the public ones and the session's hold-off. */
export interface TokenRequestInit extends RequestTokenOptions {
  holdoff?: Holdoff;
}

/**
 * The parts of `AuthSession` loaded when first needed, apart from session.ts
 * for the size budget: acquiring a token, a `Request` as input, the replay
 * after a 401, and the browser's answer for files, variables and keyring.
 *
 * @module
 */

// Reach every module mod.ts loads, so a bundler shares one chunk (docs/architecture.md).
import "./options.ts";
import "./events.ts";
import "./access_token.ts";
import "./egress.ts";
import type { AccessToken } from "./access_token.ts";
import type { ApiCredentials } from "./api_credentials.ts";
import type { Hop } from "./redirect.ts";
import { OAuthError } from "../shared/errors.ts";
import { type AuthEvent, tokenUpdated } from "./events.ts";
import {
  type AuthSessionOptions,
  DEFAULT_AUTH_SERVER,
  type Holdoff,
  type TokenRequestInit,
} from "./options.ts";

/** What acquiring a token reads of its session. */
export interface Acquiring {
  options: AuthSessionOptions;
  tokenUrl: URL;
  fetch: typeof fetch;
  now: () => number;
  leeway: number;
  emit: (event: AuthEvent) => void;
  credentials: () => Promise<ApiCredentials>;
  /** The access token last invalidated, which a token cache must not give back. */
  rejected: () => string | undefined;
  /** How many callers wait for the token. */
  waiters: () => number;
}

/** A session's state kept here: its `Retry-After` hold-off and refresh token. */
type State = { holdoff: Holdoff; refreshToken?: string };

/** Each session's {@linkcode State}, keyed by its own `tokenUrl` object. */
const states = new WeakMap<URL, State>();

/**
 * A token from the `tokenProvider`, else through the token cache, else from
 * the endpoint; `token.acquired` tells which, and how long since `started`.
 */
export async function acquire(
  s: Acquiring,
  signal: AbortSignal,
  started: number,
): Promise<AccessToken> {
  const options = s.options;
  const state = states.get(s.tokenUrl) ??
    { holdoff: {}, refreshToken: options.initialToken?.refreshToken };
  states.set(s.tokenUrl, state);
  let source: "request" | "cache" = "cache";
  let token: AccessToken;
  const provider = options.tokenProvider;
  if (provider) {
    const { provideToken } = await import("./token_provider.ts");
    token = await provideToken({ ...options, tokenProvider: provider }, signal);
    tokenUpdated(options.onTokenUpdated, token);
    source = "request";
  } else {
    const credentials = await s.credentials();
    const scopes = options.scopes ?? credentials.scopes;
    const cache = options.tokenCache;
    const request = (): Promise<AccessToken> => {
      source = "request";
      return fromServer(s, state, credentials, scopes, signal);
    };
    token = cache
      ? await (await import("./token_cache.ts")).readThrough({
        cache,
        authServer: options.authServer ?? DEFAULT_AUTH_SERVER,
        tokenUrl: s.tokenUrl,
        signal,
        holdoff: state.holdoff,
        clientId: credentials.clientId,
        scopes,
        now: s.now,
        leeway: s.leeway,
        usable: (token) => token.accessToken !== s.rejected(),
        request: (refreshToken) => {
          state.refreshToken ??= refreshToken;
          return request();
        },
        onEvent: s.emit,
      })
      : await request();
  }
  state.refreshToken = token.refreshToken ?? state.refreshToken;
  s.emit({
    type: "token.acquired",
    source,
    waiters: s.waiters(),
    duration: s.now() - started,
    expiresAt: token.expiresAt,
  });
  return token;
}

/** A token from the server: the refresh-token grant first when there is a refresh token. */
async function fromServer(
  s: Acquiring,
  state: State,
  credentials: ApiCredentials,
  scopes: readonly string[] | undefined,
  signal: AbortSignal,
): Promise<AccessToken> {
  const options = s.options;
  // The options shared with the session as they are, then its own.
  const request: TokenRequestInit = Object.assign({}, options, {
    tokenUrl: s.tokenUrl,
    credentials,
    scopes,
    fetch: s.fetch,
    authMethod: options.tokenEndpointAuthMethod,
    onEvent: s.emit,
    signal,
    now: s.now,
    holdoff: state.holdoff,
  });
  const refreshToken = state.refreshToken;
  const { sendTokenRequest } = await import("./token_client.ts");
  if (refreshToken !== undefined) {
    try {
      return await sendTokenRequest({ ...request, refreshToken });
    } catch (error) {
      // Refused for good (a 4xx such as invalid_grant): a client-credentials grant follows.
      if (!(error instanceof OAuthError) || error.retryable) throw error;
      state.refreshToken = undefined;
    }
  }
  return await sendTokenRequest(request);
}

/** The parts of a `Request` (with `init` over it) that the session sends. */
export async function fromRequest(
  input: Request,
  init: RequestInit | undefined,
): Promise<Hop & { signal: AbortSignal | null | undefined; redirect: RequestRedirect }> {
  return {
    url: new URL(input.url),
    method: init?.method ?? input.method,
    headers: new Headers(init?.headers ?? input.headers),
    body: init?.body !== undefined ? init.body : input.body && await input.arrayBuffer(),
    signal: init?.signal ?? input.signal,
    redirect: init?.redirect ?? input.redirect,
  };
}

/**
 * Whether a request that got a 401 is sent again (then emits `request.replay`
 * and cancels the 401's body): only when its body can be sent twice, and after
 * a redirect followed unseen only a GET or HEAD.
 */
export async function replaying(
  emit: (event: AuthEvent) => void,
  hop: { method: string; url: URL; body: BodyInit | null | undefined },
  response: Response,
): Promise<boolean> {
  if (
    hop.body instanceof ReadableStream ||
    response.redirected && hop.method !== "GET" && hop.method !== "HEAD"
  ) {
    return false;
  }
  emit({ type: "request.replay", method: hop.method, url: hop.url.origin + hop.url.pathname });
  await response.body?.cancel();
  return true;
}

/** Why a browser or edge worker has no credentials files, variables or keyring. */
export const NEEDS_RUNTIME = "Files, environment variables and the keyring need Deno, Node.js or " +
  "Bun; pass clientId and clientSecret (on a server only), initialToken or tokenProvider";

// Apart from session.ts for the size budget: the session's rarer paths, loaded lazily.
/**
 * The parts of `AuthSession` that load lazily, when first needed: how a
 * token is acquired (from a `tokenProvider`, a token cache or the token
 * endpoint, the refresh-token grant first), a `Request` object as the input
 * of `fetch`, the replay of a request after a 401, and what a browser or edge worker says when asked for files,
 * the environment or the keyring. Only the cached token's path and the
 * synchronous checks stay in session.ts, loaded on import.
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
import { OAuthError } from "../shared/errors.ts";
import { type AuthEvent, emit } from "./events.ts";
import {
  type AuthSessionOptions,
  DEFAULT_AUTH_SERVER,
  type Holdoff,
  type TokenRequestInit,
} from "./options.ts";

/**
 * Each session's hold-off (see `Holdoff`), kept here rather than in the
 * session so that the code loaded on import stays small: keyed by the
 * session's `tokenUrl`, an object each session makes for itself and keeps.
 */
const holdoffs = new WeakMap<URL, Holdoff>();

function holdoffOf(s: Acquiring): Holdoff {
  let holdoff = holdoffs.get(s.tokenUrl);
  if (!holdoff) holdoffs.set(s.tokenUrl, holdoff = {});
  return holdoff;
}

/** What acquiring a token reads and changes of its session. */
export interface Acquiring {
  options: AuthSessionOptions;
  tokenUrl: URL;
  fetch: typeof fetch;
  now: () => number;
  leeway: number;
  emit: (event: AuthEvent) => void;
  credentials: () => Promise<ApiCredentials>;
  /** The access token last invalidated, which a token cache must not give back. */
  readonly rejected: string | undefined;
  refreshToken: string | undefined;
  /** How many callers wait for the token. */
  waiters: () => number;
}

/**
 * A token for the session: from its `tokenProvider`, else through its token
 * cache, else from the token endpoint; a `token.acquired` event tells where
 * from.
 *
 * @param s The session's side.
 * @param signal Stops the request.
 * @param started When the acquisition started, in milliseconds since the epoch.
 */
export async function acquire(
  s: Acquiring,
  signal: AbortSignal,
  started: number,
): Promise<AccessToken> {
  const options = s.options;
  let source: "request" | "cache" = "cache";
  let token: AccessToken;
  const provider = options.tokenProvider;
  if (provider) {
    const { provideToken } = await import("./token_provider.ts");
    token = await provideToken({ ...options, tokenProvider: provider }, signal);
    emit(options.onTokenUpdated, token);
    source = "request";
  } else {
    const credentials = await s.credentials();
    const scopes = options.scopes ?? credentials.scopes;
    const cache = options.tokenCache;
    const request = (): Promise<AccessToken> => {
      source = "request";
      return fromServer(s, credentials, scopes, signal);
    };
    token = cache
      ? await (await import("./token_cache.ts")).readThrough({
        cache,
        authServer: options.authServer ?? DEFAULT_AUTH_SERVER,
        tokenUrl: s.tokenUrl,
        signal,
        holdoff: holdoffOf(s),
        clientId: credentials.clientId,
        scopes,
        now: s.now,
        leeway: s.leeway,
        usable: (token) => token.accessToken !== s.rejected,
        request: (refreshToken) => {
          s.refreshToken ??= refreshToken;
          return request();
        },
        onEvent: s.emit,
      })
      : await request();
  }
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
  credentials: ApiCredentials,
  scopes: readonly string[] | undefined,
  signal: AbortSignal,
): Promise<AccessToken> {
  const options = s.options;
  // The options the token request shares with the session (timeout,
  // totalTimeout, retry, onTokenUpdated) as they are, then its own.
  const request: TokenRequestInit = Object.assign({}, options, {
    tokenUrl: s.tokenUrl,
    credentials,
    scopes,
    fetch: s.fetch,
    authMethod: options.tokenEndpointAuthMethod,
    onEvent: s.emit,
    signal,
    now: s.now,
    holdoff: holdoffOf(s),
  });
  const refreshToken = s.refreshToken;
  const { sendTokenRequest } = await import("./token_client.ts");
  let token: AccessToken | undefined;
  if (refreshToken !== undefined) {
    try {
      token = await sendTokenRequest({ ...request, refreshToken });
    } catch (error) {
      // Refused for good (invalid_grant, invalid_token,
      // unsupported_grant_type, a 401 or any other 4xx answer that retrying
      // would not change): a full client-credentials grant follows.
      if (!(error instanceof OAuthError) || error.retryable) throw error;
      s.refreshToken = undefined;
    }
  }
  return token ?? await sendTokenRequest(request);
}

/** The parts of a `Request` (with `init` over it) that the session sends. */
export async function fromRequest(input: Request, init: RequestInit | undefined): Promise<{
  url: URL;
  method: string;
  headers: Headers;
  body: BodyInit | null | undefined;
  signal: AbortSignal | null | undefined;
  redirect: RequestRedirect;
}> {
  return {
    url: new URL(input.url),
    method: init?.method ?? input.method,
    headers: new Headers(init?.headers ?? input.headers),
    body: init?.body !== undefined
      ? init.body
      : input.body === null
      ? null
      : await input.arrayBuffer(),
    signal: init?.signal ?? input.signal,
    redirect: init?.redirect ?? input.redirect,
  };
}

/**
 * Whether a request that got a 401 (with the session's token) is sent
 * again: only when its body can be sent twice and fetch did not follow
 * redirects unseen (the request that got it is known then only for GET and
 * HEAD). When it is, tells `request.replay` and cancels the 401's body.
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

/**
 * `AuthSession`: a `fetch` that adds a Kognic bearer token, caches and renews
 * it, recovers from a 401, and sends it only to allowed origins.
 *
 * @module
 */

import { inspectAsJson } from "../shared/secrets.ts";
import { defaultAllowedOrigins, tokenUrlFor } from "../shared/url.ts";
import { normalOrigin, tokenEgress } from "./egress.ts";
import type { Hop } from "./redirect.ts";
import type { ApiCredentials } from "./api_credentials.ts";
import { explicitCredentials, resolveCredentials } from "./credentials.ts";
import { type AuthEvent, emit, type TokenRenewalEvent } from "./events.ts";
import { AccessToken, tokenFreshness } from "./access_token.ts";
import { environmentOptions } from "./runtime.ts";
import {
  type AuthSessionOptions,
  DEFAULT_AUTH_SERVER,
  DEFAULT_LEEWAY,
  DEFAULT_TOKEN_ENDPOINT,
  type EnvironmentSessionOptions,
  type GetTokenOptions,
} from "./options.ts";

/**
 * A token request in flight. Callers share only data: its promise and plain
 * fields, never its AbortController, which an edge worker binds to the
 * request that made it (workerd refuses to let another request even read it).
 */
interface Flight {
  promise: Promise<AccessToken>;
  controller: AbortController;
  /** How to wake each caller waiting for it: with a token, or `undefined` to ask again. */
  waiters: Set<(token: AccessToken | undefined) => void>;
}

/**
 * Authenticates requests to Kognic APIs with OAuth 2.0 client credentials.
 *
 * `session.fetch` has the type of the global `fetch` and is bound, so it can
 * be handed to any fetch-based client. It adds `Authorization: Bearer` for
 * allowed origins only, caches the token and renews it before it expires,
 * with one token request in flight however many calls wait. On a 401 it
 * renews the token (unless another call already did) and replays the request
 * once; request bodies are replayed intact, except a `ReadableStream`, which is
 * never sent twice. Redirects are followed by the session, deciding at each
 * hop whether the token goes along. HTTP errors are returned, not thrown.
 *
 * @example Calling a Kognic API
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 *
 * const session = new AuthSession(); // credentials from KOGNIC_CREDENTIALS or KOGNIC_CLIENT_ID/SECRET
 * const response = await session.fetch("https://app.kognic.com/v1/projects");
 * console.log(response.status, await response.json());
 * ```
 *
 * @example With a local auth server in tests
 * ```ts
 * import { AuthSession } from "@kognic/auth";
 * import { startAuthServer } from "@kognic/auth/testing";
 *
 * await using server = await startAuthServer();
 * const session = new AuthSession({ authServer: server.url, auth: ["test-client", "test-secret"] });
 * const response = await session.fetch(server.apiUrl);
 * console.log(response.status); // 200
 * ```
 */
export class AuthSession {
  /**
   * Sends a request like the global `fetch`, with the bearer token added for
   * allowed origins. Bound to the session.
   */
  declare readonly fetch: typeof fetch;
  /** The token endpoint's URL. */
  declare readonly tokenUrl: URL;

  #options: AuthSessionOptions;
  #fetch: typeof fetch;
  #now: () => number;
  #leeway: number;
  /** The egress rule: whether the token goes to a hop, given whether every earlier hop was trusted. */
  #egress: (url: URL, earlierTrusted?: boolean) => boolean;
  /** Set once the fetch answered `redirect: "manual"` with an opaque redirect (browsers). */
  #fetchFollows = false;
  #credentials: ApiCredentials | undefined;
  #credentialsPath: string | undefined;
  #current: AccessToken | undefined;
  #rejected: string | undefined;
  #refreshToken: string | undefined;
  #flight: Flight | undefined;
  /** Tells the `onEvent` listener, or else the `KOGNIC_AUTH_LOG` log (loaded only then). */
  readonly #emit = (event: AuthEvent): void => {
    const listener = this.#options.onEvent;
    if (listener) return emit(listener, event);
    // The log module and KOGNIC_AUTH_LOG are read once, on the first event.
    this.#log ??= import("./event_log.ts").then((log) => log.loggerFromEnv(this.#options.env));
    void this.#log.then((log) => log?.(event));
  };
  #log: Promise<((event: AuthEvent) => void) | undefined> | undefined;

  /**
   * Creates a session. Explicit credentials and URLs are checked here;
   * credentials from a file or the environment are read on first use (or by
   * {@linkcode AuthSession.create}).
   *
   * @param options Credentials, servers, scopes and transport options.
   * @throws {TypeError} For conflicting or malformed options.
   * @throws {ConfigurationError} For a token URL that is not https (loopback excepted).
   * @throws {CredentialsError} For explicit credentials that have expired, or
   *   have a field with a bad value (`credentials_invalid`).
   */
  constructor(options: AuthSessionOptions = {}) {
    this.#options = options;
    this.tokenUrl = tokenUrlFor(
      options.authServer ?? DEFAULT_AUTH_SERVER,
      options.tokenEndpoint ?? DEFAULT_TOKEN_ENDPOINT,
      options.allowInsecureHttp ?? false,
    );
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#leeway = options.leeway ?? DEFAULT_LEEWAY;
    if (!(this.#leeway >= 0)) throw new RangeError("leeway must be a non-negative number");
    if (options.timeout !== undefined && !(options.timeout > 0)) {
      throw new RangeError("timeout must be a positive number of milliseconds");
    }
    this.#egress = tokenEgress(
      options.allowedOrigins ?? defaultAllowedOrigins(this.tokenUrl),
      options.allowInsecureHttp,
    );
    const explicit = explicitCredentials(options);
    if (options.tokenProvider && (explicit || options.tokenCache)) {
      throw new TypeError("Choose either tokenProvider or credentials and tokenCache, not both");
    }
    if (typeof explicit === "string") {
      this.#credentialsPath = explicit;
    } else if (explicit) {
      explicit.assertNotExpired(this.#now());
      this.#credentials = explicit;
    }
    if (options.initialToken) {
      this.#current = new AccessToken(options.initialToken);
      this.#refreshToken = this.#current.refreshToken;
    }
    this.fetch = (input, init) => this.#send(input, init);
  }

  /**
   * Creates a session and reads its credentials at once, so that a missing,
   * bad or expired credentials file is reported here rather than on first use.
   *
   * @param options As for the constructor.
   * @returns The session, its credentials loaded.
   * @throws {CredentialsError} When no usable credentials are found.
   *
   * @example
   * ```ts ignore
   * import { AuthSession } from "@kognic/auth";
   *
   * const session = await AuthSession.create({ auth: "~/.config/kognic/credentials.json" });
   * ```
   */
  static async create(options: AuthSessionOptions = {}): Promise<AuthSession> {
    const session = new AuthSession(options);
    await session.getCredentials();
    return session;
  }

  /**
   * Creates a session for a Kognic environment from `environments.json`:
   * the one named, else the one whose host matches `url` best (the longest
   * host suffix wins), else the file's `default_environment`, else Kognic's
   * production. The environment gives the auth server, the credentials and
   * the scopes; options given here override them, and `scopes` here beat the
   * environment's, which beat the credentials file's.
   *
   * @param options The environment to use, and session options.
   * @returns The session, its credentials loaded.
   * @throws {ConfigurationError} For an unknown environment or a broken environments file.
   * @throws {CredentialsError} When no usable credentials are found.
   *
   * @example
   * ```ts ignore
   * import { AuthSession } from "@kognic/auth";
   *
   * const session = await AuthSession.forEnvironment({ url: "https://demo.kognic.com/v1/projects" });
   * const response = await session.fetch("https://demo.kognic.com/v1/projects");
   * ```
   */
  static async forEnvironment(options: EnvironmentSessionOptions = {}): Promise<AuthSession> {
    return await AuthSession.create(await environmentOptions(options));
  }

  /**
   * The session's credentials, read from the file or environment on first call.
   *
   * @returns The credentials; the secret stays hidden from logs.
   * @throws {CredentialsError} When none are found, or they are bad or expired.
   */
  async getCredentials(): Promise<ApiCredentials> {
    if (this.#credentials) return this.#credentials;
    const credentials = await resolveCredentials({
      auth: this.#credentialsPath,
      env: this.#options.env,
    });
    credentials.assertNotExpired(this.#now());
    this.#credentials = credentials;
    return credentials;
  }

  /**
   * Returns a valid access token, requesting one when none is cached or the
   * cached one is close to expiry.
   *
   * @param options A signal to stop waiting, and `forceRefresh`.
   * @returns The access token, for an `Authorization: Bearer` header.
   * @throws {CredentialsError} When no usable credentials are found.
   * @throws {TokenError} When the token request fails.
   */
  async getAccessToken(options: GetTokenOptions = {}): Promise<string> {
    return (await this.getToken(options)).accessToken;
  }

  /**
   * The headers that authenticate a request to `url`: `{ Authorization:
   * "Bearer <token>" }` when the session sends its token there
   * ({@linkcode AuthSession.sendsTokenTo}), else `{}` (and no token is
   * requested). For clients that take headers rather than a fetch: axios
   * interceptors, gRPC metadata, WebSocket handshakes, an MCP transport's
   * `requestInit`.
   *
   * @param url Where the request goes, as an absolute URL.
   * @param options A signal to stop waiting for the token, and `forceRefresh`.
   * @returns The headers to add.
   * @throws {TypeError} For a URL that is not valid.
   * @throws {CredentialsError} When no usable credentials are found.
   * @throws {TokenError} When the token request fails.
   *
   * @example
   * ```ts ignore
   * import { AuthSession } from "@kognic/auth";
   *
   * const session = new AuthSession();
   * const headers = await session.getRequestHeaders("https://app.kognic.com/v1/projects");
   * ```
   */
  async getRequestHeaders(
    url: string | URL,
    options?: GetTokenOptions,
  ): Promise<Record<string, string>> {
    return this.sendsTokenTo(url)
      ? { Authorization: `Bearer ${await this.getAccessToken(options)}` }
      : {};
  }

  /**
   * Whether the session sends its token with a request to `url`: https (or
   * http to a loopback address), no user name or password in the URL, and an
   * origin of `allowedOrigins`, compared in one normal form (lower-case, the
   * default port dropped, a trailing dot of the host removed). A redirect hop
   * also needs every earlier hop of its chain to pass.
   *
   * @param url An absolute URL (in a browser, relative to the page).
   * @returns Whether the token would go there.
   * @throws {TypeError} For a URL that is not valid.
   *
   * @example
   * ```ts
   * import { AuthSession } from "@kognic/auth";
   *
   * const session = new AuthSession({ auth: ["id", "secret"] });
   * console.log(session.sendsTokenTo("https://app.kognic.com/v1/projects")); // true
   * console.log(session.sendsTokenTo("http://app.kognic.com/v1/projects")); // false
   * ```
   */
  sendsTokenTo(url: string | URL): boolean {
    return this.#egress(requestUrl(url));
  }

  /**
   * Returns the current token with its expiry, requesting one when needed.
   *
   * @param options A signal to stop waiting, and `forceRefresh`.
   * @returns The token.
   * @throws {CredentialsError} When no usable credentials are found.
   * @throws {TokenError} When the token request fails.
   */
  getToken(options: GetTokenOptions = {}): Promise<AccessToken> {
    const { signal, forceRefresh } = options;
    if (forceRefresh) this.invalidateToken();
    const current = this.#current;
    const state = current && tokenFreshness(current, this.#now(), this.#leeway);
    if (state == "fresh") return Promise.resolve(current!);
    if (signal?.aborted) return Promise.reject(signal.reason);
    // In the first half of the renewal margin the token is still good: callers
    // use it while the renewal runs, so a slow or failing auth server delays
    // nobody until the token really runs short.
    if (state == "usable") {
      this.#flight ??= this.#startFlight("ahead_of_expiry");
      return Promise.resolve(current!);
    }
    // Only a flight that someone waits for is joined: one started in the
    // background may have ended with the request that started it (an edge
    // worker ends a request's I/O with it).
    const flight = this.#flight;
    return flight?.waiters.size ? this.#join(flight, signal, false) : this.#join(
      this.#startFlight(current ? "expiring" : this.#rejected ? "invalidated" : "initial"),
      signal,
      true,
    );
  }

  /**
   * Waits for a flight. When its starter leaves, the flight ends (in an edge
   * worker it would end with the starter's request anyway) and the callers
   * still waiting are sent on at once to ask again, each from its own request.
   */
  async #join(
    flight: Flight,
    signal: AbortSignal | undefined,
    starter: boolean,
  ): Promise<AccessToken> {
    const token = await new Promise<AccessToken | undefined>((resolve, reject) => {
      const leave = (): boolean => {
        signal?.removeEventListener("abort", onAbort);
        return flight.waiters.delete(resolve);
      };
      const onAbort = (): void => {
        if (!leave()) return;
        if (starter) {
          // The starter made the controller, in its own request.
          if (this.#flight === flight) this.#flight = undefined;
          flight.controller.abort(signal!.reason);
          for (const waiter of flight.waiters) waiter(undefined);
          flight.waiters.clear();
        }
        reject(signal!.reason);
      };
      flight.waiters.add(resolve);
      signal?.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (token) => leave() && resolve(token),
        (error) => leave() && reject(error),
      );
    });
    // Sent on by a starter that left: ask again, from this caller's request.
    return token ?? await this.getToken({ signal });
  }

  /** The cached token while it needs no renewal: the fast path of every request. */
  #freshToken(): AccessToken | undefined {
    const current = this.#current;
    return current && tokenFreshness(current, this.#now(), this.#leeway) == "fresh"
      ? current
      : undefined;
  }

  /**
   * Forgets the cached access token, so the next call requests a new one
   * (with the refresh token, when there is one).
   */
  invalidateToken(): void {
    this.#rejected = this.#current?.accessToken;
    this.#current = undefined;
  }

  #startFlight(reason: TokenRenewalEvent["reason"]): Flight {
    this.#emit({ type: "token.renewal", reason });
    const controller = new AbortController();
    const flight: Flight = {
      controller,
      waiters: new Set(),
      promise: this.#acquire(controller.signal).then((token) => {
        this.#current = token;
        this.#refreshToken = token.refreshToken ?? this.#refreshToken;
        return token;
      }).finally(() => {
        if (this.#flight === flight) this.#flight = undefined;
      }),
    };
    // Waiters handle the outcome; this keeps a flight whose waiters all left from
    // being reported as an unhandled rejection.
    flight.promise.catch(() => {});
    this.#flight = flight;
    return flight;
  }

  async #acquire(signal: AbortSignal): Promise<AccessToken> {
    const started = this.#now();
    // The session's side, for the lazily loaded code that acquires the token.
    // deno-lint-ignore no-this-alias
    const session = this;
    return await (await import("./session_lazy.ts")).acquire(
      {
        options: this.#options,
        tokenUrl: this.tokenUrl,
        fetch: this.#fetch,
        now: this.#now,
        leeway: this.#leeway,
        emit: this.#emit,
        credentials: () => this.getCredentials(),
        get rejected() {
          return session.#rejected;
        },
        get refreshToken() {
          return session.#refreshToken;
        },
        set refreshToken(token) {
          session.#refreshToken = token;
        },
        waiters: () => this.#flight?.waiters.size ?? 0,
      },
      signal,
      started,
    );
  }

  async #send(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    let url: URL;
    let method: string;
    let headers: HeadersInit | undefined;
    let body: BodyInit | null | undefined;
    let signal: AbortSignal | null | undefined;
    let redirect: RequestRedirect;
    if (input instanceof Request) {
      ({ url, method, headers, body, signal, redirect } = await (await import("./session_lazy.ts"))
        .fromRequest(input, init));
    } else {
      url = requestUrl(input);
      method = init?.method ?? "GET";
      headers = init?.headers;
      body = init?.body;
      signal = init?.signal;
      redirect = init?.redirect ?? "follow";
    }
    method = method.toUpperCase();
    // Copied once per call, with Object.assign: on Node 20, spread syntax
    // (`{ ...init, signal }`) costs about 1 µs a call more.
    const base: RequestInit = Object.assign({}, init);
    base.signal = signal;
    // The session follows redirects itself, deciding at each hop; a fetch
    // that hides them (a browser's) follows them itself, dropping
    // Authorization on a change of origin.
    base.redirect = this.#fetchFollows ? redirect : "manual";
    if (body instanceof ReadableStream) (base as { duplex?: string }).duplex = "half";

    // One plain record of the call's headers, copied from the caller's (a
    // plain record is never turned into a Headers object: fetch given one
    // copies it through its iterator, which costs Deno's fetch more than this).
    const record = headerRecord(headers ?? {});
    let hop: Hop = { url, method, headers: record, body };
    let callerAuth = Object.keys(record).some((key) => key.toLowerCase() == "authorization");
    let replayed = false;
    for (;;) {
      const result = await this.#follow(hop, base, redirect, callerAuth, !replayed);
      // Only the request that got the 401 is sent again, once (replaying
      // says whether its body and the redirects followed allow it).
      const last = result.last;
      if (
        result.response.status !== 401 || !result.token || replayed ||
        !await (await import("./session_lazy.ts")).replaying(this.#emit, last, result.response)
      ) {
        return result.response;
      }
      replayed = true;
      if (this.#current === result.token) this.invalidateToken();
      hop = last;
      callerAuth = false;
    }
  }

  async #follow(
    start: Hop,
    base: RequestInit,
    redirect: RequestRedirect,
    callerAuth: boolean,
    firstSend: boolean,
  ): Promise<{ response: Response; token: AccessToken | undefined; last: Hop }> {
    let { url, method, body, headers } = start;
    let keepCallerAuth = callerAuth;
    // The token goes on a hop only when every request so far went where the egress rule allows it.
    let trusted = true;
    for (let hop = 0;; hop++) {
      trusted = this.#egress(url, trusted);
      let token: AccessToken | undefined;
      // Every request sent gets its own init and its own plain record of
      // headers, and the URL as text. The first one of a call uses the
      // objects #send made for it; later hops and a replay copy.
      const own = firstSend && hop === 0;
      const hopHeaders = own ? headers as Record<string, string> : headerRecord(headers);
      if (!keepCallerAuth) {
        // The only Authorization here is the session's own (lowercase, set on
        // an earlier hop): the caller's is kept with keepCallerAuth, or was
        // removed by nextHop on the change of origin that ended keeping it.
        delete hopHeaders.authorization;
        if (trusted) {
          token = this.#freshToken() ?? await this.getToken({ signal: base.signal ?? undefined });
          hopHeaders.authorization = `Bearer ${token.accessToken}`;
        } else {
          this.#emit({ type: "request.unauthenticated", method, origin: url.origin });
        }
      }
      const request = own ? base : Object.assign({}, base);
      request.method = method;
      request.headers = hopHeaders;
      request.body = body;
      const response = await this.#fetch(url.href, request);
      const last = { url, method, body, headers };
      const opaque = response.type === "opaqueredirect";
      if (
        redirect === "manual" || request.redirect !== "manual" ||
        // Any 3xx: nextHop says which ones are redirects it follows.
        !(opaque || response.status >= 300 && response.status < 400)
      ) {
        return { response, token, last };
      }
      const { nextHop } = await import("./redirect.ts");
      if (opaque) {
        this.#fetchFollows = true;
        return {
          response: await nextHop.opaque(this.#fetch, last, request, redirect),
          token,
          last,
        };
      }
      const next = await nextHop(response, last, redirect, hop, start.url);
      if (!next) return { response, token, last };
      if (normalOrigin(next.url) !== normalOrigin(url)) keepCallerAuth = false;
      ({ url, method, body, headers } = next);
    }
  }

  /** A description without credentials or tokens. */
  toJSON(): Record<string, unknown> {
    // Never the URL's user info.
    return { tokenUrl: this.tokenUrl.origin + this.tokenUrl.pathname, hasToken: !!this.#current };
  }
}
inspectAsJson(AuthSession, "AuthSession");

/**
 * The headers as a new plain record: a record's own keys as given (a key
 * such as `__proto__` stays a header), a Headers object's or a list's
 * through a Headers object (lowercase, repeated names joined).
 */
function headerRecord(headers: HeadersInit): Record<string, string> {
  return Object.fromEntries(
    Symbol.iterator in headers ? new Headers(headers) : Object.entries(headers),
  );
}

/** A request's URL, relative to the page in a browser; a TypeError that does not repeat it otherwise. */
function requestUrl(input: string | URL): URL {
  try {
    return typeof input === "string"
      ? new URL(input, (globalThis as { location?: { href: string } }).location?.href)
      : new URL(input.href);
  } catch {
    throw new TypeError("The request URL is not a valid absolute URL");
  }
}

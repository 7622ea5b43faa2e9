/**
 * `AuthSession`: a `fetch` that adds a Kognic bearer token, caches and renews
 * it, recovers from a 401, and sends it only to allowed origins. Its rarer
 * paths load lazily from session_lazy.ts, redirects from redirect.ts.
 *
 * @module
 */

import { inspectAsJson } from "../shared/errors.ts";
import { defaultAllowedOrigins, normalOrigin, tokenEgress, tokenUrlFor } from "./egress.ts";
import type { Hop } from "./redirect.ts";
import type { ApiCredentials } from "./api_credentials.ts";
import { type AuthEvent, emit, type TokenRenewalEvent } from "./events.ts";
import { AccessToken, tokenFreshness } from "./access_token.ts";
import { environmentOptions, explicitCredentials, resolveCredentials } from "./runtime.ts";
import {
  type AuthSessionOptions,
  DEFAULT_AUTH_SERVER,
  DEFAULT_LEEWAY,
  DEFAULT_TOKEN_ENDPOINT,
  type EnvironmentSessionOptions,
  type GetTokenOptions,
} from "./options.ts";

/** A token request in flight. Callers share only data, never its AbortController (workerd binds it to its request). */
interface Flight {
  promise: Promise<AccessToken>;
  controller: AbortController;
  /** Wakes each waiting caller: with a token, or `undefined` to ask again. */
  waiters: Set<(token: AccessToken | undefined) => void>;
}

/**
 * Authenticates requests to Kognic APIs with OAuth 2.0 client credentials.
 *
 * `session.fetch` has the type of the global `fetch` and is bound, so any
 * fetch-based client can take it. It adds `Authorization: Bearer` for allowed
 * origins only, caches the token and renews it before it expires, with one
 * token request in flight however many calls wait. On a 401 it renews the
 * token (unless another call did) and replays the request once, never a
 * `ReadableStream` body. The session follows redirects itself, deciding at
 * each hop whether the token goes along. HTTP errors are returned, not thrown.
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
  /** Sends a request like the global `fetch`, with the token added for allowed origins. Bound. */
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
  /** The access token last invalidated, which a token cache must not give back. */
  #rejected: string | undefined;
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
   * Creates a session, checking explicit credentials and URLs; a file or the
   * environment is read on first use (or by {@linkcode AuthSession.create}).
   *
   * @param options Credentials, servers, scopes and transport options.
   * @throws {TypeError} For conflicting or malformed options.
   * @throws {ConfigurationError} For a token URL that is not https (loopback excepted).
   * @throws {CredentialsError} For explicit credentials that have expired or a bad field.
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
    if (typeof explicit === "string") this.#credentialsPath = explicit;
    else if (explicit) {
      explicit.assertNotExpired(this.#now());
      this.#credentials = explicit;
    }
    if (options.initialToken) this.#current = new AccessToken(options.initialToken);
    this.fetch = (input, init) => this.#send(input, init);
  }

  /**
   * Creates a session and reads its credentials at once, reporting a bad file here.
   *
   * @param options As for the constructor.
   * @returns The session, its credentials loaded.
   * @throws {CredentialsError} When no usable credentials are found.
   */
  static async create(options: AuthSessionOptions = {}): Promise<AuthSession> {
    const session = new AuthSession(options);
    await session.getCredentials();
    return session;
  }

  /**
   * Creates a session for an environment of `environments.json`: the one
   * named, else the best host match of `url`, else the default, else
   * production. Options given here override the environment's.
   *
   * @param options The environment to use, and session options.
   * @returns The session, its credentials loaded.
   * @throws {ConfigurationError} For an unknown environment or a broken environments file.
   * @throws {CredentialsError} When no usable credentials are found.
   */
  static async forEnvironment(options: EnvironmentSessionOptions = {}): Promise<AuthSession> {
    return await AuthSession.create(await environmentOptions(options));
  }

  /**
   * The session's credentials (the secret hidden from logs), read on first call.
   *
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
   * {@linkcode AuthSession.getToken}'s access token, for an `Authorization: Bearer` header.
   *
   * @param options A signal to stop waiting, and `forceRefresh`.
   * @returns The access token.
   */
  async getAccessToken(options: GetTokenOptions = {}): Promise<string> {
    return (await this.getToken(options)).accessToken;
  }

  /**
   * The headers that authenticate a request to `url`, for clients that take
   * headers rather than a fetch: `{ Authorization }` when
   * {@linkcode AuthSession.sendsTokenTo} says so, else `{}` (no token requested).
   *
   * @param url Where the request goes, as an absolute URL.
   * @param options As for {@linkcode AuthSession.getToken}, which says what it throws.
   * @returns The headers to add.
   * @throws {TypeError} For a URL that is not valid.
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
   * Whether the session sends its token to `url`: https (or http to loopback),
   * no user info, an origin of `allowedOrigins` in normal form; a redirect hop
   * also needs every earlier hop to pass.
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
    // Still good in the margin's first half: used while the renewal runs.
    if (state == "usable") {
      this.#flight ??= this.#startFlight("ahead_of_expiry");
      return Promise.resolve(current!);
    }
    // Join only a waited-for flight: a background one may have died with its request (edge workers).
    const flight = this.#flight;
    return flight?.waiters.size ? this.#join(flight, signal, false) : this.#join(
      this.#startFlight(current ? "expiring" : this.#rejected ? "invalidated" : "initial"),
      signal,
      true,
    );
  }

  /** Waits for a flight. When its starter leaves, the flight ends and the other waiters ask again. */
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

  /** Forgets the cached access token, so the next call requests a new one. */
  invalidateToken(): void {
    this.#rejected = this.#current?.accessToken;
    this.#current = undefined;
  }

  #startFlight(reason: TokenRenewalEvent["reason"]): Flight {
    this.#emit({ type: "token.renewal", reason });
    const controller = new AbortController();
    const started = this.#now();
    const flight: Flight = {
      controller,
      waiters: new Set(),
      promise: import("./session_lazy.ts").then((lazy) =>
        lazy.acquire(
          {
            options: this.#options,
            tokenUrl: this.tokenUrl,
            fetch: this.#fetch,
            now: this.#now,
            leeway: this.#leeway,
            emit: this.#emit,
            credentials: () => this.getCredentials(),
            rejected: () => this.#rejected,
            waiters: () => this.#flight?.waiters.size ?? 0,
          },
          controller.signal,
          started,
        )
      ).then((token) => this.#current = token).finally(() => {
        if (this.#flight === flight) this.#flight = undefined;
      }),
    };
    // Waiters handle the outcome; a flight all left is no unhandled rejection.
    flight.promise.catch(() => {});
    this.#flight = flight;
    return flight;
  }

  async #send(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const { url, method, headers, body, signal, redirect } = input instanceof Request
      ? await (await import("./session_lazy.ts")).fromRequest(input, init)
      : {
        url: requestUrl(input),
        method: init?.method ?? "GET",
        headers: init?.headers,
        body: init?.body,
        signal: init?.signal,
        redirect: init?.redirect ?? "follow",
      };
    // Object.assign: spread costs about 1 µs a call more on Node 20.
    const base: RequestInit = Object.assign({}, init);
    base.signal = signal;
    // The session follows redirects itself; a browser's fetch hides them (and drops Authorization across origins).
    base.redirect = this.#fetchFollows ? redirect : "manual";
    if (body instanceof ReadableStream) (base as { duplex?: string }).duplex = "half";

    // A plain record, never a Headers object (costlier for Deno's fetch to copy).
    const record = headerRecord(headers ?? {});
    let hop: Hop = { url, method: method.toUpperCase(), headers: record, body };
    let callerAuth = Object.keys(record).some((key) => key.toLowerCase() == "authorization");
    let replayed = false;
    for (;;) {
      const result = await this.#follow(hop, base, redirect, callerAuth, !replayed);
      // Only the hop that got the 401 is sent again, once, if `replaying` allows it.
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
      // Each request gets its own init and headers; the call's first uses #send's.
      const own = firstSend && hop === 0;
      const hopHeaders = own ? headers as Record<string, string> : headerRecord(headers);
      if (!keepCallerAuth) {
        // Only the session's own (lowercase) can be here: nextHop removed the caller's across origins.
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
        const followed = await nextHop.opaque(this.#fetch, last, request, redirect);
        return { response: followed, token, last };
      }
      const next = await nextHop(response, last, redirect, hop, start.url);
      if (!next) return { response, token, last };
      if (normalOrigin(next.url) !== normalOrigin(url)) keepCallerAuth = false;
      ({ url, method, body, headers } = next);
    }
  }

  /** A description without credentials, tokens or the token URL's user info. */
  toJSON(): Record<string, unknown> {
    return { tokenUrl: this.tokenUrl.origin + this.tokenUrl.pathname, hasToken: !!this.#current };
  }
}
inspectAsJson(AuthSession, "AuthSession");

/** The headers as a new plain record (a record's own keys as given; others through Headers). */
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

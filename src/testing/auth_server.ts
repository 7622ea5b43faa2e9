/**
 * The local Kognic-compatible auth server for tests; its entry point is `testing.ts`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

/** Options of {@linkcode startAuthServer}. */
export interface LocalAuthServerOptions {
  /**
   * The registered clients, as client ID to client secret.
   *
   * @default {{ "test-client": "test-secret" }}
   */
  clients?: Record<string, string>;
  /**
   * The lifetime of issued access tokens in seconds, sent as `expires_in`. Fractional values
   * are allowed (`0.05` is 50 ms); `0` issues tokens that are already expired. It can be changed
   * later through {@linkcode LocalAuthServer.tokenLifetime}.
   *
   * @default {3600}
   */
  tokenLifetime?: number;
  /**
   * Whether every token response also carries a `refresh_token`. Refresh tokens are single use:
   * the `refresh_token` grant consumes the one it is given and returns a new one.
   *
   * @default {false}
   */
  refreshTokens?: boolean;
  /**
   * The path of the token endpoint. It must start with `/`.
   *
   * @default {"/v1/auth/oauth/token"}
   */
  tokenPath?: string;
  /**
   * The port to listen on; `0` picks a free one.
   *
   * @default {0}
   */
  port?: number;
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Serve HTTPS with this PEM key and certificate (and `url` starts with
   * `https://`), for tests of private CAs and proxies.
   *
   * @default {plain HTTP}
   */
  tls?: { key: string; cert: string };
  /**
   * More protected routes, as a path prefix (starting with `/`, without a trailing `/`) to the
   * handler that answers every request to that path or below it. A mounted route is served like
   * the echo API: it needs a valid bearer token (401 `invalid_token` otherwise), takes the faults
   * queued with {@linkcode LocalAuthServer.failApiRequests} and counts in
   * {@linkcode LocalAuthServerCounts.apiRequests}. When prefixes overlap, the longest one wins.
   * The token endpoint, the echo API and the redirect helper come first: a prefix equal to one of
   * them or below it is refused. A request whose handler throws, or returns something other than
   * a `Response`, gets a 500 `server_error` answer.
   *
   * @default {{}}
   */
  routes?: Readonly<Record<string, ProtectedRouteHandler>>;
  /**
   * Origins whose browser pages may call the server (CORS), such as
   * `"http://127.0.0.1:8000"`, or `"*"` for any; preflight requests from them are answered.
   *
   * @default {[]}
   */
  corsOrigins?: readonly string[];
}

/**
 * A request to a route mounted with {@linkcode LocalAuthServerOptions.routes}, after the server
 * verified its bearer token.
 */
export interface ProtectedRequest {
  /** The request method. */
  readonly method: string;
  /** The request URL, with the server's address as its origin. */
  readonly url: URL;
  /** The path below the route's prefix, such as `/items` under `/v1/api`, or `""`. */
  readonly route: string;
  /** The request headers with lower-case names, without `authorization`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The request body decoded as UTF-8, or `""`. */
  readonly body: string;
  /** The client the bearer token was issued to. */
  readonly clientId: string;
  /** The scope of the bearer token, or `null` when it has none. */
  readonly scope: string | null;
}

/**
 * Answers a request to a mounted route ({@linkcode LocalAuthServerOptions.routes}) with a web
 * `Response`; its status, headers and body are sent as they are.
 *
 * @example A route that says who called it
 * ```ts
 * import type { ProtectedRouteHandler } from "@kognic/auth/testing";
 *
 * const whoami: ProtectedRouteHandler = (request) =>
 *   Response.json({ clientId: request.clientId, route: request.route });
 * ```
 */
export type ProtectedRouteHandler = (request: ProtectedRequest) => Response | Promise<Response>;

/**
 * A fault queued with {@linkcode LocalAuthServer.failTokenRequests} or
 * {@linkcode LocalAuthServer.failApiRequests}. It applies to the next matching request (or the
 * next `times` requests) before any normal handling; those requests are still counted.
 *
 * Which fields are set decides what happens: `delay` alone slows the request down and then
 * answers it normally; `reset` closes the connection without an answer (after `delay`, if set);
 * anything else (even `{}`) answers with `status`, `body`, `contentType`, `headers` and
 * `retryAfter`.
 */
export interface InjectedFailure {
  /**
   * The status code of the answer, from 200 to 599.
   *
   * @default {500}
   */
  status?: number;
  /**
   * The raw body to send, for example malformed JSON, an HTML page, or `"{}"` with status 200
   * for a token response without `access_token`. When unset, the body is an RFC 6749 JSON error
   * whose `error` follows the status: `invalid_request` for 400, `invalid_client` (token
   * endpoint) or `invalid_token` (API) for 401, `temporarily_unavailable` for 429 and 503, and
   * `server_error` otherwise.
   *
   * @default {undefined}
   */
  body?: string;
  /**
   * The `Content-Type` of the answer.
   *
   * @default {"application/json"}
   */
  contentType?: string;
  /**
   * More response headers; these override the defaults.
   *
   * @default {{}}
   */
  headers?: Record<string, string>;
  /**
   * The `Retry-After` header: a number of seconds or an HTTP-date string.
   *
   * @default {undefined}
   */
  retryAfter?: number | string;
  /**
   * Milliseconds to wait before answering, for timeout tests. The wait ends early when the
   * client disconnects or the server closes.
   *
   * @default {0}
   */
  delay?: number;
  /**
   * Destroy the connection without answering, so the client sees a connection reset.
   *
   * @default {false}
   */
  reset?: boolean;
  /**
   * How many consecutive matching requests the failure applies to.
   *
   * @default {1}
   */
  times?: number;
}

/**
 * One request to the token endpoint as the server saw it. The client secret is never recorded,
 * and neither is the `Authorization` header.
 */
export interface RecordedTokenRequest {
  /** The `grant_type` form parameter, or `""` when it is missing. */
  readonly grantType: string;
  /** The client ID from the `Authorization: Basic` header or the `client_id` parameter. */
  readonly clientId: string | undefined;
  /** The `scope` form parameter as sent. */
  readonly scope: string | undefined;
  /** Whether a non-empty client secret was sent (by either method). */
  readonly hasSecret: boolean;
  /** How the client authenticated: `Authorization: Basic`, form parameters, or neither. */
  readonly authMethod: "client_secret_post" | "client_secret_basic" | "none";
  /** The request headers with lower-case names, without `authorization`. */
  readonly headers: Record<string, string>;
}

/** Live request counters of a {@linkcode LocalAuthServer}. */
export interface LocalAuthServerCounts {
  /** Requests to the token endpoint, whatever their method, body or outcome. */
  readonly tokenRequests: number;
  /** Token requests with `grant_type=client_credentials`, whatever their outcome. */
  readonly clientCredentialsGrants: number;
  /** Token requests with `grant_type=refresh_token`, whatever their outcome. */
  readonly refreshTokenGrants: number;
  /**
   * Access tokens the token endpoint issued (tokens minted with
   * {@linkcode LocalAuthServer.issueToken} are not counted).
   */
  readonly tokensIssued: number;
  /** Requests to the echo API, the mounted routes and the redirect helper. */
  readonly apiRequests: number;
  /**
   * Echo API and mounted route requests answered with 401, for a bad token or by an injected
   * failure.
   */
  readonly unauthorizedApiRequests: number;
}

/**
 * The body of a successful answer of the protected echo API ({@linkcode LocalAuthServer.apiUrl}).
 */
export interface EchoResponse {
  /** The request method. */
  method: string;
  /** The request path, such as `/v1/echo/projects`. */
  path: string;
  /** The query string without the leading `?`, or `""`. */
  query: string;
  /** The client the bearer token was issued to. */
  clientId: string;
  /** The scope of the bearer token, or `null` when it has none. */
  scope: string | null;
  /** The request headers with lower-case names, without `authorization`. */
  headers: Record<string, string>;
  /** The request body decoded as UTF-8, or `""`. */
  body: string;
}

/**
 * A running local auth server, returned by {@linkcode startAuthServer}. Close it with
 * {@linkcode LocalAuthServer.close} or an `await using` declaration.
 */
export interface LocalAuthServer extends AsyncDisposable {
  /** The base URL without a trailing slash, such as `http://127.0.0.1:41234`; the auth server. */
  readonly url: string;
  /** The URL of the token endpoint: {@linkcode LocalAuthServer.url} plus the token path. */
  readonly tokenUrl: string;
  /** The URL of the protected echo API: {@linkcode LocalAuthServer.url} plus `/v1/echo`. */
  readonly apiUrl: string;
  /** Live request counters; the same object updates as requests arrive. */
  readonly counts: LocalAuthServerCounts;
  /**
   * The requests to the token endpoint in arrival order (the latest 10,000). This is a live
   * view that grows as requests arrive; {@linkcode LocalAuthServer.resetCounts} empties it.
   */
  readonly tokenRequests: readonly RecordedTokenRequest[];
  /**
   * The lifetime of access tokens issued from now on, in seconds (fractional allowed).
   *
   * @throws {RangeError} When set to a negative or non-finite number.
   */
  tokenLifetime: number;
  /**
   * Queues a fault for the token endpoint. Faults apply in the order they were queued, each to
   * `times` consecutive requests.
   *
   * @param failure The fault to inject.
   * @throws {TypeError} When a field has the wrong type.
   * @throws {RangeError} When `status`, `delay`, `retryAfter` or `times` is out of range.
   */
  failTokenRequests(failure: InjectedFailure): void;
  /**
   * Queues a fault for the echo API and the mounted routes, for example
   * `{ status: 401, times: 2 }`. Faults apply in the order they were queued, each to `times`
   * consecutive requests. The redirect helper is not affected.
   *
   * @param failure The fault to inject.
   * @throws {TypeError} When a field has the wrong type.
   * @throws {RangeError} When `status`, `delay`, `retryAfter` or `times` is out of range.
   */
  failApiRequests(failure: InjectedFailure): void;
  /** Makes every access token issued so far invalid: the echo API answers 401 for them. */
  revokeAccessTokens(): void;
  /**
   * Makes every refresh token issued so far invalid: the `refresh_token` grant answers 400
   * `invalid_grant` for them.
   */
  revokeRefreshTokens(): void;
  /**
   * Mints a valid access token without a request to the token endpoint. It is not counted in
   * {@linkcode LocalAuthServerCounts.tokensIssued}.
   *
   * @param clientId The client the token is for; the first registered client by default.
   * @returns The access token.
   * @throws {TypeError} When `clientId` is not a non-empty string.
   */
  issueToken(clientId?: string): string;
  /** Sets every counter to zero and empties {@linkcode LocalAuthServer.tokenRequests}. */
  resetCounts(): void;
  /**
   * Stops listening, closes every open connection (idle keep-alive ones and ones waiting for an
   * answer) and clears pending delays. Calling it again returns the same promise.
   *
   * @returns A promise that resolves when the server is closed.
   */
  close(): Promise<void>;
}

const DEFAULT_TOKEN_PATH = "/v1/auth/oauth/token";
const ECHO_PATH = "/v1/echo";
const REDIRECT_PATH = "/v1/redirect";
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_RECORDED_REQUESTS = 10_000;
const MAX_REFRESH_TOKENS = 10_000;
const PRUNE_INTERVAL_MS = 1000;
const MAX_DELAY_MS = 2_147_483_647;
// RFC 6749 appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

type Counts = { -readonly [K in keyof LocalAuthServerCounts]: LocalAuthServerCounts[K] };

interface AccessTokenEntry {
  clientId: string;
  scope: string | undefined;
  expiresAt: number;
}

interface RefreshTokenEntry {
  clientId: string;
  scope: string | undefined;
}

interface Failure {
  delay: number;
  reset: boolean;
  responds: boolean;
  status: number;
  body: string | undefined;
  contentType: string;
  headers: Record<string, string>;
  retryAfter: string | undefined;
}

interface QueuedFailure {
  failure: Failure;
  remaining: number;
}

interface Rejection {
  ok: false;
  status: number;
  error: string;
  description: string;
  headers?: Record<string, string>;
}

type Outcome<T> = { ok: true; value: T } | Rejection;

/**
 * Starts a local Kognic-compatible OAuth 2.0 server with a protected echo API.
 *
 * @param options Clients, token lifetime, refresh tokens, mounted routes and where to listen.
 * @returns The running server, once it listens.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When `tokenLifetime` or `port` is out of range, or `tokenPath` or a
 * route's prefix is not a path starting with `/`.
 *
 * @example Testing how a client handles a rate limit
 * ```ts
 * import { startAuthServer } from "@kognic/auth/testing";
 *
 * await using server = await startAuthServer();
 * server.failTokenRequests({ status: 429, retryAfter: 1 });
 * const response = await fetch(server.tokenUrl, {
 *   method: "POST",
 *   body: new URLSearchParams({
 *     grant_type: "client_credentials",
 *     client_id: "test-client",
 *     client_secret: "test-secret",
 *   }),
 * });
 * console.log(response.status, response.headers.get("retry-after")); // 429 "1"
 * await response.body?.cancel();
 * ```
 */
export async function startAuthServer(
  options: LocalAuthServerOptions = {},
): Promise<LocalAuthServer> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("The options must be an object.");
  }
  const clients = readClients(options.clients);
  const tokenLifetime = checkLifetime(options.tokenLifetime ?? 3600);
  if (options.refreshTokens !== undefined && typeof options.refreshTokens !== "boolean") {
    throw new TypeError('The option "refreshTokens" must be a boolean.');
  }
  const tokenPath = options.tokenPath ?? DEFAULT_TOKEN_PATH;
  if (typeof tokenPath !== "string") {
    throw new TypeError('The option "tokenPath" must be a string.');
  }
  if (!tokenPath.startsWith("/") || /[?#\s]/.test(tokenPath)) {
    throw new RangeError(
      `The option "tokenPath" must be a path starting with "/", not "${tokenPath}".`,
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`The option "port" must be an integer from 0 to 65535, not "${port}".`);
  }
  const hostname = options.hostname ?? "127.0.0.1";
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError('The option "hostname" must be a non-empty string.');
  }
  const tls = options.tls;
  if (tls !== undefined && (typeof tls?.key !== "string" || typeof tls?.cert !== "string")) {
    throw new TypeError('The option "tls" must be { key, cert } with PEM strings.');
  }
  const routes = readRoutes(options.routes, tokenPath);
  const corsOrigins = options.corsOrigins ?? [];
  if (!Array.isArray(corsOrigins) || corsOrigins.some((origin) => typeof origin !== "string")) {
    throw new TypeError('The option "corsOrigins" must be an array of strings.');
  }
  const server = new AuthServer(
    clients,
    tokenLifetime,
    options.refreshTokens ?? false,
    tokenPath,
    routes,
    tls,
  );
  server.corsOrigins = corsOrigins;
  await server.listen(port, hostname);
  return server;
}

class AuthServer implements LocalAuthServer {
  readonly #server: Server;
  readonly #clients: ReadonlyMap<string, string>;
  readonly #refreshTokensEnabled: boolean;
  readonly #tokenPath: string;
  readonly #signingKey: Buffer = randomBytes(32);
  readonly #counts: Counts = {
    tokenRequests: 0,
    clientCredentialsGrants: 0,
    refreshTokenGrants: 0,
    tokensIssued: 0,
    apiRequests: 0,
    unauthorizedApiRequests: 0,
  };
  readonly #records: RecordedTokenRequest[] = [];
  readonly #accessTokens = new Map<string, AccessTokenEntry>();
  readonly #refreshTokens = new Map<string, RefreshTokenEntry>();
  readonly #tokenFailures: QueuedFailure[] = [];
  readonly #apiFailures: QueuedFailure[] = [];
  readonly #pendingWaits = new Set<(proceed: boolean) => void>();
  readonly #routes: readonly [string, ProtectedRouteHandler][];
  #tokenLifetime: number;
  #nextPruneAt = 0;
  #url = "";
  #scheme: "http" | "https";
  #closing: Promise<void> | undefined;

  constructor(
    clients: ReadonlyMap<string, string>,
    tokenLifetime: number,
    refreshTokens: boolean,
    tokenPath: string,
    routes: readonly [string, ProtectedRouteHandler][],
    tls?: { key: string; cert: string },
  ) {
    this.#routes = routes;
    this.#clients = clients;
    this.#tokenLifetime = tokenLifetime;
    this.#refreshTokensEnabled = refreshTokens;
    this.#tokenPath = tokenPath;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.#handle(req, res);
    this.#scheme = tls ? "https" : "http";
    this.#server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  }

  listen(port: number, hostname: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      // A deep accept queue: a burst of connections (a test's thousand calls
      // at once) waits to be accepted, rather than being refused, while a busy
      // machine is slow to accept them.
      this.#server.listen({ port, host: hostname, backlog: 4096 }, () => {
        this.#server.off("error", reject);
        const address = this.#server.address() as AddressInfo;
        const host = address.address.includes(":") ? `[${address.address}]` : address.address;
        this.#url = `${this.#scheme}://${host}:${address.port}`;
        resolve();
      });
    });
  }

  get url(): string {
    return this.#url;
  }

  get tokenUrl(): string {
    return this.#url + this.#tokenPath;
  }

  get apiUrl(): string {
    return this.#url + ECHO_PATH;
  }

  get counts(): LocalAuthServerCounts {
    return this.#counts;
  }

  get tokenRequests(): readonly RecordedTokenRequest[] {
    return this.#records;
  }

  get tokenLifetime(): number {
    return this.#tokenLifetime;
  }

  set tokenLifetime(seconds: number) {
    this.#tokenLifetime = checkLifetime(seconds);
  }

  failTokenRequests(failure: InjectedFailure): void {
    this.#tokenFailures.push(readFailure(failure));
  }

  failApiRequests(failure: InjectedFailure): void {
    this.#apiFailures.push(readFailure(failure));
  }

  revokeAccessTokens(): void {
    this.#accessTokens.clear();
  }

  revokeRefreshTokens(): void {
    this.#refreshTokens.clear();
  }

  issueToken(clientId?: string): string {
    const id = clientId ?? this.#clients.keys().next().value ?? "test-client";
    if (typeof id !== "string" || id === "") {
      throw new TypeError("The client ID must be a non-empty string.");
    }
    return this.#mintAccessToken(id, undefined);
  }

  resetCounts(): void {
    for (const key of Object.keys(this.#counts) as (keyof Counts)[]) this.#counts[key] = 0;
    this.#records.length = 0;
  }

  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      for (const finish of [...this.#pendingWaits]) finish(false);
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  corsOrigins: readonly string[] = [];

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin && this.corsOrigins.some((allowed) => allowed === "*" || allowed === origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "origin");
      if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
        req.resume();
        res.writeHead(204, {
          "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
          "access-control-allow-headers": req.headers["access-control-request-headers"] ??
            "authorization",
          "access-control-max-age": "600",
        }).end();
        return;
      }
    }
    this.#route(req, res).catch(() => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
      } else {
        sendJson(res, 500, { error: "server_error", error_description: "Internal error." });
      }
    });
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      req.resume();
      sendJson(res, 400, { error: "invalid_request", error_description: "The URL is malformed." });
      return;
    }
    const path = url.pathname;
    if (path === this.#tokenPath) {
      await this.#handleTokenRequest(req, res);
    } else if (path === ECHO_PATH || path.startsWith(ECHO_PATH + "/")) {
      await this.#handleEchoRequest(req, res, url);
    } else if (path === REDIRECT_PATH) {
      this.#handleRedirectRequest(req, res, url);
    } else if (this.#routeOf(path)) {
      await this.#handleMountedRequest(req, res, url, this.#routeOf(path)!);
    } else {
      req.resume();
      sendJson(res, 404, {
        error: "not_found",
        error_description: "There is nothing at this path.",
      });
    }
  }

  async #handleTokenRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#counts.tokenRequests++;
    const failure = takeFailure(this.#tokenFailures);
    const body = await readBody(req);
    const isForm = mediaType(req.headers["content-type"]) === "application/x-www-form-urlencoded";
    const form = isForm && body !== undefined ? new URLSearchParams(body) : undefined;
    const basic = parseBasic(req.headers.authorization);
    const formSecret = form?.get("client_secret") ?? undefined;
    const grantType = form?.get("grant_type") ?? "";
    let authMethod: RecordedTokenRequest["authMethod"] = "none";
    if (basic !== undefined) authMethod = "client_secret_basic";
    else if (formSecret !== undefined) authMethod = "client_secret_post";
    const basicCredentials = typeof basic === "object" ? basic : undefined;
    this.#record({
      grantType,
      clientId: basicCredentials ? basicCredentials.clientId : form?.get("client_id") ?? undefined,
      scope: form?.get("scope") ?? undefined,
      hasSecret: basic !== undefined ? !!basicCredentials?.secret : !!formSecret,
      authMethod,
      headers: copyHeaders(req),
    });
    if (grantType === "client_credentials") this.#counts.clientCredentialsGrants++;
    if (grantType === "refresh_token") this.#counts.refreshTokenGrants++;

    if (failure && await this.#applyFailure(failure, req, res, "token")) return;

    const outcome = this.#grant(req.method, body, isForm, form, basic);
    if (outcome.ok) {
      sendJson(res, 200, outcome.value, {
        "cache-control": "no-store",
        pragma: "no-cache",
      });
    } else {
      sendJson(res, outcome.status, {
        error: outcome.error,
        error_description: outcome.description,
      }, { "cache-control": "no-store", pragma: "no-cache", ...outcome.headers });
    }
  }

  /** Runs the grant; a successful outcome's value is the token response. */
  #grant(
    method: string | undefined,
    body: string | undefined,
    isForm: boolean,
    form: URLSearchParams | undefined,
    basic: BasicCredentials | "malformed" | undefined,
  ): Outcome<Record<string, unknown>> {
    if (method !== "POST") {
      return fail(405, "invalid_request", "The token endpoint accepts only POST.", {
        allow: "POST",
      });
    }
    if (body === undefined) return fail(413, "invalid_request", "The request body is too large.");
    if (!isForm || !form) {
      return fail(400, "invalid_request", "The body must be application/x-www-form-urlencoded.");
    }
    for (const key of new Set(form.keys())) {
      if (form.getAll(key).length > 1) {
        return fail(400, "invalid_request", `The parameter "${key}" is repeated.`);
      }
    }
    const grantType = form.get("grant_type");
    if (!grantType) return fail(400, "invalid_request", 'The parameter "grant_type" is missing.');

    const client = this.#authenticate(form, basic);
    if (!client.ok) return client;
    const clientId = client.value;

    const requestedScope = form.get("scope");
    const scope = requestedScope === null ? undefined : normalizeScope(requestedScope);
    if (scope === null) return fail(400, "invalid_scope", 'The parameter "scope" is malformed.');

    if (grantType === "client_credentials") {
      return { ok: true, value: this.#issueTokens(clientId, scope) };
    }
    if (grantType === "refresh_token") {
      const refreshToken = form.get("refresh_token");
      if (!refreshToken) {
        return fail(400, "invalid_request", 'The parameter "refresh_token" is missing.');
      }
      const entry = this.#refreshTokens.get(refreshToken);
      if (!entry || entry.clientId !== clientId) {
        return fail(400, "invalid_grant", "The refresh token is invalid, expired or revoked.");
      }
      const granted = entry.scope?.split(" ") ?? [];
      if (scope !== undefined && !scope.split(" ").every((token) => granted.includes(token))) {
        return fail(400, "invalid_scope", "The scope exceeds the scope of the refresh token.");
      }
      this.#refreshTokens.delete(refreshToken);
      return { ok: true, value: this.#issueTokens(clientId, scope ?? entry.scope) };
    }
    return fail(400, "unsupported_grant_type", "The grant type is not supported.");
  }

  #authenticate(
    form: URLSearchParams,
    basic: BasicCredentials | "malformed" | undefined,
  ): Outcome<string> {
    const challenge = { "www-authenticate": 'Basic realm="kognic"' };
    const formId = form.get("client_id");
    let clientId: string;
    let secret: string;
    if (basic !== undefined) {
      if (basic === "malformed") {
        return fail(401, "invalid_client", "The Authorization header is malformed.", challenge);
      }
      if (form.has("client_secret")) {
        return fail(400, "invalid_request", "The client used more than one authentication method.");
      }
      if (formId !== null && formId !== basic.clientId) {
        return fail(400, "invalid_request", 'The parameter "client_id" does not match the header.');
      }
      clientId = basic.clientId;
      secret = basic.secret;
    } else {
      if (!formId) return fail(401, "invalid_client", "Client authentication is missing.");
      const formSecret = form.get("client_secret");
      if (!formSecret) return fail(401, "invalid_client", "The client secret is missing.");
      clientId = formId;
      secret = formSecret;
    }
    const expected = this.#clients.get(clientId);
    if (expected === undefined || !secretsEqual(secret, expected)) {
      return fail(
        401,
        "invalid_client",
        "Client authentication failed.",
        basic !== undefined ? challenge : undefined,
      );
    }
    return { ok: true, value: clientId };
  }

  #issueTokens(clientId: string, scope: string | undefined): Record<string, unknown> {
    const response: Record<string, unknown> = {
      access_token: this.#mintAccessToken(clientId, scope),
      token_type: "Bearer",
      expires_in: this.#tokenLifetime,
    };
    if (scope !== undefined) response.scope = scope;
    if (this.#refreshTokensEnabled) {
      const refreshToken = randomBytes(32).toString("base64url");
      this.#refreshTokens.set(refreshToken, { clientId, scope });
      if (this.#refreshTokens.size > MAX_REFRESH_TOKENS) {
        const oldest = this.#refreshTokens.keys().next().value;
        if (oldest !== undefined) this.#refreshTokens.delete(oldest);
      }
      response.refresh_token = refreshToken;
    }
    this.#counts.tokensIssued++;
    return response;
  }

  #mintAccessToken(clientId: string, scope: string | undefined): string {
    const now = Date.now();
    this.#pruneAccessTokens(now);
    const expiresAt = now + this.#tokenLifetime * 1000;
    const header = { alg: "HS256", typ: "JWT" };
    const payload: Record<string, unknown> = {
      iss: this.#url,
      sub: clientId,
      aud: "kognic",
      iat: Math.floor(now / 1000),
      exp: Math.floor(expiresAt / 1000),
      jti: randomUUID(),
    };
    if (scope !== undefined) payload.scope = scope;
    const signingInput = `${base64UrlJson(header)}.${base64UrlJson(payload)}`;
    const signature = createHmac("sha256", this.#signingKey).update(signingInput).digest();
    const token = `${signingInput}.${signature.toString("base64url")}`;
    this.#accessTokens.set(token, { clientId, scope, expiresAt });
    return token;
  }

  #pruneAccessTokens(now: number): void {
    if (now < this.#nextPruneAt) return;
    this.#nextPruneAt = now + PRUNE_INTERVAL_MS;
    for (const [token, entry] of this.#accessTokens) {
      if (entry.expiresAt <= now) this.#accessTokens.delete(token);
    }
  }

  /**
   * The start of every protected API request: counts it, reads the body, applies a queued
   * failure and checks the bearer token. Returns the token's entry and the body, or undefined
   * when an answer was already sent.
   */
  async #authorizeApiRequest(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ entry: AccessTokenEntry; body: string | undefined } | undefined> {
    this.#counts.apiRequests++;
    const failure = takeFailure(this.#apiFailures);
    const body = await readBody(req);
    if (failure && await this.#applyFailure(failure, req, res, "api")) {
      if (res.headersSent && res.statusCode === 401) this.#counts.unauthorizedApiRequests++;
      return undefined;
    }
    const token = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? "")?.[1];
    const entry = token === undefined ? undefined : this.#accessTokens.get(token);
    const expired = entry !== undefined && entry.expiresAt <= Date.now();
    if (entry === undefined || expired) {
      if (expired) this.#accessTokens.delete(token!);
      this.#counts.unauthorizedApiRequests++;
      const description = token === undefined
        ? "The request has no bearer token."
        : expired
        ? "The access token has expired."
        : "The access token is invalid or revoked.";
      sendJson(res, 401, { error: "invalid_token", error_description: description }, {
        "www-authenticate": 'Bearer error="invalid_token"',
      });
      return undefined;
    }
    return { entry, body };
  }

  /** An API request's token entry and body; `undefined` once it was answered (401, 413). */
  async #authorizedWithBody(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ entry: AccessTokenEntry; body: string } | undefined> {
    const authorized = await this.#authorizeApiRequest(req, res);
    if (!authorized) return undefined;
    if (authorized.body === undefined) {
      sendJson(res, 413, { error: "invalid_request", error_description: "The body is too large." });
      return undefined;
    }
    return { entry: authorized.entry, body: authorized.body };
  }

  async #handleEchoRequest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const authorized = await this.#authorizedWithBody(req, res);
    if (!authorized) return;
    const { entry, body } = authorized;
    const echo: EchoResponse = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search.slice(1),
      clientId: entry.clientId,
      scope: entry.scope ?? null,
      headers: copyHeaders(req),
      body,
    };
    sendJson(res, 200, echo);
  }

  /** The longest mounted prefix that `path` equals or lies below, with its handler. */
  #routeOf(path: string): [string, ProtectedRouteHandler] | undefined {
    return this.#routes.find(([prefix]) => path === prefix || path.startsWith(prefix + "/"));
  }

  async #handleMountedRequest(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    [prefix, handler]: [string, ProtectedRouteHandler],
  ): Promise<void> {
    const authorized = await this.#authorizedWithBody(req, res);
    if (!authorized) return;
    const { entry, body } = authorized;
    const response = await handler({
      method: req.method ?? "GET",
      url: new URL(url.pathname + url.search, this.#url),
      route: url.pathname.slice(prefix.length),
      headers: copyHeaders(req),
      body,
      clientId: entry.clientId,
      scope: entry.scope ?? null,
    });
    if (!(response instanceof Response)) throw new TypeError("A route must return a Response.");
    const text = Buffer.from(await response.arrayBuffer());
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    headers["content-length"] = String(text.length);
    res.writeHead(response.status, headers);
    res.end(text);
  }

  #handleRedirectRequest(req: IncomingMessage, res: ServerResponse, url: URL): void {
    this.#counts.apiRequests++;
    req.resume();
    const to = url.searchParams.get("to");
    const status = Number(url.searchParams.get("status") ?? 302);
    if (to === null || !URL.canParse(to)) {
      sendJson(res, 400, {
        error: "invalid_request",
        error_description: 'The parameter "to" must be an absolute URL.',
      });
      return;
    }
    if (!REDIRECT_STATUSES.has(status)) {
      sendJson(res, 400, {
        error: "invalid_request",
        error_description: 'The parameter "status" must be 301, 302, 303, 307 or 308.',
      });
      return;
    }
    res.writeHead(status, { location: to, "content-length": "0" });
    res.end();
  }

  /** Applies a failure; returns false when the request should be handled normally after it. */
  async #applyFailure(
    failure: Failure,
    req: IncomingMessage,
    res: ServerResponse,
    target: "token" | "api",
  ): Promise<boolean> {
    if (failure.delay > 0 && !await this.#wait(failure.delay, res)) {
      req.socket.destroy();
      return true;
    }
    if (failure.reset) {
      req.socket.destroy();
      return true;
    }
    if (!failure.responds) return false;
    const headers: Record<string, string> = { "content-type": failure.contentType };
    if (target === "api" && failure.status === 401) {
      headers["www-authenticate"] = 'Bearer error="invalid_token"';
    }
    if (failure.retryAfter !== undefined) headers["retry-after"] = failure.retryAfter;
    Object.assign(headers, failure.headers);
    const body = failure.body ?? JSON.stringify({
      error: defaultErrorCode(failure.status, target),
      error_description: "Injected failure.",
    });
    headers["content-length"] = String(Buffer.byteLength(body));
    res.writeHead(failure.status, headers);
    res.end(body);
    return true;
  }

  /** Waits; resolves false early when the client goes away or the server closes. */
  #wait(ms: number, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.#closing) {
        resolve(false);
        return;
      }
      const finish = (proceed: boolean): void => {
        clearTimeout(timer);
        this.#pendingWaits.delete(finish);
        res.off("close", onClose);
        resolve(proceed);
      };
      const onClose = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      this.#pendingWaits.add(finish);
      res.on("close", onClose);
    });
  }

  #record(request: RecordedTokenRequest): void {
    if (this.#records.length >= MAX_RECORDED_REQUESTS) this.#records.shift();
    this.#records.push(request);
  }
}

interface BasicCredentials {
  clientId: string;
  secret: string;
}

function fail(
  status: number,
  error: string,
  description: string,
  headers?: Record<string, string>,
): Rejection {
  return { ok: false, status, error, description, headers };
}

function readClients(clients: unknown): ReadonlyMap<string, string> {
  if (clients === undefined) return new Map([["test-client", "test-secret"]]);
  if (typeof clients !== "object" || clients === null || Array.isArray(clients)) {
    throw new TypeError('The option "clients" must be an object of client IDs to secrets.');
  }
  const map = new Map<string, string>();
  for (const [id, secret] of Object.entries(clients)) {
    if (id === "" || typeof secret !== "string") {
      throw new TypeError(`The secret of client "${id}" must be a string.`);
    }
    map.set(id, secret);
  }
  return map;
}

function readRoutes(
  routes: unknown,
  tokenPath: string,
): [string, ProtectedRouteHandler][] {
  if (routes === undefined) return [];
  if (typeof routes !== "object" || routes === null || Array.isArray(routes)) {
    throw new TypeError('The option "routes" must be an object of path prefixes to handlers.');
  }
  const mounted: [string, ProtectedRouteHandler][] = [];
  for (const [prefix, handler] of Object.entries(routes)) {
    if (!/^\/[^?#\s]*[^/?#\s]$/.test(prefix)) {
      throw new RangeError(
        `The route "${prefix}" must be a path starting with "/" and not ending with "/".`,
      );
    }
    const reserved = [tokenPath, ECHO_PATH, REDIRECT_PATH].find((path) =>
      prefix === path || prefix.startsWith(path + "/")
    );
    if (reserved !== undefined) {
      throw new RangeError(
        `The route "${prefix}" lies under the server's own path "${reserved}" and would never be served.`,
      );
    }
    if (typeof handler !== "function") {
      throw new TypeError(`The handler of the route "${prefix}" must be a function.`);
    }
    mounted.push([prefix, handler as ProtectedRouteHandler]);
  }
  return mounted.sort(([a], [b]) => b.length - a.length);
}

function checkLifetime(seconds: unknown): number {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(
      `The token lifetime must be a finite number of seconds >= 0, not "${String(seconds)}".`,
    );
  }
  return seconds;
}

function readFailure(failure: InjectedFailure): QueuedFailure {
  if (typeof failure !== "object" || failure === null) {
    throw new TypeError("The failure must be an object.");
  }
  const { status, body, contentType, headers, retryAfter, delay, reset, times } = failure;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
    throw new RangeError(`The failure status must be an integer from 200 to 599, not "${status}".`);
  }
  if (body !== undefined && typeof body !== "string") {
    throw new TypeError("The failure body must be a string.");
  }
  if (contentType !== undefined && typeof contentType !== "string") {
    throw new TypeError("The failure content type must be a string.");
  }
  if (
    headers !== undefined &&
    (typeof headers !== "object" || headers === null ||
      Object.values(headers).some((value) => typeof value !== "string"))
  ) {
    throw new TypeError("The failure headers must be an object of strings.");
  }
  if (typeof retryAfter === "number" && !(Number.isFinite(retryAfter) && retryAfter >= 0)) {
    throw new RangeError(`The failure "retryAfter" must be >= 0, not "${retryAfter}".`);
  }
  if (retryAfter !== undefined && !["number", "string"].includes(typeof retryAfter)) {
    throw new TypeError('The failure "retryAfter" must be a number or a string.');
  }
  if (
    delay !== undefined &&
    (typeof delay !== "number" || !(delay >= 0 && delay <= MAX_DELAY_MS))
  ) {
    throw new RangeError(`The failure delay must be from 0 to ${MAX_DELAY_MS} ms, not "${delay}".`);
  }
  if (reset !== undefined && typeof reset !== "boolean") {
    throw new TypeError('The failure "reset" must be a boolean.');
  }
  const count = times ?? 1;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`The failure "times" must be a positive integer, not "${times}".`);
  }
  const describesAnswer = status !== undefined || body !== undefined ||
    contentType !== undefined || headers !== undefined || retryAfter !== undefined;
  return {
    remaining: count,
    failure: {
      delay: delay ?? 0,
      reset: reset ?? false,
      responds: describesAnswer || delay === undefined,
      status: status ?? 500,
      body,
      contentType: contentType ?? "application/json",
      headers: { ...headers },
      retryAfter: retryAfter === undefined ? undefined : String(retryAfter),
    },
  };
}

function takeFailure(queue: QueuedFailure[]): Failure | undefined {
  const next = queue[0];
  if (next === undefined) return undefined;
  if (--next.remaining === 0) queue.shift();
  return next.failure;
}

function defaultErrorCode(status: number, target: "token" | "api"): string {
  if (status === 400) return "invalid_request";
  if (status === 401) return target === "token" ? "invalid_client" : "invalid_token";
  if (status === 403) return target === "token" ? "unauthorized_client" : "insufficient_scope";
  if (status === 429 || status === 503) return "temporarily_unavailable";
  return "server_error";
}

/** Reads the body as UTF-8; undefined when it exceeds the size limit. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => {
      resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(new Error("The request was aborted."));
    });
  });
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

/** Parses `Authorization: Basic`; undefined when another scheme or none is used. */
function parseBasic(authorization: string | undefined): BasicCredentials | "malformed" | undefined {
  const match = /^Basic(?: +(\S*))? *$/i.exec(authorization ?? "");
  if (!match) return /^Basic\b/i.test(authorization ?? "") ? "malformed" : undefined;
  const encoded = match[1] ?? "";
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return "malformed";
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return "malformed";
  try {
    // RFC 6749 section 2.3.1: both parts are application/x-www-form-urlencoded.
    const clientId = decodeURIComponent(decoded.slice(0, colon).replaceAll("+", " "));
    const secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll("+", " "));
    return clientId === "" ? "malformed" : { clientId, secret };
  } catch {
    return "malformed";
  }
}

function secretsEqual(actual: string, expected: string): boolean {
  const a = createHash("sha256").update(actual).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Normalizes a space-separated scope; undefined when empty, null when malformed. */
function normalizeScope(scope: string): string | undefined | null {
  const tokens = scope.split(" ").filter((token) => token !== "");
  if (tokens.length === 0) return undefined;
  if (!tokens.every((token) => SCOPE_TOKEN.test(token))) return null;
  return [...new Set(tokens)].join(" ");
}

function copyHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === "authorization" || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

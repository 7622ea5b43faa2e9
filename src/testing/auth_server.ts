// The local Kognic-compatible auth server for tests; its entry point is `testing.ts`.

import { Buffer } from "node:buffer";
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

/** Options of {@linkcode startAuthServer}. */
export interface LocalAuthServerOptions {
  /** The registered clients, client ID to secret. @default {{ "test-client": "test-secret" }} */
  clients?: Record<string, string>;
  /**
   * The lifetime of issued access tokens in seconds (`expires_in`); fractions allowed, `0` issues
   * expired tokens; see {@linkcode LocalAuthServer.tokenLifetime}. @default {3600}
   */
  tokenLifetime?: number;
  /** Whether token responses carry a single-use `refresh_token`. @default {false} */
  refreshTokens?: boolean;
  /** The path of the token endpoint. It must start with `/`. @default {"/v1/auth/oauth/token"} */
  tokenPath?: string;
  /** The port to listen on; `0` picks a free one. @default {0} */
  port?: number;
  /** The address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Serve HTTPS with this PEM key and certificate. @default {plain HTTP} */
  tls?: { key: string; cert: string };
  /**
   * More protected routes: a path prefix (`/x`) to the handler of requests at or below it, served
   * like the echo API (token, faults, counts); the longest prefix wins, a throwing handler gets a
   * 500, a prefix under the server's own paths is refused. @default {{}}
   */
  routes?: Readonly<Record<string, ProtectedRouteHandler>>;
  /** Origins whose pages may call the server (CORS), or `"*"` for any. @default {[]} */
  corsOrigins?: readonly string[];
}

/** A request to a route of {@linkcode LocalAuthServerOptions.routes}, its bearer token verified. */
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

/** Answers a request to a mounted route with a web `Response`, sent as it is. */
export type ProtectedRouteHandler = (request: ProtectedRequest) => Response | Promise<Response>;

/**
 * A fault for the next `times` token or API requests (still counted): `delay` alone slows the
 * request, `reset` closes the connection unanswered, anything else (even `{}`) answers with
 * `status`, `body`, `contentType`, `headers` and `retryAfter`.
 */
export interface InjectedFailure {
  /** The status code of the answer, from 200 to 599. @default {500} */
  status?: number;
  /** The raw body to send. @default {an RFC 6749 JSON error whose `error` follows the status} */
  body?: string;
  /** The `Content-Type` of the answer. @default {"application/json"} */
  contentType?: string;
  /** More response headers; these override the defaults. @default {{}} */
  headers?: Record<string, string>;
  /** The `Retry-After` header: a number of seconds or an HTTP-date string. @default {undefined} */
  retryAfter?: number | string;
  /** Milliseconds to wait before answering (less if the client or server goes). @default {0} */
  delay?: number;
  /** Destroy the connection without answering (a connection reset). @default {false} */
  reset?: boolean;
  /** How many consecutive matching requests the failure applies to. @default {1} */
  times?: number;
}

/** One request to the token endpoint; the client secret and `Authorization` are never recorded. */
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
  /** Access tokens the token endpoint issued (not those of `issueToken`). */
  readonly tokensIssued: number;
  /** Requests to the echo API, the mounted routes and the redirect helper. */
  readonly apiRequests: number;
  /** Echo API and mounted route requests answered with 401 (a bad token or a fault). */
  readonly unauthorizedApiRequests: number;
}

/** The body of a successful answer of the echo API. */
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

/** A running local auth server; close it with `close()` or `await using`. */
export interface LocalAuthServer extends AsyncDisposable {
  /** The base URL without a trailing slash, such as `http://127.0.0.1:41234`; the auth server. */
  readonly url: string;
  /** The URL of the token endpoint: {@linkcode LocalAuthServer.url} plus the token path. */
  readonly tokenUrl: string;
  /** The URL of the protected echo API: {@linkcode LocalAuthServer.url} plus `/v1/echo`. */
  readonly apiUrl: string;
  /** Live request counters; the same object updates as requests arrive. */
  readonly counts: LocalAuthServerCounts;
  /** The token requests in arrival order (the latest 10,000), live; `resetCounts` empties it. */
  readonly tokenRequests: readonly RecordedTokenRequest[];
  /** Lifetime of tokens issued from now on, in seconds; a bad one throws a RangeError. */
  tokenLifetime: number;
  /**
   * Queues a fault for the token endpoint (faults apply in order, each to `times` requests).
   * @throws {TypeError | RangeError} When a field has the wrong type or is out of range.
   */
  failTokenRequests(failure: InjectedFailure): void;
  /**
   * Queues a fault for the echo API and mounted routes, such as `{ status: 401, times: 2 }`.
   * @throws {TypeError | RangeError} When a field has the wrong type or is out of range.
   */
  failApiRequests(failure: InjectedFailure): void;
  /** Makes every access token issued so far invalid: the echo API answers 401 for them. */
  revokeAccessTokens(): void;
  /** Makes every refresh token issued so far invalid (400 `invalid_grant`). */
  revokeRefreshTokens(): void;
  /**
   * Mints a valid access token without a token request (not counted in `tokensIssued`).
   * @param clientId The client the token is for; the first registered client by default.
   * @returns The access token.
   * @throws {TypeError} When `clientId` is not a non-empty string.
   */
  issueToken(clientId?: string): string;
  /** Sets every counter to zero and empties {@linkcode LocalAuthServer.tokenRequests}. */
  resetCounts(): void;
  /** Stops listening, closes every connection and ends pending delays. @returns When closed. */
  close(): Promise<void>;
}

const DEFAULT_TOKEN_PATH = "/v1/auth/oauth/token";
const ECHO_PATH = "/v1/echo";
const REDIRECT_PATH = "/v1/redirect";
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_KEPT = 10_000; // recorded token requests, live refresh tokens
const PRUNE_INTERVAL_MS = 1000;
const MAX_DELAY_MS = 2_147_483_647;
// RFC 6749 appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };
const BASIC_CHALLENGE = { "www-authenticate": 'Basic realm="kognic"' };
const BEARER_CHALLENGE = { "www-authenticate": 'Bearer error="invalid_token"' };

type Json = Record<string, unknown>;
type Counts = { -readonly [K in keyof LocalAuthServerCounts]: number };

/** What the server knows of a token it issued; `expiresAt` in ms since the epoch. */
type Grant = { clientId: string; scope: string | undefined; expiresAt: number };
/** A queued fault: whether it answers (not only delays), and how many requests remain. */
type QueuedFailure = InjectedFailure & { responds: boolean; remaining: number };

/** An RFC 6749 error answer of the server, thrown by its handlers through `refuse`. */
class OAuthReply {
  status = 400;
  body = { error: "", error_description: "" };
  headers: Record<string, string> = {};
}

/** Throws the RFC 6749 error answer `error` with `status` and `description`. */
function refuse(status: number, error: string, error_description: string, headers = {}): never {
  throw Object.assign(new OAuthReply(), { status, body: { error, error_description }, headers });
}

/** Throws the RFC 6749 `invalid_request` answer with `description`. */
function bad(description: string): never {
  refuse(400, "invalid_request", description);
}

/** Throws `Type` with `message` unless `ok`. */
function need(ok: boolean, message: string, Type: typeof TypeError = TypeError): void {
  if (!ok) throw new Type(message);
}

/** Throws a TypeError naming the first set field of `object` not of its type in `types`. */
function checkTypes(object: object, types: Record<string, string>, what: string): void {
  for (const [field, type] of Object.entries(types)) {
    const value = (object as Record<string, unknown>)[field];
    const ok = value === undefined ||
      type.split("|").some((one) =>
        one === "array"
          ? Array.isArray(value)
          : one === "object"
          ? isRecord(value)
          : typeof value === one
      );
    const kinds = type.split("|").map((one) => (/^[aeo]/.test(one) ? "an " : "a ") + one);
    need(ok, `The ${what} "${field}" must be ${kinds.join(" or ")}.`);
  }
}

const isString = (value: unknown): value is string => typeof value === "string";
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

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
 * const body = new URLSearchParams({ grant_type: "client_credentials" });
 * const response = await fetch(server.tokenUrl, { method: "POST", body });
 * console.log(response.status, response.headers.get("retry-after")); // 429 "1"
 * await response.body?.cancel();
 * ```
 */
export async function startAuthServer(
  options: LocalAuthServerOptions = {},
): Promise<LocalAuthServer> {
  need(isRecord(options), "The options must be an object.");
  checkTypes(options, {
    refreshTokens: "boolean",
    tokenPath: "string",
    hostname: "string",
    tls: "object",
    corsOrigins: "array",
  }, "option");
  const { refreshTokens = false, port = 0, hostname = "127.0.0.1", tls } = options;
  const { tokenPath = DEFAULT_TOKEN_PATH, corsOrigins = [] } = options;
  const path = `The option "tokenPath" must be a path starting with "/", not "${tokenPath}".`;
  need(tokenPath.startsWith("/") && !/[?#\s]/.test(tokenPath), path, RangeError);
  checkNumber(port, 'The option "port"', 0, 65535);
  need(hostname !== "", 'The option "hostname" must not be empty.');
  const pem = !tls || [tls.key, tls.cert].every(isString);
  need(pem, 'The option "tls" must be { key, cert } with PEM strings.');
  need(corsOrigins.every(isString), 'The option "corsOrigins" must hold strings.');
  const clients = readClients(options.clients);
  const routes = readRoutes(options.routes, tokenPath);
  let tokenLifetime = checkLifetime(options.tokenLifetime ?? 3600);
  const signingKey = randomBytes(32);
  const counts: Counts = {
    tokenRequests: 0,
    clientCredentialsGrants: 0,
    refreshTokenGrants: 0,
    tokensIssued: 0,
    apiRequests: 0,
    unauthorizedApiRequests: 0,
  };
  const records: RecordedTokenRequest[] = [];
  const accessTokens = new Map<string, Grant>();
  const refreshTokenGrants = new Map<string, Grant>();
  const failures = { token: [] as QueuedFailure[], api: [] as QueuedFailure[] };
  const pendingWaits = new Set<() => void>();
  let nextPruneAt = 0;
  let baseUrl = "";
  let closing: Promise<void> | undefined;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin && corsOrigins.some((allowed) => allowed === "*" || allowed === origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "origin");
      if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
        req.resume();
        const headers = req.headers["access-control-request-headers"] ?? "authorization";
        return void res.writeHead(204, {
          "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
          "access-control-allow-headers": headers,
          "access-control-max-age": "600",
        }).end();
      }
    }
    route(req, res).catch((error) => {
      if (res.headersSent || res.destroyed) res.destroy();
      else if (error instanceof OAuthReply) sendError(res, error);
      else sendJson(res, 500, { error: "server_error", error_description: "Internal error." });
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const base = "http://localhost";
    const url = URL.canParse(req.url ?? "/", base) ? new URL(req.url ?? "/", base) : undefined;
    const path = url?.pathname ?? "";
    if (path === tokenPath) return await handleTokenRequest(req, res);
    if (path === REDIRECT_PATH) return handleRedirectRequest(req, res, url!);
    // The echo API is a route too: the longest prefix wins, and no mounted one is longer.
    const mounted = routes.find(([prefix]) => path === prefix || path.startsWith(prefix + "/"));
    if (url && mounted) return await handleApiRequest(req, res, url, mounted);
    req.resume();
    if (!url) bad("The URL is malformed.");
    refuse(404, "not_found", "There is nothing at this path.");
  }

  async function handleTokenRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counts.tokenRequests++;
    const failure = takeFailure(failures.token);
    const body = await readBody(req);
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    const isForm = type === "application/x-www-form-urlencoded";
    const form = isForm && body !== undefined ? new URLSearchParams(body) : undefined;
    const basic = parseBasic(req.headers.authorization);
    const formSecret = form?.get("client_secret") ?? undefined;
    const grantType = form?.get("grant_type") ?? "";
    if (records.length >= MAX_KEPT) records.shift();
    records.push({
      grantType,
      clientId: typeof basic === "object" ? basic.clientId : form?.get("client_id") ?? undefined,
      scope: form?.get("scope") ?? undefined,
      hasSecret: basic === undefined ? !!formSecret : typeof basic === "object" && !!basic.secret,
      authMethod: basic !== undefined
        ? "client_secret_basic"
        : formSecret !== undefined
        ? "client_secret_post"
        : "none",
      headers: copyHeaders(req),
    });
    if (grantType === "client_credentials") counts.clientCredentialsGrants++;
    if (grantType === "refresh_token") counts.refreshTokenGrants++;
    if (failure && await applyFailure(failure, req, res, "token")) return;
    try {
      sendJson(res, 200, grant(req.method, body, form, basic), NO_STORE);
    } catch (error) {
      if (!(error instanceof OAuthReply)) throw error;
      sendError(res, error, NO_STORE);
    }
  }

  /** Runs the grant and returns the token response; throws an {@linkcode OAuthReply} otherwise. */
  function grant(method?: string, body?: string, form?: URLSearchParams, basic?: Basic): Json {
    if (method !== "POST") {
      refuse(405, "invalid_request", "The token endpoint accepts only POST.", { allow: "POST" });
    }
    if (body === undefined) refuse(413, "invalid_request", "The request body is too large.");
    if (!form) bad("The body must be application/x-www-form-urlencoded.");
    for (const key of new Set(form.keys())) {
      if (form.getAll(key).length > 1) bad(`The parameter "${key}" is repeated.`);
    }
    const grantType = form.get("grant_type");
    if (!grantType) bad('The parameter "grant_type" is missing.');
    const clientId = authenticate(form, basic);
    const requested = form.get("scope");
    const scope = requested === null ? undefined : normalizeScope(requested);
    if (scope === null) refuse(400, "invalid_scope", 'The parameter "scope" is malformed.');
    if (grantType === "client_credentials") return issueTokens(clientId, scope ?? undefined);
    if (grantType !== "refresh_token") {
      refuse(400, "unsupported_grant_type", "The grant type is not supported.");
    }
    const refreshToken = form.get("refresh_token");
    if (!refreshToken) bad('The parameter "refresh_token" is missing.');
    const entry = refreshTokenGrants.get(refreshToken);
    if (!entry || entry.clientId !== clientId) {
      refuse(400, "invalid_grant", "The refresh token is invalid, expired or revoked.");
    }
    const granted = entry.scope?.split(" ") ?? [];
    if (scope && !scope.split(" ").every((token) => granted.includes(token))) {
      refuse(400, "invalid_scope", "The scope exceeds the scope of the refresh token.");
    }
    refreshTokenGrants.delete(refreshToken);
    return issueTokens(clientId, scope ?? entry.scope);
  }

  /** The authenticated client's ID; throws an {@linkcode OAuthReply} otherwise. */
  function authenticate(form: URLSearchParams, basic: Basic | undefined): string {
    const formId = form.get("client_id");
    let clientId = formId;
    let secret = form.get("client_secret");
    if (basic === "malformed") {
      refuse(401, "invalid_client", "The Authorization header is malformed.", BASIC_CHALLENGE);
    }
    if (basic) {
      if (secret !== null) bad("The client used more than one authentication method.");
      if (formId !== null && formId !== basic.clientId) {
        bad('The parameter "client_id" does not match the header.');
      }
      ({ clientId, secret } = basic);
    } else if (!clientId) {
      refuse(401, "invalid_client", "Client authentication is missing.");
    } else if (!secret) {
      refuse(401, "invalid_client", "The client secret is missing.");
    }
    const expected = clients.get(clientId!);
    if (expected === undefined || !secretsEqual(secret!, expected)) {
      refuse(401, "invalid_client", "Client authentication failed.", basic ? BASIC_CHALLENGE : {});
    }
    return clientId!;
  }

  function issueTokens(clientId: string, scope: string | undefined): Json {
    const response: Json = {
      access_token: mintAccessToken(clientId, scope),
      token_type: "Bearer",
      expires_in: tokenLifetime,
    };
    if (scope !== undefined) response.scope = scope;
    if (refreshTokens) {
      const refreshToken = randomBytes(32).toString("base64url");
      refreshTokenGrants.set(refreshToken, { clientId, scope, expiresAt: Infinity });
      if (refreshTokenGrants.size > MAX_KEPT) {
        refreshTokenGrants.delete(refreshTokenGrants.keys().next().value!);
      }
      response.refresh_token = refreshToken;
    }
    counts.tokensIssued++;
    return response;
  }

  function mintAccessToken(clientId: string, scope: string | undefined): string {
    const now = Date.now();
    if (now >= nextPruneAt) {
      nextPruneAt = now + PRUNE_INTERVAL_MS;
      for (const [token, entry] of accessTokens) {
        if (entry.expiresAt <= now) accessTokens.delete(token);
      }
    }
    const expiresAt = now + tokenLifetime * 1000;
    const payload = {
      iss: baseUrl,
      sub: clientId,
      aud: "kognic",
      iat: Math.floor(now / 1000),
      exp: Math.floor(expiresAt / 1000),
      jti: randomUUID(),
      ...(scope === undefined ? {} : { scope }),
    };
    const signingInput = `${base64UrlJson({ alg: "HS256", typ: "JWT" })}.${base64UrlJson(payload)}`;
    const signature = createHmac("sha256", signingKey).update(signingInput).digest();
    const token = `${signingInput}.${signature.toString("base64url")}`;
    accessTokens.set(token, { clientId, scope, expiresAt });
    return token;
  }

  /** A request to the echo API or a mounted route: counted, faulted, its bearer token checked. */
  async function handleApiRequest(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    [prefix, handler]: [string, ProtectedRouteHandler],
  ): Promise<void> {
    counts.apiRequests++;
    const failure = takeFailure(failures.api);
    const body = await readBody(req);
    if (failure && await applyFailure(failure, req, res, "api")) {
      if (res.headersSent && res.statusCode === 401) counts.unauthorizedApiRequests++;
      return;
    }
    const token = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? "")?.[1];
    const entry = token === undefined ? undefined : accessTokens.get(token);
    const expired = entry !== undefined && entry.expiresAt <= Date.now();
    if (entry === undefined || expired) {
      if (expired) accessTokens.delete(token!);
      counts.unauthorizedApiRequests++;
      const description = token === undefined
        ? "The request has no bearer token."
        : expired
        ? "The access token has expired."
        : "The access token is invalid or revoked.";
      refuse(401, "invalid_token", description, BEARER_CHALLENGE);
    }
    if (body === undefined) refuse(413, "invalid_request", "The body is too large.");
    const method = req.method ?? "GET";
    const [clientId, scope, headers] = [entry.clientId, entry.scope ?? null, copyHeaders(req)];
    const route = url.pathname.slice(prefix.length);
    const where = new URL(url.pathname + url.search, baseUrl);
    const response = await handler({ method, url: where, route, headers, body, clientId, scope });
    if (!(response instanceof Response)) throw new TypeError("A route must return a Response.");
    const text = Buffer.from(await response.arrayBuffer());
    const answer = Object.fromEntries(response.headers);
    res.writeHead(response.status, { ...answer, "content-length": String(text.length) }).end(text);
  }

  function handleRedirectRequest(req: IncomingMessage, res: ServerResponse, url: URL): void {
    counts.apiRequests++;
    req.resume();
    const to = url.searchParams.get("to");
    const status = Number(url.searchParams.get("status") ?? 302);
    if (to === null || !URL.canParse(to)) bad('The parameter "to" must be an absolute URL.');
    if (!REDIRECT_STATUSES.has(status)) {
      bad('The parameter "status" must be 301, 302, 303, 307 or 308.');
    }
    res.writeHead(status, { location: to, "content-length": "0" }).end();
  }

  /** Applies a failure; returns false when the request should be handled normally after it. */
  async function applyFailure(
    failure: QueuedFailure,
    req: IncomingMessage,
    res: ServerResponse,
    target: "token" | "api",
  ): Promise<boolean> {
    if ((failure.delay && !await wait(failure.delay, res)) || failure.reset) {
      req.socket.destroy();
      return true;
    }
    if (!failure.responds) return false;
    const status = failure.status ?? 500;
    const body = failure.body ?? JSON.stringify({
      error: defaultErrorCode(status, target),
      error_description: "Injected failure.",
    });
    res.writeHead(status, {
      "content-type": failure.contentType ?? "application/json",
      ...(target === "api" && status === 401 ? BEARER_CHALLENGE : {}),
      ...(failure.retryAfter === undefined ? {} : { "retry-after": String(failure.retryAfter) }),
      ...failure.headers,
      "content-length": String(Buffer.byteLength(body)),
    });
    res.end(body);
    return true;
  }

  /** Waits; resolves false early when the client goes away or the server closes. */
  function wait(ms: number, res: ServerResponse): Promise<boolean> {
    if (closing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (proceed: boolean): void => {
        clearTimeout(timer);
        pendingWaits.delete(stop);
        res.off("close", stop);
        resolve(proceed);
      };
      const stop = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      pendingWaits.add(stop);
      res.on("close", stop);
    });
  }

  const server: Server = tls ? createHttpsServer(tls, handle) : createServer(handle);
  // Idle connections outlive a client pool's (Node's 5 s default is close to undici's 4 s: drifting
  // timers race a request onto a closing connection); close() ends them all.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // A deep accept queue: a burst of connections waits rather than being refused.
    server.listen({ port, host: hostname, backlog: 4096 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.address.includes(":") ? `[${address.address}]` : address.address;
  baseUrl = `${tls ? "https" : "http"}://${host}:${address.port}`;
  const close = (): Promise<void> =>
    closing ??= new Promise((resolve) => {
      for (const end of [...pendingWaits]) end();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    url: baseUrl,
    tokenUrl: baseUrl + tokenPath,
    apiUrl: baseUrl + ECHO_PATH,
    counts,
    tokenRequests: records,
    get tokenLifetime(): number {
      return tokenLifetime;
    },
    set tokenLifetime(seconds: number) {
      tokenLifetime = checkLifetime(seconds);
    },
    failTokenRequests: (failure) => void failures.token.push(readFailure(failure)),
    failApiRequests: (failure) => void failures.api.push(readFailure(failure)),
    revokeAccessTokens: () => accessTokens.clear(),
    revokeRefreshTokens: () => refreshTokenGrants.clear(),
    issueToken: (clientId = clients.keys().next().value ?? "test-client") => {
      need(isString(clientId) && clientId !== "", "The client ID must be a non-empty string.");
      return mintAccessToken(clientId, undefined);
    },
    resetCounts: () => {
      for (const key of Object.keys(counts) as (keyof Counts)[]) counts[key] = 0;
      records.length = 0;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Client credentials from `Authorization: Basic`, or `"malformed"`. */
type Basic = { clientId: string; secret: string } | "malformed";

function readClients(clients: unknown = { "test-client": "test-secret" }): Map<string, string> {
  need(isRecord(clients), 'The option "clients" must be an object of IDs to secrets.');
  const entries = Object.entries(clients as object);
  for (const [id, secret] of entries) {
    need(id !== "" && isString(secret), `The secret of client "${id}" must be a string.`);
  }
  return new Map(entries);
}

function readRoutes(routes: unknown = {}, tokenPath: string): [string, ProtectedRouteHandler][] {
  need(isRecord(routes), 'The option "routes" must be an object of paths to handlers.');
  const mounted = Object.entries(routes as Record<string, unknown>);
  for (const [prefix, handler] of mounted) {
    const own = [tokenPath, ECHO_PATH, REDIRECT_PATH].find((path) =>
      prefix === path || prefix.startsWith(path + "/")
    );
    const problem = own === undefined
      ? 'must be a path starting with "/" and not ending with "/"'
      : `lies under the server's own path "${own}" and is never served`;
    const ok = /^\/[^?#\s]*[^/?#\s]$/.test(prefix) && own === undefined;
    need(ok, `The route "${prefix}" ${problem}.`, RangeError);
    need(typeof handler === "function", `The route "${prefix}" needs a function.`);
  }
  const all = [...mounted, [ECHO_PATH, echo]] as [string, ProtectedRouteHandler][];
  return all.sort(([a], [b]) => b.length - a.length);
}

/** The echo API: a description of the request. */
function echo({ method, url, headers, body, clientId, scope }: ProtectedRequest): Response {
  const [path, query] = [url.pathname, url.search.slice(1)];
  return Response.json(
    { method, path, query, clientId, scope, headers, body } satisfies EchoResponse,
  );
}

function checkLifetime(seconds: unknown): number {
  checkNumber(seconds ?? NaN, "The token lifetime (seconds)", 0, Infinity, false);
  return seconds as number;
}

/** Throws a RangeError unless `value` is undefined or a (`whole`) finite number in `min`..`max`. */
function checkNumber(value: unknown, name: string, min: number, max: number, whole = true): void {
  const ok = value === undefined || (typeof value === "number" && Number.isFinite(value) &&
    (!whole || Number.isInteger(value)) && value >= min && value <= max);
  const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
  const must = `${name} must be a ${whole ? "whole " : ""}number ${range}, not "${value}".`;
  need(ok, must, RangeError);
}

function readFailure(failure: InjectedFailure): QueuedFailure {
  need(isRecord(failure), "The failure must be an object.");
  checkTypes(failure, {
    body: "string",
    contentType: "string",
    headers: "object",
    retryAfter: "number|string",
    reset: "boolean",
  }, "failure field");
  const { status, headers = {}, retryAfter, delay, times = 1 } = failure;
  need(Object.values(headers).every(isString), "The failure headers must be strings.");
  checkNumber(status, "The failure status", 200, 599);
  const after = typeof retryAfter === "number" ? retryAfter : undefined;
  checkNumber(after, 'The failure "retryAfter"', 0, Infinity, false);
  checkNumber(delay, "The failure delay (ms)", 0, MAX_DELAY_MS, false);
  checkNumber(times, 'The failure "times"', 1, Number.MAX_SAFE_INTEGER);
  const { body, contentType } = failure;
  const answers = [status, body, contentType, failure.headers, retryAfter].some((v) =>
    v !== undefined
  );
  const responds = answers || delay === undefined;
  return { ...failure, headers: { ...headers }, responds, remaining: times };
}

function takeFailure(queue: QueuedFailure[]): QueuedFailure | undefined {
  const next = queue[0];
  if (next !== undefined && --next.remaining === 0) queue.shift();
  return next;
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

/** Parses `Authorization: Basic`; undefined when another scheme or none is used. */
function parseBasic(authorization = ""): Basic | undefined {
  const match = /^Basic(?: +(\S*))? *$/i.exec(authorization);
  if (!match) return /^Basic\b/i.test(authorization) ? "malformed" : undefined;
  const encoded = match[1] ?? "";
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return "malformed";
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  try {
    // RFC 6749 section 2.3.1: both parts are application/x-www-form-urlencoded.
    const [clientId, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)].map((part) =>
      decodeURIComponent(part.replaceAll("+", " "))
    );
    return colon < 1 || clientId === "" ? "malformed" : { clientId, secret };
  } catch {
    return "malformed";
  }
}

function secretsEqual(actual: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(actual), digest(expected));
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

const base64UrlJson = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString("base64url");

const sendError = (res: ServerResponse, reply: OAuthReply, headers = {}): void =>
  sendJson(res, reply.status, reply.body, { ...headers, ...reply.headers });

function sendJson(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = JSON.stringify(body);
  const length = String(Buffer.byteLength(text));
  const all = { "content-type": "application/json", "content-length": length, ...headers };
  res.writeHead(status, all).end(text);
}

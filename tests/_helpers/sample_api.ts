/**
 * Sample API routes for the tests of KognicClient and `kog`, mounted on the local auth server
 * under `/v1/api` through its `routes` option: fixed answers for API clients and output
 * formatters (lists bare, in a `data` envelope, empty, sparse, nested), non-JSON bodies, error
 * bodies, sunset headers, transient failures and the `User-Agent` seen.
 *
 * The routes answer any method, need a valid bearer token (the server answers 401
 * `invalid_token` otherwise, as for the echo API) and send JSON as
 * `application/json; charset=utf-8`:
 *
 * | Route under `/v1/api` | Answer |
 * |---|---|
 * | `/items` | The sample items: a JSON array of three objects with sparse keys and nested values (below). |
 * | `/enveloped` | `{"data": <the sample items>}`. |
 * | `/page` | `{"data": [<the first sample item>], "next": null}`: a list beside another key. |
 * | `/empty` | `[]`. |
 * | `/empty-enveloped` | `{"data": []}`. |
 * | `/object` | `{"id": 1, "name": "alpha"}`: an object without a `data` key. |
 * | `/scalars` | `[1, "two", true, null]`. |
 * | `/numbers` | `[{"id": 12345678901234567890, "ratio": 1.50, "2": "two"}]` as this exact text: a number beyond 2^53, a trailing zero and an integer-like key after others. |
 * | `/text` | `plain text, not JSON` and a newline, as `text/plain; charset=utf-8`. |
 * | `/bad-json` | `{"data": [` labelled `application/json`: a body that is not JSON. |
 * | `/status/<code>` | HTTP `<code>` (200 to 599) with `{"message": <message>, "status": <code>}`; `?message=` sets the message (default `Sample error <code>`), `?format=text` sends the message alone as `text/plain`. |
 * | `/sunset` | `{"data": {"deprecated": true}}` with the response headers `sunset-date` and `Sunset` set to the query parameters of those names, when given. |
 * | `/flaky/<key>` | The first `?failures=` (default 1) requests for `<key>` answer `?status=` (default 503; 429, 500, 502, 503 or 504) with `{"message": "Transient failure <n> of <failures>"}` and `Retry-After: <?retryAfter=>` when given; later ones answer 200 `{"key": <key>, "attempts": <n>, "method": <method>}`. {@linkcode SampleApi.flakyAttempts} counts the requests per key. |
 * | `/user-agent` | `{"userAgent": <the User-Agent header, or null>}`. |
 *
 * Other paths under `/v1/api/` answer 404 with `{"message": "No sample API route at <path>"}`.
 * The sample items are:
 *
 * ```json
 * [
 *   { "id": 1, "name": "alpha", "tags": ["red", "blue"] },
 *   { "id": 2, "name": "beta, \"two\"", "owner": { "email": "b@example.com" }, "notes": "line 1\nline 2" },
 *   { "id": 3, "name": null, "active": false }
 * ]
 * ```
 *
 * @module
 */

import {
  type LocalAuthServer,
  type LocalAuthServerOptions,
  type ProtectedRequest,
  startAuthServer,
} from "../../testing.ts";
import { CLIENTS, tempDir, writeCredentials, writeEnvironments } from "./mod.ts";

/** Where the sample routes are mounted. */
export const SAMPLE_API_PATH = "/v1/api";

const FLAKY_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
const JSON_UTF8 = "application/json; charset=utf-8";
const TEXT_UTF8 = "text/plain; charset=utf-8";
const SAMPLE_ITEMS: readonly Record<string, unknown>[] = [
  { id: 1, name: "alpha", tags: ["red", "blue"] },
  { id: 2, name: 'beta, "two"', owner: { email: "b@example.com" }, notes: "line 1\nline 2" },
  { id: 3, name: null, active: false },
];
const NUMBERS_BODY = '[{"id": 12345678901234567890, "ratio": 1.50, "2": "two"}]';

/** The sample routes' state: the attempts of the flaky route per key. */
export interface SampleApi {
  /** Answers a request to a sample route; mount it under {@linkcode SAMPLE_API_PATH}. */
  handle(request: ProtectedRequest): Response;
  /**
   * How many requests the route `/v1/api/flaky/<key>` has received for `key`, failed ones
   * included; 0 for a key never requested.
   */
  flakyAttempts(key: string): number;
}

/** A local auth server with the sample routes mounted. */
export interface SampleApiServer extends LocalAuthServer {
  /** The base URL of the sample routes, such as `http://127.0.0.1:41234/v1/api`. */
  readonly apiBaseUrl: string;
  /** {@linkcode SampleApi.flakyAttempts} of the mounted routes. */
  flakyAttempts(key: string): number;
}

/** A sample API server and a folder to run `kog` against it in (see {@linkcode startKogHome}). */
export interface KogHome {
  /** The sample API server, with the test clients. */
  readonly server: SampleApiServer;
  /** The folder; `kog` uses its files when run with its `isolatedXdg` variables. */
  readonly dir: string;
  /** Stops the server and removes the folder. */
  close(): Promise<void>;
}

/**
 * Starts a sample API server and writes, in a new temporary folder, the test client's
 * credentials and an environments file whose environment `local` (the default) is the server's
 * host 127.0.0.1 with `fields` added (such as `{ scopes: ["read"] }`).
 */
export async function startKogHome(fields: Record<string, unknown> = {}): Promise<KogHome> {
  const server = await startSampleApiServer({ clients: CLIENTS });
  const dir = await tempDir();
  const credentials = await writeCredentials(dir.path);
  await writeEnvironments(dir.path, {
    default_environment: "local",
    environments: {
      local: { host: "127.0.0.1", auth_server: server.url, credentials, ...fields },
    },
  });
  return {
    server,
    dir: dir.path,
    close: async () => {
      await server.close();
      await dir.cleanup();
    },
  };
}

/** Creates the sample routes with their own flaky-route attempts. */
export function sampleApi(): SampleApi {
  const attempts = new Map<string, number>();
  return {
    handle: (request) => answer(request, attempts),
    flakyAttempts: (key) => attempts.get(key) ?? 0,
  };
}

/** Starts the local auth server with the sample routes mounted under {@linkcode SAMPLE_API_PATH}. */
export async function startSampleApiServer(
  options: LocalAuthServerOptions = {},
): Promise<SampleApiServer> {
  const api = sampleApi();
  const server = await startAuthServer({
    ...options,
    routes: { ...options.routes, [SAMPLE_API_PATH]: api.handle },
  });
  return Object.assign(server, {
    apiBaseUrl: server.url + SAMPLE_API_PATH,
    flakyAttempts: api.flakyAttempts,
  });
}

function text(status: number, body: string, contentType: string, headers = {}): Response {
  return new Response(body, { status, headers: { "content-type": contentType, ...headers } });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return text(status, JSON.stringify(body), JSON_UTF8, headers);
}

function answer(request: ProtectedRequest, attempts: Map<string, number>): Response {
  const route = request.route.slice(1);
  const query = request.url.searchParams;
  switch (route) {
    case "items":
      return json(200, SAMPLE_ITEMS);
    case "enveloped":
      return json(200, { data: SAMPLE_ITEMS });
    case "page":
      return json(200, { data: SAMPLE_ITEMS.slice(0, 1), next: null });
    case "empty":
      return json(200, []);
    case "empty-enveloped":
      return json(200, { data: [] });
    case "object":
      return json(200, { id: 1, name: "alpha" });
    case "scalars":
      return json(200, [1, "two", true, null]);
    case "numbers":
      return text(200, NUMBERS_BODY, JSON_UTF8);
    case "text":
      return text(200, "plain text, not JSON\n", TEXT_UTF8);
    case "bad-json":
      return text(200, '{"data": [', JSON_UTF8);
    case "sunset": {
      const headers: Record<string, string> = {};
      for (const name of ["sunset-date", "sunset"]) {
        const value = query.get(name);
        if (value !== null) headers[name] = value;
      }
      return json(200, { data: { deprecated: true } }, headers);
    }
    case "user-agent":
      return json(200, { userAgent: request.headers["user-agent"] ?? null });
  }
  const status = /^status\/(\d{3})$/.exec(route);
  if (status) {
    const code = Number(status[1]);
    if (code >= 200 && code <= 599) {
      const message = query.get("message") ?? `Sample error ${code}`;
      if (query.get("format") === "text") return text(code, message, TEXT_UTF8);
      return json(code, { message, status: code });
    }
  }
  const flaky = /^flaky\/([^/]+)$/.exec(route);
  if (flaky) {
    const key = decodeURIComponent(flaky[1]);
    const failures = Number(query.get("failures") ?? 1);
    const failStatus = Number(query.get("status") ?? 503);
    if (!Number.isSafeInteger(failures) || failures < 0 || !FLAKY_STATUSES.has(failStatus)) {
      return json(400, {
        message: "failures must be an integer >= 0 and status one of 429, 500, 502, 503, 504",
      });
    }
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    if (attempt <= failures) {
      const retryAfter = query.get("retryAfter");
      return json(
        failStatus,
        { message: `Transient failure ${attempt} of ${failures}` },
        retryAfter === null ? {} : { "retry-after": retryAfter },
      );
    }
    return json(200, { key, attempts: attempt, method: request.method });
  }
  return json(404, { message: `No sample API route at ${request.url.pathname}` });
}

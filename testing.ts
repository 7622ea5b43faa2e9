/**
 * A local, Kognic-compatible OAuth 2.0 authorization server with a small protected API, for tests.
 *
 * {@linkcode startAuthServer} listens on `127.0.0.1` on a random port and serves:
 *
 * - the token endpoint (`POST /v1/auth/oauth/token`) with the `client_credentials` and
 *   `refresh_token` grants, client authentication by `client_secret_post` or
 *   `client_secret_basic`, and RFC 6749 error responses;
 * - a protected echo API (`/v1/echo` and every path below it) that requires a valid bearer
 *   token and answers with a description of the request ({@linkcode EchoResponse});
 * - protected sample API routes under `/v1/api/` ({@linkcode LocalAuthServer.apiBaseUrl}) with
 *   fixed answers for API clients and output formatters: lists (bare, in a `data` envelope,
 *   empty, sparse, nested), non-JSON bodies, error bodies, sunset headers, transient failures
 *   and the `User-Agent` seen (listed below);
 * - a redirect helper (`/v1/redirect?to=<url>&status=<3xx>`) for tests that check a client
 *   never follows a redirect with its token.
 *
 * Tests can queue faults (status codes, `Retry-After`, malformed bodies, delays, connection
 * resets), revoke tokens, change the token lifetime and read live request counters. It is built
 * on `node:http` with no dependencies, so it runs unchanged on Deno, Node.js 20+ and Bun.
 *
 * The sample API routes answer any method, need a valid bearer token (401 `invalid_token`
 * otherwise, as the echo API) and send JSON as `application/json; charset=utf-8`:
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
 * | `/flaky/<key>` | The first `?failures=` (default 1) requests for `<key>` answer `?status=` (default 503; 429, 500, 502, 503 or 504) with `{"message": "Transient failure <n> of <failures>"}` and `Retry-After: <?retryAfter=>` when given; later ones answer 200 `{"key": <key>, "attempts": <n>, "method": <method>}`. {@linkcode LocalAuthServer.flakyAttempts} counts the requests per key. |
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
 * @example Getting a token and calling the protected API with the global fetch
 * ```ts
 * import { startAuthServer } from "@kognic/auth/testing";
 *
 * const server = await startAuthServer({ clients: { "my-client": "my-secret" } });
 * try {
 *   const tokenResponse = await fetch(server.tokenUrl, {
 *     method: "POST",
 *     body: new URLSearchParams({
 *       grant_type: "client_credentials",
 *       client_id: "my-client",
 *       client_secret: "my-secret",
 *     }),
 *   });
 *   const { access_token } = await tokenResponse.json();
 *   const response = await fetch(server.apiUrl, {
 *     headers: { authorization: `Bearer ${access_token}` },
 *   });
 *   console.log(await response.json()); // { method: "GET", path: "/v1/echo", clientId: "my-client", ... }
 *   console.log(server.counts.tokensIssued); // 1
 * } finally {
 *   await server.close();
 * }
 * ```
 *
 * @module
 */

export {
  type EchoResponse,
  type InjectedFailure,
  type LocalAuthServer,
  type LocalAuthServerCounts,
  type LocalAuthServerOptions,
  type RecordedTokenRequest,
  startAuthServer,
} from "./src/testing/auth_server.ts";

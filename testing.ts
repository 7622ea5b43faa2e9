/**
 * A local, Kognic-compatible OAuth 2.0 authorization server with a protected API, for tests.
 *
 * {@linkcode startAuthServer} listens on `127.0.0.1` on a random port and serves:
 *
 * - the token endpoint (`POST /v1/auth/oauth/token`) with the `client_credentials` and
 *   `refresh_token` grants, client authentication by `client_secret_post` or
 *   `client_secret_basic`, and RFC 6749 error responses;
 * - a protected echo API (`/v1/echo` and every path below it) that requires a valid bearer
 *   token and answers with a description of the request ({@linkcode EchoResponse});
 * - protected routes of your own, mounted with the `routes` option
 *   ({@linkcode LocalAuthServerOptions.routes}): each gets the verified token's client and scope
 *   and answers with a web `Response`;
 * - a redirect helper (`/v1/redirect?to=<url>&status=<3xx>`) for tests that check a client
 *   never follows a redirect with its token.
 *
 * Tests can queue faults (status codes, `Retry-After`, malformed bodies, delays, connection
 * resets), revoke tokens, change the token lifetime and read live request counters. It is built
 * on `node:http` with no dependencies, so it runs unchanged on Deno, Node.js 20+ and Bun.
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
 * @example Mounting a protected route of your own
 * ```ts
 * import { startAuthServer } from "@kognic/auth/testing";
 *
 * await using server = await startAuthServer({
 *   routes: {
 *     "/v1/projects": (request) =>
 *       Response.json([{ id: 1, owner: request.clientId }], {
 *         status: request.method === "GET" ? 200 : 405,
 *       }),
 *   },
 * });
 * const token = server.issueToken();
 * const response = await fetch(`${server.url}/v1/projects`, {
 *   headers: { authorization: `Bearer ${token}` },
 * });
 * console.log(await response.json()); // [{ id: 1, owner: "test-client" }]
 * ```
 *
 * @example From the shell: the server, a credentials file and an environments file to try the commands with
 * ```sh
 * deno run -A jsr:@kognic/auth/testing-server   # or: npx -p @kognic/auth kognic-auth-testing
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
  type ProtectedRequest,
  type ProtectedRouteHandler,
  type RecordedTokenRequest,
  startAuthServer,
} from "./src/testing/auth_server.ts";

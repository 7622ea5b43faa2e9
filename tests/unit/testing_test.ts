import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { connect } from "node:net";
import {
  type EchoResponse,
  type LocalAuthServer,
  type LocalAuthServerOptions,
  type ProtectedRequest,
  startAuthServer,
} from "../../testing.ts";

const CLIENT_ID = "test-client";
const SECRET = "test-secret";

async function withServer(
  options: LocalAuthServerOptions,
  fn: (server: LocalAuthServer) => Promise<void>,
): Promise<void> {
  const server = await startAuthServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function requestToken(
  server: LocalAuthServer,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(server.tokenUrl, { method: "POST", body: new URLSearchParams(params), headers });
}

function clientCredentials(extra: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: "client_credentials",
    client_id: CLIENT_ID,
    client_secret: SECRET,
    ...extra,
  };
}

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
  refresh_token?: string;
}

async function getToken(
  server: LocalAuthServer,
  extra: Record<string, string> = {},
): Promise<TokenBody> {
  const response = await requestToken(server, clientCredentials(extra));
  assert.equal(response.status, 200);
  return await response.json();
}

/** RFC 6749 section 2.3.1: form-urlencode each part, then base64 them as HTTP Basic. */
function basicAuthorization(clientId: string, secret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replaceAll("%20", "+");
  return "Basic " + Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString("base64");
}

function decodeJwtPart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

function callApi(
  server: LocalAuthServer,
  token?: string,
  init: RequestInit = {},
  path = "",
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
  return fetch(server.apiUrl + path, { ...init, headers });
}

/** Resolves to the status of a response, discarding its body. */
async function statusOf(pending: Promise<Response>): Promise<number> {
  const response = await pending;
  await response.body?.cancel();
  return response.status;
}

async function responseText(response: Response): Promise<string> {
  return [...response.headers].map(([name, value]) => `${name}: ${value}\n`).join("") +
    await response.text();
}

describe("startAuthServer() token endpoint", () => {
  it("issues a JWT-shaped token for credentials sent as form parameters", async () => {
    await withServer({}, async (server) => {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(server.tokenUrl, server.url + "/v1/auth/oauth/token");
      assert.equal(server.apiUrl, server.url + "/v1/echo");

      const response = await requestToken(server, clientCredentials());
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal(response.headers.get("cache-control"), "no-store");
      const body = await response.json();
      assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
      assert.equal(body.token_type, "Bearer");
      assert.equal(body.expires_in, 3600);

      const parts = body.access_token.split(".");
      assert.equal(parts.length, 3);
      assert.deepEqual(decodeJwtPart(parts[0]), { alg: "HS256", typ: "JWT" });
      const payload = decodeJwtPart(parts[1]);
      assert.equal(payload.sub, CLIENT_ID);
      assert.equal(payload.iss, server.url);
      assert.equal(payload.aud, "kognic");
      assert.equal(typeof payload.jti, "string");
      assert.equal(payload.exp, (payload.iat as number) + 3600);
      assert.equal(server.tokenRequests[0].authMethod, "client_secret_post");
    });
  });

  it("issues a token for credentials sent with HTTP Basic, form-urlencoded per RFC 6749", async () => {
    const clientId = "team a:b";
    const secret = "p@ss+w/rd é%";
    await withServer({ clients: { [clientId]: secret } }, async (server) => {
      const response = await requestToken(server, { grant_type: "client_credentials" }, {
        authorization: basicAuthorization(clientId, secret),
      });
      assert.equal(response.status, 200);
      const { access_token } = await response.json();
      assert.equal(decodeJwtPart(access_token.split(".")[1]).sub, clientId);
      const [recorded] = server.tokenRequests;
      assert.equal(recorded.authMethod, "client_secret_basic");
      assert.equal(recorded.clientId, clientId);
      assert.equal(recorded.hasSecret, true);
      assert.equal(recorded.headers.authorization, undefined);
      assert.doesNotMatch(JSON.stringify(server.tokenRequests), /p@ss/);
    });
  });

  it("answers 401 invalid_client for a wrong secret or unknown client, never echoing the secret", async () => {
    const wrong = "wrong-s3cr3t-value";
    await withServer({}, async (server) => {
      const cases: [string, Promise<Response>, string | null][] = [
        ["post", requestToken(server, clientCredentials({ client_secret: wrong })), null],
        [
          "basic",
          requestToken(server, { grant_type: "client_credentials" }, {
            authorization: basicAuthorization(CLIENT_ID, wrong),
          }),
          'Basic realm="kognic"',
        ],
        [
          "unknown client",
          requestToken(server, clientCredentials({ client_id: "nobody", client_secret: wrong })),
          null,
        ],
      ];
      for (const [name, pending, challenge] of cases) {
        const response = await pending;
        assert.equal(response.status, 401, name);
        assert.equal(response.headers.get("www-authenticate"), challenge, name);
        const text = await responseText(response);
        assert.equal(JSON.parse(text.slice(text.indexOf("{"))).error, "invalid_client", name);
        assert.ok(!text.includes(wrong), `${name}: the secret is in the response`);
        assert.ok(!text.includes(SECRET), `${name}: the real secret is in the response`);
      }
      assert.equal(server.counts.tokensIssued, 0);
      assert.doesNotMatch(JSON.stringify(server.tokenRequests), /s3cr3t/);
    });
  });

  it("answers RFC 6749 errors for malformed requests", async () => {
    await withServer({}, async (server) => {
      const form = (params: Record<string, string>): RequestInit => ({
        method: "POST",
        body: new URLSearchParams(params),
      });
      const cases: [string, RequestInit, number, string][] = [
        ["a GET", { method: "GET" }, 405, "invalid_request"],
        [
          "a JSON body",
          {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(clientCredentials()),
          },
          400,
          "invalid_request",
        ],
        [
          "no grant_type",
          form({ client_id: CLIENT_ID, client_secret: SECRET }),
          400,
          "invalid_request",
        ],
        [
          "an unknown grant",
          form(clientCredentials({ grant_type: "password" })),
          400,
          "unsupported_grant_type",
        ],
        ["no client", form({ grant_type: "client_credentials" }), 401, "invalid_client"],
        [
          "no refresh_token parameter",
          form(clientCredentials({ grant_type: "refresh_token" })),
          400,
          "invalid_request",
        ],
        [
          "an unknown refresh token",
          form(clientCredentials({ grant_type: "refresh_token", refresh_token: "x" })),
          400,
          "invalid_grant",
        ],
        [
          "a repeated parameter",
          {
            method: "POST",
            body: new URLSearchParams([...Object.entries(clientCredentials()), ["scope", "a"], [
              "scope",
              "b",
            ]]),
          },
          400,
          "invalid_request",
        ],
      ];
      for (const [name, init, status, error] of cases) {
        const response = await fetch(server.tokenUrl, init);
        assert.equal(response.status, status, name);
        const body = await response.json();
        assert.equal(body.error, error, name);
        assert.equal(typeof body.error_description, "string", name);
      }
      assert.equal(server.counts.tokenRequests, cases.length);
      assert.equal(server.counts.tokensIssued, 0);
    });
  });

  it("echoes the requested scope in the response and the token", async () => {
    await withServer({}, async (server) => {
      const body = await getToken(server, { scope: "annotations:read  projects:read" });
      assert.equal(body.scope, "annotations:read projects:read");
      assert.equal(decodeJwtPart(body.access_token.split(".")[1]).scope, body.scope);
      const echo: EchoResponse = await (await callApi(server, body.access_token)).json();
      assert.equal(echo.scope, "annotations:read projects:read");
      assert.equal(server.tokenRequests[0].scope, "annotations:read  projects:read");
    });
  });

  it("issues single-use refresh tokens when enabled, and invalid_grant after revokeRefreshTokens()", async () => {
    await withServer({ refreshTokens: true }, async (server) => {
      const first = await getToken(server);
      assert.ok(typeof first.refresh_token === "string");

      const refresh = (refreshToken: string): Promise<Response> =>
        requestToken(
          server,
          clientCredentials({ grant_type: "refresh_token", refresh_token: refreshToken }),
        );
      const refreshed = await refresh(first.refresh_token);
      assert.equal(refreshed.status, 200);
      const second: TokenBody = await refreshed.json();
      assert.ok(typeof second.refresh_token === "string");
      assert.notEqual(second.access_token, first.access_token);
      assert.notEqual(second.refresh_token, first.refresh_token);
      assert.equal(await statusOf(callApi(server, second.access_token)), 200);

      const reused = await refresh(first.refresh_token);
      assert.equal(reused.status, 400);
      assert.equal((await reused.json()).error, "invalid_grant");

      server.revokeRefreshTokens();
      const revoked = await refresh(second.refresh_token);
      assert.equal(revoked.status, 400);
      assert.equal((await revoked.json()).error, "invalid_grant");
      assert.equal(server.counts.refreshTokenGrants, 3);
      assert.equal(server.counts.clientCredentialsGrants, 1);
      assert.equal(server.counts.tokensIssued, 2);
    });
  });

  it("serves a custom token path and the lifetime set at run time", async () => {
    await withServer({ tokenPath: "/oauth2/token", tokenLifetime: 60 }, async (server) => {
      assert.equal(server.tokenUrl, server.url + "/oauth2/token");
      assert.equal((await getToken(server)).expires_in, 60);
      server.tokenLifetime = 0.5;
      assert.equal((await getToken(server)).expires_in, 0.5);
      assert.throws(() => {
        server.tokenLifetime = -1;
      }, RangeError);
      const gone = await fetch(server.url + "/v1/auth/oauth/token", { method: "POST" });
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
    });
  });
});

describe("startAuthServer() protected API", () => {
  it("answers 401 invalid_token without a token or with a bad one", async () => {
    await withServer({}, async (server) => {
      for (const token of [undefined, "not-a-token", server.issueToken() + "x"]) {
        const response = await callApi(server, token);
        assert.equal(response.status, 401);
        assert.equal(response.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
        assert.equal((await response.json()).error, "invalid_token");
      }
      assert.equal(server.counts.unauthorizedApiRequests, 3);
    });
  });

  it("echoes the request for a valid token, without the authorization header", async () => {
    await withServer({}, async (server) => {
      const { access_token } = await getToken(server);
      const response = await callApi(
        server,
        access_token,
        { method: "PUT", body: "hello", headers: { "x-request-id": "42" } },
        "/projects/7?page=2&q=a+b",
      );
      assert.equal(response.status, 200);
      const echo: EchoResponse = await response.json();
      assert.equal(echo.method, "PUT");
      assert.equal(echo.path, "/v1/echo/projects/7");
      assert.equal(echo.query, "page=2&q=a+b");
      assert.equal(echo.clientId, CLIENT_ID);
      assert.equal(echo.scope, null);
      assert.equal(echo.body, "hello");
      assert.equal(echo.headers["x-request-id"], "42");
      assert.equal(echo.headers.authorization, undefined);
      assert.ok(!JSON.stringify(echo).includes(access_token));
    });
  });

  it("rejects every earlier token after revokeAccessTokens() and accepts new ones", async () => {
    await withServer({}, async (server) => {
      const old = (await getToken(server)).access_token;
      const minted = server.issueToken("someone-else");
      server.revokeAccessTokens();
      assert.equal(await statusOf(callApi(server, old)), 401);
      assert.equal(await statusOf(callApi(server, minted)), 401);
      const fresh = (await getToken(server)).access_token;
      const response = await callApi(server, fresh);
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });
  });

  it("rejects a token once its lifetime has passed", async () => {
    await withServer({ tokenLifetime: 0.05 }, async (server) => {
      const { access_token, expires_in } = await getToken(server);
      assert.equal(expires_in, 0.05);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const response = await callApi(server, access_token);
      assert.equal(response.status, 401);
      assert.match((await response.json()).error_description, /expired/);
    });
  });

  it("issueToken() mints a token for the first client or a given one", async () => {
    await withServer({ clients: { alpha: "a", beta: "b" } }, async (server) => {
      for (
        const [token, clientId] of [[server.issueToken(), "alpha"], [
          server.issueToken("beta"),
          "beta",
        ]]
      ) {
        const echo: EchoResponse = await (await callApi(server, token)).json();
        assert.equal(echo.clientId, clientId);
      }
      assert.equal(server.counts.tokensIssued, 0);
    });
  });

  it("the redirect helper answers the requested status and Location without a token", async () => {
    await withServer({}, async (server) => {
      const target = "https://elsewhere.example/steal?x=1";
      for (const status of [301, 302, 303, 307, 308]) {
        const query = new URLSearchParams({ to: target, status: String(status) });
        const response = await fetch(`${server.url}/v1/redirect?${query}`, { redirect: "manual" });
        assert.equal(response.status, status);
        assert.equal(response.headers.get("location"), target);
        await response.body?.cancel();
      }
      const bad = await fetch(`${server.url}/v1/redirect?to=relative/path`, { redirect: "manual" });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      assert.equal(server.counts.apiRequests, 6);
    });
  });

  it("answers 404 JSON for an unknown path", async () => {
    await withServer({}, async (server) => {
      const response = await fetch(server.url + "/v1/echoes");
      assert.equal(response.status, 404);
      assert.equal((await response.json()).error, "not_found");
    });
  });
});

describe("startAuthServer() injected failures", () => {
  it("sends an injected 429 with Retry-After once, then answers normally", async () => {
    await withServer({}, async (server) => {
      server.failTokenRequests({ status: 429, retryAfter: 2 });
      const limited = await requestToken(server, clientCredentials());
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), "2");
      assert.equal((await limited.json()).error, "temporarily_unavailable");
      assert.equal((await requestToken(server, clientCredentials())).status, 200);
      assert.equal(server.counts.tokenRequests, 2);
      assert.equal(server.counts.clientCredentialsGrants, 2);
      assert.equal(server.counts.tokensIssued, 1);
    });
  });

  it("applies queued failures in order, each as many times as asked", async () => {
    await withServer({}, async (server) => {
      server.failTokenRequests({ status: 503, times: 2 });
      server.failTokenRequests({ status: 500, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT" });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await requestToken(server, clientCredentials());
        statuses.push(response.status);
        await response.body?.cancel();
      }
      assert.deepEqual(statuses, [503, 503, 500, 200]);
    });
  });

  it("sends an injected raw body as is, such as malformed JSON or HTML", async () => {
    await withServer({}, async (server) => {
      server.failTokenRequests({ status: 200, body: '{"access_token": ' });
      server.failTokenRequests({
        status: 502,
        body: "<html>Bad gateway</html>",
        contentType: "text/html",
      });
      const malformed = await requestToken(server, clientCredentials());
      assert.equal(malformed.status, 200);
      assert.equal(await malformed.text(), '{"access_token": ');
      const html = await requestToken(server, clientCredentials());
      assert.equal(html.headers.get("content-type"), "text/html");
      assert.equal(await html.text(), "<html>Bad gateway</html>");
    });
  });

  it("holds an answer back for an injected delay, then answers normally", async () => {
    await withServer({}, async (server) => {
      server.failTokenRequests({ delay: 50 });
      const response = await requestToken(server, clientCredentials());
      assert.equal(response.status, 200);
      assert.equal(server.counts.tokensIssued, 1);
      await response.body?.cancel();
    });
  });

  it("lets a client time out during an injected delay", async () => {
    await withServer({}, async (server) => {
      server.failTokenRequests({ delay: 60_000, status: 500 });
      await assert.rejects(
        fetch(server.tokenUrl, {
          method: "POST",
          body: new URLSearchParams(clientCredentials()),
          signal: AbortSignal.timeout(30),
        }),
      );
      assert.equal(server.counts.tokensIssued, 0);
    });
  });

  it("resets the connection for an injected reset, so fetch rejects", async () => {
    await withServer({}, async (server) => {
      server.failTokenRequests({ reset: true });
      server.failApiRequests({ reset: true });
      await assert.rejects(requestToken(server, clientCredentials()), TypeError);
      await assert.rejects(callApi(server, server.issueToken()), TypeError);
      const { access_token } = await getToken(server);
      const response = await callApi(server, access_token);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(server.counts.tokenRequests, 2);
      assert.equal(server.counts.apiRequests, 2);
    });
  });

  it("fails API requests with an injected 401 and counts them as unauthorized", async () => {
    await withServer({}, async (server) => {
      const token = server.issueToken();
      server.failApiRequests({ status: 401, times: 2 });
      for (const expected of [401, 401, 200]) {
        const response = await callApi(server, token);
        assert.equal(response.status, expected);
        if (expected === 401) {
          assert.equal(response.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
        }
        await response.body?.cancel();
      }
      assert.equal(server.counts.apiRequests, 3);
      assert.equal(server.counts.unauthorizedApiRequests, 2);
    });
  });

  it("rejects a malformed failure with a TypeError or RangeError", async () => {
    await withServer({}, async (server) => {
      assert.throws(() => server.failTokenRequests({ status: 99 }), RangeError);
      assert.throws(() => server.failTokenRequests({ times: 0 }), RangeError);
      assert.throws(() => server.failTokenRequests({ delay: -1 }), RangeError);
      assert.throws(() => server.failApiRequests({ body: 1 as unknown as string }), TypeError);
      const response = await requestToken(server, clientCredentials());
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });
  });
});

describe("startAuthServer() counters and lifecycle", () => {
  it("counts requests live and resetCounts() sets them to zero", async () => {
    await withServer({ refreshTokens: true }, async (server) => {
      const counts = server.counts;
      const { access_token, refresh_token } = await getToken(server);
      assert.ok(refresh_token);
      await getToken(server, { grant_type: "refresh_token", refresh_token });
      await (await callApi(server, access_token)).body?.cancel();
      await (await callApi(server)).body?.cancel();
      assert.deepEqual({ ...counts }, {
        tokenRequests: 2,
        clientCredentialsGrants: 1,
        refreshTokenGrants: 1,
        tokensIssued: 2,
        apiRequests: 2,
        unauthorizedApiRequests: 1,
      });
      assert.deepEqual(server.tokenRequests.map((r) => r.grantType), [
        "client_credentials",
        "refresh_token",
      ]);
      server.resetCounts();
      assert.equal(counts.tokenRequests, 0);
      assert.equal(counts.apiRequests, 0);
      assert.equal(server.tokenRequests.length, 0);
    });
  });

  it("rejects invalid options with a TypeError or RangeError", async () => {
    await assert.rejects(startAuthServer({ tokenLifetime: -1 }), RangeError);
    await assert.rejects(startAuthServer({ tokenLifetime: Number.NaN }), RangeError);
    await assert.rejects(startAuthServer({ port: 70000 }), RangeError);
    await assert.rejects(startAuthServer({ tokenPath: "token" }), RangeError);
    await assert.rejects(startAuthServer({ clients: { a: 1 as unknown as string } }), TypeError);
  });

  it("close() is idempotent and closes idle keep-alive connections", async () => {
    const server = await startAuthServer();
    const socket = connect(Number(new URL(server.url).port), "127.0.0.1");
    try {
      await once(socket, "connect");
      socket.write(`GET /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
      const [chunk] = await once(socket, "data");
      assert.match(String(chunk), /^HTTP\/1\.1 401 /);
      const socketClosed = once(socket, "close");
      const closing = server.close();
      assert.equal(server.close(), closing);
      await closing;
      await socketClosed;
      await server.close();
      await assert.rejects(fetch(server.apiUrl), TypeError);
    } finally {
      socket.destroy();
      await server.close();
    }
  });

  it("close() ends requests waiting on an injected delay, and so does Symbol.asyncDispose", async () => {
    const server = await startAuthServer();
    try {
      server.failApiRequests({ delay: 60_000 });
      const pending = assert.rejects(callApi(server, server.issueToken()), TypeError);
      while (server.counts.apiRequests === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await server[Symbol.asyncDispose]();
      await pending;
    } finally {
      await server.close();
    }
  });
});

describe("startAuthServer() mounted routes", () => {
  it("answers a mounted route with its handler's Response, given the token's client and scope", async () => {
    const seen: ProtectedRequest[] = [];
    const routes = {
      "/v1/projects": (request: ProtectedRequest): Response => {
        seen.push(request);
        return new Response(JSON.stringify({ route: request.route }), {
          status: 201,
          headers: { "content-type": "application/json", "x-served-by": "projects" },
        });
      },
      "/v1/projects/archive": (): Promise<Response> =>
        Promise.resolve(new Response("archived", { status: 410 })),
    };
    await withServer({ routes }, async (server) => {
      const { access_token } = await getToken(server, { scope: "projects:read" });
      const headers = { authorization: `Bearer ${access_token}`, "x-request-id": "7" };
      const created = await fetch(`${server.url}/v1/projects/7?page=2`, {
        method: "POST",
        body: "hello",
        headers,
      });
      assert.equal(created.status, 201);
      assert.equal(created.headers.get("x-served-by"), "projects");
      assert.deepEqual(await created.json(), { route: "/7" });
      const [request] = seen;
      assert.equal(request.method, "POST");
      assert.equal(request.url.href, `${server.url}/v1/projects/7?page=2`);
      assert.equal(request.body, "hello");
      assert.equal(request.clientId, CLIENT_ID);
      assert.equal(request.scope, "projects:read");
      assert.equal(request.headers["x-request-id"], "7");
      assert.equal(request.headers.authorization, undefined);
      const bare = await fetch(`${server.url}/v1/projects`, { headers });
      assert.deepEqual(await bare.json(), { route: "" });
      const archived = await fetch(`${server.url}/v1/projects/archive/1`, { headers });
      assert.equal(archived.status, 410);
      assert.equal(await archived.text(), "archived");
      assert.equal(await statusOf(fetch(`${server.url}/v1/projectsx`, { headers })), 404);
      assert.equal(seen.length, 2);
      assert.equal(server.counts.apiRequests, 3);
    });
  });

  it("guards a mounted route with the bearer token check and the API fault queue", async () => {
    let calls = 0;
    const routes = { "/v1/api": (): Response => (calls++, Response.json({ ok: true })) };
    await withServer({ routes }, async (server) => {
      const url = `${server.url}/v1/api/items`;
      const anonymous = await fetch(url);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
      assert.equal((await anonymous.json()).error, "invalid_token");
      const headers = { authorization: `Bearer ${server.issueToken()}` };
      server.failApiRequests({ status: 503, retryAfter: 2 });
      const failed = await fetch(url, { headers });
      assert.equal(failed.status, 503);
      assert.equal(failed.headers.get("retry-after"), "2");
      await failed.body?.cancel();
      assert.deepEqual(await (await fetch(url, { headers })).json(), { ok: true });
      server.revokeAccessTokens();
      assert.equal(await statusOf(fetch(url, { headers })), 401);
      assert.equal(calls, 1);
      assert.equal(server.counts.apiRequests, 4);
      assert.equal(server.counts.unauthorizedApiRequests, 2);
    });
  });

  it("answers 500 server_error when a handler throws or returns no Response, and keeps serving", async () => {
    const routes = {
      "/v1/throws": (): Response => {
        throw new Error("handler failed with secret s3cr3t");
      },
      "/v1/rejects": (): Promise<Response> => Promise.reject(new Error("no")),
      "/v1/wrong": (() => ({ status: 200 })) as unknown as () => Response,
    };
    await withServer({ routes }, async (server) => {
      const headers = { authorization: `Bearer ${server.issueToken()}` };
      for (const path of ["/v1/throws", "/v1/rejects", "/v1/wrong"]) {
        const response = await fetch(server.url + path, { headers });
        assert.equal(response.status, 500, path);
        const text = await response.text();
        assert.deepEqual(JSON.parse(text), {
          error: "server_error",
          error_description: "Internal error.",
        });
        assert.ok(!text.includes("s3cr3t"));
      }
      assert.equal(await statusOf(callApi(server, headers.authorization.slice(7))), 200);
    });
  });

  it("rejects routes that are not path prefixes, lie under the server's own paths or lack a handler", async () => {
    const handler = (): Response => new Response("");
    for (const prefix of ["v1/api", "/", "/v1/api/", "/v1/a pi", "/v1/api?x"]) {
      await assert.rejects(startAuthServer({ routes: { [prefix]: handler } }), RangeError, prefix);
    }
    for (const prefix of ["/v1/echo", "/v1/echo/more", "/v1/redirect", "/v1/auth/oauth/token"]) {
      await assert.rejects(
        startAuthServer({ routes: { [prefix]: handler } }),
        (error: Error) => error instanceof RangeError && error.message.includes("own path"),
        prefix,
      );
    }
    await assert.rejects(
      startAuthServer({ routes: { "/v1/api": "nope" as unknown as () => Response } }),
      TypeError,
    );
    await assert.rejects(
      startAuthServer({ routes: [] as unknown as Record<string, () => Response> }),
      TypeError,
    );
    await withServer({ routes: { "/v1": () => Response.json({ mine: true }) } }, async (server) => {
      const headers = { authorization: `Bearer ${server.issueToken()}` };
      assert.deepEqual(await (await fetch(`${server.url}/v1/x`, { headers })).json(), {
        mine: true,
      });
      assert.equal((await (await fetch(server.apiUrl, { headers })).json()).path, "/v1/echo");
    });
  });
});

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { inspect } from "node:util";
import {
  AuthSession,
  type AuthSessionOptions,
  ConfigurationError,
  CredentialsError,
  OAuthError,
} from "../../mod.ts";
import { type EchoResponse, type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { defaultAllowedOrigins, tokenEgress } from "../../src/core/egress.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  record,
  rejection,
  thrown,
} from "../_helpers/mod.ts";
import { type Origin, startOrigin } from "../_helpers/servers.ts";

let server: LocalAuthServer;
let other: Origin;
const fastRetry = { baseDelay: 5, maxDelay: 20 };

function session(extra: AuthSessionOptions = {}): AuthSession {
  return new AuthSession({
    authServer: server.url,
    auth: [CLIENT_ID, CLIENT_SECRET],
    retry: fastRetry,
    ...extra,
  });
}

async function echo(response: Response): Promise<EchoResponse> {
  assert.equal(response.status, 200, `expected 200, got ${response.status}`);
  return await response.json() as EchoResponse;
}

before(async () => {
  server = await startAuthServer({ clients: CLIENTS, tokenLifetime: 600 });
  other = await startOrigin();
});
beforeEach(() => {
  server.resetCounts();
  server.tokenLifetime = 600;
  other.seen.length = 0;
});
after(async () => {
  await server.close();
  await other.close();
});

describe("AuthSession.fetch()", () => {
  it("adds the bearer token and returns the API's response", async () => {
    const s = session();
    const body = await echo(await s.fetch(server.apiUrl));
    assert.equal(body.clientId, CLIENT_ID);
    assert.equal(body.method, "GET");
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("hands fetch the URL as text and a plain record of the caller's headers and the token", async () => {
    const seen: { input: unknown; headers: unknown }[] = [];
    const s = session({
      fetch: (input, init) => {
        seen.push({ input, headers: init?.headers });
        return fetch(input, init);
      },
    });
    const token = await s.getAccessToken();
    seen.length = 0;
    const calls: [string, RequestInit | undefined][] = [
      [server.apiUrl, undefined],
      [server.apiUrl, { headers: { "X-Trace": "1" } }],
      [server.apiUrl, { headers: new Headers({ "X-Trace": "2" }) }],
      [server.apiUrl, { headers: [["X-Trace", "3"]] }],
      [server.apiUrl, { headers: JSON.parse('{"__proto__": "x", "X-Trace": "4"}') }],
    ];
    for (const [url, init] of calls) {
      const body = await echo(await s.fetch(url, init));
      assert.equal(body.clientId, CLIENT_ID);
    }
    assert.equal(seen.length, calls.length);
    for (const [i, { input, headers }] of seen.entries()) {
      assert.equal(typeof input, "string");
      assert.equal(Object.getPrototypeOf(headers), Object.prototype, `call ${i}`);
      const record = headers as Record<string, string>;
      assert.equal(record.authorization, `Bearer ${token}`);
      if (i > 0) assert.equal(record["X-Trace"] ?? record["x-trace"], String(i));
    }
    assert.equal(Object.hasOwn(seen[4].headers as object, "__proto__"), true);
  });

  it("makes exactly one token request for 1,000 concurrent calls on a cold session", async () => {
    const s = session();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 1000 }, (_, i) => s.fetch(`${server.apiUrl}/${i}`)),
    );
    assert.equal(server.counts.tokenRequests, 1);
    const responses = outcomes.flatMap((o) => o.status === "fulfilled" ? [o.value] : []);
    // A busy machine's network stack may reset some of a thousand connections
    // opened at once (the runtime's fetch then rejects with a TypeError): that
    // is the loopback's doing, not the session's; every call that got an
    // answer got 200, and the thousand shared one token request.
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") {
        assert.ok(outcome.reason instanceof TypeError, String(outcome.reason));
      }
    }
    assert.ok(responses.length > 0, "no call got an answer");
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]));
    await Promise.all(responses.map((r) => r.body?.cancel()));
  });

  it("returns HTTP errors instead of throwing", async () => {
    const response = await session().fetch(`${server.url}/no/such/path`);
    assert.equal(response.status, 404);
    await response.body?.cancel();
  });

  it("is bound, so it can be handed to other clients", async () => {
    const { fetch: bound } = session();
    assert.equal((await bound(server.apiUrl)).status, 200);
  });

  it("renews a short-lived token ahead of expiry without a token request per call", async () => {
    // 60 s: the API checks the token against the real clock, and 50 calls
    // on a busy machine may take seconds; the session runs on `clock`.
    server.tokenLifetime = 60;
    let clock = Date.now();
    const s = session({ now: () => clock });
    for (let i = 0; i < 50; i++) assert.equal((await s.fetch(server.apiUrl)).status, 200);
    assert.equal(server.counts.tokenRequests, 1, "50 calls inside the first half share a token");
    clock += 29_999;
    await s.fetch(server.apiUrl);
    assert.equal(server.counts.tokenRequests, 1);
    clock += 1; // half of the 60 s lifetime has passed: renew, though the leeway is 60 s
    for (let i = 0; i < 50; i++) assert.equal((await s.fetch(server.apiUrl)).status, 200);
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("renews a long-lived token a leeway before it expires", async () => {
    let clock = Date.now();
    const s = session({ now: () => clock, leeway: 30_000 });
    const first = await s.getAccessToken();
    clock += 600_000 - 30_001;
    assert.equal(await s.getAccessToken(), first);
    assert.equal(server.counts.tokenRequests, 1);
    clock += 1;
    // The token still has 30 s: the caller gets it at once, and a renewal starts.
    assert.equal(await s.getAccessToken(), first);
    // The renewal's answer arrives some time after the server counted it: wait
    // for the session to hold the new token (bounded).
    const deadline = Date.now() + 60_000;
    let renewed = await s.getToken();
    while (renewed.accessToken === first) {
      assert.ok(Date.now() < deadline, "the renewed token did not arrive within 60 s");
      await new Promise((r) => setTimeout(r, 5));
      renewed = await s.getToken();
    }
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("keeps using a valid token while its renewal fails, and waits only when it runs short", async () => {
    let clock = Date.now();
    const s = session({ now: () => clock, leeway: 30_000, retry: { limit: 0 } });
    const first = await s.getAccessToken();
    server.failTokenRequests({ status: 503, times: 2 });
    clock += 600_000 - 29_000; // inside the margin, with 29 s left
    assert.equal(await s.getAccessToken(), first, "the failing renewal delays nobody");
    while (server.counts.tokenRequests < 2) await new Promise((r) => setTimeout(r, 5));
    clock += 15_000; // 14 s left: less than half the margin, so callers wait for a token
    const error = await rejection(s.getAccessToken());
    assert.ok(error instanceof OAuthError);
    assert.equal(error.status, 503);
    const renewed = await s.getAccessToken();
    assert.notEqual(renewed, first);
    assert.equal(server.counts.tokenRequests, 4);
  });

  it("replays a POST body once after a 401, with a new token", async () => {
    const s = session();
    const first = await s.getAccessToken();
    server.failApiRequests({ status: 401 });
    const body = await echo(
      await s.fetch(server.apiUrl, {
        method: "POST",
        body: JSON.stringify({ hello: "world" }),
        headers: { "content-type": "application/json" },
      }),
    );
    assert.equal(body.method, "POST");
    assert.equal(body.body, '{"hello":"world"}');
    assert.equal(body.headers["content-type"], "application/json");
    assert.equal(server.counts.apiRequests, 2);
    assert.equal(server.counts.tokenRequests, 2);
    assert.notEqual(await s.getAccessToken(), first);
  });

  it("replays the body of a Request object, as ky and openapi-fetch send them", async () => {
    const s = session();
    server.failApiRequests({ status: 401 });
    const request = new Request(server.apiUrl, {
      method: "PUT",
      body: new URLSearchParams({ a: "1", b: "two" }),
    });
    const body = await echo(await s.fetch(request));
    assert.equal(body.method, "PUT");
    assert.equal(body.body, "a=1&b=two");
    assert.match(body.headers["content-type"], /application\/x-www-form-urlencoded/);
    assert.equal(server.counts.apiRequests, 2);
  });

  it("returns a second 401 to the caller", async () => {
    const s = session();
    server.failApiRequests({ status: 401, times: 2 });
    const response = await s.fetch(server.apiUrl, { method: "POST", body: "x" });
    assert.equal(response.status, 401);
    await response.body?.cancel();
    assert.equal(server.counts.apiRequests, 2);
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("never resends a streamed body after a 401", async () => {
    const s = session();
    server.failApiRequests({ status: 401 });
    const stream = new ReadableStream<Uint8Array>({
      start(controller): void {
        controller.enqueue(new TextEncoder().encode("streamed"));
        controller.close();
      },
    });
    const response = await s.fetch(server.apiUrl, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    assert.equal(response.status, 401);
    await response.body?.cancel();
    assert.equal(server.counts.apiRequests, 1);
  });

  it("renews the token once when many calls get a 401 for the same token", async () => {
    const s = session();
    await s.getAccessToken();
    server.revokeAccessTokens();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => s.fetch(server.apiUrl)),
    );
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]));
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("does not renew when the rejected token is no longer the current one", async () => {
    const s = session();
    const stale = await s.getAccessToken();
    const fresh = await s.getAccessToken({ forceRefresh: true });
    assert.notEqual(fresh, stale);
    assert.equal(server.counts.tokenRequests, 2);
    // A 401 answering a request made with the current token renews it; one
    // that names a token already replaced does not: shown through the count.
    server.failApiRequests({ status: 401 });
    await echo(await s.fetch(server.apiUrl));
    assert.equal(server.counts.tokenRequests, 3);
  });

  it("sends no token to an origin that is not allowed", async () => {
    const s = session();
    const response = await s.fetch(`${other.url}/direct`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(other.seen[0].authorization, undefined);
    assert.equal(server.counts.tokenRequests, 0, "no token is even fetched for it");
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`drops the token when a ${status} redirect leads to an origin that is not allowed`, async () => {
      const s = session();
      const target = encodeURIComponent(`${other.url}/landing`);
      const response = await s.fetch(`${server.url}/v1/redirect?to=${target}&status=${status}`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(other.seen.length, 1);
      assert.equal(other.seen[0].path, "/landing");
      assert.equal(other.seen[0].authorization, undefined);
    });
  }

  it("sends no token back into an allowed origin once a redirect chain went through another", async () => {
    const s = session();
    const back = encodeURIComponent(server.apiUrl);
    const away = encodeURIComponent(`${other.url}/hop?to=${back}`);
    const response = await s.fetch(`${server.url}/v1/redirect?to=${away}&status=307`);
    assert.equal(response.status, 401, "the origin that redirected chose where the token would go");
    await response.body?.cancel();
    assert.equal(other.seen[0].authorization, undefined);
  });

  it("drops a caller's own Authorization header on a cross-origin redirect", async () => {
    const s = session();
    const target = encodeURIComponent(`${other.url}/landing`);
    const response = await s.fetch(`${other.url}/start?to=${target}`, {
      headers: { authorization: "Basic caller-own" },
    });
    await response.body?.cancel();
    assert.equal(other.seen[0].authorization, "Basic caller-own", "kept on the first hop");
    assert.equal(other.seen[1].authorization, "Basic caller-own", "same origin keeps it");
    const away = encodeURIComponent(`${server.url}/v1/redirect?to=${target}`);
    other.seen.length = 0;
    const r2 = await s.fetch(`${other.url}/start?to=${away}`, {
      headers: { authorization: "Basic caller-own" },
    });
    await r2.body?.cancel();
    assert.equal(other.seen.at(-1)!.authorization, undefined, "gone after leaving the origin");
  });

  it("turns a POST into a GET without a body on a 303", async () => {
    const s = session();
    const target = encodeURIComponent(`${other.url}/after-post`);
    const response = await s.fetch(`${server.url}/v1/redirect?to=${target}&status=303`, {
      method: "POST",
      body: "payload",
    });
    await response.body?.cancel();
    assert.equal(other.seen[0].method, "GET");
    assert.equal(other.seen[0].body, "");
  });

  it("keeps the method and body on a 307", async () => {
    const s = session();
    const target = encodeURIComponent(`${other.url}/after-post`);
    const response = await s.fetch(`${server.url}/v1/redirect?to=${target}&status=307`, {
      method: "POST",
      body: "payload",
    });
    await response.body?.cancel();
    assert.equal(other.seen[0].method, "POST");
    assert.equal(other.seen[0].body, "payload");
  });

  it("returns the redirect itself when the caller asks for redirect: manual", async () => {
    const s = session();
    const response = await s.fetch(
      `${server.url}/v1/redirect?to=${encodeURIComponent(other.url)}&status=302`,
      { redirect: "manual" },
    );
    assert.equal(response.status, 302);
    await response.body?.cancel();
    assert.equal(other.seen.length, 0);
  });

  it("sends the token to origins listed in allowedOrigins", async () => {
    const s = session({ allowedOrigins: [other.url] });
    const response = await s.fetch(`${other.url}/listed`);
    await response.body?.cancel();
    assert.match(other.seen[0].authorization ?? "", /^Bearer /);
  });

  it("rejects promptly when the caller aborts while the token is being fetched", async () => {
    server.failTokenRequests({ delay: 5000 });
    const s = session();
    const controller = new AbortController();
    const pending = s.fetch(server.apiUrl, { signal: controller.signal });
    while (server.counts.tokenRequests === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error("user cancelled"));
    const error = await rejection(pending);
    assert.equal(error.message, "user cancelled");
    assert.equal(server.counts.apiRequests, 0);
  });

  it("keeps a shared token request going for the callers that did not abort", async () => {
    server.failTokenRequests({ delay: 100 });
    const s = session();
    const controller = new AbortController();
    const staying = s.fetch(server.apiUrl);
    const leaving = s.fetch(server.apiUrl, { signal: controller.signal });
    while (server.counts.tokenRequests === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await rejection(leaving);
    assert.equal((await staying).status, 200);
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("ends the token request when the caller that started it leaves, and the others get one of their own", async () => {
    // In an edge worker, a request's I/O ends with it: nobody may wait on it.
    server.failTokenRequests({ delay: 200 });
    const s = session();
    const controller = new AbortController();
    const leaving = s.fetch(server.apiUrl, { signal: controller.signal });
    const staying = [s.fetch(server.apiUrl), s.fetch(server.apiUrl)];
    while (server.counts.tokenRequests === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error("the first request went away"));
    assert.equal((await rejection(leaving)).message, "the first request went away");
    for (const response of await Promise.all(staying)) {
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("does not make a caller that must wait join a renewal that nobody waits for", async () => {
    // A renewal started in the background may have ended with the request
    // that started it (in an edge worker): a caller that needs a token asks itself.
    let clock = Date.now();
    const s = session({ now: () => clock, leeway: 30_000, retry: { limit: 0 } });
    const first = await s.getAccessToken();
    server.failTokenRequests({ delay: 60_000 });
    clock += 600_000 - 29_000; // inside the margin, with 29 s left: a renewal in the background
    assert.equal(await s.getAccessToken(), first);
    while (server.counts.tokenRequests < 2) await new Promise((r) => setTimeout(r, 5));
    clock += 15_000; // 14 s left: callers wait, for a token request of their own
    const renewed = await s.getAccessToken();
    assert.notEqual(renewed, first);
    assert.equal(server.counts.tokenRequests, 3);
  });
});

describe("AuthSession", () => {
  it("fails before any network call when no credentials are found", async () => {
    const s = new AuthSession({ authServer: server.url, env: {} });
    const error = await rejection(s.fetch(server.apiUrl));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_not_found");
    assert.equal(server.counts.tokenRequests, 0);
    assert.equal(server.counts.apiRequests, 0);
  });

  it("reads credentials from the environment it is given", async () => {
    const s = new AuthSession({
      authServer: server.url,
      env: { KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: CLIENT_SECRET },
    });
    assert.equal((await s.fetch(server.apiUrl)).status, 200);
  });

  it("refuses a plain-http auth server that is not loopback, saying https", () => {
    assert.throws(
      () => new AuthSession({ authServer: "http://auth.example.com", auth: ["a", "b"] }),
      (error: unknown) =>
        error instanceof ConfigurationError && /must use https/.test(record(error.message)),
    );
  });

  it("gives invalid_client as an OAuthError from fetch", async () => {
    const s = session({ auth: [CLIENT_ID, "wrong-secret"] });
    const error = await rejection(s.fetch(server.apiUrl));
    assert.ok(error instanceof OAuthError);
    assert.equal(error.error, "invalid_client");
  });

  it("uses the refresh_token grant to renew when the server issued a refresh token", async () => {
    const refreshing = await startAuthServer({ clients: CLIENTS, refreshTokens: true });
    try {
      let clock = Date.now();
      const s = new AuthSession({
        authServer: refreshing.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        now: () => clock,
      });
      await s.getAccessToken();
      clock += 3_600_000;
      await s.getAccessToken();
      assert.equal(refreshing.counts.refreshTokenGrants, 1);
      assert.equal(refreshing.counts.clientCredentialsGrants, 1);
    } finally {
      await refreshing.close();
    }
  });

  it("falls back to client credentials when the refresh token is rejected", async () => {
    const refreshing = await startAuthServer({ clients: CLIENTS, refreshTokens: true });
    try {
      let clock = Date.now();
      const s = new AuthSession({
        authServer: refreshing.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        now: () => clock,
      });
      await s.getAccessToken();
      refreshing.revokeRefreshTokens();
      clock += 3_600_000;
      const token = await s.getAccessToken();
      assert.ok(token);
      assert.equal(refreshing.counts.refreshTokenGrants, 1);
      assert.equal(refreshing.counts.clientCredentialsGrants, 2);
      assert.equal((await s.fetch(refreshing.apiUrl)).status, 200);
    } finally {
      await refreshing.close();
    }
  });

  it("starts from an initial token and reports new tokens to onTokenUpdated", async () => {
    const issued = server.issueToken(CLIENT_ID);
    const updates: string[] = [];
    let clock = Date.now();
    const s = session({
      now: () => clock,
      initialToken: {
        accessToken: issued,
        tokenType: "Bearer",
        issuedAt: clock,
        expiresAt: clock + 600_000,
      },
      onTokenUpdated: (token) => updates.push(token.accessToken),
    });
    assert.equal(await s.getAccessToken(), issued);
    assert.equal(server.counts.tokenRequests, 0);
    clock += 600_000;
    const renewed = await s.getAccessToken();
    assert.deepEqual(updates, [renewed]);
  });

  // One rule for a failing onTokenUpdated, whichever source gave the token: the
  // calls go on with that token, and one line without it goes to console.error.
  for (const source of ["the token endpoint", "a tokenProvider"] as const) {
    for (const failure of ["throws", "rejects"] as const) {
      it(`keeps a token from ${source} when onTokenUpdated ${failure}, and says so once`, async () => {
        const lines: string[] = [];
        const original = console.error;
        console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
        try {
          const onTokenUpdated = () => {
            if (failure === "throws") throw new Error("the callback broke");
            return Promise.reject(new Error("the callback broke"));
          };
          const s = source === "a tokenProvider"
            ? new AuthSession({
              authServer: server.url,
              allowedOrigins: [server.url],
              tokenProvider: () =>
                Promise.resolve({
                  accessToken: server.issueToken(CLIENT_ID),
                  tokenType: "Bearer",
                  issuedAt: Date.now(),
                  expiresAt: Date.now() + 600_000,
                }),
              onTokenUpdated,
            })
            : session({ onTokenUpdated });
          for (let i = 0; i < 3; i++) await echo(await s.fetch(server.apiUrl));
          const deadline = Date.now() + 10_000;
          while (lines.length === 0 && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          const token = await s.getAccessToken();
          assert.deepEqual(lines, ["onTokenUpdated failed; the token is kept"]);
          assert.ok(!lines[0].includes(token));
        } finally {
          console.error = original;
        }
      });
    }
  }

  it("forgets its token on invalidateToken()", async () => {
    const s = session();
    const first = await s.getAccessToken();
    s.invalidateToken();
    assert.notEqual(await s.getAccessToken(), first);
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("getToken takes the options getAccessToken takes: forceRefresh and signal", async () => {
    const s = session();
    const first = await s.getToken();
    assert.equal(await s.getToken({}), first);
    const forced = await s.getToken({ forceRefresh: true });
    assert.notEqual(forced.accessToken, first.accessToken);
    assert.equal(server.counts.tokenRequests, 2);
    s.invalidateToken();
    const controller = new AbortController();
    controller.abort(new Error("stopped"));
    const error = await rejection(s.getToken({ signal: controller.signal }));
    assert.equal(error.message, "stopped");
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("shows neither the secret nor the token when logged", async () => {
    const s = session();
    const token = await s.getToken();
    for (const text of [JSON.stringify(s), String(s), inspect(s, { showHidden: true, depth: 5 })]) {
      record(text);
      assert.ok(!text.includes(CLIENT_SECRET), text);
      assert.ok(!text.includes(token.accessToken), text);
    }
  });
});

describe("AuthSession.getRequestHeaders()", () => {
  it("gives the bearer header for an allowed origin, and the API accepts it", async () => {
    const s = session();
    const headers = await s.getRequestHeaders(`${server.apiUrl}/items`);
    assert.deepEqual(Object.keys(headers), ["Authorization"]);
    assert.equal(headers.Authorization, `Bearer ${await s.getAccessToken()}`);
    assert.equal((await echo(await fetch(server.apiUrl, { headers }))).clientId, CLIENT_ID);
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("takes a URL object and shares the cached token with fetch()", async () => {
    const s = session();
    await s.fetch(server.apiUrl).then((response) => response.body?.cancel());
    const headers = await s.getRequestHeaders(new URL(server.apiUrl));
    assert.equal(headers.Authorization, `Bearer ${await s.getAccessToken()}`);
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("gives no headers for another origin, and requests no token for it", async () => {
    const s = session();
    assert.deepEqual(await s.getRequestHeaders(`${other.url}/anything`), {});
    assert.deepEqual(await s.getRequestHeaders("https://app.kognic.com.evil.example/x"), {});
    assert.equal(server.counts.tokenRequests, 0);
  });

  it("stops waiting for the token when its signal aborts", async () => {
    server.failTokenRequests({ delay: 5_000 });
    const s = session();
    const controller = new AbortController();
    const pending = s.getRequestHeaders(server.apiUrl, { signal: controller.signal });
    while (server.counts.tokenRequests === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error("given up"));
    const error = await rejection(pending);
    assert.equal(error.message, "given up");
  });

  it("reports a refused client as an OAuthError, without the secret", async () => {
    const s = session({ auth: [CLIENT_ID, "wrong-secret"] });
    const error = await rejection(s.getRequestHeaders(server.apiUrl));
    assert.ok(error instanceof OAuthError);
    assert.equal(error.error, "invalid_client");
  });

  it("refuses a string that is not a URL with a TypeError", async () => {
    const error = await rejection(session().getRequestHeaders("not a url"));
    assert.ok(error instanceof TypeError);
  });
});

describe("allowed origins", () => {
  it("default to the Kognic domain and its subdomains over https", () => {
    const allowed = tokenEgress(
      defaultAllowedOrigins(new URL("https://auth.app.kognic.com/v1/auth/oauth/token")),
    );
    const cases: [string, boolean][] = [
      ["https://app.kognic.com/v1/projects", true],
      ["https://api.app.kognic.com/x", true],
      ["https://deep.api.app.kognic.com/x", true],
      ["https://app.kognic.com:443/x", true],
      ["http://app.kognic.com/x", false],
      ["https://app.kognic.com:8443/x", false],
      ["https://evilapp.kognic.com/x", false],
      ["https://app.kognic.com.evil.example/x", false],
      ["https://kognic.com/x", false],
    ];
    for (const [url, expected] of cases) assert.equal(allowed(new URL(url)), expected, url);
  });

  it("are compared in one normal form, over https or loopback http, without user info", () => {
    const allowed = tokenEgress([
      "https://app.example.test",
      "https://*.app.example.test",
      "http://localhost:8080",
      "http://127.0.0.1",
      "http://[::1]",
      "https://xn--bcher-kva.example",
    ]);
    const cases: [string, boolean][] = [
      ["https://app.example.test/x", true],
      ["https://APP.Example.Test/x", true],
      ["https://app.example.test./x", true],
      ["https://app.example.test:443/x", true],
      ["https://app.example.test.:443/x", true],
      ["https://app.example.test../x", false],
      ["https://app.example.test:8443/x", false],
      ["https://user:pw@app.example.test/x", false],
      ["https://user@app.example.test/x", false],
      ["http://app.example.test/x", false],
      ["https://api.app.example.test./x", true],
      ["https://example.test/x", false],
      ["https://evilapp.example.test/x", false],
      ["https://bücher.example/x", true],
      ["http://localhost:8080/x", true],
      ["http://LOCALHOST.:8080/x", true],
      ["http://localhost/x", false],
      ["http://127.0.0.1/x", true],
      ["http://127.0.0.1:80/x", true],
      ["http://localhost:80/x", false],
      ["http://[::1]/x", true],
      ["http://[0:0:0:0:0:0:0:1]/x", true],
      ["http://[::ffff:127.0.0.1]/x", false],
    ];
    for (const [url, expected] of cases) assert.equal(allowed(new URL(url)), expected, url);
    // A hop after one that could not carry the token never carries it.
    assert.equal(allowed(new URL("https://app.example.test/x"), false), false);
    // An IP address has no subdomains; plain http carries it only with allowInsecureHttp.
    assert.equal(tokenEgress(["https://*.0.0.1"])(new URL("https://127.0.0.1/")), false);
    const insecure = tokenEgress(["http://intranet.example"], true);
    assert.equal(insecure(new URL("http://intranet.example/x")), true);
    assert.equal(
      tokenEgress(["http://intranet.example"])(new URL("http://intranet.example/")),
      false,
    );
  });

  it("decide getRequestHeaders and sendsTokenTo alike; a URL that is not valid is a TypeError that does not repeat it", async () => {
    const session = new AuthSession({
      auth: [CLIENT_ID, CLIENT_SECRET],
      fetch: () => Promise.reject(new Error("nothing is sent here")),
    });
    for (
      const url of ["http://app.kognic.com/", "https://u:pw@app.kognic.com/", "https://kognic.com/"]
    ) {
      assert.equal(session.sendsTokenTo(url), false, url);
      assert.deepEqual(await session.getRequestHeaders(url), {}, url);
    }
    assert.equal(session.sendsTokenTo("https://APP.kognic.com./v1"), true);
    for (const bad of ["/relative/pw-in-path-Zx9", "https://[bad host pw-Zx9/"]) {
      const error = thrown(() => session.sendsTokenTo(bad));
      assert.ok(error instanceof TypeError);
      assert.ok(!error.message.includes("pw-"), error.message);
    }
  });

  it("default to the loopback auth server's own origin", () => {
    assert.deepEqual(defaultAllowedOrigins(new URL("http://127.0.0.1:4000/t")), [
      "http://127.0.0.1:4000",
    ]);
  });

  it("refuse malformed patterns with a TypeError naming them", () => {
    for (const bad of ["app.kognic.com", "https://*", "ftp://x.com", "https://a.com/path"]) {
      assert.throws(
        () => tokenEgress([bad]),
        (e: unknown) => e instanceof TypeError && e.message.includes(bad),
      );
    }
  });
});

// Last in the file, so it sees every message and output above. (A failing
// top-level after() hook is not reported by Deno's node:test, so this is a test.)
describe("secret hygiene", () => {
  it("no error message or output in this file contained the client secret", () => {
    assert.ok(assertNoSecretSeen() > 10, "the tests recorded their messages");
  });
});

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { inspect } from "node:util";
import {
  AccessToken,
  ConfigurationError,
  OAuthError,
  requestToken,
  type RequestTokenOptions,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "../../mod.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { isRetryableTokenStatus, parseRetryAfter, retryDelay } from "../../src/shared/retry.ts";
import { tokenFreshness } from "../../src/core/access_token.ts";
import { isUsable, TOKEN_CACHE_MARGIN } from "../../config.ts";
import { tokenUrlFor } from "../../src/core/egress.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  record,
  rejection,
} from "../_helpers/mod.ts";

let server: LocalAuthServer;
const credentials = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };
const fastRetry = { baseDelay: 5, maxDelay: 20 };

function request(extra: Partial<RequestTokenOptions> = {}): Promise<AccessToken> {
  return requestToken({ tokenUrl: server.tokenUrl, credentials, retry: fastRetry, ...extra });
}

before(async () => {
  server = await startAuthServer({ clients: CLIENTS, tokenLifetime: 600, refreshTokens: true });
});
beforeEach(() => server.resetCounts());
after(async () => {
  await server.close();
});

describe("requestToken()", () => {
  it("gets a bearer token with client_secret_post and anchors expiry to the send time", async () => {
    const before = Date.now();
    const token = await request();
    const afterwards = Date.now();
    assert.equal(token.tokenType, "Bearer");
    assert.ok(token.issuedAt >= before && token.issuedAt <= afterwards);
    assert.equal(token.expiresAt - token.issuedAt, 600_000);
    assert.ok(token.refreshToken);
    const recorded = server.tokenRequests.at(-1)!;
    assert.equal(recorded.grantType, "client_credentials");
    assert.equal(recorded.authMethod, "client_secret_post");
    assert.equal(recorded.clientId, CLIENT_ID);
    assert.equal(recorded.scope, undefined);
    const api = await fetch(server.apiUrl, {
      headers: { authorization: `Bearer ${token.accessToken}` },
    });
    assert.equal(api.status, 200);
    await api.body?.cancel();
  });

  it("sends scopes space-joined, and no scope for an empty list", async () => {
    const token = await request({ scopes: ["api:read", "api:write"] });
    assert.equal(server.tokenRequests.at(-1)!.scope, "api:read api:write");
    assert.equal(token.scope, "api:read api:write");
    await request({ scopes: [] });
    assert.equal(server.tokenRequests.at(-1)!.scope, undefined);
  });

  it("uses the refresh_token grant when given a refresh token", async () => {
    const first = await request();
    const second = await request({ refreshToken: first.refreshToken });
    assert.equal(server.tokenRequests.at(-1)!.grantType, "refresh_token");
    assert.equal(server.counts.refreshTokenGrants, 1);
    assert.notEqual(second.accessToken, first.accessToken);
  });

  it("throws OAuthError for invalid_client at once, without retrying", async () => {
    const error = await rejection(
      request({ credentials: { clientId: CLIENT_ID, clientSecret: "wrong" } }),
    );
    assert.ok(error instanceof OAuthError, String(error));
    assert.equal(error.code, "oauth_error");
    assert.equal(error.status, 401);
    assert.equal(error.error, "invalid_client");
    assert.equal(error.retryable, false);
    assert.equal(error.attempts, 1);
    assert.equal(server.counts.tokenRequests, 1);
    assert.ok(error.message.includes(server.tokenUrl));
  });

  it("does not retry other 4xx responses", async () => {
    server.failTokenRequests({ status: 400, body: '{"error":"invalid_scope"}' });
    const error = await rejection(request());
    assert.ok(error instanceof OAuthError);
    assert.equal(error.error, "invalid_scope");
    assert.equal(server.counts.tokenRequests, 1);
    server.resetCounts();
  });

  it("waits for Retry-After in seconds after a 429, then succeeds", async () => {
    server.failTokenRequests({ status: 429, retryAfter: 1 });
    const token = await request();
    assert.ok(token.accessToken);
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("honours Retry-After as an HTTP-date", async () => {
    server.failTokenRequests({ status: 503, retryAfter: new Date(Date.now() + 500).toUTCString() });
    await request();
    assert.equal(server.counts.tokenRequests, 2);
  });

  it("fails at once when Retry-After is longer than maxRetryAfter", async () => {
    server.failTokenRequests({ status: 429, retryAfter: 3600 });
    const error = await rejection(request({ retry: { ...fastRetry, maxRetryAfter: 1000 } }));
    assert.ok(error instanceof OAuthError);
    assert.equal(error.status, 429);
    assert.equal(error.retryAfter, 3_600_000);
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("retries 5xx until the budget is spent, then throws the typed error", async () => {
    server.failTokenRequests({ status: 503, times: 3 });
    const error = await rejection(request({ retry: { ...fastRetry, limit: 2 } }));
    assert.ok(error instanceof OAuthError);
    assert.equal(error.status, 503);
    assert.equal(error.retryable, true);
    assert.equal(error.attempts, 3);
    assert.equal(server.counts.tokenRequests, 3);
  });

  it("retries an HTML error page and reports its status", async () => {
    server.failTokenRequests({
      status: 502,
      body: "<html><body>Bad gateway</body></html>",
      contentType: "text/html",
      times: 4,
    });
    const error = await rejection(request({ retry: { ...fastRetry, limit: 3 } }));
    assert.ok(error instanceof OAuthError);
    assert.equal(error.status, 502);
    assert.equal(error.error, undefined);
    assert.equal(error.attempts, 4);
  });

  it("retries a reset connection and then succeeds", async () => {
    server.failTokenRequests({ reset: true, times: 2 });
    await request();
    assert.equal(server.counts.tokenRequests, 3);
  });

  it("fails at once on a redirect of the token request, never following it with the secret", async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      server.resetCounts();
      const to = encodeURIComponent(server.tokenUrl);
      const error = await rejection(
        request({ tokenUrl: `${server.url}/v1/redirect?to=${to}&status=${status}` }),
      );
      assert.ok(error instanceof TokenResponseError, String(error));
      assert.equal(error.status, status);
      assert.equal(error.retryable, false);
      assert.match(record(error.message), /was redirected/);
      assert.equal(server.counts.apiRequests, 1, "asked once, not retried");
      assert.equal(server.counts.tokenRequests, 0, "the redirect was not followed");
    }
  });

  it("throws TokenNetworkError when the server cannot be reached", async () => {
    const closed = await startAuthServer();
    const url = closed.tokenUrl;
    await closed.close();
    const error = await rejection(request({ tokenUrl: url, retry: { ...fastRetry, limit: 1 } }));
    assert.ok(error instanceof TokenNetworkError, String(error));
    assert.equal(error.retryable, true);
    assert.equal(error.attempts, 2);
  });

  it("throws TokenTimeoutError when the server is slower than the timeout", async () => {
    server.failTokenRequests({ delay: 2000, times: 2 });
    const error = await rejection(request({ timeout: 100, retry: { ...fastRetry, limit: 1 } }));
    assert.ok(error instanceof TokenTimeoutError, String(error));
    assert.equal(error.code, "token_timeout");
    assert.equal(error.attempts, 2);
    assert.match(error.message, /timed out after 100 ms/);
  });

  it("stops retrying when the total timeout runs out and names the attempts and the last cause", async () => {
    // A server of its own, so that the faults left unconsumed end with it.
    await using slow = await startAuthServer({ clients: CLIENTS });
    slow.failTokenRequests({ delay: 2000, times: 10 });
    const error = await rejection(requestToken({
      tokenUrl: slow.tokenUrl,
      credentials,
      timeout: 150,
      totalTimeout: 400,
      retry: { ...fastRetry, limit: 10 },
    })) as TokenTimeoutError;
    assert.ok(error instanceof TokenTimeoutError, String(error));
    assert.equal(error.code, "token_timeout");
    // About two attempts of 150 ms fit in 400 ms; on a busy machine fewer may.
    assert.ok(error.attempts >= 1 && error.attempts < 10, `attempts: ${error.attempts}`);
    assert.match(error.message, /gave up after \d+\.\d s \(total timeout 400 ms\)/);
    assert.match(
      error.message,
      new RegExp(`and ${error.attempts} attempts?; the last timed out`),
    );
    // Every attempt the server saw is counted; the last one may have been cut
    // off by the budget before it reached the server.
    assert.ok(
      [error.attempts, error.attempts - 1].includes(slow.counts.tokenRequests),
      `${error.attempts} attempts, ${slow.counts.tokenRequests} seen by the server`,
    );
  });

  it("gives up before a retry wait that would outlast the total timeout", async () => {
    server.failTokenRequests({ status: 503, retryAfter: 20 });
    const error = await rejection(request({ totalTimeout: 1000 })) as TokenTimeoutError;
    assert.ok(error instanceof TokenTimeoutError, String(error));
    assert.equal(error.attempts, 1);
    assert.match(error.message, /1 attempt; the last failed with HTTP 503/);
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("rejects a total timeout that is not a positive number", async () => {
    const error = await rejection(request({ totalTimeout: 0 }));
    assert.ok(error instanceof RangeError);
    assert.equal(server.counts.tokenRequests, 0);
  });

  it("rejects with the caller's reason when aborted while waiting to retry", async () => {
    server.failTokenRequests({ status: 503, retryAfter: 20 });
    const controller = new AbortController();
    // Abort once the first attempt has been answered and the retry wait has begun.
    let waiting!: () => void;
    const retryWaitBegun = new Promise<void>((resolve) => (waiting = resolve));
    const pending = request({
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === "token.retry") waiting();
      },
    });
    await retryWaitBegun;
    controller.abort(new Error("caller gave up"));
    const error = await rejection(pending);
    assert.equal(error.message, "caller gave up");
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("rejects at once with an already aborted signal, sending nothing", async () => {
    const error = await rejection(request({ signal: AbortSignal.abort() }));
    assert.equal(error.name, "AbortError");
    assert.equal(server.counts.tokenRequests, 0);
  });

  const malformed: [string, string, RegExp][] = [
    ["a body that is not JSON", "not json", /is not JSON/],
    ["a JSON array", "[1]", /is not a JSON object/],
    ["no access_token", '{"token_type":"Bearer","expires_in":60}', /has no access_token/],
    ["an empty access_token", '{"access_token":"","expires_in":60}', /has no access_token/],
    [
      "token_type mac",
      '{"access_token":"x","token_type":"mac","expires_in":60}',
      /token_type "mac"/,
    ],
    [
      "expires_in zero",
      '{"access_token":"x","token_type":"Bearer","expires_in":0}',
      /expires_in 0/,
    ],
    ["negative expires_in", '{"access_token":"x","expires_in":-5}', /expires_in -5/],
    ["a non-numeric expires_in", '{"access_token":"x","expires_in":"soon"}', /expires_in "soon"/],
    ["an expires_in object", '{"access_token":"x","expires_in":{}}', /expires_in \{\}/],
  ];
  for (const [what, body, message] of malformed) {
    it(`throws TokenResponseError for ${what}, without retrying`, async () => {
      server.failTokenRequests({ status: 200, body });
      const error = await rejection(request());
      assert.ok(error instanceof TokenResponseError, String(error));
      assert.equal(error.code, "token_response_invalid");
      assert.equal(error.retryable, false);
      assert.match(error.message, message);
      assert.equal(server.counts.tokenRequests, 1);
    });
  }

  const lifetimes: [string, string, number][] = [
    ["a numeric string", '"120"', 120_000],
    ["a fraction", "1.5", 1500],
    ["a huge number, capped at a year", "1e300", 365 * 24 * 3600 * 1000],
    ["nothing, taken as an hour", "null", 3_600_000],
  ];
  for (const [what, value, lifetime] of lifetimes) {
    it(`accepts expires_in as ${what}`, async () => {
      server.failTokenRequests({
        status: 200,
        body: `{"access_token":"abc.def.ghi","token_type":"bearer","expires_in":${value}}`,
      });
      const token = await request();
      assert.equal(token.expiresAt - token.issuedAt, lifetime);
    });
  }

  it("never puts the client secret in an error, even when the server echoes it", async () => {
    server.failTokenRequests({
      status: 400,
      body: JSON.stringify({ error: "invalid_request", error_description: `bad ${CLIENT_SECRET}` }),
    });
    const error = await rejection(request());
    assert.ok(error instanceof OAuthError);
    assert.ok(!error.message.includes(CLIENT_SECRET));
    assert.ok(!String(error.errorDescription).includes(CLIENT_SECRET));
    assert.match(error.message, /\[redacted\]/);
  });
});

describe("parseRetryAfter()", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const cases: [string | null, number | undefined][] = [
    [null, undefined],
    ["0", 0],
    ["7", 7000],
    [" 12 ", 12_000],
    ["Thu, 01 Jan 2026 00:00:30 GMT", 30_000],
    ["Wed, 31 Dec 2025 23:00:00 GMT", 0],
    ["Thursday, 01-Jan-26 00:00:30 GMT", 30_000],
    ["Thu Jan  1 00:00:30 2026", 30_000],
    ["soon", undefined],
    ["-3", undefined],
    // Date.parse takes these; an HTTP-date is stricter.
    ["2026-01-01T00:00:30Z", undefined],
    ["Thu, 01 Jan 2026 00:00:30", undefined],
    ["Thu, 31 Feb 2026 00:00:30 GMT", undefined],
  ];
  for (const [value, expected] of cases) {
    it(`reads ${JSON.stringify(value)} as ${expected}`, () => {
      assert.equal(parseRetryAfter(value, now), expected);
    });
  }
});

describe("retryDelay()", () => {
  const policy = { limit: 3, baseDelay: 100, maxDelay: 300, maxRetryAfter: 5000 };

  it("waits up to the doubled base delay, capped by maxDelay (full jitter)", () => {
    for (let i = 0; i < 200; i++) {
      const delays = [1, 2, 3].map((attempt) => retryDelay(policy, attempt)!);
      assert.ok(delays[0] >= 0 && delays[0] <= 100, String(delays[0]));
      assert.ok(delays[1] >= 0 && delays[1] <= 200, String(delays[1]));
      assert.ok(delays[2] >= 0 && delays[2] <= 300, String(delays[2]));
    }
  });

  it("gives no retry after the limit, or for a Retry-After beyond maxRetryAfter", () => {
    assert.equal(retryDelay(policy, 4), undefined);
    assert.equal(retryDelay(policy, 1, 5001), undefined);
    assert.equal(retryDelay({ ...policy, limit: 0 }, 1, 10), undefined);
  });

  it("waits out a Retry-After, plus at most a tenth of it (and at most 1 s)", () => {
    for (let i = 0; i < 200; i++) {
      const short = retryDelay(policy, 1, 2000)!;
      assert.ok(short >= 2000 && short <= 2200, String(short));
      const long = retryDelay({ ...policy, maxRetryAfter: 60_000 }, 1, 50_000)!;
      assert.ok(long >= 50_000 && long <= 51_000, String(long));
    }
  });
});

describe("isRetryableTokenStatus()", () => {
  for (const status of [408, 425, 429, 500, 502, 503, 504, 599]) {
    it(`retries ${status}`, () => assert.equal(isRetryableTokenStatus(status), true));
  }
  for (const status of [400, 401, 403, 404, 409, 422]) {
    it(`does not retry ${status}`, () => assert.equal(isRetryableTokenStatus(status), false));
  }
});

describe("tokenFreshness(): the one renewal rule of the session and the caches", () => {
  const hour = { issuedAt: 0, expiresAt: 3_600_000 };
  const cases: [string, { issuedAt: number; expiresAt: number }, number, number, number, string][] =
    [
      ["long before expiry", hour, 0, 60_000, 0, "fresh"],
      ["just outside the leeway", hour, 3_540_000 - 1, 60_000, 0, "fresh"],
      ["at the leeway", hour, 3_540_000, 60_000, 0, "usable"],
      ["just outside half the leeway", hour, 3_570_000 - 1, 60_000, 0, "usable"],
      ["at half the leeway", hour, 3_570_000, 60_000, 0, "renew"],
      ["after expiry", hour, 3_600_001, 60_000, 0, "renew"],
      // A 20 s token: the margin is half its lifetime, 10 s.
      [
        "a short token before half its lifetime",
        { issuedAt: 0, expiresAt: 20_000 },
        9_999,
        60_000,
        0,
        "fresh",
      ],
      [
        "a short token at half its lifetime",
        { issuedAt: 0, expiresAt: 20_000 },
        10_000,
        60_000,
        0,
        "usable",
      ],
      [
        "a short token at three quarters",
        { issuedAt: 0, expiresAt: 20_000 },
        15_000,
        60_000,
        0,
        "renew",
      ],
      // With a floor of 30 s, as caches use: the same short token is never fresh.
      [
        "a short token under a 30 s floor",
        { issuedAt: 0, expiresAt: 20_000 },
        0,
        60_000,
        30_000,
        "usable",
      ],
      ["a long token outside a 30 s floor", hour, 3_560_000, 30_000, 30_000, "fresh"],
      ["a long token at a 30 s floor", hour, 3_570_000, 30_000, 30_000, "usable"],
    ];
  for (const [name, token, now, leeway, floor, expected] of cases) {
    it(`says ${expected} for ${name}`, () => {
      assert.equal(tokenFreshness(token, now, leeway, floor), expected);
    });
  }

  it("agrees with AccessToken.isFresh and the caches' isUsable", () => {
    for (let now = 3_500_000; now <= 3_600_000; now += 2_500) {
      const token = new AccessToken({ accessToken: "t", tokenType: "Bearer", ...hour });
      assert.equal(token.isFresh(now, 60_000), tokenFreshness(hour, now, 60_000) === "fresh");
      assert.equal(
        isUsable({ accessToken: "t", tokenType: "Bearer", ...hour }, now),
        tokenFreshness(hour, now, TOKEN_CACHE_MARGIN, TOKEN_CACHE_MARGIN) === "fresh",
      );
    }
  });
});

describe("tokenUrlFor()", () => {
  const cases: [string, string, string][] = [
    [
      "https://auth.app.kognic.com",
      "/v1/auth/oauth/token",
      "https://auth.app.kognic.com/v1/auth/oauth/token",
    ],
    [
      "https://auth.app.kognic.com/",
      "/v1/auth/oauth/token",
      "https://auth.app.kognic.com/v1/auth/oauth/token",
    ],
    [
      "https://auth.app.kognic.com//",
      "v1/auth/oauth/token",
      "https://auth.app.kognic.com/v1/auth/oauth/token",
    ],
    ["https://example.com/prefix/", "/v1/token", "https://example.com/prefix/v1/token"],
    ["https://example.com", "https://other.example.com/token", "https://other.example.com/token"],
    ["http://127.0.0.1:8080", "/t", "http://127.0.0.1:8080/t"],
    ["http://localhost:1", "/t", "http://localhost:1/t"],
    ["http://[::1]:1", "/t", "http://[::1]:1/t"],
  ];
  for (const [server, path, expected] of cases) {
    it(`joins ${server} and ${path}`, () => {
      assert.equal(tokenUrlFor(server, path).href, expected);
    });
  }

  it("refuses plain http to a non-loopback host, saying https", () => {
    const error = (() => {
      try {
        tokenUrlFor("http://auth.example.com", "/t");
      } catch (e) {
        return e as Error;
      }
    })();
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /must use https/);
    assert.match(error.message, /auth\.example\.com/);
  });

  it("allows plain http when asked to", () => {
    assert.equal(tokenUrlFor("http://auth.example.com", "/t", true).protocol, "http:");
  });

  it("refuses other schemes and relative servers", () => {
    assert.throws(() => tokenUrlFor("ftp://auth.example.com", "/t"), /must use https/);
    assert.throws(() => tokenUrlFor("auth.example.com", "/t"), /not an absolute URL/);
  });
});

describe("AccessToken", () => {
  const now = 1_000_000;
  const token = (lifetime: number): AccessToken =>
    new AccessToken({
      accessToken: "secret-token-value",
      tokenType: "Bearer",
      issuedAt: now,
      expiresAt: now + lifetime,
      refreshToken: "secret-refresh-value",
    });

  it("is renewed a leeway before expiry for long lifetimes", () => {
    const t = token(3_600_000);
    assert.equal(t.isFresh(now + 3_600_000 - 60_001, 60_000), true);
    assert.equal(t.isFresh(now + 3_600_000 - 60_000, 60_000), false);
  });

  it("is renewed at half its lifetime when that is shorter than the leeway", () => {
    const t = token(2000);
    assert.equal(t.isFresh(now + 999, 60_000), true);
    assert.equal(t.isFresh(now + 1000, 60_000), false);
  });

  it("hides the token and refresh token from JSON, String() and inspect", () => {
    const t = token(1000);
    for (const text of [JSON.stringify(t), String(t), inspect(t, { showHidden: true })]) {
      record(text);
      assert.ok(!text.includes("secret-token-value"), text);
      assert.ok(!text.includes("secret-refresh-value"), text);
    }
    assert.equal(t.toTokenSet().accessToken, "secret-token-value");
  });
});

// Last in the file, so it sees every message and output above. (A failing
// top-level after() hook is not reported by Deno's node:test, so this is a test.)
describe("secret hygiene", () => {
  it("no error message or output in this file contained the client secret", () => {
    assert.ok(assertNoSecretSeen() > 10, "the tests recorded their messages");
  });
});

// One validation for every duration, count and size, and one deadline for
// every wait. Table: each option of each path that takes one x values that
// are not numbers in range (NaN, negative, a string, a fraction where a whole
// number is needed, too large): a RangeError that names the option. Then the
// documented clamp: a timeout or wait of 2^31 ms or more, or Infinity, waits
// (about 24.8 days at most) rather than firing at once; and the deadline bounds
// a tokenProvider that never answers. Servers are the local auth server on
// 127.0.0.1.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type AuthEvent, AuthSession, requestToken, TokenTimeoutError } from "../../mod.ts";
import { KognicClient } from "../../client.ts";
import {
  DenoKvTokenCache,
  FileTokenCache,
  KeyringTokenCache,
  RedisTokenCache,
} from "../../config.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { MAX_TIMER_DELAY, timerDelay } from "../../src/shared/deadline.ts";
import { CLIENT_ID, CLIENT_SECRET, CLIENTS, reportCheck } from "../_helpers/mod.ts";
import { startJsonStandIn } from "../_helpers/servers.ts";

let server: LocalAuthServer;

before(async () => {
  server = await startAuthServer({ clients: CLIENTS });
});

after(async () => {
  await server.close();
});

/**
 * `promise`, or a failure after `ms` (a generous bound, so that code that
 * would wait for ever fails the test instead of hanging it).
 */
async function bounded<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const credentials = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };

/** Each path that takes numbers: a call that takes `{ [option]: value }` and must reject or throw. */
const PATHS: Record<string, (options: Record<string, unknown>) => Promise<unknown>> = {
  "requestToken()": (options) =>
    requestToken({ tokenUrl: server.tokenUrl, credentials, ...options }),
  "AuthSession.getToken()": async (options) =>
    await new AuthSession({ authServer: server.url, auth: [CLIENT_ID, CLIENT_SECRET], ...options })
      .getToken(),
  "KognicClient": async (options) => {
    const session = new AuthSession({ authServer: server.url, auth: [CLIENT_ID, CLIENT_SECRET] });
    return await new KognicClient({ session, ...options }).get(server.apiUrl);
  },
  "a tokenProvider": async (options) =>
    await new AuthSession({
      tokenProvider: () =>
        Promise.resolve({
          accessToken: "provided-token",
          tokenType: "Bearer",
          issuedAt: Date.now(),
          expiresAt: Date.now() + 3_600_000,
        }),
      ...options,
    }).getToken(),
  "FileTokenCache": (options) => Promise.resolve().then(() => new FileTokenCache(options)),
  "KeyringTokenCache": (options) => Promise.resolve().then(() => new KeyringTokenCache(options)),
  "RedisTokenCache": (options) =>
    Promise.resolve().then(() => new RedisTokenCache({ url: "redis://127.0.0.1:1", ...options })),
  "DenoKvTokenCache": (options) => Promise.resolve().then(() => new DenoKvTokenCache(options)),
};

const TOKEN_PATHS = ["requestToken()", "AuthSession.getToken()", "KognicClient", "a tokenProvider"];
const CACHES = ["FileTokenCache", "KeyringTokenCache", "RedisTokenCache", "DenoKvTokenCache"];
/** Durations a timer must hold as they are: above 0, below 2^31 ms. */
const TIMER_VALUES = [NaN, -1, 0, 2 ** 31, Infinity, "5"];

/** Option (a dotted path for retry fields) x bad values x the paths that take it. */
const RULES: [string, unknown[], string[]][] = [
  ["timeout", [NaN, -1, 0, "10", null], TOKEN_PATHS],
  ["totalTimeout", [NaN, -5, 0, "10"], [
    "requestToken()",
    "AuthSession.getToken()",
    "a tokenProvider",
  ]],
  ["retry.limit", [NaN, -1, 1.5, Infinity, 101, "3"], [
    "requestToken()",
    "AuthSession.getToken()",
    "KognicClient",
  ]],
  ["retry.baseDelay", [NaN, -1, Infinity, "1"], [
    "requestToken()",
    "AuthSession.getToken()",
    "KognicClient",
  ]],
  ["retry.maxDelay", [NaN, -1, Infinity], [
    "requestToken()",
    "AuthSession.getToken()",
    "KognicClient",
  ]],
  ["retry.maxRetryAfter", [NaN, -1, "1"], [
    "requestToken()",
    "AuthSession.getToken()",
    "KognicClient",
  ]],
  ["lockTimeout", TIMER_VALUES, CACHES],
  ["leaseTime", TIMER_VALUES, ["RedisTokenCache", "DenoKvTokenCache"]],
  ["maxHold", TIMER_VALUES, ["RedisTokenCache", "DenoKvTokenCache"]],
  ["connectTimeout", TIMER_VALUES, ["RedisTokenCache"]],
  ["commandTimeout", TIMER_VALUES, ["RedisTokenCache"]],
  ["retryDelay", TIMER_VALUES, ["RedisTokenCache"]],
];

function optionsWith(option: string, value: unknown): Record<string, unknown> {
  const [head, field] = option.split(".");
  return field ? { [head]: { [field]: value } } : { [head]: value };
}

describe("every number from options is checked by one rule", () => {
  for (const [option, values, paths] of RULES) {
    for (const path of paths) {
      it(`${path} refuses a bad ${option} with a RangeError that names it`, async () => {
        for (const value of values) {
          const what = `${path} with ${option} = ${String(value)}`;
          const error = await bounded(
            Promise.resolve().then(() => PATHS[path](optionsWith(option, value))).then(
              () => assert.fail(`${what} was accepted`),
              (error: unknown) => error,
            ),
            what,
          );
          assert.ok(error instanceof RangeError, `${what}: ${error}`);
          assert.ok(
            error.message.includes(option.replace("retry.", "")),
            `${what}: "${error.message}" names the option`,
          );
        }
        reportCheck(`number rule: ${path} refuses a bad ${option}`, values.length);
      });
    }
  }
});

describe("waits of 2^31 ms or more are clamped, never fired at once", () => {
  it("timerDelay clamps to 2^31 - 1 ms and turns NaN and negatives into 0", () => {
    assert.equal(timerDelay(2 ** 31), MAX_TIMER_DELAY);
    assert.equal(timerDelay(Infinity), MAX_TIMER_DELAY);
    assert.equal(timerDelay(NaN), 0);
    assert.equal(timerDelay(-5), 0);
    assert.equal(timerDelay(1234), 1234);
  });

  for (const timeout of [2 ** 31, 2 ** 32 + 5, Infinity]) {
    it(`an AuthSession with timeout ${timeout} waits for a slow token server`, async () => {
      server.resetCounts();
      server.failTokenRequests({ delay: 200 });
      const session = new AuthSession({
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        timeout,
        retry: { limit: 0 },
      });
      const token = await bounded(session.getAccessToken(), "the token request");
      assert.ok(token.length > 0);
      assert.equal(server.counts.tokenRequests, 1);
    });

    it(`a KognicClient with timeout ${timeout} waits for a slow API`, async () => {
      server.failApiRequests({ delay: 200 });
      const session = new AuthSession({ authServer: server.url, auth: [CLIENT_ID, CLIENT_SECRET] });
      const client = new KognicClient({ session, timeout, retry: false });
      const response = await bounded(client.get(server.apiUrl), "the API request");
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });
  }

  it("a Retry-After of 30 days with maxRetryAfter Infinity is waited for, not retried at once", async () => {
    server.resetCounts();
    server.failTokenRequests({ status: 429, retryAfter: 30 * 24 * 3600 });
    let onRetry: (event: AuthEvent) => void = () => {};
    const retried = new Promise<AuthEvent>((resolve) => (onRetry = resolve));
    const controller = new AbortController();
    const session = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      retry: { maxRetryAfter: Infinity },
      onEvent: (event) => event.type === "token.retry" && onRetry(event),
    });
    const pending = session.getToken({ signal: controller.signal }).catch((error) => error);
    const event = await bounded(retried, "the retry event");
    assert.ok(event.type === "token.retry" && event.delay >= 30 * 24 * 3_600_000, "the wait asked");
    // An overflowing timer fires within a millisecond or two: a window of a few
    // hundred shows whether the retry was sent at once. Not a speed assertion.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.counts.tokenRequests, 1, "no second request");
    reportCheck(
      "number rule: a Retry-After of 30 days is waited for (clamped), not retried at once",
      1,
    );
    controller.abort(new Error("the test is done"));
    assert.equal(((await pending) as Error).message, "the test is done");
  });
});

describe("a tokenProvider is bounded by the session's deadline", () => {
  for (const option of ["timeout", "totalTimeout"]) {
    it(`one that never answers fails with a TokenTimeoutError after ${option}`, async () => {
      let signal: AbortSignal | undefined;
      const session = new AuthSession({
        tokenProvider: (options) => {
          signal = options.signal;
          return new Promise(() => {});
        },
        [option]: 50,
      });
      const error = await bounded(
        session.getToken().then(() => assert.fail("no token"), (error: unknown) => error),
        "the provider call",
      );
      assert.ok(error instanceof TokenTimeoutError, String(error));
      assert.match(error.message, /tokenProvider gave no token within 50 ms/);
      assert.equal(signal?.aborted, true, "the provider's signal aborts at the deadline");
    });
  }

  it("retry: { limit: NaN } does not retry for ever: it is refused", async () => {
    // A token server that always answers 503, which is retried.
    const down = await startJsonStandIn(503, { error: "temporarily_unavailable" });
    try {
      const error = await bounded(
        requestToken({
          tokenUrl: `${down.url}/token`,
          credentials,
          retry: { limit: NaN, baseDelay: 0, maxDelay: 0 },
        }).then(() => assert.fail("no token"), (error: unknown) => error),
        "the token request",
      );
      assert.ok(error instanceof RangeError, String(error));
      assert.match((error as Error).message, /retry\.limit/);
    } finally {
      await down.close();
    }
  });
});

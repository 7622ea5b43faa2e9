// KognicClient against the local auth server's sample API routes: the
// User-Agent, URLs, errors with the server's message, retries (which methods,
// statuses, Retry-After, network errors, limits), timeouts, deprecation
// notices from sunset headers, and the `data` envelope.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { inspect } from "node:util";
import {
  ApiError,
  ApiNetworkError,
  type ApiRetryEvent,
  ApiTimeoutError,
  defaultDeprecationHandler,
  type DeprecationNotice,
  KognicClient,
  type KognicClientOptions,
  userAgent,
} from "../../client.ts";
import { messageOf } from "../../src/api/errors.ts";
import { sunsetNotice } from "../../src/api/deprecation.ts";
import { KognicAuthError } from "../../src/shared/errors.ts";
import { AuthSession } from "../../src/core/session.ts";
import { VERSION } from "../../src/shared/version.ts";
import type { EchoResponse } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  record,
  rejection,
} from "../_helpers/mod.ts";
import { type SampleApiServer, startSampleApiServer } from "../_helpers/sample_api.ts";
import { FETCH_READS_AHEAD, FLOOD_BYTES, startFloodStandIn } from "../_helpers/servers.ts";

const DAY = 24 * 60 * 60 * 1000;

/** The runtime part of the User-Agent, as this test process sees its runtime. */
function expectedRuntime(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno) return `deno/${g.Deno.version.deno}`;
  if (g.Bun) return `bun/${g.Bun.version}`;
  return `node/${process.versions.node}`;
}

async function withClient(
  options: KognicClientOptions,
  fn: (client: KognicClient, server: SampleApiServer) => Promise<void>,
): Promise<void> {
  const server = await startSampleApiServer({ clients: CLIENTS });
  try {
    const session = new AuthSession({ authServer: server.url, auth: [CLIENT_ID, CLIENT_SECRET] });
    await fn(new KognicClient({ session, baseUrl: server.apiBaseUrl, ...options }), server);
  } finally {
    await server.close();
  }
}

/** Retries without waiting: the test server's flaky route answers Retry-After: 0. */
const NOW = "retryAfter=0";

describe("the sample API routes mounted on startAuthServer()", () => {
  it("need a bearer token, count requests and take injected failures", async () => {
    const server = await startSampleApiServer({ clients: CLIENTS });
    try {
      const anonymous = await fetch(`${server.apiBaseUrl}/items`);
      assert.equal(anonymous.status, 401);
      assert.equal((await anonymous.json()).error, "invalid_token");
      const token = server.issueToken(CLIENT_ID);
      const get = (route: string): Promise<Response> =>
        fetch(`${server.apiBaseUrl}/${route}`, { headers: { authorization: `Bearer ${token}` } });
      server.failApiRequests({ status: 502 });
      assert.equal((await get("items")).status, 502);
      const items = await get("items");
      assert.equal(items.headers.get("content-type"), "application/json; charset=utf-8");
      assert.equal((await items.json()).length, 3);
      const missing = await get("nothing/here");
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), {
        message: "No sample API route at /v1/api/nothing/here",
      });
      const bad = await get("flaky/k?status=418");
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      assert.equal(server.flakyAttempts("k"), 0);
      const sunset = await get("sunset?sunset-date=2030-01-01T00:00:00Z&sunset=x");
      assert.equal(sunset.headers.get("sunset-date"), "2030-01-01T00:00:00Z");
      assert.equal(sunset.headers.get("sunset"), "x");
      await sunset.body?.cancel();
      const flaky = await get("flaky/k?failures=1&status=429&retryAfter=7");
      assert.equal(flaky.status, 429);
      assert.equal(flaky.headers.get("retry-after"), "7");
      assert.deepEqual(await flaky.json(), { message: "Transient failure 1 of 1" });
      assert.deepEqual(await (await get("flaky/k")).json(), {
        key: "k",
        attempts: 2,
        method: "GET",
      });
      assert.equal(server.counts.apiRequests, 8);
      assert.equal(server.counts.unauthorizedApiRequests, 1);
    } finally {
      await server.close();
    }
  });
});

describe("KognicClient User-Agent and URLs", () => {
  it("sends kognic-auth/<version> <runtime>/<version>, plus the client name", async () => {
    assert.equal(userAgent(), `kognic-auth/${VERSION} ${expectedRuntime()}`);
    assert.match(userAgent(), /^kognic-auth\/\d+\.\d+\.\d+\S* (deno|node|bun)\/\d+\.\d+\.\d+\S*$/);
    await withClient({}, async (client) => {
      assert.deepEqual(await client.json("GET", "user-agent"), { userAgent: userAgent() });
    });
    await withClient({ clientName: "my-pipeline/1.2" }, async (client) => {
      const expected = `kognic-auth/${VERSION} ${expectedRuntime()} my-pipeline/1.2`;
      assert.equal(client.userAgent, expected);
      assert.deepEqual(await client.json("get", "user-agent"), { userAgent: expected });
      const own = await client.json("GET", "user-agent", { headers: { "user-agent": "mine/1" } });
      assert.deepEqual(own, { userAgent: "mine/1" });
    });
  });

  it("refuses a client name with a control character", () => {
    assert.throws(() => new KognicClient({ clientName: "evil\r\nX-Injected: 1" }), TypeError);
  });

  it("joins relative paths to baseUrl with one slash, and appends searchParams", async () => {
    await withClient({}, async (client, server) => {
      for (const path of ["object", "/object", "//object"]) {
        assert.deepEqual(await client.json("GET", path), { id: 1, name: "alpha" });
      }
      const echo = await client.json<EchoResponse>("GET", `${server.apiUrl}/x?a=1`, {
        searchParams: { b: "2 3" },
      });
      assert.equal(echo.path, "/v1/echo/x");
      assert.equal(echo.query, "a=1&b=2+3");
    });
    const bare = new KognicClient({
      session: new AuthSession({ auth: ["id", "api-client-test-s3cret-5k"] }),
    });
    const error = await rejection(bare.get("v1/projects"));
    assert.ok(error instanceof TypeError);
    assert.match(
      error.message,
      /"v1\/projects" is not an absolute URL, and the client has no baseUrl/,
    );
    assert.throws(() => new KognicClient({ baseUrl: "ftp://example.com" }), TypeError);
    assert.throws(() => new KognicClient({ baseUrl: "not a url" }), TypeError);
    assert.throws(() => new KognicClient({ timeout: 0 }), RangeError);
  });

  it("sends a json body with Content-Type application/json, and refuses json with body", async () => {
    await withClient({}, async (client, server) => {
      const response = await client.post(server.apiUrl, { json: { name: "x", n: [1] } });
      const echo: EchoResponse = await response.json();
      assert.equal(echo.method, "POST");
      assert.equal(echo.body, '{"name":"x","n":[1]}');
      assert.equal(echo.headers["content-type"], "application/json");
      await assert.rejects(client.post(server.apiUrl, { json: 1, body: "2" }), TypeError);
    });
  });

  it("shows no credentials or token when inspected or serialized", async () => {
    await withClient({ clientName: "x" }, async (client) => {
      await client.json("GET", "object");
      const token = await client.session.getAccessToken();
      for (const text of [inspect(client), JSON.stringify(client), String(client)]) {
        record(text);
        assert.ok(!text.includes(CLIENT_SECRET) && !text.includes(token), text);
      }
    });
  });
});

describe("KognicClient errors", () => {
  it("json() and data() read no more than 100 MiB of a body: an ApiError, and the rest is never read", async () => {
    for (const method of ["json", "data"] as const) {
      const flood = await startFloodStandIn(FLOOD_BYTES);
      try {
        // Another origin than the session's: asked without a token.
        await withClient({}, async (client) => {
          const error = await rejection(client[method]("GET", `${flood.url}/big`));
          assert.ok(error instanceof ApiError, String(error));
          assert.match(error.message, /is larger than 104857600 bytes \(100 MiB\)/);
          assert.equal(error.status, 200);
        });
        const { written, whole } = await flood.ended;
        if (!FETCH_READS_AHEAD) {
          assert.equal(whole, false, `${method}(): the whole body was read (${written} bytes)`);
        }
      } finally {
        await flood.close();
      }
    }
  });

  it("throws ApiError with status, method, URL and the server's message", async () => {
    await withClient({}, async (client, server) => {
      const error = await rejection(client.get("status/404?message=Project 7 is gone"));
      assert.ok(error instanceof ApiError);
      assert.ok(error instanceof KognicAuthError);
      assert.equal(error.code, "api_error");
      assert.equal(error.name, "ApiError");
      assert.equal(error.status, 404);
      assert.equal(error.statusText, "Not Found");
      assert.equal(error.method, "GET");
      assert.equal(error.url, `${server.apiBaseUrl}/status/404?message=Project%207%20is%20gone`);
      assert.equal(error.serverMessage, "Project 7 is gone");
      assert.deepEqual(JSON.parse(error.body!), { message: "Project 7 is gone", status: 404 });
      assert.equal(error.retryable, false);
      assert.equal(error.attempts, 1);
      assert.equal(
        error.message,
        `GET "${error.url}" failed with HTTP 404 Not Found: Project 7 is gone`,
      );
    });
  });

  it("takes the message of a text body, and marks 5xx retryable", async () => {
    await withClient({}, async (client) => {
      const error = await rejection(client.delete("status/500?format=text&message=Disk full"));
      assert.ok(error instanceof ApiError);
      assert.equal(error.serverMessage, "Disk full");
      assert.equal(error.method, "DELETE");
      assert.equal(error.retryable, true);
      assert.match(
        error.message,
        /^DELETE ".+" failed with HTTP 500 Internal Server Error: Disk full$/,
      );
    });
  });

  it("returns the response instead with throwHttpErrors: false", async () => {
    await withClient({}, async (client) => {
      const response = await client.get("status/409", { throwHttpErrors: false });
      assert.equal(response.status, 409);
      assert.equal((await response.json()).message, "Sample error 409");
    });
  });

  it("finds the server's message in common error bodies", () => {
    const cases: [string, string | null, string | undefined][] = [
      ['{"message": "Kognic says no"}', "application/json", "Kognic says no"],
      ['{"error": "invalid_token", "error_description": "Expired"}', null, "Expired"],
      ['{"detail": "Not allowed"}', "application/problem+json", "Not allowed"],
      ['{"title": "Bad", "status": 400}', "application/problem+json", "Bad"],
      ['{"error": {"message": "Nested"}}', "application/json", "Nested"],
      ['{"errors": [{"message": "First"}, {"message": "Second"}]}', null, "First"],
      ['{"code": 7}', "application/json", undefined],
      [
        "<html><head><title>502 Bad Gateway</title></head><body>..</body></html>",
        "text/html",
        "502 Bad Gateway",
      ],
      ["  line one\n  line two  ", "text/plain", "line one line two"],
      ["", "text/plain", undefined],
      ["x".repeat(600), "text/plain", "x".repeat(500) + "..."],
    ];
    for (const [body, type, expected] of cases) assert.equal(messageOf(body, type), expected, body);
  });
});

describe("KognicClient retries", () => {
  it("retries an idempotent request on 503 with Retry-After, then succeeds", async () => {
    const events: ApiRetryEvent[] = [];
    await withClient({ onRetry: (event) => events.push(event) }, async (client, server) => {
      const body = await client.json("GET", `flaky/get?failures=2&${NOW}`);
      assert.deepEqual(body, { key: "get", attempts: 3, method: "GET" });
      assert.equal(server.flakyAttempts("get"), 3);
      assert.deepEqual(events.map((event) => [event.attempt, event.status]), [[2, 503], [3, 503]]);
      assert.ok(events.every((event) => event.delay >= 0 && event.delay <= 1));
      for (const method of ["PUT", "DELETE", "OPTIONS", "HEAD"]) {
        const response = await client.request(method, `flaky/${method}?${NOW}`);
        await response.body?.cancel();
        assert.equal(server.flakyAttempts(method), 2, method);
      }
    });
  });

  it("retries 429, 502 and 504 too, but not 500", async () => {
    await withClient({}, async (client, server) => {
      for (const status of [429, 502, 504]) {
        await client.json("GET", `flaky/s${status}?status=${status}&${NOW}`);
        assert.equal(server.flakyAttempts(`s${status}`), 2);
      }
      const error = await rejection(client.get(`flaky/s500?status=500&${NOW}`));
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 500);
      assert.equal(server.flakyAttempts("s500"), 1);
    });
  });

  it("never retries POST or PATCH unless asked", async () => {
    await withClient({}, async (client, server) => {
      for (const method of ["POST", "PATCH"]) {
        const error = await rejection(client.request(method, `flaky/${method}?${NOW}`));
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, 503);
        assert.equal(error.attempts, 1);
        assert.equal(error.serverMessage, "Transient failure 1 of 1");
        assert.equal(server.flakyAttempts(method), 1);
      }
      const asked = await client.json("POST", `flaky/asked?${NOW}`, {
        retry: { methods: ["post"] },
      });
      assert.deepEqual(asked, { key: "asked", attempts: 2, method: "POST" });
    });
  });

  it("gives up after the limit, and retry: false turns retrying off", async () => {
    await withClient({}, async (client, server) => {
      const error = await rejection(client.get(`flaky/many?failures=10&${NOW}`));
      assert.ok(error instanceof ApiError);
      assert.equal(error.attempts, 4);
      assert.equal(server.flakyAttempts("many"), 4);
      await rejection(client.get(`flaky/once?${NOW}`, { retry: false }));
      assert.equal(server.flakyAttempts("once"), 1);
      await rejection(client.get(`flaky/one?failures=5&${NOW}`, { retry: { limit: 1 } }));
      assert.equal(server.flakyAttempts("one"), 2);
    });
    await withClient({ retry: false }, async (client, server) => {
      await rejection(client.get(`flaky/off?${NOW}`));
      assert.equal(server.flakyAttempts("off"), 1);
    });
  });

  it("backs off without Retry-After, and does not wait out a Retry-After beyond maxRetryAfter", async () => {
    const events: ApiRetryEvent[] = [];
    await withClient({ onRetry: (event) => events.push(event) }, async (client, server) => {
      await client.json("GET", "flaky/backoff?failures=2", { retry: { baseDelay: 4 } });
      assert.equal(server.flakyAttempts("backoff"), 3);
      // Up to 4 ms, then up to 8 ms (full jitter, as for token requests).
      assert.ok(events[0].delay >= 0 && events[0].delay <= 4, String(events[0].delay));
      assert.ok(events[1].delay >= 0 && events[1].delay <= 8, String(events[1].delay));
      const error = await rejection(client.get("flaky/later?retryAfter=3600"));
      assert.ok(error instanceof ApiError);
      assert.equal(error.retryAfter, 3_600_000);
      assert.equal(server.flakyAttempts("later"), 1);
    });
  });

  it("retries an idempotent request after connection resets, not a POST", async () => {
    // Runtimes may resend a request themselves when a reused connection resets, so the
    // server resets every attempt here and the client's own retries are counted.
    const events: ApiRetryEvent[] = [];
    await withClient({ onRetry: (event) => events.push(event) }, async (client, server) => {
      await client.json("GET", "object");
      server.failApiRequests({ reset: true, times: 1000 });
      const error = await rejection(client.get("object", { retry: { limit: 2, baseDelay: 1 } }));
      // A network failure after the retries is an ApiNetworkError with the runtime's error as cause.
      assert.ok(error instanceof ApiNetworkError, String(error));
      assert.equal(error.attempts, 3);
      assert.ok(error.cause instanceof TypeError);
      assert.deepEqual(events.map((event) => [event.attempt, event.status]), [
        [2, undefined],
        [3, undefined],
      ]);
      assert.ok(events.every((event) => event.error !== undefined));
      events.length = 0;
      await rejection(client.post(server.apiUrl, { json: {}, retry: { baseDelay: 1 } }));
      assert.equal(events.length, 0);
    });
  });

  it("times out an attempt that gets no answer, without retrying it", async () => {
    await withClient({ timeout: 50 }, async (client, server) => {
      server.failApiRequests({ delay: 30_000 });
      const error = await rejection(client.get("object"));
      assert.ok(error instanceof ApiTimeoutError);
      assert.equal(error.code, "api_timeout");
      assert.equal(error.timeout, 50);
      assert.match(error.message, /^GET ".+\/object" got no response within 50 ms$/);
      // Not retried: at most the one attempt reached the server (on a busy
      // machine the 50 ms may pass before it does).
      assert.ok(server.counts.apiRequests <= 1, `${server.counts.apiRequests} requests`);
    });
  });

  it("stops at once when the caller aborts, with the caller's reason", async () => {
    await withClient({}, async (client, server) => {
      server.failApiRequests({ delay: 30_000 });
      const controller = new AbortController();
      const reason = new Error("stop");
      const pending = client.get("object", { signal: controller.signal });
      while (server.counts.apiRequests === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort(reason);
      assert.equal(await rejection(pending), reason);
      assert.equal(server.counts.apiRequests, 1);
    });
  });
});

describe("KognicClient listeners that fail", () => {
  // onRetry and onDeprecation, like onEvent, never break a request, thrown or rejected.
  for (const failure of ["throws", "rejects"] as const) {
    it(`completes the request when onRetry and onDeprecation fail (${failure})`, async () => {
      const unhandled: unknown[] = [];
      const note = (reason: unknown) => void unhandled.push(reason);
      process.on("unhandledRejection", note);
      let told = 0;
      const listener = (): void => {
        told++;
        if (failure === "throws") throw new Error("the listener broke");
        return Promise.reject(new Error("the listener broke")) as unknown as void;
      };
      try {
        await withClient({ onRetry: listener, onDeprecation: listener }, async (client) => {
          const body = await client.json("GET", `flaky/get?failures=1&${NOW}`);
          assert.deepEqual(body, { key: "get", attempts: 2, method: "GET" });
          const sunset = new Date(Date.now() + 30 * DAY).toISOString();
          assert.ok(await client.data("GET", `sunset?sunset-date=${sunset}`) !== undefined);
        });
        assert.equal(told, 2, "each listener was called");
        // A rejection is reported after a macrotask at the latest.
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off("unhandledRejection", note);
      }
    });
  }
});

describe("KognicClient deprecation notices", () => {
  it("reports a far sunset-date as a warning and a near one as an error", async () => {
    const notices: DeprecationNotice[] = [];
    await withClient(
      { onDeprecation: (notice) => notices.push(notice) },
      async (client, server) => {
        const far = new Date(Date.now() + 30 * DAY);
        const near = new Date(Date.now() + 3 * DAY);
        await client.data("GET", `sunset?sunset-date=${far.toISOString()}&x=1`);
        await client.data("GET", "sunset", { searchParams: { "sunset-date": near.toISOString() } });
        assert.equal(notices.length, 2);
        assert.deepEqual(
          notices.map((
            { level, header, method, url, sunset },
          ) => [level, header, method, url, sunset]),
          [
            ["warning", "sunset-date", "GET", `${server.apiBaseUrl}/sunset`, far],
            ["error", "sunset-date", "GET", `${server.apiBaseUrl}/sunset`, near],
          ],
        );
        assert.match(
          notices[0].message,
          /^Endpoint GET http:\/\/127\.0\.0\.1:\d+\/v1\/api\/sunset has been deprecated and will be removed at .+ \(in 30 days\); please update your client$/,
        );
      },
    );
  });

  it("reports the standard Sunset header (RFC 8594), the earlier of two dates, and nothing for none", async () => {
    const notices: DeprecationNotice[] = [];
    await withClient({ onDeprecation: (notice) => notices.push(notice) }, async (client) => {
      const date = new Date(Math.floor((Date.now() + 60 * DAY) / 1000) * 1000);
      await client.data("GET", "sunset", { searchParams: { sunset: date.toUTCString() } });
      assert.equal(notices.at(-1)?.header, "sunset");
      assert.deepEqual(notices.at(-1)?.sunset, date);
      assert.equal(notices.at(-1)?.level, "warning");
      const earlier = new Date(date.getTime() - 55 * DAY);
      await client.data("GET", "sunset", {
        searchParams: { sunset: date.toUTCString(), "sunset-date": earlier.toISOString() },
      });
      assert.equal(notices.at(-1)?.header, "sunset-date");
      assert.equal(notices.at(-1)?.level, "error");
      const count = notices.length;
      await client.data("GET", "sunset");
      await client.data("GET", "sunset", { searchParams: { "sunset-date": "next tuesday" } });
      assert.equal(notices.length, count);
    });
    await withClient({ onDeprecation: null }, async (client) => {
      await client.data("GET", "sunset", {
        searchParams: { "sunset-date": "2020-01-01T00:00:00Z" },
      });
    });
  });

  it("parses the sunset-date format and HTTP-dates, and ignores malformed dates", () => {
    const url = new URL("https://app.kognic.com/v1/x?secret=1#f");
    const now = Date.UTC(2025, 0, 1);
    const cases: [Record<string, string>, string | undefined][] = [
      [{ "sunset-date": "2025-06-01T00:00:00Z" }, "2025-06-01T00:00:00.000Z"],
      [{ "sunset-date": "2025-06-01T12:30:45.5Z" }, "2025-06-01T12:30:45.500Z"],
      [{ "sunset-date": "2025-06-01T12:30:45.123456Z" }, "2025-06-01T12:30:45.123Z"],
      [{ "sunset-date": "2025-06-01T12:30:45.123456789Z" }, "2025-06-01T12:30:45.123Z"],
      [{ "sunset-date": "2025-02-30T00:00:00Z" }, undefined],
      [{ "sunset-date": "2025-06-01T24:00:00Z" }, undefined],
      [{ "sunset-date": "2025-06-01T00:00:00+02:00" }, undefined],
      [{ "sunset-date": "2025-06-01" }, undefined],
      [{ sunset: "Sun, 01 Jun 2025 08:49:37 GMT" }, "2025-06-01T08:49:37.000Z"],
      [{ sunset: "Sunday, 01-Jun-25 08:49:37 GMT" }, "2025-06-01T08:49:37.000Z"],
      [{ sunset: "Sun Jun  1 08:49:37 2025" }, "2025-06-01T08:49:37.000Z"],
      [{ sunset: "2025-06-01" }, undefined],
      [{ sunset: "Sun, 31 Feb 2025 08:49:37 GMT" }, undefined],
    ];
    for (const [headers, expected] of cases) {
      const notice = sunsetNotice("GET", url, new Headers(headers), now);
      assert.equal(notice?.sunset.toISOString(), expected, JSON.stringify(headers));
      if (notice) assert.equal(notice.url, "https://app.kognic.com/v1/x");
    }
    const past = sunsetNotice(
      "PUT",
      url,
      new Headers({ "sunset-date": "2024-12-30T00:00:00Z" }),
      now,
    );
    assert.equal(past?.level, "error");
    assert.match(past!.message, /was due for removal at 2024-12-30T00:00:00\.000Z \(2 days ago\)/);
  });

  it("logs with console.warn or console.error by default, once per URL and date", async () => {
    const logged: [string, unknown][] = [];
    const { warn, error } = console;
    console.warn = (message: unknown) => logged.push(["warn", message]);
    console.error = (message: unknown) => logged.push(["error", message]);
    try {
      const far = new Date(Date.now() + 100 * DAY).toISOString();
      const near = new Date(Date.now() + DAY).toISOString();
      await withClient({}, async (client) => {
        for (const date of [far, far, near, near]) {
          await client.data("GET", "sunset", { searchParams: { "sunset-date": date } });
        }
      });
      const notice = {
        method: "GET",
        url: "https://a.example/x",
        sunset: new Date(0),
        header: "sunset" as const,
        level: "error" as const,
        message: "m",
      };
      defaultDeprecationHandler(notice);
      defaultDeprecationHandler({ ...notice, method: "POST" });
    } finally {
      console.warn = warn;
      console.error = error;
    }
    assert.deepEqual(logged.map(([level]) => level), ["warn", "error", "error"]);
    assert.match(String(logged[0][1]), /will be removed at .+ \(in 100 days\)/);
  });
});

describe("KognicClient JSON and the data envelope", () => {
  it("json() parses the body, and an empty body gives undefined", async () => {
    await withClient({}, async (client) => {
      const items = await client.json<{ id: number }[]>("GET", "items");
      assert.deepEqual(items.map((item) => item.id), [1, 2, 3]);
      assert.equal(await client.json("HEAD", "items"), undefined);
    });
  });

  it("data() unwraps the data envelope", async () => {
    await withClient({}, async (client) => {
      assert.equal((await client.data<unknown[]>("GET", "enveloped")).length, 3);
      assert.deepEqual(await client.data("GET", "empty-enveloped"), []);
      assert.deepEqual(await client.data("GET", "page"), [
        { id: 1, name: "alpha", tags: ["red", "blue"] },
      ]);
    });
  });

  it("data() names the keys found when the envelope is missing", async () => {
    await withClient({}, async (client, server) => {
      const cases: [string, string][] = [
        ["object", 'found the keys "id", "name"'],
        ["user-agent", 'found the key "userAgent"'],
        ["items", "found a JSON array"],
        ["empty", "found a JSON array"],
      ];
      for (const [route, found] of cases) {
        const error = await rejection(client.data("GET", route));
        assert.ok(error instanceof ApiError, route);
        assert.equal(error.status, 200);
        assert.equal(
          error.message,
          `Response to GET "${server.apiBaseUrl}/${route}" has no "data" envelope; ${found}`,
        );
      }
    });
  });

  it("json() and data() throw ApiError for a body that is not JSON", async () => {
    await withClient({}, async (client) => {
      for (const route of ["text", "bad-json"]) {
        const error = await rejection(client.data("GET", route));
        assert.ok(error instanceof ApiError, route);
        assert.match(error.message, /is not JSON \(content type .+\)$/);
        assert.ok(error.body!.length > 0);
      }
    });
  });

  it("leaks no secret in any message or output", () => {
    assert.ok(assertNoSecretSeen() > 0);
  });
});

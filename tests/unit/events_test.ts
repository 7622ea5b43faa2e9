import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { type AuthEvent, AuthSession, type AuthSessionOptions } from "../../mod.ts";
import { KognicClient } from "../../client.ts";
import { MemoryTokenCache } from "../../config.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { describeEvent, logEvent, loggerFromEnv } from "../../src/core/event_log.ts";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  record,
  runCommand,
  tempDir,
} from "../_helpers/mod.ts";

let server: LocalAuthServer;
let other: LocalAuthServer;
const tokens = new Set<string>();
const allEvents: AuthEvent[] = [];

before(async () => {
  server = await startAuthServer({ clients: CLIENTS });
  other = await startAuthServer({ clients: CLIENTS });
});
beforeEach(() => server.resetCounts());
after(async () => {
  await server.close();
  await other.close();
});

/** A session on the local server whose events land in the returned list. */
function observed(
  extra: Partial<AuthSessionOptions> = {},
): { session: AuthSession; events: AuthEvent[] } {
  const events: AuthEvent[] = [];
  const session = new AuthSession({
    authServer: server.url,
    auth: [CLIENT_ID, CLIENT_SECRET],
    retry: { baseDelay: 1, maxDelay: 5 },
    onEvent: (event) => {
      events.push(event);
      allEvents.push(event);
      record(describeEvent(event));
    },
    ...extra,
  });
  return { session, events };
}

const types = (events: AuthEvent[]): string[] => events.map((event) => event.type);

describe("session events", () => {
  it("one token for 10 concurrent calls: renewal, request, response, acquired with 10 waiters", async () => {
    const { session, events } = observed();
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => session.fetch(server.apiUrl)),
    );
    for (const response of responses) await response.body?.cancel();
    tokens.add(await session.getAccessToken());
    assert.deepEqual(types(events), [
      "token.renewal",
      "token.request",
      "token.response",
      "token.acquired",
    ]);
    const [renewal, request, response, acquired] = events;
    assert.deepEqual(renewal, { type: "token.renewal", reason: "initial" });
    assert.equal(request.type === "token.request" && request.grant, "client_credentials");
    assert.equal(request.type === "token.request" && request.url, server.tokenUrl);
    assert.equal(response.type === "token.response" && response.status, 200);
    assert.ok(acquired.type === "token.acquired");
    assert.equal(acquired.source, "request");
    assert.equal(acquired.waiters, 10);
    assert.ok(acquired.duration >= 0);
  });

  it("a retried token request tells each retry with its delay, code and status", async () => {
    server.failTokenRequests({ status: 503, times: 2 });
    const { session, events } = observed();
    tokens.add(await session.getAccessToken());
    const retriesSeen = events.filter((event) => event.type === "token.retry");
    assert.equal(retriesSeen.length, 2);
    for (const [index, event] of retriesSeen.entries()) {
      assert.ok(event.type === "token.retry");
      assert.equal(event.attempt, index + 1);
      assert.equal(event.code, "oauth_error");
      assert.equal(event.status, 503);
      assert.ok(event.delay >= 0 && event.delay <= 5);
    }
    const requests = events.filter((event) => event.type === "token.request");
    assert.deepEqual(requests.map((event) => event.type === "token.request" && event.attempt), [
      1,
      2,
      3,
    ]);
    assert.equal(server.counts.tokenRequests, 3);
  });

  it("a refused token request ends in token.failed with the attempts and code", async () => {
    const { session, events } = observed({ auth: [CLIENT_ID, "wrong-secret"] });
    await assert.rejects(session.getAccessToken());
    const failed = events.at(-1)!;
    assert.ok(failed.type === "token.failed");
    assert.equal(failed.attempts, 1);
    assert.equal(failed.code, "oauth_error");
    assert.equal(failed.status, 401);
  });

  it("a 401 replay and a request to an origin that is not allowed are told", async () => {
    const { session, events } = observed();
    const first = await session.fetch(server.apiUrl);
    await first.body?.cancel();
    server.revokeAccessTokens();
    const replayed = await session.fetch(`${server.apiUrl}/again?secret=query`);
    assert.equal(replayed.status, 200);
    await replayed.body?.cancel();
    const replay = events.find((event) => event.type === "request.replay");
    assert.deepEqual(replay, {
      type: "request.replay",
      method: "GET",
      url: `${server.apiUrl}/again`,
    });
    const elsewhere = await session.fetch(other.apiUrl, { method: "POST", body: "x" });
    assert.equal(elsewhere.status, 401);
    await elsewhere.body?.cancel();
    const unauthenticated = events.find((event) => event.type === "request.unauthenticated");
    assert.deepEqual(unauthenticated, {
      type: "request.unauthenticated",
      method: "POST",
      origin: new URL(other.url).origin,
    });
    const renewals = events.filter((event) => event.type === "token.renewal");
    assert.deepEqual(renewals.map((event) => event.type === "token.renewal" && event.reason), [
      "initial",
      "invalidated",
    ]);
    tokens.add(await session.getAccessToken());
  });

  it("a shared cache tells a miss, then a hit and a cache-sourced token to the next session, and a lock wait", async () => {
    const cache = new MemoryTokenCache();
    const a = observed({ tokenCache: cache });
    const b = observed({ tokenCache: cache });
    // A slow token endpoint makes b wait for a's lock.
    server.failTokenRequests({ delay: 60, status: 503, times: 1 });
    const [tokenA, tokenB] = await Promise.all([
      a.session.getAccessToken(),
      b.session.getAccessToken(),
    ]);
    tokens.add(tokenA);
    assert.equal(tokenA, tokenB);
    assert.ok(types(a.events).includes("cache.miss"));
    assert.ok(types(b.events).includes("cache.hit"), types(b.events).join());
    const acquiredB = b.events.find((event) => event.type === "token.acquired");
    assert.ok(acquiredB?.type === "token.acquired" && acquiredB.source === "cache");
    const wait = b.events.find((event) => event.type === "cache.lock_wait");
    assert.ok(wait?.type === "cache.lock_wait" && wait.duration >= 10, JSON.stringify(b.events));
  });

  it("a listener that throws or rejects breaks neither the calls nor the process", async () => {
    let calls = 0;
    const throwing = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      onEvent: () => {
        calls++;
        throw new Error("listener failed");
      },
    });
    const rejecting = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      onEvent: () => {
        calls++;
        return Promise.reject(new Error("listener rejected")) as unknown as void;
      },
    });
    for (const session of [throwing, rejecting]) {
      const response = await session.fetch(server.apiUrl);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      tokens.add(await session.getAccessToken());
    }
    assert.ok(calls >= 8);
    // An unhandled rejection would fail this test file on Deno and Node.
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it("KOGNIC_AUTH_LOG=info writes info and warn events on stderr, debug ones only at debug", async () => {
    const lines: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    try {
      const session = new AuthSession({
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        env: { KOGNIC_AUTH_LOG: "info" },
      });
      tokens.add(await session.getAccessToken());
      // The log module is loaded on the first event: wait for its first line
      // (the events before it are written in order, so none comes later).
      for (const deadline = Date.now() + 30_000; lines.length === 0;) {
        assert.ok(Date.now() < deadline, "no log line within 30 s");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0], /^kognic-auth: token from the auth server in \d+ ms, expires at /);
      lines.length = 0;
      logEvent(
        { type: "token.request", grant: "client_credentials", attempt: 1, url: "u" },
        "info",
      );
      assert.equal(lines.length, 0);
      logEvent(
        { type: "token.request", grant: "client_credentials", attempt: 1, url: "u" },
        "DEBUG",
      );
      assert.equal(lines.length, 1);
    } finally {
      console.error = original;
    }
  });
});

describe("requests sent without the token", () => {
  /** Captures console.error; `waitFor` resolves when a line matches (bounded). */
  function captureStderr(): {
    lines: string[];
    waitFor(pattern: RegExp): Promise<void>;
    restore(): void;
  } {
    const lines: string[] = [];
    const waiters: { pattern: RegExp; resolve: () => void }[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => {
      const line = args.map(String).join(" ");
      lines.push(line);
      for (const waiter of waiters) if (waiter.pattern.test(line)) waiter.resolve();
    };
    return {
      lines,
      waitFor: (pattern) => {
        if (lines.some((line) => pattern.test(line))) return Promise.resolve();
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no line matched ${pattern}`)), 10_000);
          waiters.push({
            pattern,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          });
        });
      },
      restore: () => void (console.error = original),
    };
  }

  it("without a listener or KOGNIC_AUTH_LOG, each origin that is not allowed is reported once on stderr", async () => {
    const origins = await Promise.all([1, 2, 3].map(() => startAuthServer({ clients: CLIENTS })));
    const [first, second, third] = origins;
    const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const stderr = captureStderr();
    try {
      const options = {
        authServer: server.url,
        auth: [CLIENT_ID, CLIENT_SECRET],
        env: {},
      } as const;
      const session = new AuthSession({ ...options, auth: [CLIENT_ID, CLIENT_SECRET] });
      const again = new AuthSession({ ...options, auth: [CLIENT_ID, CLIENT_SECRET] });
      for (let i = 0; i < 3; i++) {
        const response = await session.fetch(first.apiUrl, { method: "DELETE" });
        assert.equal(response.status, 401);
        await response.body?.cancel();
      }
      // Lines are written in the order of a session's events: once a later
      // origin's line is there, every earlier event has been handled.
      await (await session.fetch(second.apiUrl)).body?.cancel();
      await stderr.waitFor(new RegExp(escaped(second.url)));
      // Another session in the same process: the origins are not reported again.
      await (await again.fetch(first.apiUrl)).body?.cancel();
      await (await again.fetch(second.apiUrl)).body?.cancel();
      await (await again.fetch(third.apiUrl)).body?.cancel();
      await stderr.waitFor(new RegExp(escaped(third.url)));
      const warnings = stderr.lines.filter((line) => line.includes("without the token"));
      assert.equal(warnings.length, 3, warnings.join("\n"));
      assert.equal(
        warnings[0],
        `kognic-auth: DELETE to ${first.url} sent without the token: the origin is not allowed ` +
          "(allowedOrigins); the server will likely answer 401. Said once per origin; an onEvent " +
          "listener or KOGNIC_AUTH_LOG=off silences it",
      );
      assert.match(warnings[1], new RegExp(`^kognic-auth: GET to ${escaped(second.url)} sent`));
      assert.match(warnings[2], new RegExp(`^kognic-auth: GET to ${escaped(third.url)} sent`));
      for (const origin of origins) assert.equal(origin.counts.tokenRequests, 0);
    } finally {
      stderr.restore();
      for (const origin of origins) await origin.close();
    }
  });

  it("a real process says it on stderr once per origin, without KOGNIC_AUTH_LOG (and on Deno without --allow-env)", async () => {
    const origins = await Promise.all([1, 2].map(() => startAuthServer({ clients: CLIENTS })));
    const dir = await tempDir();
    try {
      const compiled = import.meta.url.endsWith(".js");
      const mod = new URL(`../../mod.${compiled ? "js" : "ts"}`, import.meta.url).href;
      const [a, b] = origins.map((origin) => origin.apiUrl);
      const script = join(dir.path, "unauthenticated.mjs");
      await writeFile(
        script,
        `import { AuthSession } from ${JSON.stringify(mod)};
const session = new AuthSession({ authServer: ${
          JSON.stringify(server.url)
        }, auth: ["id", "events-test-s3cret-8q"] });
for (const url of ${JSON.stringify([a, a, b, a, b])}) {
  const response = await session.fetch(url);
  await response.body?.cancel();
  console.log(response.status);
}
`,
      );
      const command = "Deno" in globalThis
        ? [process.execPath, "run", "--allow-net=127.0.0.1", "--allow-read", script]
        : [process.execPath, script];
      const result = await runCommand(command, [], { killAfter: 60_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "401\n401\n401\n401\n401\n");
      const lines = result.stderr.trimEnd().split("\n");
      assert.deepEqual(
        lines.map((line) => line.replace(/ sent without the token.*$/, "")),
        [`kognic-auth: GET to ${origins[0].url}`, `kognic-auth: GET to ${origins[1].url}`],
      );
      assert.equal(server.counts.tokenRequests, 0);
    } finally {
      for (const origin of origins) await origin.close();
      await dir.cleanup();
    }
  });

  it("with an onEvent listener, the listener gets every such event and nothing is written", async () => {
    const target = await startAuthServer({ clients: CLIENTS });
    const stderr = captureStderr();
    try {
      const { session, events } = observed({ env: {} });
      for (let i = 0; i < 3; i++) await (await session.fetch(target.apiUrl)).body?.cancel();
      const unauthenticated = events.filter((event) => event.type === "request.unauthenticated");
      assert.deepEqual(
        unauthenticated,
        Array(3).fill({ type: "request.unauthenticated", method: "GET", origin: target.url }),
      );
      assert.deepEqual(stderr.lines, []);
    } finally {
      stderr.restore();
      await target.close();
    }
  });

  it("KOGNIC_AUTH_LOG=off writes nothing; =debug reports every such request", () => {
    assert.equal(loggerFromEnv({ KOGNIC_AUTH_LOG: "off" }), undefined);
    assert.equal(loggerFromEnv({ KOGNIC_AUTH_LOG: "OFF" }), undefined);
    const stderr = captureStderr();
    try {
      const log = loggerFromEnv({ KOGNIC_AUTH_LOG: "debug" });
      const event = { type: "request.unauthenticated", method: "GET", origin: "https://x.test" };
      log?.(event as AuthEvent);
      log?.(event as AuthEvent);
      assert.equal(stderr.lines.length, 2);
      const quiet = loggerFromEnv({});
      quiet?.({ type: "request.replay", method: "GET", url: "https://x.test/" });
      assert.equal(stderr.lines.length, 2, "other events stay quiet without KOGNIC_AUTH_LOG");
    } finally {
      stderr.restore();
    }
  });
});

describe("API client events", () => {
  it("api.retry for a retried call and api.deprecation for a sunset header, in one stream with the session's", async () => {
    const { session, events } = observed();
    const client = new KognicClient({
      session,
      onEvent: (event) => void events.push(event),
      onDeprecation: null,
      retry: { baseDelay: 1, maxDelay: 2 },
    });
    server.failApiRequests({ status: 503, times: 1 });
    const first = await client.get(`${server.apiUrl}/retried?token=hidden`);
    await first.body?.cancel();
    const retry = events.find((event) => event.type === "api.retry");
    assert.ok(retry?.type === "api.retry");
    assert.equal(retry.url, `${server.apiUrl}/retried`);
    assert.equal(retry.status, 503);
    assert.equal(retry.attempt, 2);
    server.failApiRequests({
      status: 200,
      body: "{}",
      headers: { "sunset-date": "2031-01-01T00:00:00Z" },
    });
    const second = await client.get(server.apiUrl);
    await second.body?.cancel();
    const deprecation = events.find((event) => event.type === "api.deprecation");
    assert.ok(deprecation?.type === "api.deprecation");
    assert.equal(deprecation.sunset, "2031-01-01T00:00:00.000Z");
    assert.match(deprecation.message, /deprecated/);
    assert.ok(types(events).includes("token.acquired"));
    tokens.add(await session.getAccessToken());
  });
});

describe("secret hygiene", () => {
  it("no event, and no line made from one, holds the client secret or an access token", () => {
    const text = JSON.stringify(allEvents) + allEvents.map(describeEvent).join("\n");
    assert.ok(tokens.size >= 5);
    for (const token of tokens) assert.ok(!text.includes(token), "an event held a token");
    assert.ok(!text.includes(CLIENT_SECRET));
    assert.ok(assertNoSecretSeen([CLIENT_SECRET, ...tokens]) > 10);
  });
});

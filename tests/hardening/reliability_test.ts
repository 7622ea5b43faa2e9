// The fault matrix: every fault of the reliability issue, injected into a real
// local auth server and a real local API on 127.0.0.1, each with the outcome it
// must end in (a success after a known number of retries, or a typed error),
// under a generous hang guard, and with no timer, server socket or unread
// response body left behind.
//
// `deno task reliability` runs this file with KOGNIC_RELIABILITY_REPORT set
// to a file; each row then appends its outcome there as a JSON line, for
// docs/reliability.md. CI runs it as it is.

import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import process from "node:process";
import { after, describe, it } from "node:test";
import {
  type AuthEvent,
  AuthSession,
  type AuthSessionOptions,
  KognicAuthError,
  OAuthError,
  TokenError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "../../mod.ts";
import { FileTokenCache, type TokenCache } from "../../config.ts";
import { ApiError, KognicClient } from "../../client.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { sha256Hex } from "../../src/core/token_cache.ts";
import { nodeFetch } from "../../src/cli/node_fetch.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  record,
  tempDir,
} from "../_helpers/mod.ts";
import { deadPort, startStandIn } from "../_helpers/servers.ts";

const REPORT = process.env.KOGNIC_RELIABILITY_REPORT;

/** Appends one JSON line to the reliability report, when the task asked for one. */
function report(row: Record<string, unknown>): void {
  if (REPORT) appendFileSync(REPORT, JSON.stringify({ file: "reliability", ...row }) + "\n");
}

// --- Leftovers: timers, server sockets, unread bodies --------------------------

const activeResources = (process as { getActiveResourcesInfo?: () => string[] })
  .getActiveResourcesInfo;
// Bun answers an empty list, so there the count would prove nothing.
const canCount = typeof activeResources === "function" && !("Bun" in globalThis);

function resources(): { timers: number; sockets: number } {
  if (!canCount) return { timers: 0, sockets: 0 };
  const names = activeResources!();
  return {
    timers: names.filter((name) => name === "Timeout").length,
    sockets: names.filter((name) => /^TCP|^Pipe/.test(name)).length,
  };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits, boundedly, for closed connections to be noticed; returns what is left. */
async function settle(
  baseline: { timers: number; sockets: number },
): Promise<{ timers: number; sockets: number }> {
  let now = resources();
  for (
    let i = 0;
    i < 100 && (now.timers > baseline.timers || now.sockets > baseline.sockets);
    i++
  ) {
    await pause(20);
    now = resources();
  }
  return {
    timers: Math.max(0, now.timers - baseline.timers),
    sockets: Math.max(0, now.sockets - baseline.sockets),
  };
}

/** A pass-through fetch that keeps every response, to check that none is left unread. */
interface Transport {
  fetch: typeof fetch;
  responses: { response: Response; signal: AbortSignal | undefined }[];
  /** Requests sent, with the time each was sent and how it ended. */
  sent: { url: string; at: number; outcome: string }[];
  /** Tracks another transport's requests in the same lists. */
  wrap(inner: typeof fetch): typeof fetch;
}

function transport(): Transport {
  const responses: Transport["responses"] = [];
  const sent: Transport["sent"] = [];
  const wrap = (inner: typeof fetch): typeof fetch => async (input, init) => {
    const entry = {
      url: String(input instanceof Request ? input.url : input),
      at: Date.now(),
      outcome: "pending",
    };
    sent.push(entry);
    try {
      const response = await inner(input, init);
      entry.outcome = String(response.status);
      responses.push({ response, signal: init?.signal ?? undefined });
      return response;
    } catch (error) {
      entry.outcome = (error as Error)?.name ?? "error";
      throw error;
    }
  };
  return { responses, sent, wrap, fetch: wrap((input, init) => fetch(input, init)) };
}

// --- Servers the local auth server cannot imitate ------------------------------

type RawBehaviour = "reset-mid-body" | "stall-body";

/**
 * A token endpoint and API that misbehave below HTTP: a response whose
 * connection is reset halfway through its body, or whose body stalls after
 * the headers. Requests with nothing queued get a valid token (token path)
 * or a JSON echo (any other path). With `refuseRefresh`, token responses carry
 * a refresh token and every refresh grant is refused with 400
 * `unsupported_grant_type`, as by a server that issues refresh tokens it
 * does not take back.
 */
interface RawServer {
  url: string;
  queue: RawBehaviour[];
  requests: number;
  grants: Record<string, number>;
  close(): Promise<void>;
}

async function startRawServer(options: { refuseRefresh?: boolean } = {}): Promise<RawServer> {
  let issued = 0;
  const raw: RawServer = {
    url: "",
    queue: [],
    requests: 0,
    grants: {},
    close: () => Promise.resolve(),
  };
  const server = await startStandIn((req, res, text) => {
    raw.requests++;
    const behaviour = raw.queue.shift();
    const isToken = req.url?.startsWith("/v1/auth/oauth/token");
    const grant = new URLSearchParams(text).get("grant_type") ?? "";
    if (isToken) raw.grants[grant] = (raw.grants[grant] ?? 0) + 1;
    let status = 200;
    let body: string;
    if (isToken && grant === "refresh_token" && options.refuseRefresh) {
      status = 400;
      body = JSON.stringify({ error: "unsupported_grant_type" });
    } else if (isToken) {
      body = JSON.stringify({
        access_token: `raw-token-${++issued}`,
        token_type: "Bearer",
        expires_in: 3600,
        ...(options.refuseRefresh ? { refresh_token: `raw-refresh-${issued}` } : {}),
      });
    } else {
      body = JSON.stringify({ ok: true, padding: "x".repeat(64) });
    }
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": String(body.length),
    });
    if (behaviour === undefined) {
      res.end(body);
      return;
    }
    res.write(body.slice(0, 10), () => {
      if (behaviour === "reset-mid-body") res.socket?.destroy();
      // "stall-body": the rest never comes; close() ends the connection.
    });
  });
  raw.url = server.url;
  raw.close = server.close;
  return raw;
}

// --- The matrix ---------------------------------------------------------------

/** What a row works with; everything it starts is closed after it. */
interface Context {
  server: LocalAuthServer;
  transport: Transport;
  /** Session options for `server`, with the tracking fetch and fast retries. */
  options: AuthSessionOptions;
  /** Registers a clean-up to run after the row. */
  defer(close: () => Promise<void>): void;
}

interface Row {
  group: string;
  fault: string;
  expected: string;
  /** A hang guard, not a timing assertion. @default {120000} */
  guard?: number;
  /** Local auth server options. */
  serverOptions?: Parameters<typeof startAuthServer>[0];
  /** Runs the fault, asserts the outcome, and describes it. */
  run(context: Context): Promise<string>;
}

const RETRY = { limit: 3, baseDelay: 50, maxDelay: 200, maxRetryAfter: 30_000 };

/** Awaits a promise that must reject with `type`; checks and records the message. */
async function typedError<T extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => T,
): Promise<T> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected ${type.name}, but it succeeded`);
  record(String((caught as Error)?.message));
  record(String(caught));
  assert.ok(
    caught instanceof type,
    `expected ${type.name}, got ${(caught as Error)?.name}: ${(caught as Error)?.message}`,
  );
  assert.ok((caught as Error).message.length > 0, "the error has a message");
  return caught as T;
}

function describeError(error: Error): string {
  const parts = [error.name];
  if (error instanceof KognicAuthError) parts.push(`code ${error.code}`);
  if (error instanceof TokenError) {
    if (error.status !== undefined) parts.push(`HTTP ${error.status}`);
    parts.push(`after ${error.attempts} attempt${error.attempts === 1 ? "" : "s"}`);
  }
  return `${parts.join(", ")}: "${error.message}"`;
}

function retries(n: number): string {
  return `success after ${n} retr${n === 1 ? "y" : "ies"}`;
}

/** A token body the server sends instead of its own, with status 200. */
function tokenBody(fields: Record<string, unknown>): { status: number; body: string } {
  return { status: 200, body: JSON.stringify({ access_token: "forged.jwt.value", ...fields }) };
}

const transient = [500, 502, 503, 504].flatMap((status): Row[] => [
  {
    group: "Token endpoint",
    fault: `HTTP ${status}, once`,
    expected: "success after 1 retry",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ status });
      await new AuthSession(options).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      return retries(1);
    },
  },
  {
    group: "Token endpoint",
    fault: `HTTP ${status}, every time`,
    expected: "OAuthError (retryable) after 4 attempts",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ status, times: 10 });
      const error = await typedError(new AuthSession(options).getAccessToken(), OAuthError);
      assert.equal(error.status, status);
      assert.equal(error.retryable, true);
      assert.equal(error.attempts, 4);
      assert.equal(server.counts.tokenRequests, 4);
      return describeError(error);
    },
  },
]);

const expiresIn: Row[] = [
  ["zero", 0, "TokenResponseError"],
  ["negative", -60, "TokenResponseError"],
  ["huge (1e12 s)", 1e12, 365 * 24 * 3600],
  ["fractional (0.5 s)", 0.5, 0.5],
  ['a numeric string ("3600")', "3600", 3600],
  ['a non-numeric string ("soon")', "soon", "TokenResponseError"],
  ["absent", undefined, 3600],
].map(([what, value, result]): Row => ({
  group: "Token response",
  fault: `expires_in ${what}`,
  expected: typeof result === "number"
    ? `success, lifetime ${result} s${what === "absent" ? " (the default)" : ""}${
      what === "huge (1e12 s)" ? " (capped at a year)" : ""
    }`
    : "TokenResponseError at once, not retried",
  async run({ server, options }): Promise<string> {
    server.failTokenRequests(tokenBody({ token_type: "Bearer", expires_in: value }));
    const session = new AuthSession(options);
    if (typeof result === "number") {
      const token = await session.getToken();
      assert.equal(token.expiresAt - token.issuedAt, result * 1000);
      assert.equal(server.counts.tokenRequests, 1);
      return `success, lifetime ${(token.expiresAt - token.issuedAt) / 1000} s`;
    }
    const error = await typedError(session.getToken(), TokenResponseError);
    assert.equal(error.attempts, 1);
    assert.equal(server.counts.tokenRequests, 1);
    return describeError(error);
  },
}));

const ROWS: Row[] = [
  {
    group: "Token endpoint",
    fault: "connection refused",
    expected: "TokenNetworkError after 4 attempts",
    async run({ options, transport }): Promise<string> {
      const port = await deadPort();
      const session = new AuthSession({ ...options, authServer: `http://127.0.0.1:${port}` });
      const error = await typedError(session.getAccessToken(), TokenNetworkError);
      assert.equal(error.attempts, 4);
      assert.equal(transport.sent.length, 4);
      return describeError(error);
    },
  },
  {
    group: "Token endpoint",
    fault: "connection reset before the response",
    expected: "success after 1 retry",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ reset: true });
      await new AuthSession(options).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      return retries(1);
    },
  },
  {
    group: "Token endpoint",
    fault: "connection reset mid-response, once",
    expected: "success after 1 retry",
    async run({ options, defer }): Promise<string> {
      const raw = await startRawServer();
      defer(raw.close);
      raw.queue.push("reset-mid-body");
      const token = await new AuthSession({ ...options, authServer: raw.url }).getAccessToken();
      assert.equal(token, "raw-token-2", "the token of the second, complete response");
      assert.equal(raw.requests, 2);
      return retries(1);
    },
  },
  {
    group: "Token endpoint",
    fault: "connection reset mid-response, every time",
    expected: "TokenNetworkError after 4 attempts",
    async run({ options, defer }): Promise<string> {
      const raw = await startRawServer();
      defer(raw.close);
      raw.queue.push(...Array(10).fill("reset-mid-body"));
      const session = new AuthSession({ ...options, authServer: raw.url });
      const error = await typedError(session.getAccessToken(), TokenNetworkError);
      assert.equal(error.attempts, 4);
      assert.equal(raw.requests, 4);
      return describeError(error);
    },
  },
  {
    group: "Token endpoint",
    fault: "headers slower than the timeout (3 s), once",
    expected: "success after 1 retry",
    async run({ server, options }): Promise<string> {
      // The timeout is long enough for the healthy second attempt to answer
      // within it on a loaded machine: a third attempt would be a slow
      // machine, not the fault under test.
      server.failTokenRequests({ delay: 30_000 });
      await new AuthSession({ ...options, timeout: 3000 }).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      return retries(1);
    },
  },
  {
    group: "Token endpoint",
    fault: "headers slower than the timeout (250 ms), every time",
    expected: "TokenTimeoutError after 4 attempts",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ delay: 5000, times: 10 });
      const session = new AuthSession({ ...options, timeout: 250 });
      const error = await typedError(session.getAccessToken(), TokenTimeoutError);
      assert.equal(error.attempts, 4);
      assert.equal(server.counts.tokenRequests, 4);
      return describeError(error);
    },
  },
  {
    group: "Token endpoint",
    fault: "body stalls after the headers (timeout 3 s), once",
    expected: "success after 1 retry",
    async run({ options, defer }): Promise<string> {
      const raw = await startRawServer();
      defer(raw.close);
      raw.queue.push("stall-body");
      // Long enough for the healthy second attempt on a loaded machine.
      const session = new AuthSession({ ...options, authServer: raw.url, timeout: 3000 });
      assert.equal(await session.getAccessToken(), "raw-token-2");
      assert.equal(raw.requests, 2);
      return retries(1);
    },
  },
  ...transient,
  {
    group: "Token endpoint",
    fault: "HTTP 429 with Retry-After: 1 (seconds)",
    expected: "success after 1 retry, once the second has passed",
    async run({ server, options, transport }): Promise<string> {
      server.failTokenRequests({ status: 429, retryAfter: 1 });
      await new AuthSession(options).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      const waited = transport.sent[1].at - transport.sent[0].at;
      return `${retries(1)}; the retry was sent ${waited} ms after the first request`;
    },
  },
  {
    group: "Token endpoint",
    fault: "HTTP 429 with Retry-After as an HTTP-date 2 s ahead",
    expected: "success after 1 retry, at about that date",
    async run({ server, options, transport }): Promise<string> {
      server.failTokenRequests({
        status: 429,
        retryAfter: new Date(Date.now() + 2000).toUTCString(),
      });
      await new AuthSession(options).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      const waited = transport.sent[1].at - transport.sent[0].at;
      return `${retries(1)}; the retry was sent ${waited} ms after the first request`;
    },
  },
  {
    group: "Token endpoint",
    fault: "HTTP 429 without Retry-After",
    expected: "success after 1 retry (jittered backoff)",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ status: 429 });
      await new AuthSession(options).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      return retries(1);
    },
  },
  {
    group: "Token endpoint",
    fault: "HTTP 429 with Retry-After: 120, beyond maxRetryAfter",
    expected: "OAuthError at once, with retryAfter 120000",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ status: 429, retryAfter: 120 });
      const error = await typedError(new AuthSession(options).getAccessToken(), OAuthError);
      assert.equal(error.status, 429);
      assert.equal(error.retryAfter, 120_000);
      assert.equal(error.attempts, 1);
      return describeError(error);
    },
  },
  {
    group: "Token endpoint",
    fault: "HTML error page (HTTP 502, text/html), once",
    expected: "success after 1 retry",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({
        status: 502,
        contentType: "text/html",
        body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
      });
      await new AuthSession(options).getAccessToken();
      assert.equal(server.counts.tokenRequests, 2);
      return retries(1);
    },
  },
  {
    group: "Token response",
    fault: "HTML page with HTTP 200",
    expected: "TokenResponseError at once, not retried",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({
        status: 200,
        contentType: "text/html",
        body: "<!doctype html><title>Sign in</title><p>Please sign in",
      });
      const error = await typedError(new AuthSession(options).getToken(), TokenResponseError);
      assert.equal(error.attempts, 1);
      return describeError(error);
    },
  },
  {
    group: "Token response",
    fault: "malformed JSON",
    expected: "TokenResponseError at once, not retried",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ status: 200, body: '{"access_token": "abc", "expires_in": ' });
      const error = await typedError(new AuthSession(options).getToken(), TokenResponseError);
      assert.equal(error.attempts, 1);
      assert.equal(server.counts.tokenRequests, 1);
      return describeError(error);
    },
  },
  {
    group: "Token response",
    fault: "missing access_token",
    expected: "TokenResponseError at once, not retried",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({
        status: 200,
        body: JSON.stringify({ token_type: "Bearer", expires_in: 3600 }),
      });
      const error = await typedError(new AuthSession(options).getToken(), TokenResponseError);
      assert.match(error.message, /access_token/);
      return describeError(error);
    },
  },
  {
    group: "Token response",
    fault: 'wrong token_type ("mac")',
    expected: "TokenResponseError at once, not retried",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests(tokenBody({ token_type: "mac", expires_in: 3600 }));
      const error = await typedError(new AuthSession(options).getToken(), TokenResponseError);
      assert.match(error.message, /token_type/);
      return describeError(error);
    },
  },
  ...expiresIn,
  {
    group: "Refresh token",
    fault: "refresh token rejected (invalid_grant)",
    expected: "success through a new client-credentials grant",
    serverOptions: { refreshTokens: true },
    async run({ server, options }): Promise<string> {
      const session = new AuthSession(options);
      await session.getAccessToken();
      server.revokeRefreshTokens();
      session.invalidateToken();
      const response = await session.fetch(server.apiUrl);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(server.counts.refreshTokenGrants, 1);
      assert.equal(server.counts.clientCredentialsGrants, 2);
      return "success: 1 refused refresh grant, then a client-credentials grant";
    },
  },
  {
    group: "Refresh token",
    fault: "every refresh grant refused with 400 unsupported_grant_type",
    expected: "success through a new client-credentials grant; the session does not stay broken",
    async run({ options, defer }): Promise<string> {
      const raw = await startRawServer({ refuseRefresh: true });
      defer(raw.close);
      const session = new AuthSession({ ...options, authServer: raw.url });
      await session.getAccessToken();
      const outcomes: string[] = [];
      for (let renewal = 0; renewal < 3; renewal++) {
        session.invalidateToken();
        outcomes.push(
          await session.getAccessToken().then(() => "ok", (error) => {
            record(String(error));
            return `${(error as Error).name}: ${(error as Error).message}`;
          }),
        );
      }
      const grants = `grants sent: ${JSON.stringify(raw.grants)}`;
      assert.equal(
        outcomes.at(-1),
        "ok",
        `three renewals after the refresh grant was refused: ${outcomes.join("; ")}; ${grants}`,
      );
      return `renewals: ${outcomes.join(", ")}; ${grants}`;
    },
  },
  {
    group: "API",
    fault: "storm of 401s: every token revoked under 200 concurrent calls",
    expected: "all 200 calls succeed after one renewal between them",
    async run({ server, options }): Promise<string> {
      const session = new AuthSession(options);
      await session.getAccessToken();
      server.revokeAccessTokens();
      const responses = await Promise.all(
        Array.from({ length: 200 }, (_, i) => session.fetch(`${server.apiUrl}/${i}`)),
      );
      await Promise.all(responses.map((r) => r.body?.cancel()));
      assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]));
      assert.equal(server.counts.tokenRequests, 2);
      return `200 × HTTP 200; token requests: 1 + ${server.counts.tokenRequests - 1} renewal; ` +
        `API requests: ${server.counts.apiRequests}`;
    },
  },
  {
    group: "API",
    fault: "storm of 401s: the API answers 401 to 200 concurrent calls and their replays",
    expected: "each call replayed once, then its 401 returned; one renewal between them",
    async run({ server, options }): Promise<string> {
      const session = new AuthSession(options);
      await session.getAccessToken();
      server.failApiRequests({ status: 401, times: 400 });
      const responses = await Promise.all(
        Array.from({ length: 200 }, (_, i) => session.fetch(`${server.apiUrl}/${i}`)),
      );
      await Promise.all(responses.map((r) => r.body?.cancel()));
      assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([401]));
      assert.equal(server.counts.apiRequests, 400);
      assert.equal(server.counts.tokenRequests, 2);
      return `200 × HTTP 401 returned; API requests: 400; token requests: 1 + 1 renewal`;
    },
  },
  {
    group: "API",
    fault: "storm of 401s: 50 sequential calls all answered 401",
    expected: "each call replayed once, then its 401 returned; one renewal per call",
    async run({ server, options }): Promise<string> {
      const session = new AuthSession(options);
      await session.getAccessToken();
      server.failApiRequests({ status: 401, times: 100 });
      for (let i = 0; i < 50; i++) {
        const response = await session.fetch(server.apiUrl);
        assert.equal(response.status, 401);
        await response.body?.cancel();
      }
      assert.equal(server.counts.apiRequests, 100);
      return `50 × HTTP 401 returned; API requests: 100; token requests: 1 + ${
        server.counts.tokenRequests - 1
      } renewals`;
    },
  },
  {
    group: "API",
    fault: "HTTP 503 from the API",
    expected: "the 503 returned to the caller, no token renewal",
    async run({ server, options }): Promise<string> {
      server.failApiRequests({ status: 503 });
      const response = await new AuthSession(options).fetch(server.apiUrl);
      assert.equal(response.status, 503);
      await response.body?.cancel();
      assert.equal(server.counts.tokenRequests, 1);
      return "HTTP 503 returned; 1 API request; 1 token request";
    },
  },
  {
    group: "API",
    fault: "connection refused by the API",
    expected: "the runtime's fetch TypeError, passed through unchanged",
    async run({ options }): Promise<string> {
      const port = await deadPort();
      const api = `http://127.0.0.1:${port}`;
      const session = new AuthSession({ ...options, allowedOrigins: [api] });
      const error = await typedError(session.fetch(`${api}/v1/echo`), TypeError);
      return `TypeError: "${error.message.slice(0, 120)}"`;
    },
  },
  {
    group: "API",
    fault: "connection reset mid-response by the API",
    expected: "fetch resolves; reading the body rejects with the runtime's TypeError",
    async run({ options, defer }): Promise<string> {
      const raw = await startRawServer();
      defer(raw.close);
      const session = new AuthSession({ ...options, allowedOrigins: [raw.url] });
      raw.queue.push("reset-mid-body");
      const response = await session.fetch(`${raw.url}/v1/echo`);
      assert.equal(response.status, 200);
      const error = await typedError(response.text(), TypeError);
      return `HTTP 200, then TypeError reading the body: "${error.message.slice(0, 120)}"`;
    },
  },
  {
    group: "Cancellation",
    fault: "the only caller waiting for a token aborts; another caller asks at once",
    expected: "the aborting caller gets its abort reason; the other caller gets a token",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ delay: 300 });
      const session = new AuthSession(options);
      const controller = new AbortController();
      const leaving = session.getAccessToken({ signal: controller.signal });
      while (server.counts.tokenRequests === 0) await pause(5);
      const reason = new Error("caller A cancelled");
      controller.abort(reason);
      const staying = session.getAccessToken();
      assert.equal(await leaving.catch((error) => error), reason);
      const outcome = await staying.then(() => "a token", (error: Error) => {
        record(String(error));
        return `${error.name}: ${error.message}`;
      });
      assert.equal(outcome, "a token", "a caller that never aborted got another caller's abort");
      return `aborting caller: its reason; other caller: ${outcome}`;
    },
  },
  {
    group: "Restart",
    fault: "auth server (and API) restarted under 20 looping callers",
    expected: "calls fail with the runtime's TypeError only while it is down (or once per " +
      "caller, on a connection kept from before); then every call succeeds, with one renewal",
    async run({ server, options, defer }): Promise<string> {
      const port = Number(new URL(server.url).port);
      const session = new AuthSession(options);
      let current: LocalAuthServer = server;
      type Phase = "up" | "down" | "back";
      let phase: Phase = "up";
      let stop = false;
      const ok: Record<Phase, number> = { up: 0, down: 0, back: 0 };
      const failed: Record<Phase, number> = { up: 0, down: 0, back: 0 };
      const unexpected: string[] = [];
      const successesBack = new Array(20).fill(0);
      // A runtime's connection pool may hand a caller's first call after the
      // restart a connection to the old server that it has not yet seen closed
      // (Node.js's fetch on a loaded machine): that one call may fail with the
      // runtime's TypeError. Any later failure of that caller is unexpected.
      const staleBack = new Array(20).fill(0);
      const callers = Array.from({ length: 20 }, async (_, i) => {
        while (!stop) {
          const startedIn = phase;
          try {
            const response = await session.fetch(`${current.apiUrl}/${i}`);
            await response.body?.cancel();
            if (response.status !== 200) unexpected.push(`HTTP ${response.status}`);
            ok[startedIn]++;
            if (startedIn === "back") successesBack[i]++;
          } catch (error) {
            failed[startedIn]++;
            // Only the API being unreachable is expected: the token was still valid.
            const stale = startedIn === "back" && successesBack[i] === 0 && staleBack[i]++ === 0;
            if (
              !(error instanceof TypeError) || (startedIn === "back" && !stale) || phase === "up"
            ) {
              unexpected.push(`${startedIn}: ${error}`);
            }
            await pause(10);
          }
        }
      });
      while (ok.up < 100) await pause(5);
      phase = "down";
      await server.close();
      await pause(300);
      current = await startAuthServer({ clients: CLIENTS, port });
      defer(() => current.close());
      phase = "back";
      while (successesBack.some((n) => n < 5) && unexpected.length === 0) await pause(5);
      stop = true;
      await Promise.all(callers);
      assert.deepEqual(unexpected, []);
      assert.equal(current.counts.tokenRequests, 1, "one renewal for all 20 callers");
      return `up: ${ok.up} OK, ${failed.up} in flight at shutdown failed; ` +
        `down: ${failed.down} network errors; back: ${ok.back} OK, ${failed.back} failed; ` +
        `token requests after the restart: ${current.counts.tokenRequests}`;
    },
  },
  {
    group: "Restart",
    fault: "auth server restarted while a token request is being retried",
    expected: "success after the retries it took to come back",
    async run({ server, options, transport, defer }): Promise<string> {
      const port = Number(new URL(server.url).port);
      await server.close();
      const session = new AuthSession({
        ...options,
        retry: { limit: 6, baseDelay: 100, maxDelay: 400 },
      });
      const pending = session.getAccessToken();
      while (!transport.sent.some((s) => s.outcome !== "pending")) await pause(5);
      const restarted = await startAuthServer({ clients: CLIENTS, port });
      defer(() => restarted.close());
      await pending;
      const refused = transport.sent.filter((s) => !/^\d+$/.test(s.outcome)).length;
      assert.ok(refused >= 1);
      assert.equal(restarted.counts.tokenRequests, 1);
      return retries(refused);
    },
  },
];

// --- Servers that never stop talking, callbacks that break, locks held elsewhere ---

/**
 * A server whose token endpoint (and API) answers with a body that never
 * ends: chunks of 64 KiB, written as fast as the client reads, until the
 * client goes away (or, as a bound, 1 GiB). `api` chooses the API's status.
 */
async function startEndlessServer(
  options: { apiStatus?: number } = {},
): Promise<{ url: string; written: () => number; close(): Promise<void> }> {
  let written = 0;
  const chunk = "a".repeat(64 * 1024);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      const isToken = req.url?.startsWith("/v1/auth/oauth/token");
      res.writeHead(isToken ? 200 : options.apiStatus ?? 500, {
        "content-type": isToken ? "application/json" : "text/plain",
      });
      if (isToken) res.write('{"access_token":"');
      let closed = false;
      res.on("close", () => (closed = true));
      const pump = (): void => {
        while (!closed && written < 1024 ** 3) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        if (!closed) res.end();
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    written: () => written,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** console.error replaced for a row, to see what a session reports there. */
function captureConsoleError(defer: Context["defer"]): string[] {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]): void => void lines.push(args.map(String).join(" "));
  defer(() => Promise.resolve(void (console.error = original)));
  return lines;
}

const HARDENING_ROWS: Row[] = [
  {
    group: "Token endpoint",
    fault: "HTTP 429 with Retry-After: 120 beyond maxRetryAfter, then 10 rounds of 5 callers",
    expected: "OAuthError at once for every later caller, with the wait left in it; " +
      "1 token request in all",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({ status: 429, retryAfter: 120, times: 100 });
      const session = new AuthSession(options);
      const first = await typedError(session.getAccessToken(), OAuthError);
      assert.equal(first.retryAfter, 120_000);
      let later: OAuthError | undefined;
      for (let round = 0; round < 10; round++) {
        const errors = await Promise.all(
          Array.from({ length: 5 }, () => typedError(session.getAccessToken(), OAuthError)),
        );
        for (const error of errors) {
          assert.equal(error.status, 429);
          assert.ok(error.retryAfter! > 0 && error.retryAfter! <= 120_000, "the wait left");
          assert.match(error.message, /1[12]\d s/, "the message names the wait");
        }
        later = errors[0];
      }
      assert.equal(server.counts.tokenRequests, 1, "token requests while told to wait");
      return `first caller: ${describeError(first)}; the next 50: ${describeError(later!)}; ` +
        `token requests: ${server.counts.tokenRequests}`;
    },
  },
  {
    group: "Token endpoint",
    fault: "HTTP 429 with Retry-After: 120 beyond maxRetryAfter, then a session of another " +
      "process sharing the token cache file",
    expected: "OAuthError at once for the other session, with the wait left in it; " +
      "1 token request in all",
    async run({ server, options, defer }): Promise<string> {
      const dir = await tempDir();
      defer(dir.cleanup);
      const path = join(dir.path, "tokens.json");
      server.failTokenRequests({ status: 429, retryAfter: 120, times: 100 });
      // Each session has its own cache object on the one file, as two processes would.
      const first = new AuthSession({ ...options, tokenCache: new FileTokenCache({ path }) });
      const told = await typedError(first.getAccessToken(), OAuthError);
      assert.equal(told.retryAfter, 120_000);
      const other = new AuthSession({ ...options, tokenCache: new FileTokenCache({ path }) });
      const error = await typedError(other.getAccessToken(), OAuthError);
      assert.equal(error.status, 429);
      assert.ok(error.retryAfter! > 0 && error.retryAfter! <= 120_000, "the wait left");
      assert.equal(error.attempts, 0);
      assert.equal(server.counts.tokenRequests, 1, "the other process asked anyway");
      return `first session: ${describeError(told)}; the other process's session: ` +
        `${describeError(error)}; token requests: ${server.counts.tokenRequests}`;
    },
  },
  {
    group: "Token response",
    fault: "a body that never ends (fetch)",
    expected: "TokenResponseError at once, not retried; the rest of the body is not read",
    async run({ options, defer }): Promise<string> {
      const endless = await startEndlessServer();
      defer(endless.close);
      const session = new AuthSession({ ...options, authServer: endless.url });
      const error = await typedError(session.getAccessToken(), TokenResponseError);
      assert.equal(error.attempts, 1);
      assert.match(error.message, /larger than/);
      assert.ok(endless.written() < 256 * 1024 ** 2, `${endless.written()} bytes were sent`);
      return describeError(error);
    },
  },
  {
    group: "Token response",
    fault: "a body that never ends (the Node bin's transport)",
    expected: "TokenResponseError at once, not retried; the rest of the body is not read",
    async run({ options, defer, transport }): Promise<string> {
      const endless = await startEndlessServer();
      defer(endless.close);
      const session = new AuthSession({
        ...options,
        authServer: endless.url,
        fetch: transport.wrap(nodeFetch),
      });
      const error = await typedError(session.getAccessToken(), TokenResponseError);
      assert.equal(error.attempts, 1);
      assert.match(error.message, /larger than/);
      assert.ok(endless.written() < 256 * 1024 ** 2, `${endless.written()} bytes were sent`);
      return describeError(error);
    },
  },
  {
    group: "Token response",
    fault: "a 2 MiB body",
    expected: "TokenResponseError at once, not retried",
    async run({ server, options }): Promise<string> {
      server.failTokenRequests({
        status: 200,
        body: JSON.stringify({ access_token: "x".repeat(2 * 1024 * 1024) }),
      });
      const error = await typedError(new AuthSession(options).getToken(), TokenResponseError);
      assert.equal(error.attempts, 1);
      assert.equal(server.counts.tokenRequests, 1);
      return describeError(error);
    },
  },
  {
    group: "API",
    fault: "an error body that never ends (KognicClient)",
    expected: "ApiError with the first 64 KiB of the body; the rest is not read",
    async run({ options, defer }): Promise<string> {
      const endless = await startEndlessServer({ apiStatus: 502 });
      defer(endless.close);
      const endlessToken = await startAuthServer({ clients: CLIENTS });
      defer(() => endlessToken.close());
      const session = new AuthSession({
        ...options,
        authServer: endlessToken.url,
        allowedOrigins: [endless.url],
      });
      const client = new KognicClient({ session, retry: false });
      const error = await typedError(client.get(`${endless.url}/v1/items`), ApiError);
      assert.equal(error.status, 502);
      assert.ok(error.body !== undefined && error.body.length <= 64 * 1024, "the body kept");
      assert.ok(error.body.length > 0);
      assert.ok(endless.written() < 256 * 1024 ** 2, `${endless.written()} bytes were sent`);
      return `${describeError(error).slice(0, 160)}...; body kept: ${error.body.length} chars`;
    },
  },
  {
    group: "Callbacks",
    fault: "onTokenUpdated throws",
    expected: "every call succeeds with the one token; 1 token request; one line on console.error",
    async run({ server, options, defer }): Promise<string> {
      const lines = captureConsoleError(defer);
      let calls = 0;
      const session = new AuthSession({
        ...options,
        onTokenUpdated: () => {
          calls++;
          throw new Error("the callback broke");
        },
      });
      for (let i = 0; i < 5; i++) {
        const response = await session.fetch(server.apiUrl);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      }
      assert.equal(calls, 1);
      assert.equal(server.counts.tokenRequests, 1);
      assert.equal(lines.length, 1, `console.error: ${JSON.stringify(lines)}`);
      const token = await session.getAccessToken();
      assert.ok(!lines[0].includes(token), "the token was reported");
      return `5 calls HTTP 200; token requests: 1; reported: "${lines[0]}"`;
    },
  },
  {
    group: "Callbacks",
    fault: "onTokenUpdated returns a rejected promise",
    expected: "every call succeeds; no unhandled rejection; one line on console.error",
    async run({ server, options, defer }): Promise<string> {
      const lines = captureConsoleError(defer);
      const session = new AuthSession({
        ...options,
        onTokenUpdated: () => Promise.reject(new Error("the async callback broke")),
      });
      for (let i = 0; i < 5; i++) {
        const response = await session.fetch(server.apiUrl);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      }
      await pause(20);
      assert.equal(server.counts.tokenRequests, 1);
      assert.equal(lines.length, 1, `console.error: ${JSON.stringify(lines)}`);
      return `5 calls HTTP 200; token requests: 1; reported: "${lines[0]}"`;
    },
  },
  {
    group: "Cancellation",
    fault: "a caller aborts while another process holds the token cache's lock",
    expected: "the abort reason at once; no wait, timer or request left behind; " +
      "the other process's lock untouched",
    async run({ server, options, defer }): Promise<string> {
      const dir = await tempDir();
      defer(dir.cleanup);
      const path = join(dir.path, "tokens.json");
      const key = `${server.url}:${CLIENT_ID}`;
      const lockPath = `${path}.${(await sha256Hex(key)).slice(0, 16)}.lock`;
      // A live process that is not this one: the lock is neither abandoned nor ours.
      const holder = JSON.stringify({ pid: process.ppid, nonce: "held-elsewhere" });
      await writeFile(lockPath, holder);
      const file = new FileTokenCache({ path, lockTimeout: 30_000 });
      let ran = 0;
      const tokenCache: TokenCache = {
        get: (k) => file.get(k),
        set: (k, token) => file.set(k, token),
        delete: (k) => file.delete(k),
        clear: () => file.clear(),
        withLock: (k, fn, lockOptions) =>
          file.withLock(k, () => {
            ran++;
            return fn();
          }, lockOptions),
      };
      const session = new AuthSession({ ...options, tokenCache });
      const controller = new AbortController();
      const pending = session.getAccessToken({ signal: controller.signal });
      await pause(100);
      const reason = new Error("the caller gave up");
      controller.abort(reason);
      assert.equal(await pending.catch((error) => error), reason);
      assert.equal(await readFile(lockPath, "utf8"), holder, "the other process's lock");
      // The other process lets go: a wait that outlived the abort would take the lock now.
      await unlink(lockPath);
      await pause(400);
      assert.equal(ran, 0, "the aborted call still waited for the lock, and took it");
      assert.deepEqual((await readdir(dir.path)).filter((name) => name.endsWith(".lock")), []);
      assert.equal(server.counts.tokenRequests, 0);
      return "the abort reason; the lock never taken after it; token requests: 0";
    },
  },
];

// --- Running the matrix ---------------------------------------------------------

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
after(() => void process.off("unhandledRejection", onUnhandled));

async function runRow(row: Row): Promise<void> {
  const baseline = resources();
  const tracked = transport();
  const server = await startAuthServer({ clients: CLIENTS, ...row.serverOptions });
  const cleanups: (() => Promise<void>)[] = [() => server.close()];
  const events: AuthEvent[] = [];
  const context: Context = {
    server,
    transport: tracked,
    options: {
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      retry: RETRY,
      fetch: tracked.fetch,
      onEvent: (event) => void events.push(event),
    },
    defer: (close) => void cleanups.push(close),
  };
  const guard = row.guard ?? 120_000;
  const unhandledBefore = unhandled.length;
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let outcome: string;
  try {
    outcome = await Promise.race([
      row.run(context),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hang: no outcome within ${guard} ms`)), guard);
      }),
    ]);
  } catch (error) {
    report({
      group: row.group,
      fault: row.fault,
      expected: row.expected,
      outcome: `FAILED: ${(error as Error)?.message}`,
      passed: false,
      elapsedMs: Date.now() - started,
    });
    throw error;
  } finally {
    clearTimeout(timer);
    for (const close of cleanups.reverse()) await close();
  }
  const elapsedMs = Date.now() - started;
  await pause(0);
  const left = await settle(baseline);
  // An aborted request's body goes with its connection, whether it was read or not.
  const unread =
    tracked.responses.filter(({ response, signal }) =>
      response.body !== null && !response.bodyUsed && !signal?.aborted
    ).length;
  const rejections = unhandled.length - unhandledBefore;
  record(outcome);
  const eventSummary = checkEvents(events, tracked);
  report({
    group: row.group,
    fault: row.fault,
    expected: row.expected,
    outcome,
    passed: left.timers === 0 && left.sockets === 0 && unread === 0 && rejections === 0,
    elapsedMs,
    guardMs: guard,
    requests: tracked.sent.length,
    timersLeft: left.timers,
    socketsLeft: left.sockets,
    unreadBodies: unread,
    unhandledRejections: rejections,
    counted: canCount,
    events: eventSummary,
  });
  assert.equal(rejections, 0, "unhandled rejections");
  assert.equal(unread, 0, "responses received but neither read, cancelled nor returned");
  assert.equal(left.timers, 0, "timers left behind");
  assert.equal(left.sockets, 0, "sockets left behind");
}

/**
 * Checks a row's events against what went over the wire, and sums them up
 * for the report: one `token.request` per request to the token endpoint, no
 * more answers than requests, each retry followed by the next attempt, and
 * nothing secret in any event.
 */
function checkEvents(events: AuthEvent[], tracked: Transport): string {
  const count = (type: AuthEvent["type"]): number => events.filter((e) => e.type === type).length;
  const onWire = tracked.sent.filter((entry) => new URL(entry.url).pathname === TOKEN_PATH).length;
  assert.equal(count("token.request"), onWire, "one token.request event per token request sent");
  assert.ok(count("token.response") <= onWire, "no more token.response events than requests");
  for (const [index, event] of events.entries()) {
    if (event.type !== "token.retry") continue;
    assert.ok(
      events.slice(index + 1).some((next) =>
        next.type === "token.request" && next.attempt === event.attempt + 1
      ),
      `token.retry of attempt ${event.attempt} is followed by attempt ${event.attempt + 1}`,
    );
  }
  const text = JSON.stringify(events);
  assert.ok(!text.includes(CLIENT_SECRET), "no event holds the client secret");
  const tally = new Map<string, number>();
  for (const event of events) tally.set(event.type, (tally.get(event.type) ?? 0) + 1);
  return [...tally].map(([type, n]) => n === 1 ? type : `${type} x${n}`).join(", ");
}

const TOKEN_PATH = "/v1/auth/oauth/token";

describe("fault matrix", () => {
  for (const row of [...ROWS, ...HARDENING_ROWS]) {
    it(`${row.group}: ${row.fault} -> ${row.expected}`, () => runRow(row));
  }
});

describe("secret hygiene", () => {
  it("no error message or outcome in the fault matrix contained the client secret", () => {
    assert.ok(
      assertNoSecretSeen() > ROWS.length + HARDENING_ROWS.length,
      "the rows recorded their messages",
    );
  });
});

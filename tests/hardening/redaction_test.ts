// The redactor, path by path: every text that leaves the process (token error
// messages, a network error's cause chain, stack and inspect output, API
// errors' message and body, events, KOGNIC_AUTH_LOG lines, the CLIs' stderr
// and stdout, JSON and inspect output of sessions and errors) is checked for
// every kind of secret the process holds: a client secret, a token from the
// server, from a tokenProvider and from an initialToken, the password of a
// URL and of a proxy. Each secret is placed to straddle the cuts of the path
// (the 500-character message cut, the 64 KiB body cut), so that text cut
// before it is redacted would show a part of it. Hostile servers are real
// local servers on 127.0.0.1. kog mcp's results are in kog_mcp_hardening_test.ts.

import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, before, describe, it } from "node:test";
import { type AuthEvent, AuthSession, requestToken, TokenNetworkError } from "../../mod.ts";
import { configuredProxy, FileTokenCache, MemoryTokenCache } from "../../config.ts";
import { ApiError, KognicClient } from "../../client.ts";
import { main } from "../../cli.ts";
import { main as kogMain } from "../../kog.ts";
import { record, reportCheck, runMain, tempDir } from "../_helpers/mod.ts";
import { deadPort, type StandIn, startStandIn } from "../_helpers/servers.ts";

const CLIENT_ID = "redaction-client";
/** Every kind of secret the process can hold, each unique in its first and last 8 characters. */
const SECRETS = {
  "client secret": "cs-Qw8pL2-client-secret-value-01",
  "server token": "srv-Tk4nM9-server-token-value-02",
  "tokenProvider token": "prv-Tk7xZ1-provider-token-value-03",
  "initialToken": "ini-Tk2vB6-initial-token-value-04",
  "URL password": "pw-Ur5hJ3-url-password-value-05",
  "proxy password": "px-Pw9kD4-proxy-password-value-06",
} as const;
type SecretKind = keyof typeof SECRETS;
const KINDS = Object.keys(SECRETS) as SecretKind[];
const HOUR = 3_600_000;
/** How many texts were checked, for the reliability report. */
let cells = 0;

/** A text with `secret` across position `cut`: half before it, half after. */
function straddling(secret: string, cut: number, filler = "a"): string {
  return filler.repeat(cut - Math.floor(secret.length / 2)) + secret + " and the rest";
}

/** Asserts that no secret, nor its first or last 8 characters, is in `text`. */
function assertClean(text: string, where: string): void {
  record(text);
  cells++;
  for (const kind of KINDS) {
    const secret = SECRETS[kind];
    for (const part of [secret, secret.slice(0, 8), secret.slice(-8)]) {
      assert.ok(!text.includes(part), `${where} shows part of the ${kind} ("${part}")`);
    }
  }
}

/** Every text an error shows: message, string, stack, cause chain, inspect and JSON. */
function errorTexts(error: unknown): string {
  const parts = [String(error), inspect(error, { depth: 8 })];
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    const e = current as { message?: unknown; stack?: unknown; cause?: unknown };
    parts.push(String(e.message), String(e.stack), inspect(current, { depth: 8 }));
    try {
      parts.push(JSON.stringify(current));
    } catch { /* circular: inspect covers it */ }
    current = e.cause;
  }
  return parts.join("\n");
}

let hostile: StandIn;
/** What the hostile server's token endpoint answers next: status and JSON body. */
let tokenAnswer: { status: number; body: unknown } = { status: 200, body: {} };
/** What the hostile server's API answers next. */
let apiAnswer: { status: number; body: string; type?: string } = { status: 200, body: "{}" };
const events: AuthEvent[] = [];
const onEvent = (event: AuthEvent): void => void events.push(event);

before(async () => {
  hostile = await startStandIn((req, res) => {
    if (req.url?.startsWith("/v1/auth/oauth/token")) {
      res.writeHead(tokenAnswer.status, { "content-type": "application/json" })
        .end(JSON.stringify(tokenAnswer.body));
    } else {
      res.writeHead(apiAnswer.status, { "content-type": apiAnswer.type ?? "application/json" })
        .end(apiAnswer.body);
    }
  });
  // The process learns each secret the way it would in use.
  tokenAnswer = {
    status: 200,
    body: { access_token: SECRETS["server token"], token_type: "Bearer", expires_in: 3600 },
  };
  const session = new AuthSession({
    authServer: hostile.url,
    auth: [CLIENT_ID, SECRETS["client secret"]],
    onEvent,
  });
  assert.equal(await session.getAccessToken(), SECRETS["server token"]);
  const provided = new AuthSession({
    authServer: hostile.url,
    tokenProvider: () =>
      Promise.resolve({
        accessToken: SECRETS["tokenProvider token"],
        tokenType: "Bearer",
        issuedAt: Date.now(),
        expiresAt: Date.now() + HOUR,
      }),
  });
  assert.equal(await provided.getAccessToken(), SECRETS["tokenProvider token"]);
  new AuthSession({
    authServer: hostile.url,
    initialToken: {
      accessToken: SECRETS["initialToken"],
      tokenType: "Bearer",
      issuedAt: Date.now(),
      expiresAt: Date.now() + HOUR,
    },
  });
  new AuthSession({ authServer: withPassword(hostile.url), auth: [CLIENT_ID, "other-secret-1"] });
  configuredProxy({
    env: { HTTPS_PROXY: `http://proxy-user:${SECRETS["proxy password"]}@127.0.0.1:9` },
  });
});

after(async () => {
  await hostile.close();
});

/** The URL with user info holding the URL password. */
function withPassword(url: string): string {
  return url.replace("://", `://user:${SECRETS["URL password"]}@`);
}

/** A session on the hostile server that holds a token and never asks for one. */
function apiSession(): AuthSession {
  return new AuthSession({
    authServer: hostile.url,
    onEvent,
    initialToken: {
      accessToken: SECRETS["initialToken"],
      tokenType: "Bearer",
      issuedAt: Date.now(),
      expiresAt: Date.now() + HOUR,
    },
  });
}

describe("the redactor, on every path, for every kind of secret", () => {
  after(() => reportCheck("redactor: texts that leave the process x kinds of secret", cells));
  for (const kind of KINDS) {
    const secret = SECRETS[kind];

    it(`keeps the ${kind} out of a TokenError, across its 500-character cut`, async () => {
      tokenAnswer = {
        status: 400,
        body: {
          error: straddling(secret, 500, "e"),
          error_description: straddling(secret, 500),
          error_uri: straddling(secret, 500, "u"),
        },
      };
      const error = await requestToken({
        tokenUrl: `${hostile.url}/v1/auth/oauth/token`,
        credentials: { clientId: CLIENT_ID, clientSecret: SECRETS["client secret"] },
        retry: { limit: 0 },
        onEvent,
      }).then(() => assert.fail("expected an OAuthError"), (error: unknown) => error);
      assert.equal((error as Error).name, "OAuthError");
      assertClean(errorTexts(error), "the OAuthError");
    });

    it(`keeps the ${kind} out of a TokenNetworkError's cause, stack and inspect output`, async () => {
      // A runtime or an instrumenting wrapper that puts the request body in its message,
      // and the secret across the 300-character cut of the cause's description.
      const fetchEchoingBody: typeof fetch = (_input, init) => {
        const cause = new Error(
          `socket hang up while sending "${init?.body}" ${straddling(secret, 300, "s")}`,
        );
        (cause as { detail?: unknown }).detail = { sent: String(init?.body), secret };
        return Promise.reject(new TypeError(`fetch failed (${secret})`, { cause }));
      };
      const error = await requestToken({
        tokenUrl: `${hostile.url}/v1/auth/oauth/token`,
        credentials: { clientId: CLIENT_ID, clientSecret: SECRETS["client secret"] },
        retry: { limit: 0 },
        fetch: fetchEchoingBody,
        onEvent,
      }).then(() => assert.fail("expected a TokenNetworkError"), (error: unknown) => error);
      assert.ok(error instanceof TokenNetworkError);
      assert.ok(error.cause instanceof TypeError, "the cause keeps its class");
      assertClean(errorTexts(error), "the TokenNetworkError");
    });

    it(`keeps the ${kind} out of an ApiError's message and body, across both cuts`, async () => {
      const client = new KognicClient({ session: apiSession(), retry: false, onEvent });
      for (
        const body of [
          JSON.stringify({ message: straddling(secret, 500) }),
          JSON.stringify({ message: "x", detail: straddling(secret, 64 * 1024) }),
          straddling(secret, 64 * 1024),
        ]
      ) {
        apiAnswer = { status: 500, body };
        const error = await client.get(`${hostile.url}/api/items`).then(
          () => assert.fail("expected an ApiError"),
          (error: unknown) => error,
        );
        assert.ok(error instanceof ApiError);
        assertClean(errorTexts(error), "the ApiError");
        assertClean(`${error.body}\n${error.serverMessage}\n${error.url}`, "the ApiError's fields");
      }
    });

    it(`keeps the ${kind} out of an ApiNetworkError, across the cut of its cause`, async () => {
      const session = apiSession();
      const client = new KognicClient({
        session: new AuthSession({
          authServer: hostile.url,
          tokenProvider: () => session.getToken().then((token) => token.toTokenSet()),
          fetch: () =>
            Promise.reject(
              // The description is "fetch failed: <cause>": the secret straddles its 300th character.
              new TypeError("fetch failed", {
                cause: new Error(straddling(secret, 300 - "fetch failed: ".length, "n")),
              }),
            ),
        }),
        retry: false,
      });
      const error = await client.get(`${hostile.url}/api/items`).then(
        () => assert.fail("expected an ApiNetworkError"),
        (error: unknown) => error,
      );
      assert.equal((error as Error).name, "ApiNetworkError");
      assertClean(errorTexts(error), "the ApiNetworkError");
    });

    it(`keeps the ${kind} out of events, in a cache key and a URL`, async () => {
      const before = events.length;
      // A URL path that holds the secret, retried once: the api.retry event names the URL.
      let calls = 0;
      const client = new KognicClient({
        session: apiSession(),
        retry: { limit: 1, baseDelay: 1, maxDelay: 1 },
        onEvent,
      });
      apiAnswer = { status: 503, body: "{}" };
      const pending = client.request("GET", `${hostile.url}/api/${secret}`, {
        throwHttpErrors: false,
      }).then((response) => {
        calls++;
        return response.body?.cancel();
      });
      await pending;
      assert.equal(calls, 1);
      // A cache key made from an auth server URL with a password.
      tokenAnswer = {
        status: 200,
        body: { access_token: SECRETS["server token"], token_type: "Bearer" },
      };
      const cached = new AuthSession({
        authServer: withPassword(hostile.url),
        auth: [CLIENT_ID, SECRETS["client secret"]],
        tokenCache: new MemoryTokenCache(),
        onEvent,
        fetch: userInfoFreeFetch,
      });
      await cached.getAccessToken();
      const seen = events.slice(before);
      assert.ok(seen.some((event) => event.type === "api.retry"), "an api.retry event was seen");
      assert.ok(seen.some((event) => event.type === "cache.miss"), "a cache.miss event was seen");
      assertClean(JSON.stringify(seen), "the events");
    });
  }

  it("keeps every secret out of KOGNIC_AUTH_LOG lines", async () => {
    const lines: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    try {
      tokenAnswer = {
        status: 200,
        body: { access_token: SECRETS["server token"], token_type: "Bearer" },
      };
      const session = new AuthSession({
        authServer: withPassword(hostile.url),
        auth: [CLIENT_ID, SECRETS["client secret"]],
        tokenCache: new MemoryTokenCache(),
        env: { KOGNIC_AUTH_LOG: "debug" },
        fetch: userInfoFreeFetch,
      });
      await session.getAccessToken();
      const apiClient = new KognicClient({
        session: apiSession(),
        retry: { limit: 1, baseDelay: 1, maxDelay: 1 },
      });
      apiAnswer = { status: 503, body: "{}" };
      for (const kind of KINDS) {
        const response = await apiClient.request("GET", `${hostile.url}/api/${SECRETS[kind]}`, {
          throwHttpErrors: false,
        });
        await response.body?.cancel();
      }
      // The log loads lazily: wait for its lines (a generous bound, not a timing check).
      const until = Date.now() + 10_000;
      while (!lines.some((line) => line.includes("cache miss")) && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      console.error = original;
    }
    assert.ok(lines.some((line) => line.includes("token cache miss")), lines.join("\n"));
    assertClean(lines.join("\n"), "KOGNIC_AUTH_LOG");
  });

  it("keeps every secret out of kognic-auth's -v stderr and its error line", async () => {
    for (const kind of KINDS) {
      tokenAnswer = {
        status: 400,
        body: { error: "invalid_client", error_description: straddling(SECRETS[kind], 500) },
      };
      const run = await runMain(main, [
        "get-access-token",
        "-v",
        "--server",
        withPassword(hostile.url),
        "--token-cache",
        "none",
      ], {
        env: { KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: SECRETS["client secret"] },
        fetch: userInfoFreeFetch,
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /debug: /);
      assertClean(run.stderr + run.stdout, "kognic-auth's output");
    }
  });

  it("keeps every secret out of kog's stdout (a server's echo) and stderr", async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, "environments.json");
      await writeFile(
        file,
        JSON.stringify({
          environments: {
            local: { host: "127.0.0.1", auth_server: withPassword(hostile.url) },
          },
        }),
      );
      const env = {
        KOGNIC_CLIENT_ID: CLIENT_ID,
        KOGNIC_CLIENT_SECRET: SECRETS["client secret"],
        XDG_CONFIG_HOME: dir.path,
        XDG_CACHE_HOME: dir.path,
      };
      tokenAnswer = {
        status: 200,
        body: { access_token: SECRETS["server token"], token_type: "Bearer" },
      };
      for (const kind of KINDS) {
        for (const status of [200, 500]) {
          apiAnswer = {
            status,
            body: JSON.stringify({ message: straddling(SECRETS[kind], 500), echo: SECRETS }),
          };
          const run = await runMain(kogMain, [
            "get",
            `${hostile.url}/api/items`,
            "-v",
            "--env-config-file-path",
            file,
            "--token-cache",
            "none",
          ], { env, fetch: userInfoFreeFetch });
          assert.equal(run.code, status === 200 ? 0 : 1, run.stderr);
          assertClean(run.stdout + run.stderr, `kog's output (HTTP ${status})`);
        }
      }
    } finally {
      await dir.cleanup();
    }
  });

  it("keeps every secret out of JSON.stringify and inspect of sessions, tokens and errors", async () => {
    const session = new AuthSession({
      authServer: withPassword(hostile.url),
      auth: [CLIENT_ID, SECRETS["client secret"]],
      initialToken: {
        accessToken: SECRETS["initialToken"],
        tokenType: "Bearer",
        issuedAt: Date.now(),
        expiresAt: Date.now() + HOUR,
        refreshToken: SECRETS["server token"],
      },
    });
    const token = await session.getToken();
    const credentials = await session.getCredentials();
    assertClean(
      [session, token, credentials].map((value) => JSON.stringify(value) + inspect(value)).join(),
      "JSON and inspect output",
    );
  });
});

describe("a password in an auth server URL", () => {
  it("shows in no message, event or token cache key, and is no key of tokens.json", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "tokens.json");
      const seen: AuthEvent[] = [];
      tokenAnswer = {
        status: 200,
        body: { access_token: SECRETS["server token"], token_type: "Bearer" },
      };
      const session = new AuthSession({
        authServer: withPassword(hostile.url),
        auth: [CLIENT_ID, SECRETS["client secret"]],
        tokenCache: new FileTokenCache({ path }),
        onEvent: (event) => void seen.push(event),
        fetch: userInfoFreeFetch,
      });
      await session.getAccessToken();
      const file = await readFile(path, "utf8");
      assert.ok(
        file.includes(`${hostile.url}:${CLIENT_ID}`),
        "the key is the URL without user info",
      );
      // The file holds the token, as a cache must; never the password.
      assert.ok(!file.includes(SECRETS["URL password"]), file);
      assertClean(JSON.stringify(seen), "the events");
      // A token server that cannot be reached: the message names the URL without the password.
      const dead = `http://127.0.0.1:${await deadPort()}`;
      const unreachable = new AuthSession({
        authServer: withPassword(dead),
        auth: [CLIENT_ID, SECRETS["client secret"]],
        retry: { limit: 0 },
      });
      const error = await unreachable.getAccessToken().then(
        () => assert.fail("nothing listens there"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof TokenNetworkError, String(error));
      assert.ok((error as Error).message.includes(dead), (error as Error).message);
      assertClean(errorTexts(error), "the TokenNetworkError");
    } finally {
      await dir.cleanup();
    }
  });
});

describe("tokens from a tokenProvider and an initialToken", () => {
  const bad = [
    ["a line break", "prv-bad-Zr4\r\nX-Injected: yes"],
    ["a NUL", "prv-bad-Zr4\u0000tail-of-it"],
    ["a leading space", " prv-bad-Zr4-leading-space"],
  ] as const;
  for (const [what, token] of bad) {
    it(`refuses one with ${what} from a tokenProvider, in a message that does not hold it`, async () => {
      const session = new AuthSession({
        tokenProvider: () =>
          Promise.resolve({
            accessToken: token,
            tokenType: "Bearer",
            issuedAt: Date.now(),
            expiresAt: Date.now() + HOUR,
          }),
      });
      const error = await session.getAccessToken().then(
        () => assert.fail("expected a TypeError"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.match(
        error.message,
        /tokenProvider gave an unusable token: accessToken or refreshToken is not visible ASCII/,
      );
      assert.ok(!errorTexts(error).includes("prv-bad-Zr4"), errorTexts(error));
    });

    it(`refuses one with ${what} as an initialToken, in a message that does not hold it`, () => {
      let error: unknown;
      try {
        new AuthSession({
          initialToken: {
            accessToken: token,
            tokenType: "Bearer",
            issuedAt: Date.now(),
            expiresAt: Date.now() + HOUR,
          },
        });
      } catch (thrown) {
        error = thrown;
      }
      assert.ok(error instanceof TypeError, String(error));
      assert.ok(!errorTexts(error).includes("prv-bad-Zr4"), errorTexts(error));
    });
  }
});

/** The URL without its user info: what a fetch can send (a fetch refuses credentials in a URL). */
function stripUserInfo(input: RequestInfo | URL): string {
  const url = new URL(input instanceof Request ? input.url : String(input));
  url.username = "";
  url.password = "";
  return url.href;
}

/** The global fetch, sent to the URL without its user info. */
const userInfoFreeFetch: typeof fetch = (input, init) =>
  globalThis.fetch(stripUserInfo(input), init);

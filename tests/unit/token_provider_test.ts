import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  AccessToken,
  AuthSession,
  ConfigurationError,
  requestToken,
  type TokenSet,
  tokenSetFromResponse,
} from "../../mod.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { environmentOptions, installRuntime, loadCredentials } from "../../src/core/runtime.ts";
import { RUNTIME } from "../../src/runtime/install.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  record,
  rejection,
} from "../_helpers/mod.ts";

let server: LocalAuthServer;
before(async () => {
  server = await startAuthServer({ clients: CLIENTS });
});
after(() => server.close());
beforeEach(() => server.resetCounts());

/**
 * A backend's token endpoint, as a browser's callback would reach it: it
 * holds the secret and gets the token with the client-credentials grant.
 */
function backend(): {
  provider: (options: { signal: AbortSignal }) => Promise<TokenSet>;
  calls: number;
} {
  const state = {
    calls: 0,
    provider: async ({ signal }: { signal: AbortSignal }): Promise<TokenSet> => {
      state.calls++;
      const token = await requestToken({
        tokenUrl: server.tokenUrl,
        credentials: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        signal,
      });
      const { accessToken, tokenType, issuedAt, expiresAt } = token;
      return { accessToken, tokenType, issuedAt, expiresAt };
    },
  };
  return state;
}

function tokenSet(accessToken: string, now: number, lifetime = 3_600_000): TokenSet {
  return { accessToken, tokenType: "Bearer", issuedAt: now, expiresAt: now + lifetime };
}

describe("AuthSession with a tokenProvider", () => {
  it("calls the provider once for many concurrent requests and reuses the token later", async () => {
    const source = backend();
    const session = new AuthSession({ authServer: server.url, tokenProvider: source.provider });
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => session.fetch(server.apiUrl)),
    );
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.equal((await response.json()).clientId, CLIENT_ID);
    }
    const later = await session.fetch(server.apiUrl);
    assert.equal(later.status, 200);
    await later.body?.cancel();
    assert.equal(source.calls, 1);
    assert.equal(server.counts.tokenRequests, 1);
  });

  it("asks the provider again when the token nears its expiry", async () => {
    let now = 1_000_000;
    let calls = 0;
    const session = new AuthSession({
      authServer: server.url,
      now: () => now,
      tokenProvider: () => Promise.resolve(tokenSet(`token-${++calls}`, now, 600_000)),
    });
    assert.equal(await session.getAccessToken(), "token-1");
    now += 60_000;
    assert.equal(await session.getAccessToken(), "token-1");
    now += 600_000;
    assert.equal(await session.getAccessToken(), "token-2");
    assert.equal(calls, 2);
  });

  it("asks the provider for a new token after a 401 and replays the request once", async () => {
    const source = backend();
    const session = new AuthSession({ authServer: server.url, tokenProvider: source.provider });
    server.failApiRequests({ status: 401 });
    const response = await session.fetch(server.apiUrl);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(source.calls, 2);
  });

  it("fails the waiting callers when the provider throws, and asks again on the next call", async () => {
    let calls = 0;
    const session = new AuthSession({
      authServer: server.url,
      tokenProvider: () => {
        calls++;
        return calls === 1
          ? Promise.reject(new Error("backend unavailable"))
          : Promise.resolve(tokenSet("good", Date.now()));
      },
    });
    const errors = await Promise.all([
      rejection(session.getToken()),
      rejection(session.getToken()),
    ]);
    for (const error of errors) assert.equal(error.message, "backend unavailable");
    assert.equal(calls, 1);
    assert.equal(await session.getAccessToken(), "good");
  });

  it("rejects what is not a token with a TypeError, and recovers on the next call", async () => {
    let bad = true;
    const session = new AuthSession({
      authServer: server.url,
      tokenProvider: () =>
        Promise.resolve(bad ? ({ accessToken: "" } as TokenSet) : tokenSet("fine", Date.now())),
    });
    const error = await rejection(session.getToken());
    assert.ok(error instanceof TypeError);
    record(error.message);
    bad = false;
    assert.equal(await session.getAccessToken(), "fine");
  });

  // The token is acquired by a lazily loaded module, so the provider is called
  // after the session has loaded it: the caller may give up before or after.
  for (const when of ["before", "after"] as const) {
    it(`aborts the provider's signal when the caller that started the call gives up ${when} the provider is called`, async () => {
      const calls: { signal: AbortSignal; abortedAtCall: boolean }[] = [];
      let called!: () => void;
      const providerCalled = new Promise<void>((resolve) => (called = resolve));
      const session = new AuthSession({
        authServer: server.url,
        tokenProvider: ({ signal }) => {
          calls.push({ signal, abortedAtCall: signal.aborted });
          called();
          return new Promise((_, reject) => {
            if (signal.aborted) reject(signal.reason);
            signal.addEventListener("abort", () => reject(signal.reason));
          });
        },
      });
      const controller = new AbortController();
      const waiting = rejection(session.getToken({ signal: controller.signal }));
      if (when === "after") {
        await providerCalled;
        assert.equal(calls[0].signal.aborted, false, "not aborted before the caller gave up");
      }
      controller.abort(new Error("gave up"));
      assert.equal((await waiting).message, "gave up");
      // The caller is told at once; the provider is still called once the module is loaded.
      await providerCalled;
      assert.equal(calls.length, 1);
      assert.equal(calls[0].signal.aborted, true);
      if (when === "before") assert.equal(calls[0].abortedAtCall, true);
    });
  }

  it("refuses a tokenProvider given together with credentials", () => {
    assert.throws(
      () =>
        new AuthSession({
          auth: [CLIENT_ID, CLIENT_SECRET],
          tokenProvider: () => Promise.resolve(tokenSet("x", Date.now())),
        }),
      { name: "TypeError", message: /tokenProvider/ },
    );
  });
});

describe("the core without runtime sources (browsers and edge workers)", () => {
  it("refuses files, variables, the keyring and environments, saying what to pass instead", async () => {
    installRuntime(undefined);
    const attempts = [loadCredentials("credentials.json", {}), environmentOptions({})];
    installRuntime(RUNTIME);
    for (const attempt of attempts) {
      const error = await rejection(attempt);
      assert.ok(error instanceof ConfigurationError);
      assert.match(error.message, /Deno, Node\.js or Bun/);
      assert.match(error.message, /tokenProvider/);
      record(error.message);
    }
  });
});

describe("secret hygiene", () => {
  it("no error message or output in this file contained the client secret", () => {
    assert.ok(assertNoSecretSeen() > 1, "the tests recorded their messages");
  });
});

describe("a token sent to a browser page", () => {
  it("toTokenResponse() sends the token and the lifetime left, never the refresh token; tokenSetFromResponse() reads it on the page's clock", async () => {
    const token = await requestToken({
      tokenUrl: server.tokenUrl,
      credentials: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    });
    const withRefresh = new AccessToken({ ...token.toTokenSet(), refreshToken: "refresh-me" });
    const wire = JSON.parse(JSON.stringify(withRefresh.toTokenResponse(token.issuedAt + 600_000)));
    assert.deepEqual(wire, {
      access_token: token.accessToken,
      token_type: "Bearer",
      expires_in: 3000,
    });
    const set = tokenSetFromResponse(wire, 1_000);
    assert.deepEqual(set, {
      accessToken: token.accessToken,
      tokenType: "Bearer",
      issuedAt: 1_000,
      expiresAt: 3_001_000,
      scope: undefined,
    });
    // A session whose provider reads the wire form calls the API with it.
    const session = new AuthSession({
      authServer: server.url,
      tokenProvider: () => Promise.resolve(tokenSetFromResponse(token.toTokenResponse())),
    });
    const response = await session.fetch(server.apiUrl);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).clientId, CLIENT_ID);
    record(JSON.stringify(wire));
  });

  it("the JSON of an AccessToken (token redacted, ISO dates) fails with an error saying what to send", async () => {
    const token = new AccessToken(tokenSet("secret-token-value", Date.now()));
    const json = JSON.parse(JSON.stringify(token));
    assert.equal(json.accessToken, "[redacted]");
    assert.throws(() => tokenSetFromResponse(json), {
      name: "TypeError",
      message:
        "The token backend sent the JSON of an AccessToken, which never holds the token: send token.toTokenResponse()",
    });
    for (
      const bad of [null, {}, { access_token: "t" }, { access_token: "t", expires_in: 0 }, {
        access_token: 1,
        expires_in: 60,
      }]
    ) {
      assert.throws(
        () => tokenSetFromResponse(bad),
        /^TypeError: The token backend sent no token: send token\.toTokenResponse\(\)$/,
      );
    }
    // Handed to the session as it is, the constructor points to tokenSetFromResponse.
    const session = new AuthSession({
      authServer: server.url,
      tokenProvider: () => Promise.resolve(json as TokenSet),
    });
    const error = await rejection(session.getToken());
    assert.equal(error.name, "TypeError");
    assert.match(
      error.message,
      /expiresAt and issuedAt must be ms since the epoch, from 0 to 8\.64e15 \(JSON: see tokenSetFromResponse\(\)\)$/,
    );
    assert.equal(server.counts.tokenRequests, 0);
  });
});

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { AuthSession, requestToken, TokenNetworkError } from "../../mod.ts";
import { ApiNetworkError, KognicClient } from "../../client.ts";
import { parseEnvironments } from "../../config.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { describeCause } from "../../src/shared/redact.ts";
import { assertNoSecretSeen, CLIENT_SECRET, record, rejection } from "../_helpers/mod.ts";

// A client id and secret with every character RFC 6749's form encoding changes.
const ODD_ID = "client id:+%/ä";
const ODD_SECRET = "s3cr:t +%/&=ä-" + CLIENT_SECRET;

let server: LocalAuthServer;

before(async () => {
  server = await startAuthServer({ clients: { [ODD_ID]: ODD_SECRET } });
});
beforeEach(() => server.resetCounts());
after(async () => {
  await server.close();
});

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("token endpoint client authentication", () => {
  it("sends client_secret_post by default: the id and secret in the body, no Basic header", async () => {
    await requestToken({
      tokenUrl: server.tokenUrl,
      credentials: { clientId: ODD_ID, clientSecret: ODD_SECRET },
    });
    const recorded = server.tokenRequests.at(-1)!;
    assert.equal(recorded.authMethod, "client_secret_post");
    assert.equal(recorded.clientId, ODD_ID);
  });

  it("sends client_secret_basic with each part form-urlencoded, as RFC 6749 says, and nothing in the body", async () => {
    const token = await requestToken({
      tokenUrl: server.tokenUrl,
      credentials: { clientId: ODD_ID, clientSecret: ODD_SECRET },
      authMethod: "client_secret_basic",
    });
    assert.ok(token.accessToken);
    const recorded = server.tokenRequests.at(-1)!;
    // The server refuses a request that uses both methods, and decodes the
    // header as RFC 6749 section 2.3.1 encodes it: the odd characters survive.
    assert.equal(recorded.authMethod, "client_secret_basic");
    assert.equal(recorded.clientId, ODD_ID);
    assert.equal(recorded.hasSecret, true);
  });

  it("uses the session option tokenEndpointAuthMethod for grants through AuthSession", async () => {
    const session = new AuthSession({
      authServer: server.url,
      auth: [ODD_ID, ODD_SECRET],
      tokenEndpointAuthMethod: "client_secret_basic",
    });
    const response = await session.fetch(server.apiUrl);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(server.tokenRequests.map((r) => r.authMethod), ["client_secret_basic"]);
  });

  it("refuses an unknown method with a TypeError that names it, before any request", async () => {
    const error = await rejection(requestToken({
      tokenUrl: server.tokenUrl,
      credentials: { clientId: ODD_ID, clientSecret: ODD_SECRET },
      authMethod: "private_key_jwt" as never,
    }));
    assert.ok(error instanceof TypeError);
    assert.match(
      record(error.message),
      /"private_key_jwt".*client_secret_post, client_secret_basic/,
    );
    assert.equal(server.counts.tokenRequests, 0);
  });

  it("reads token_endpoint_auth_method from an environments file, and names a bad value", () => {
    const config = parseEnvironments({
      environments: {
        basic: {
          host: "app.kognic.com",
          auth_server: "https://auth.app.kognic.com",
          token_endpoint_auth_method: "client_secret_basic",
        },
      },
    }, "/tmp/environments.json");
    assert.equal(config.environments.basic.tokenEndpointAuthMethod, "client_secret_basic");
    assert.throws(
      () =>
        parseEnvironments({
          environments: {
            bad: {
              host: "a.example",
              auth_server: "https://auth.a.example",
              token_endpoint_auth_method: "basic",
            },
          },
        }, "/tmp/environments.json"),
      (error: Error) => {
        assert.match(
          record(error.message),
          /environments\.bad\.token_endpoint_auth_method must be one of "client_secret_post", "client_secret_basic"/,
        );
        return true;
      },
    );
  });
});

describe("network errors say why", () => {
  it("a token request to a closed port names the host and the refusal, not just 'fetch failed'", async () => {
    const port = await closedPort();
    const error = await rejection(requestToken({
      tokenUrl: `http://127.0.0.1:${port}/v1/auth/oauth/token`,
      credentials: { clientId: ODD_ID, clientSecret: ODD_SECRET },
      retry: { limit: 0 },
    }));
    assert.ok(error instanceof TokenNetworkError);
    const message = record(error.message);
    assert.ok(message.includes(`127.0.0.1:${port}`), message);
    assert.match(message, /ECONNREFUSED|[Cc]onnection refused/);
  });

  it("an API call through KognicClient to a closed port is an ApiNetworkError with the cause", async () => {
    const port = await closedPort();
    const session = new AuthSession({ authServer: server.url, auth: [ODD_ID, ODD_SECRET] });
    const client = new KognicClient({
      session,
      baseUrl: `http://127.0.0.1:${port}/v1`,
      retry: { limit: 1, baseDelay: 1, maxDelay: 2 },
    });
    const error = await rejection(client.get("projects"));
    assert.ok(error instanceof ApiNetworkError, String(error));
    assert.equal(error.code, "api_network_error");
    assert.equal(error.attempts, 2);
    const message = record(error.message);
    assert.ok(message.startsWith(`GET "http://127.0.0.1:${port}/v1/projects" failed: `), message);
    assert.match(message, /ECONNREFUSED|[Cc]onnection refused/);
  });

  it("describeCause walks the cause chain, keeps codes, bounds the length and hints at a missing CA", () => {
    const inner = Object.assign(new Error("unable to verify the first certificate"), {
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    });
    const text = describeCause(new TypeError("fetch failed", { cause: inner }), "auth.kognic.test");
    assert.match(
      text,
      /^fetch failed: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    );
    assert.match(text, /certificate of "auth\.kognic\.test".*NODE_EXTRA_CA_CERTS.*DENO_CERT/);
    const long = describeCause(new Error("x".repeat(10_000)), "h");
    assert.ok(long.length < 400, String(long.length));
    let deep: Error = new Error("bottom");
    for (let i = 0; i < 50; i++) deep = new Error(`level ${i}`, { cause: deep });
    assert.ok(describeCause(deep, "h").length < 400);
    assert.equal(describeCause(undefined, "h"), "unknown error");
  });
});

describe("secret hygiene", () => {
  it("no error message in this file contained the client secret", () => {
    assert.ok(assertNoSecretSeen([ODD_SECRET, CLIENT_SECRET]) > 3);
  });
});

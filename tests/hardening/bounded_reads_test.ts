// One bounded reader (src/shared/body.ts) for every body or stream that
// something outside controls. Table: each path that reads one x a body that
// never ends (and one a little over the bound): each settles, with what it
// read cut at its bound. A real stand-in server on 127.0.0.1 streams the
// endless bodies. `kog mcp`'s bodies and `kog -d @-`'s standard input are
// checked as subprocesses in cli_bounds_test.ts.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AuthSession, OAuthError, requestToken, TokenResponseError } from "../../mod.ts";
import { ApiError, KognicClient } from "../../client.ts";
import { readBoundedBytes, readBoundedText, readShownText } from "../../src/shared/body.ts";
import { type StandIn, startStandIn } from "../_helpers/servers.ts";
import { reportCheck } from "../_helpers/mod.ts";

let endless: StandIn;
const CHUNK = "0123456789abcdef".repeat(4096);

before(async () => {
  // Every request gets a body that never ends, with ?status= as its status.
  endless = await startStandIn((req, res) => {
    const status = Number(new URL(req.url ?? "/", "http://x").searchParams.get("status") ?? 200);
    res.writeHead(status, { "content-type": "application/json" });
    const more = (): void => {
      while (!res.destroyed && res.write(CHUNK));
      if (!res.destroyed) res.once("drain", more);
    };
    more();
  });
});

after(async () => {
  await endless.close();
});

/** Settles `promise`, or fails after a generous bound (an unbounded read never settles). */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} never settled`)), 180_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const credentials = { clientId: "bounded-client", clientSecret: "bounded-secret-Xy5" };

/** Each path that reads a body from outside, and what it must settle with. */
const PATHS: [string, () => Promise<void>][] = [
  ["a token response (1 MiB bound)", async () => {
    const error = await requestToken({
      tokenUrl: `${endless.url}/token`,
      credentials,
      retry: { limit: 0 },
      // The bound under test is the size; reading 1 MiB on a loaded machine
      // may take longer than the default 10 s, so time is only a loose bound.
      timeout: 120_000,
    }).then(() => assert.fail("no token"), (error: unknown) => error);
    assert.ok(error instanceof TokenResponseError, String(error));
    assert.match((error as Error).message, /larger than 1048576 bytes/);
  }],
  ["a token error response", async () => {
    const error = await requestToken({
      tokenUrl: `${endless.url}/token?status=400`,
      credentials,
      retry: { limit: 0 },
      timeout: 120_000,
    }).then(() => assert.fail("no token"), (error: unknown) => error);
    assert.ok(error instanceof OAuthError, String(error));
    assert.equal(error.status, 400);
  }],
  ["an API error's body (64 KiB bound)", async () => {
    const session = new AuthSession({
      authServer: endless.url,
      initialToken: {
        accessToken: "bounded-token-Qe2",
        tokenType: "Bearer",
        issuedAt: Date.now(),
        expiresAt: Date.now() + 3_600_000,
      },
    });
    const client = new KognicClient({ session, retry: false, timeout: 120_000 });
    const error = await client.get(`${endless.url}/api?status=500`).then(
      () => assert.fail("an HTTP error"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.body?.length, 64 * 1024);
  }],
  ["readShownText of a response (characters shown)", async () => {
    const response = await fetch(`${endless.url}/shown`);
    const shown = await readShownText(response, 1000);
    assert.equal(shown.text.length, 1000);
    assert.equal(shown.complete, false);
    assert.ok(shown.chars > 1000);
  }],
  ["readBoundedText of a response (bytes read)", async () => {
    const response = await fetch(`${endless.url}/text`);
    const read = await readBoundedText(response, 100_000);
    assert.equal(read.text.length, 100_000);
    assert.equal(read.complete, false);
  }],
  ["readBoundedBytes of a stream that never ends (standard input's reader)", async () => {
    async function* forever(): AsyncGenerator<Uint8Array> {
      const chunk = new Uint8Array(64 * 1024);
      for (;;) yield chunk;
    }
    const read = await readBoundedBytes(forever(), 1_000_001);
    assert.equal(read.bytes.length, 1_000_001);
    assert.equal(read.complete, false);
  }],
];

describe("every body from outside is read through the one bounded reader", () => {
  for (const [path, check] of PATHS) {
    it(`${path} settles on a body that never ends`, async () => {
      await bounded(check(), path);
      reportCheck(`bounded reader: ${path} settles on an endless body`, 1);
    });
  }

  it("a body of exactly the bound is read whole, one byte more is not", async () => {
    for (const size of [1000, 1001]) {
      const stream = new ReadableStream<Uint8Array>({
        start(controller): void {
          controller.enqueue(new Uint8Array(size).fill(0x61));
          controller.close();
        },
      });
      const read = await readBoundedBytes(stream, 1000);
      assert.equal(read.bytes.length, 1000);
      assert.equal(read.complete, size === 1000);
    }
  });
});

import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import { AuthSession, type AuthSessionOptions, TokenTimeoutError } from "../../mod.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { CLIENT_ID, CLIENT_SECRET, CLIENTS, rejection } from "../_helpers/mod.ts";

// Bun's getActiveResourcesInfo() always answers an empty list, so there the
// check would prove nothing.
const activeResources = (process as { getActiveResourcesInfo?: () => string[] })
  .getActiveResourcesInfo;
const skip = !activeResources || "Bun" in globalThis
  ? "this runtime does not report its active timers"
  : false;

function timers(): number {
  return activeResources!().filter((name) => name === "Timeout").length;
}

async function withServer(
  fn: (server: LocalAuthServer, options: AuthSessionOptions) => Promise<void>,
): Promise<void> {
  const server = await startAuthServer({ clients: CLIENTS });
  try {
    await fn(server, {
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      retry: { baseDelay: 5, maxDelay: 10 },
    });
  } finally {
    await server.close();
  }
}

describe("timers", () => {
  it("none is left behind by token requests, retries, timeouts and aborts", { skip }, async () => {
    const before = timers();
    await withServer(async (server, options) => {
      const session = new AuthSession(options);
      assert.equal((await session.fetch(server.apiUrl)).status, 200);

      server.failTokenRequests({ status: 503, times: 2 });
      await new AuthSession(options).getAccessToken();

      server.failTokenRequests({ delay: 1000 });
      const slow = new AuthSession({ ...options, timeout: 30, retry: { limit: 0 } });
      assert.ok(await rejection(slow.getAccessToken()) instanceof TokenTimeoutError);

      server.failTokenRequests({ status: 429, retryAfter: 20 });
      const controller = new AbortController();
      const waiting = new AuthSession(options).fetch(server.apiUrl, { signal: controller.signal });
      while (server.counts.tokenRequests < 5) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      await rejection(waiting);
    });
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(timers(), before, "a timer outlived the requests that set it");
  });
});

// The hold-off shared through a token cache: what every cache that keeps
// hold-offs is tested against, with the local auth server asking for a wait
// longer than a session waits.

import assert from "node:assert/strict";
import { AuthSession } from "../../mod.ts";
import { type TokenCache, tokenCacheKey } from "../../src/core/token_cache.ts";
import { startAuthServer } from "../../src/testing/auth_server.ts";
import { CLIENT_ID, CLIENT_SECRET, CLIENTS, rejection } from "./mod.ts";

/**
 * A session on the first cache the factory makes is told to wait (`status`
 * with `Retry-After: 120`); a session on a second cache object (another
 * process, where `makeCache` opens the same store anew) then fails at once
 * with the wait left, without a token request. The hold-off is a record of
 * its own: the token's key still holds no token, and `getHoldoff` reads it.
 * Where the cache keeps no hold-offs (`shared: false`), the second session
 * asks the server itself.
 *
 * @returns The token's cache key.
 */
export async function assertHoldoffShared(
  makeCache: () => TokenCache | Promise<TokenCache>,
  status: 429 | 503,
  { shared = true }: { shared?: boolean } = {},
): Promise<string> {
  await using server = await startAuthServer({ clients: CLIENTS });
  server.failTokenRequests({ status, retryAfter: 120, times: 100 });
  const options = { authServer: server.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };
  const first = await makeCache();
  const told = await rejection(new AuthSession({ ...options, tokenCache: first }).getAccessToken());
  assert.equal((told as { status?: number }).status, status);
  assert.equal((told as { retryAfter?: number }).retryAfter, 120_000);
  const other = await makeCache();
  const error = await rejection(
    new AuthSession({ ...options, tokenCache: other }).getAccessToken(),
  );
  assert.equal((error as { status?: number }).status, status);
  const key = await tokenCacheKey(server.url, CLIENT_ID);
  assert.equal(await other.get(key), undefined, "a hold-off is never read as a token");
  if (!shared) {
    assert.equal(server.counts.tokenRequests, 2, "the other session asked for itself");
    return key;
  }
  const left = (error as { retryAfter?: number }).retryAfter!;
  assert.ok(left > 0 && left <= 120_000, `the wait left: ${left}`);
  assert.equal((error as { attempts?: number }).attempts, 0);
  assert.equal(server.counts.tokenRequests, 1, "the other session asked anyway");
  const held = await other.getHoldoff!(key);
  assert.equal(held?.status, status);
  assert.ok(held!.until > Date.now() && held!.until <= Date.now() + 120_000);
  return key;
}

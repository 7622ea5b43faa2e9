// The Python kognic-auth package's token cache, as that package writes and
// judges it, for the tests of the caches shared with it: its key, its
// is_valid, a token as it caches one, and the file as it writes it.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CLIENT_ID, CLIENT_SECRET } from "./mod.ts";

/** A token cache entry, or anything else a file may hold under a key. */
export type Entry = Record<string, unknown>;

/** The Python package's cache key (make_key): the SHA-256 of the scopes as it joins them. */
export function pythonKey(authServer: string, clientId: string, scopes?: string): string {
  const key = `${authServer}:${clientId}`;
  if (!scopes) return key;
  return `${key}:s-${createHash("sha256").update(scopes).digest("hex").slice(0, 12)}`;
}

/** The Python package's is_valid: a cached token is used while more than 30 s are left. */
export function pythonIsValid(entry: Entry): boolean {
  const expiresAt = entry.expires_at;
  if (expiresAt === undefined || expiresAt === null) return false;
  return Date.now() / 1000 < (expiresAt as number) - 30;
}

/**
 * A token as the Python package caches it: the token response of a
 * client-credentials grant (client_secret_post) from `server`, with
 * `expires_at` added as authlib adds it, `int(time.time()) + expires_in`.
 */
export async function pythonToken(server: { tokenUrl: string }, scope?: string): Promise<Entry> {
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  if (scope) body.set("scope", scope);
  const response = await fetch(server.tokenUrl, {
    method: "POST",
    body,
    headers: { accept: "application/json" },
  });
  assert.equal(response.status, 200);
  const token = await response.json() as Entry;
  token.expires_at = Math.floor(Date.now() / 1000) + (token.expires_in as number);
  return token;
}

/** A cache file's text as the Python package writes it (`json.dumps(data, indent=2)`). */
export function pythonText(file: Record<string, Entry>): string {
  return JSON.stringify(file, null, 2);
}

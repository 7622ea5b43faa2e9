/**
 * The session's rarer paths, loaded lazily when one is taken: a `Request`
 * object as the input of `fetch`, the refresh-token grant, and what a browser
 * or edge worker says when asked for files, the environment or the keyring.
 *
 * @module
 */

// Every lazily loaded module reaches all the modules of the core that mod.ts
// loads on import, so that a bundler puts them in one shared chunk: each
// further chunk would cost every page its import and export lists.
import "./options.ts";
import "./events.ts";
import "./access_token.ts";
import "./egress.ts";
import type { AccessToken } from "./access_token.ts";
import { OAuthError } from "../shared/errors.ts";

/** The parts of a `Request` (with `init` over it) that the session sends. */
export async function fromRequest(input: Request, init: RequestInit | undefined): Promise<{
  url: URL;
  method: string;
  headers: Headers;
  body: BodyInit | null | undefined;
  signal: AbortSignal | null | undefined;
  redirect: RequestRedirect;
}> {
  return {
    url: new URL(input.url),
    method: init?.method ?? input.method,
    headers: new Headers(init?.headers ?? input.headers),
    body: init?.body !== undefined
      ? init.body
      : input.body === null
      ? null
      : await input.arrayBuffer(),
    signal: init?.signal ?? input.signal,
    redirect: init?.redirect ?? input.redirect,
  };
}

/**
 * A token by the refresh-token grant (`grant`), or `undefined` (after `forget`) when
 * the server refused it for good (invalid_grant, invalid_token,
 * unsupported_grant_type, a 401 or any other 4xx answer that retrying would
 * not change), so that a full client-credentials grant should follow.
 */
export async function refreshGrant(
  grant: () => Promise<AccessToken>,
  forget: () => void,
): Promise<AccessToken | undefined> {
  try {
    return await grant();
  } catch (error) {
    if (!(error instanceof OAuthError) || error.retryable) throw error;
    forget();
  }
}

/** Why a browser or edge worker has no credentials files, variables or keyring. */
export const NEEDS_RUNTIME = "Files, environment variables and the keyring need Deno, Node.js or " +
  "Bun; pass clientId and clientSecret (on a server only), initialToken or tokenProvider";

/**
 * A Cloudflare Worker that calls a Kognic API with a token it gets, caches
 * and renews itself. The client id and secret are secrets of the Worker
 * (`wrangler secret put KOGNIC_CLIENT_ID`, `... KOGNIC_CLIENT_SECRET`), read
 * from its bindings; `KOGNIC_API` and `KOGNIC_AUTH_SERVER` are plain vars.
 *
 * One session per isolate serves every request: concurrent requests on a cold
 * isolate share one token request, and later requests reuse the token.
 *
 * @module
 */

import { AuthSession } from "@kognic/auth";

/** The Worker's bindings. */
export interface Env {
  KOGNIC_CLIENT_ID: string;
  KOGNIC_CLIENT_SECRET: string;
  /** The API to call, such as `https://app.kognic.com`. */
  KOGNIC_API: string;
  /** The auth server. @default {"https://auth.app.kognic.com"} */
  KOGNIC_AUTH_SERVER?: string;
}

let session: AuthSession | undefined;

/** The Worker: forwards each request's path and query to the Kognic API. */
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    session ??= new AuthSession({
      clientId: env.KOGNIC_CLIENT_ID,
      clientSecret: env.KOGNIC_CLIENT_SECRET,
      authServer: env.KOGNIC_AUTH_SERVER,
    });
    const { pathname, search } = new URL(request.url);
    return await session.fetch(new URL(pathname + search, env.KOGNIC_API));
  },
};

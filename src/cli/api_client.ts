// `@kognic/auth/client` as `kog` and its MCP server use it, loaded once when
// they start; apart from library.ts, so that `kognic-auth`, which sends no
// API request, has no path to it.

import type * as Client from "../../client.ts";

let client: typeof Client | undefined;

/** Loads `@kognic/auth/client` once (`kog` and its MCP server use it; `kognic-auth` does not). */
export async function loadClient(): Promise<void> {
  client ??= await import("../../client.ts");
}

/** `@kognic/auth/client`, once {@linkcode loadClient} has loaded it. */
export function clientApi(): typeof Client {
  if (!client) throw new Error("The commands used the API client before loadClient()");
  return client;
}

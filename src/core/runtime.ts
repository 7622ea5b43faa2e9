/**
 * What needs a runtime (Deno, Node.js, Bun): credentials from files, the
 * environment and the system keyring, and `environments.json`. Each is
 * loaded only when used. Browsers and edge workers get `runtime_web.ts` in
 * its place, chosen by the npm package's import conditions.
 *
 * @module
 */

import type { ApiCredentials, ResolveCredentialsOptions } from "./api_credentials.ts";
import type { AuthSessionOptions, EnvironmentSessionOptions } from "./options.ts";

/**
 * Reads credentials from `path` (a file or `keyring://PROFILE`), or when it is
 * `undefined` from `KOGNIC_CREDENTIALS`, `KOGNIC_CLIENT_ID`/`KOGNIC_CLIENT_SECRET`
 * and the keyring.
 */
export async function loadCredentials(
  path: string | undefined,
  options: ResolveCredentialsOptions,
): Promise<ApiCredentials> {
  const sources = await import("../credentials/sources.ts");
  return path === undefined
    ? await sources.resolveFromEnvironment(options)
    : await sources.loadCredentialsFrom(path, options.env);
}

/** The session options of the environment `options` choose in `environments.json`. */
export async function environmentOptions(
  options: EnvironmentSessionOptions,
): Promise<AuthSessionOptions> {
  const { environmentSessionOptions } = await import("../config/environments.ts");
  return await environmentSessionOptions(options);
}

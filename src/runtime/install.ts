/**
 * Installs into the core the sources that need a runtime: the credentials
 * file, variables and keyring (`src/credentials/`) and `environments.json`
 * (`src/config/`), each loaded on first use. The entry points import this
 * module; the npm package gives browsers and edge workers `install_web.ts`.
 *
 * @module
 */

import type { ApiCredentials, ResolveCredentialsOptions } from "../core/api_credentials.ts";
import type { AuthSessionOptions, EnvironmentSessionOptions } from "../core/options.ts";
import { installRuntime, type RuntimeSources } from "../core/runtime.ts";

/** The sources of Deno, Node.js and Bun. */
export const RUNTIME: RuntimeSources = {
  async credentials(
    path: string | undefined,
    options: ResolveCredentialsOptions,
  ): Promise<ApiCredentials> {
    const sources = await import("../credentials/sources.ts");
    return path === undefined
      ? await sources.resolveFromEnvironment(options)
      : await sources.loadCredentialsFrom(path, options.env);
  },
  async environment(options: EnvironmentSessionOptions): Promise<AuthSessionOptions> {
    return await (await import("../config/environments.ts")).environmentSessionOptions(options);
  },
};

installRuntime(RUNTIME);

/**
 * The `kognic-auth` command: prints an access token for Kognic APIs, keeps
 * credentials in the system keyring, and clears the token cache.
 *
 * ```sh
 * deno run -A jsr:@kognic/auth/cli get-access-token --credentials ~/.config/kognic/credentials.json
 * deno run -A jsr:@kognic/auth/cli get-access-token --env demo
 * deno run -A jsr:@kognic/auth/cli credentials put ~/Downloads/credentials.json --env demo
 * deno run -A jsr:@kognic/auth/cli clear-cache
 * ```
 *
 * `get-access-token` keeps tokens in a cache shared across processes (the
 * system keyring when one answers, else `$XDG_CACHE_HOME/kognic-auth/tokens.json`),
 * so running it again within the token's life sends no request.
 *
 * Exit codes: 0 on success, 1 on an error (one line on stderr starting with
 * `Error:`), 2 on a usage error (one line on stderr saying what is wrong, and
 * a pointer to the command's `--help`). `-v` may go anywhere on the line.
 *
 * @example Running the command from code
 * ```ts ignore
 * import { main } from "@kognic/auth/cli";
 *
 * const code = await main(["get-access-token", "--json"]);
 * ```
 *
 * @module
 */

import {
  asksVersion,
  EXIT_ERROR,
  EXIT_OK,
  finish,
  processArgs,
  setExitCode,
  writeStdout,
} from "./src/cli/process_io.ts";
import { VERSION } from "./src/shared/version.ts";
import type { CliIO } from "./src/cli/skeleton.ts";

export type { CliIO } from "./src/cli/skeleton.ts";
export { EXIT_ERROR, EXIT_OK, EXIT_USAGE } from "./src/cli/process_io.ts";

/**
 * Runs the command line and returns the exit code; it never calls
 * `process.exit` itself. `--version` is answered here; every other command
 * loads the commands first (this module loads nothing more on its own).
 *
 * @param args The arguments after the program name.
 * @param io Output streams, environment and fetch. @default {the process's}
 * @returns The exit code: 0 success, 1 error, 2 usage error.
 *
 * @example
 * ```ts ignore
 * import { main } from "@kognic/auth/cli";
 *
 * let out = "";
 * const code = await main(["--version"], { stdout: (t) => (out += t), stderr: () => {} });
 * ```
 */
export async function main(args: string[], io?: CliIO): Promise<number> {
  if (asksVersion(args)) {
    (io?.stdout ?? writeStdout)(`kognic-auth ${VERSION}\n`);
    return EXIT_OK;
  }
  const [commands] = await Promise.all([
    import("./src/cli/kognic_auth.ts"),
    // Wires files, variables, the keyring and environments.json into the core.
    import("./src/runtime/install.ts"),
  ]);
  return await commands.main(args, io);
}

if (import.meta.main) {
  // No top-level await: this module must stay loadable with require() on Node.
  // An error until main answers: a run whose waits all ended unanswered
  // (the process left with nothing to wait for) does not exit 0.
  setExitCode(EXIT_ERROR);
  main(processArgs()).then(finish);
}

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

import process from "node:process";
import { main } from "./src/cli/kognic_auth.ts";

export { type CliIO, EXIT_ERROR, EXIT_OK, EXIT_USAGE, main } from "./src/cli/kognic_auth.ts";

if (import.meta.main) {
  // No top-level await: this module must stay loadable with require() on Node.
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

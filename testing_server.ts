/**
 * The `kognic-auth-testing` command: the local auth server of
 * `@kognic/auth/testing` from the shell, with a credentials file and an
 * environments file written for it, until Ctrl-C, to try `kognic-auth` and
 * `kog` offline.
 *
 * ```sh
 * deno run -A jsr:@kognic/auth/testing-server   # or: npx -p @kognic/auth kognic-auth-testing
 * ```
 *
 * @example Running the server from code until `stopped` resolves
 * ```ts ignore
 * import { runTestServer } from "@kognic/auth/testing-server";
 *
 * const code = await runTestServer(["--port", "0"], {
 *   stdout: (text) => console.log(text),
 *   stderr: (text) => console.error(text),
 *   stopped: new Promise((resolve) => setTimeout(resolve, 1000)),
 * });
 * ```
 *
 * @module
 */

import process from "node:process";
import { runTestServer } from "./src/cli/testing_server.ts";

export { runTestServer, type TestServerInfo, type TestServerIO } from "./src/cli/testing_server.ts";

if (import.meta.main) {
  // No top-level await: this module must stay loadable with require() on Node.
  runTestServer(process.argv.slice(2)).then((code) => {
    // The signal handlers would keep the process alive: exit once the server stopped.
    process.exit(code);
  });
}

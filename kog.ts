/**
 * The `kog` command: authenticated calls to Kognic APIs from the shell, a
 * lightweight curl that finds the credentials itself.
 *
 * ```sh
 * deno run -A jsr:@kognic/auth/kog get https://app.kognic.com/v1/projects --format table
 * deno run -A jsr:@kognic/auth/kog post https://app.kognic.com/v1/projects -d @project.json
 * echo '{"name": "x"}' | deno run -A jsr:@kognic/auth/kog PUT https://demo.kognic.com/v1/projects/7 -d @-
 * ```
 *
 * The environment (auth server, credentials and scopes) is the one in
 * `environments.json` whose host matches the URL's host best (the longest
 * host suffix wins), else the file's `default_environment`, else Kognic's
 * production; `--env` names one. Tokens are kept in the cache that
 * `kognic-auth get-access-token` shares (`--token-cache auto` by default).
 *
 * JSON responses are printed pretty (`--format json`), or as JSON Lines, CSV,
 * TSV or a markdown table (`--format jsonl|csv|tsv|table`) when they hold a
 * list: a top-level array, or an object whose only key holds an array; other
 * JSON falls back to pretty JSON. Other responses are printed as they are.
 *
 * Exit codes: 0 for a 2xx response, 1 for an HTTP error (the status and the
 * server's message on stderr) or unusable input, 2 for a usage error.
 *
 * @example Running the command from code
 * ```ts ignore
 * import { main } from "@kognic/auth/kog";
 *
 * const code = await main(["get", "https://app.kognic.com/v1/projects", "--format", "jsonl"]);
 * ```
 *
 * @module
 */

// Wires files, variables, the keyring and environments.json into the core.
import "./src/runtime/install.ts";

import process from "node:process";
import { main } from "./src/cli/kog.ts";
import { finish } from "./src/cli/process_io.ts";

export { EXIT_ERROR, EXIT_OK, EXIT_USAGE, type KogIO, main, METHODS } from "./src/cli/kog.ts";

if (import.meta.main) {
  // No top-level await: this module must stay loadable with require() on Node.
  main(process.argv.slice(2)).then(finish);
}

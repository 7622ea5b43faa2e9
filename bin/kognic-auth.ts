#!/usr/bin/env node
// The `kognic-auth` executable of the npm package: runs the CLI with the
// process's arguments and exits with its code. (Under Deno, cli.ts runs itself
// through `import.meta.main`; Node 20 and 22 have no `import.meta.main`.)
// On Node.js the token request goes through node:http(s) rather than the
// global fetch, whose first use costs a fresh process 50-250 ms.

import process from "node:process";
import { main } from "../cli.ts";
import { nodeFetch } from "../src/cli/node_fetch.ts";
import { defaultIO } from "../src/cli/skeleton.ts";
import { configuredProxy } from "../src/config/proxy.ts";

// With a proxy configured, the CLI's own proxying fetch is used instead.
const onNode = !("Bun" in globalThis) && !("Deno" in globalThis) &&
  !configuredProxy({ env: process.env });
// An error until main answers: a run whose waits all ended unanswered (the
// process left with nothing to wait for) does not exit 0.
process.exitCode = 1;
// The process's streams as every CLI has them (a closed stdout exits 141 silently).
main(process.argv.slice(2), {
  ...defaultIO(),
  fetch: onNode ? nodeFetch : undefined,
}).then((code) => {
  process.exitCode = code;
});

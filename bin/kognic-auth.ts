#!/usr/bin/env node
// The `kognic-auth` executable of the npm package: runs the CLI with the
// process's arguments and exits with its code. (Under Deno, cli.ts runs itself
// through `import.meta.main`; Node 20 and 22 have no `import.meta.main`.)

import process from "node:process";
import { main } from "../cli.ts";

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

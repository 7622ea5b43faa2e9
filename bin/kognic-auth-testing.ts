#!/usr/bin/env node
// The npm package's `kognic-auth-testing` bin: the local auth server from the
// shell (see runTestServer), until Ctrl-C.
import process from "node:process";
import { runTestServer } from "../testing_server.ts";

runTestServer(process.argv.slice(2)).then((code) => {
  // The signal handlers would keep the process alive: exit once the server stopped.
  process.exit(code);
});

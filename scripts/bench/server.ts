/**
 * The loopback server of `deno task bench`: `startAuthServer` from
 * `testing.ts` in a process of its own, so that its work does not share an
 * event loop with the client being measured. Prints `{"url": "..."}` once it
 * listens and runs until its standard input closes.
 *
 * @module
 */

import process from "node:process";
import { startAuthServer } from "../../testing.ts";

const server = await startAuthServer({ clients: { "bench-client": "bench-secret" } });
console.log(JSON.stringify({ url: server.url }));
process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  server.close().then(() => process.exit(0));
});

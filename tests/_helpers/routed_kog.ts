// `kog` as a subprocess whose fetch routes the host names of KOGNIC_TEST_ROUTES to local
// servers (see routes.ts); everything else is the command as users run it.

import process from "node:process";
import { main } from "../../kog.ts";
import { routedFetch, routesFromEnv } from "./routes.ts";

const original = globalThis.fetch;
globalThis.fetch = routedFetch(routesFromEnv(process.env.KOGNIC_TEST_ROUTES), original);
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

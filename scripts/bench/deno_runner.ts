/**
 * The Deno entry of the in-runtime measurements: loads `@kognic/auth` from
 * source and the peers as pinned `npm:` specifiers, runs the task given as
 * JSON in the first argument and prints the result as one line of JSON.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-env --allow-read \
 *   scripts/bench/deno_runner.ts '{"task":"info"}'
 * ```
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import * as ours from "../../mod.ts";
import * as testing from "../../testing.ts";
import { type Libraries, runTask, type TaskOptions } from "./cases.ts";

async function load<T>(importer: () => Promise<T>): Promise<T | string> {
  try {
    return await importer();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const options = JSON.parse(Deno.args[0] ?? '{"task":"info"}') as TaskOptions;
const libs: Libraries = {
  ours,
  candidate: options.candidate ? await import(pathToFileURL(options.candidate).href) : undefined,
  testing,
  peers: {
    "@badgateway/oauth2-client": await load(() => import("npm:@badgateway/oauth2-client@3.3.1")),
    "oauth4webapi": await load(() => import("npm:oauth4webapi@3.8.8")),
    "openid-client": await load(() => import("npm:openid-client@6.9.0")),
    "ky": await load(() => import("npm:ky@2.1.0")),
  },
};

console.log(JSON.stringify(await runTask(libs, options)));

// The Node.js entry of the in-runtime measurements of `deno task bench`: the
// twin of deno_runner.ts. scripts/bench/bench.ts copies it into the benchmark's
// scratch project (.tmp/bench-node/run.mjs), beside cases.ts
// transpiled to JavaScript, where `@kognic/auth` is the npm build's tarball
// and the peers are installed at their pinned versions. It runs the task given
// as JSON in the first argument and prints the result as one line of JSON.

import process from "node:process";
import { pathToFileURL } from "node:url";

// deno-lint-ignore explicit-function-return-type
async function load(importer) {
  try {
    return await importer();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

// Dynamic, so that `deno check scripts/` does not look for the transpiled file here.
const { runTask } = await import("./cases.mjs");

const options = JSON.parse(process.argv[2] ?? '{"task":"info"}');
const libs = {
  ours: await import("@kognic/auth"),
  candidate: options.candidate ? await import(pathToFileURL(options.candidate).href) : undefined,
  testing: await import("@kognic/auth/testing"),
  peers: {
    "@badgateway/oauth2-client": await load(() => import("@badgateway/oauth2-client")),
    "oauth4webapi": await load(() => import("oauth4webapi")),
    "openid-client": await load(() => import("openid-client")),
    "ky": await load(() => import("ky")),
  },
};

process.stdout.write(JSON.stringify(await runTask(libs, options)) + "\n");

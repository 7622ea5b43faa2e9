/**
 * Runs one of the edge tests in this folder with the pinned Node.js 24
 * (which runs TypeScript as it is), for the test command:
 *
 * ```sh
 * deno run -A scripts/edge/run.ts workerd_test.ts
 * ```
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { nodeBin, ROOT } from "../npm_tools.ts";

const [file] = process.argv.slice(2);
if (!file || !/^\w+_test\.ts$/.test(file)) {
  console.error("usage: deno run -A scripts/edge/run.ts <name>_test.ts");
  process.exit(2);
}
const result = spawnSync(nodeBin(24), [join(ROOT, "scripts", "edge", file)], {
  cwd: ROOT,
  stdio: "inherit",
});
process.exit(result.status ?? 1);

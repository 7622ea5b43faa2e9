/**
 * Measures the core's size in a browser: mod.ts bundled by esbuild for the
 * browser platform, minified, then compressed with gzip level 9. Fails when
 * the gzipped bundle is over {@linkcode SIZE_LIMIT}, or when the bundle
 * imports a `node:` module statically: the core must load in a browser. The
 * core reaches `node:` modules (the home folder, reading a credentials file)
 * only through dynamic `import()` on the paths that need them, so those stay
 * external and cost nothing until used.
 *
 * ```sh
 * deno run -A scripts/size.ts
 * ```
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { buildToolBin, ROOT } from "./_npm_tools.ts";

/** The most the gzipped browser bundle of mod.ts may weigh, in bytes (5 KB). */
export const SIZE_LIMIT = 5 * 1024;

/** Sizes of the browser bundle of mod.ts, in bytes. */
export interface BundleSize {
  minified: number;
  gzipped: number;
}

/** Bundles mod.ts for the browser with esbuild and measures it. */
export function measureBrowserBundle(): BundleSize {
  const result = spawnSync(
    buildToolBin("esbuild"),
    [
      "mod.ts",
      "--bundle",
      "--format=esm",
      "--platform=browser",
      "--target=es2022",
      "--minify",
      "--external:node:*",
      "--log-level=error",
    ],
    { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0) {
    throw new Error(`esbuild failed to bundle mod.ts for the browser:\n${result.stderr}`);
  }
  const code: Uint8Array = result.stdout;
  const staticNodeImports = new TextDecoder().decode(code)
    .match(/(?:\bfrom\s*|\bimport\s*)["']node:[^"']+["']/g);
  if (staticNodeImports) {
    throw new Error(
      `mod.ts imports node: modules statically, which a browser cannot load: ${
        [...new Set(staticNodeImports)].join(", ")
      }`,
    );
  }
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

/**
 * Prints the size figure and returns whether it is within the limit.
 */
export function reportBrowserBundle(): boolean {
  const { minified, gzipped } = measureBrowserBundle();
  const ok = gzipped <= SIZE_LIMIT;
  console.log(
    `mod.ts browser bundle (esbuild --minify, gzip -9): ${minified} bytes minified, ` +
      `${gzipped} bytes gzipped (${(gzipped / 1024).toFixed(2)} KB; limit ${SIZE_LIMIT} bytes)` +
      (ok ? "" : " - OVER THE LIMIT"),
  );
  return ok;
}

if (import.meta.main) {
  process.exit(reportBrowserBundle() ? 0 : 1);
}

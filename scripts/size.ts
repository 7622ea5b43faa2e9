/**
 * Measures the core's size in a browser: mod.ts bundled by esbuild for the
 * browser platform, minified, with code splitting, as a browser app's bundler
 * would ship it. The figure checked is what `import "@kognic/auth"` loads: the
 * entry chunk and every chunk it imports statically, gzipped (level 9)
 * together; it must be at most {@linkcode SIZE_LIMIT}. The chunks that load
 * lazily, on the paths that need them (the token request, files, the
 * keyring, token caches), are listed with their own sizes, and so is the
 * whole graph as one bundle.
 *
 * It also fails when the code loaded on import has a static `node:` import,
 * which a browser cannot load: runtime-only code reaches `node:` modules (and
 * the optional `@napi-rs/keyring`) through dynamic `import()` alone.
 *
 * ```sh
 * deno run -A scripts/size.ts
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { buildToolBin, ROOT } from "./npm_tools.ts";

/** The most the code that mod.ts loads on import may weigh gzipped, in bytes (5 KB). */
export const SIZE_LIMIT = 5 * 1024;

/** Sizes in bytes. */
export interface Size {
  minified: number;
  gzipped: number;
}

/** What {@linkcode measureBrowserBundle} finds. */
export interface BrowserBundle {
  /** The entry chunk and the chunks it imports statically: what an import of mod.ts loads. */
  onImport: Size;
  /** Each lazily loaded chunk, by the source files in it. */
  lazy: (Size & { sources: string[] })[];
  /** The whole graph, lazy code included, as one bundle. */
  whole: Size;
  /** `node:` (or other external) modules that the code loaded on import imports statically. */
  staticExternals: string[];
}

interface Metafile {
  outputs: Record<string, {
    entryPoint?: string;
    inputs: Record<string, unknown>;
    imports: { path: string; kind: string; external?: boolean }[];
  }>;
}

/**
 * The esbuild flags of every browser-size figure, here and in the benchmark:
 * a minified browser bundle, with the runtime-only modules (reached through
 * dynamic import() alone, checked below) left out.
 */
export const ESBUILD_FLAGS: readonly string[] = [
  "--bundle",
  "--format=esm",
  "--platform=browser",
  "--target=es2022",
  "--minify",
  "--external:node:*",
  "--external:@napi-rs/keyring",
  "--log-level=error",
];

function esbuild(args: string[]): Uint8Array {
  const result = spawnSync(buildToolBin("esbuild"), ["mod.ts", ...ESBUILD_FLAGS, ...args], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`esbuild failed to bundle mod.ts for the browser:\n${result.stderr}`);
  }
  return result.stdout;
}

function size(code: Uint8Array): Size {
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

/** Bundles mod.ts for the browser with esbuild and measures it. */
export function measureBrowserBundle(): BrowserBundle {
  const outdir = mkdtempSync(join(tmpdir(), "kognic-auth-size-"));
  try {
    const metafile = join(outdir, "meta.json");
    esbuild(["--splitting", `--outdir=${outdir}`, `--metafile=${metafile}`]);
    const { outputs }: Metafile = JSON.parse(readFileSync(metafile, "utf8"));
    const chunks = Object.keys(outputs).filter((path) => path.endsWith(".js"));
    const entry = chunks.find((path) => outputs[path].entryPoint === "mod.ts");
    if (!entry) throw new Error("esbuild's metafile has no output for mod.ts");

    // The static closure of the entry chunk.
    const loaded = new Set([entry]);
    const staticExternals = new Set<string>();
    for (const chunk of loaded) {
      for (const imported of outputs[chunk].imports) {
        if (imported.kind !== "import-statement") continue;
        if (imported.external) staticExternals.add(imported.path);
        else loaded.add(imported.path);
      }
    }
    const read = (chunk: string): Uint8Array => readFileSync(join(ROOT, chunk));
    const onImport = size(Buffer.concat([...loaded].map(read)));
    const lazy = chunks.filter((chunk) => !loaded.has(chunk)).map((chunk) => ({
      ...size(read(chunk)),
      sources: Object.keys(outputs[chunk].inputs),
    })).filter((chunk) => chunk.sources.length).sort((a, b) => b.gzipped - a.gzipped);
    return { onImport, lazy, whole: size(esbuild([])), staticExternals: [...staticExternals] };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Prints the figures and returns whether they are within the limit. */
export function reportBrowserBundle(): boolean {
  const { onImport, lazy, whole, staticExternals } = measureBrowserBundle();
  const kb = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KB`;
  const ok = onImport.gzipped <= SIZE_LIMIT && staticExternals.length === 0;
  console.log(
    `mod.ts for the browser (esbuild --minify --splitting, gzip -9): ${onImport.gzipped} bytes ` +
      `(${kb(onImport.gzipped)}) gzipped loaded on import, ${onImport.minified} minified; ` +
      `limit ${SIZE_LIMIT} bytes${onImport.gzipped > SIZE_LIMIT ? " - OVER THE LIMIT" : ""}`,
  );
  for (const chunk of lazy) {
    console.log(`  loaded lazily: ${chunk.gzipped} bytes gzipped: ${chunk.sources.join(", ")}`);
  }
  console.log(`  the whole graph as one bundle: ${whole.gzipped} bytes gzipped`);
  if (staticExternals.length) {
    console.log(`  FAIL: imported statically, which a browser cannot load: ${staticExternals}`);
  }
  return ok;
}

if (import.meta.main) {
  process.exit(reportBrowserBundle() ? 0 : 1);
}

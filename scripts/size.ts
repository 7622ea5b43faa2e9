/**
 * Measures the core's size in a browser: the npm build's `mod.js` (run
 * `deno task build:npm` first) bundled by esbuild for the browser platform,
 * with nothing external, minified, with code splitting, as a browser app's
 * bundler would ship it. The browser and workerd tests (scripts/edge/) run
 * the bundles made by {@linkcode bundleForBrowser} and {@linkcode bundleForWorker}. The figure checked is what `import "@kognic/auth"` loads: the
 * entry chunk and every chunk it imports statically, gzipped (level 9)
 * together; it must be at most {@linkcode SIZE_LIMIT}. The chunks that load
 * lazily, on the paths that need them (the token request, files, the
 * keyring, token caches), are listed with their own sizes, and so is the
 * whole graph as one bundle.
 *
 * It fails when the bundle does not build (a `node:` import or the keyring
 * reached by the browser build fails esbuild), and when the code loaded on
 * import has a static external import, which a browser cannot load.
 *
 * ```sh
 * deno run -A scripts/size.ts
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { buildToolBin, ROOT } from "./npm_tools.ts";

/**
 * The most the code that mod.ts loads on import may weigh gzipped, in bytes
 * (5.5 KB). It was 5 KB until the core gained its event stream, the token
 * provider for browsers, getRequestHeaders, client_secret_basic and the
 * redirect and Retry-After hardening (5.1 to 5.3 KB with all of them; the
 * redirect hops and the event log load lazily).
 */
export const SIZE_LIMIT = 5.5 * 1024;

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

/** What esbuild's metafile says of each output. */
export interface Metafile {
  outputs: Record<string, {
    entryPoint?: string;
    inputs: Record<string, unknown>;
    imports: { path: string; kind: string; external?: boolean }[];
  }>;
}

/**
 * The esbuild flags of every browser-size figure, here and in the benchmark:
 * a minified browser bundle.
 */
export const ESBUILD_FLAGS: readonly string[] = [
  "--bundle",
  "--format=esm",
  "--platform=browser",
  "--target=es2022",
  "--minify",
  "--log-level=error",
];

/** The npm build's entry point that `import "@kognic/auth"` loads. */
export const NPM_ENTRY: string = join(ROOT, "npm", "esm", "mod.js");

/**
 * The esbuild flags of a Cloudflare Workers build, as wrangler bundles: the
 * `workerd`, `worker` and `browser` conditions, ES modules. With
 * `nodejs_compat`, wrangler leaves `node:` modules to the runtime.
 */
export function workerFlags(nodejsCompat: boolean): string[] {
  return [
    "--bundle",
    "--format=esm",
    "--platform=neutral",
    "--conditions=workerd,worker,browser",
    "--main-fields=module,main",
    "--target=es2022",
    "--log-level=error",
    ...(nodejsCompat ? ["--external:node:*"] : []),
  ];
}

function esbuild(entry: string, flags: readonly string[], args: string[]): Uint8Array {
  if (!existsSync(NPM_ENTRY)) {
    throw new Error(`${NPM_ENTRY} is missing: run \`deno task build:npm\` first`);
  }
  // `@kognic/auth` resolves to the npm build, as it would from node_modules.
  const modules = join(ROOT, ".tmp", "edge-modules");
  const link = join(modules, "@kognic", "auth");
  if (!existsSync(link)) {
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, "npm"), link, "dir");
  }
  const result = spawnSync(buildToolBin("esbuild"), [entry, ...flags, ...args], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NODE_PATH: modules },
  });
  if (result.status !== 0) {
    throw new Error(`esbuild failed to bundle ${entry}:\n${result.stderr}`);
  }
  return result.stdout;
}

/**
 * Bundles `entry` (the npm build's mod.js by default) for the browser into
 * `outdir`, split into chunks, and returns esbuild's metafile and the entry
 * chunk's path.
 */
export function bundleForBrowser(
  outdir: string,
  entry: string = NPM_ENTRY,
): { metafile: Metafile; entryChunk: string } {
  const metafilePath = join(outdir, "meta.json");
  esbuild(entry, ESBUILD_FLAGS, [
    "--splitting",
    `--outdir=${outdir}`,
    `--metafile=${metafilePath}`,
  ]);
  const metafile: Metafile = JSON.parse(readFileSync(metafilePath, "utf8"));
  const entryChunk = Object.keys(metafile.outputs).find((path) =>
    path.endsWith(".js") && metafile.outputs[path].entryPoint !== undefined
  );
  if (!entryChunk) throw new Error(`esbuild's metafile has no output for ${entry}`);
  return { metafile, entryChunk };
}

/** Bundles `entry` for Cloudflare Workers into one module, as wrangler would. */
export function bundleForWorker(entry: string, nodejsCompat: boolean): Uint8Array {
  return esbuild(entry, workerFlags(nodejsCompat), []);
}

function size(code: Uint8Array): Size {
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

/** Bundles mod.ts for the browser with esbuild and measures it. */
export function measureBrowserBundle(): BrowserBundle {
  const outdir = mkdtempSync(join(tmpdir(), "kognic-auth-size-"));
  try {
    const { metafile: { outputs }, entryChunk: entry } = bundleForBrowser(outdir);
    const chunks = Object.keys(outputs).filter((path) => path.endsWith(".js"));

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
    const whole = size(esbuild(NPM_ENTRY, ESBUILD_FLAGS, []));
    return { onImport, lazy, whole, staticExternals: [...staticExternals] };
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
    `The npm build's mod.js for the browser (esbuild --minify --splitting, gzip -9): ${onImport.gzipped} bytes ` +
      `(${kb(onImport.gzipped)}) gzipped loaded on import, ${onImport.minified} minified; ` +
      `limit ${SIZE_LIMIT} bytes${onImport.gzipped > SIZE_LIMIT ? " - OVER THE LIMIT" : ""}`,
  );
  for (const chunk of lazy) {
    console.log(`  loaded lazily: ${chunk.gzipped} bytes gzipped: ${chunk.sources.join(", ")}`);
  }
  console.log(`  the whole graph as one bundle: ${whole.gzipped} bytes gzipped`);
  const worker = size(bundleForWorker(NPM_ENTRY, false));
  const minifiedWorker = size(esbuild(NPM_ENTRY, [...workerFlags(false), "--minify"], []));
  console.log(
    `For Cloudflare Workers (conditions workerd, worker, browser; one module, as wrangler ` +
      `bundles): ${worker.gzipped} bytes gzipped (${worker.minified} bytes), ` +
      `${minifiedWorker.gzipped} bytes gzipped minified`,
  );
  if (staticExternals.length) {
    console.log(`  FAIL: imported statically, which a browser cannot load: ${staticExternals}`);
  }
  return ok;
}

if (import.meta.main) {
  process.exit(reportBrowserBundle() ? 0 : 1);
}

/**
 * Size for `deno task bench` (docs/benchmarks.md, section 4): each library bundled for the
 * browser by esbuild (`--bundle --minify`), then gzip level 9: what an import
 * loads (`--splitting`: the entry and its static chunks) and all the code
 * with what `import()` loads lazily; for the whole package and for the API
 * the benchmark uses; the packages each one installs; and our npm tarball.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PEERS } from "./cases.ts";
import { ESBUILD_FLAGS } from "../size.ts";

/** One library's sizes in bytes. */
export interface SizeResult {
  name: string;
  /** `export *` of the package: everything it exports. */
  whole: EntrySize;
  /** Only the exports the benchmark's client uses. */
  used: EntrySize;
  /** The exports counted as used. */
  usedExports: string;
  /** npm packages installed with it, itself included. */
  packages: number;
}

/** The npm tarball of the build. */
export interface TarballResult {
  file: string;
  size: number;
  unpackedSize: number;
  files: number;
}

const USED: Record<string, string[]> = {
  "@kognic/auth": ["AuthSession"],
  "@badgateway/oauth2-client": ["OAuth2Client", "OAuth2Fetch"],
  oauth4webapi: [
    "ClientSecretPost",
    "allowInsecureRequests",
    "clientCredentialsGrantRequest",
    "customFetch",
    "processClientCredentialsResponse",
    "protectedResourceRequest",
  ],
  "openid-client": [
    "Configuration",
    "allowInsecureRequests",
    "clientCredentialsGrant",
    "customFetch",
    "fetchProtectedResource",
  ],
  ky: ["default"],
};

/** Sizes in bytes: minified, and gzipped at level 9. */
export interface Size {
  minified: number;
  gzipped: number;
}

/** What an import of an entry loads, and the whole graph with lazily imported code. */
export interface EntrySize {
  /** The entry chunk and the chunks it imports statically (esbuild `--splitting`). */
  onImport: Size;
  /** Everything reachable, dynamic `import()` included, as one bundle. */
  all: Size;
}

function size(code: Uint8Array): Size {
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

function esbuild(bin: string, args: string[], cwd: string): Uint8Array {
  // The sources reach node: modules and the keyring lazily; the npm build's
  // browser conditions leave them out, these sources need them marked external.
  const external = ["--external:node:*", "--external:@napi-rs/keyring"];
  const result = spawnSync(bin, [...args, ...ESBUILD_FLAGS, ...external], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`esbuild ${args[0]}: ${result.stderr}`);
  return result.stdout;
}

interface Metafile {
  outputs: Record<string, {
    entryPoint?: string;
    imports: { path: string; kind: string; external?: boolean }[];
  }>;
}

function bundle(bin: string, entry: string, cwd: string): EntrySize {
  const outdir = mkdtempSync(join(tmpdir(), "kognic-bench-size-"));
  try {
    const metafile = join(outdir, "meta.json");
    esbuild(bin, [entry, "--splitting", `--outdir=${outdir}`, `--metafile=${metafile}`], cwd);
    const { outputs }: Metafile = JSON.parse(readFileSync(metafile, "utf8"));
    const entryChunk = Object.keys(outputs).find((path) =>
      path.endsWith(".js") && outputs[path].entryPoint !== undefined
    );
    if (!entryChunk) throw new Error(`esbuild wrote no entry chunk for ${entry}`);
    const loaded = new Set([entryChunk]);
    for (const chunk of loaded) {
      for (const imported of outputs[chunk].imports) {
        if (imported.kind === "import-statement" && !imported.external) loaded.add(imported.path);
      }
    }
    const onImport = size(
      Buffer.concat([...loaded].map((chunk) => readFileSync(join(cwd, chunk)))),
    );
    return { onImport, all: size(esbuild(bin, [entry], cwd)) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Counts a package and its dependencies as installed under `nodeModules`. */
function packageCount(nodeModules: string, name: string, seen = new Set<string>()): number {
  if (seen.has(name)) return 0;
  seen.add(name);
  const manifest = join(nodeModules, name, "package.json");
  if (!existsSync(manifest)) return 0;
  const { dependencies = {} } = JSON.parse(readFileSync(manifest, "utf8"));
  let count = 1;
  for (const dependency of Object.keys(dependencies)) {
    count += packageCount(nodeModules, dependency, seen);
  }
  return count;
}

/**
 * Measures ours (from source, `mod.ts`) and each peer (installed in
 * `project`, whose `node_modules` holds them).
 */
export function measureSizes(esbuild: string, project: string, modTs: string): SizeResult[] {
  const dir = join(project, "size");
  mkdirSync(dir, { recursive: true });
  const results: SizeResult[] = [];
  for (const name of ["@kognic/auth", ...Object.keys(PEERS)]) {
    const from = name === "@kognic/auth" ? modTs : name;
    const file = (kind: string): string =>
      join(dir, `${name.replace(/[^a-z0-9]+/gi, "_")}.${kind}.mjs`);
    const whole = file("whole");
    const used = file("used");
    writeFileSync(
      whole,
      name === "ky"
        ? `export { default } from ${JSON.stringify(from)};\n`
        : `export * from ${JSON.stringify(from)};\n`,
    );
    writeFileSync(used, `export { ${USED[name].join(", ")} } from ${JSON.stringify(from)};\n`);
    results.push({
      name,
      whole: bundle(esbuild, whole, project),
      used: bundle(esbuild, used, project),
      usedExports: USED[name].join(", "),
      packages: name === "@kognic/auth" ? 1 : packageCount(join(project, "node_modules"), name),
    });
  }
  return results;
}

/** Reads `npm pack --json` output of the build into a {@linkcode TarballResult}. */
export function tarballOf(packJson: string): TarballResult {
  const [pack] = JSON.parse(packJson) as {
    filename: string;
    size: number;
    unpackedSize: number;
    entryCount: number;
  }[];
  return {
    file: pack.filename,
    size: pack.size,
    unpackedSize: pack.unpackedSize,
    files: pack.entryCount,
  };
}

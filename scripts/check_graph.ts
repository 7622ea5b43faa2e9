/**
 * Checks the module graph of the library (`deno info --json` from every entry
 * point and bin) and fails on:
 *
 * - an import cycle among the repository's modules, counting static, lazy
 *   (`import()`) and type-only imports alike;
 * - a lazily loaded module that imports the module that loads it;
 * - an import against the layers' direction (see {@linkcode LAYERS});
 * - a command module (src/cli/) importing anything but the package's entry
 *   points ({@linkcode CLI_ENTRY_POINTS}), `node:`, npm packages and src/cli/
 *   itself: the commands are a client of the public API;
 * - a core module whose static imports reach a `node:` module, an npm
 *   package, or a module outside the shared bottom and the core.
 *
 * ```sh
 * deno run -A scripts/check_graph.ts
 * ```
 *
 * Prints one line per problem and closes with `N passed, N failed`, one
 * check per rule and module.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The entry points whose graphs are checked: deno.json's exports and the npm bins. */
const ROOTS: string[] = [
  ...Object.values(
    JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).exports as Record<string, string>,
  ).map((path) => path.replace(/^\.\//, "")),
  "bin/kognic-auth.ts",
  "bin/kog.ts",
  "bin/kognic-auth-testing.ts",
  // The runtime installer for browsers and edge workers, which the npm
  // package's import conditions choose in place of src/runtime/install.ts.
  "src/runtime/install_web.ts",
];

/**
 * The folders of src/ and the folders each may import from. A folder always
 * imports from itself. Lazy imports may also reach the folders in `lazy`.
 */
export const LAYERS: Record<string, { imports: string[]; lazy?: string[] }> = {
  shared: { imports: [] },
  core: { imports: ["shared"] },
  credentials: { imports: ["shared", "core"] },
  config: { imports: ["shared", "core", "credentials"] },
  api: { imports: ["shared", "core", "credentials"] },
  runtime: { imports: ["core"], lazy: ["credentials", "config"] },
  testing: { imports: [] },
  telemetry: { imports: ["shared", "core"] },
  // The commands reach the library only through the entry points (below).
  cli: { imports: [] },
};

/** The entry points the commands (src/cli/) may import, as any user of the package would. */
export const CLI_ENTRY_POINTS: readonly string[] = [
  "mod.ts",
  "config.ts",
  "client.ts",
  "telemetry.ts",
  "testing.ts",
];

/** Whether a module of src/cli/ may import `to`: an entry point, `node:`, npm, or src/cli/. */
function cliMayImport(to: string): boolean {
  return CLI_ENTRY_POINTS.includes(to) || to.startsWith("node:") || to.startsWith("npm:") ||
    layerOf(to) === "cli";
}

/** One import of a module: its target, whether it is lazy (`import()`) and whether type-only. */
export interface Edge {
  to: string;
  dynamic: boolean;
  typeOnly: boolean;
}

interface InfoDependency {
  specifier: string;
  code?: { specifier?: string };
  type?: { specifier?: string };
  isDynamic?: boolean;
}

/** The graph below `roots`: each local module's path and its edges. */
function readGraph(roots: string[]): Map<string, Edge[]> {
  const graph = new Map<string, Edge[]>();
  for (const root of roots) {
    const result = spawnSync(process.execPath, ["info", "--json", root], {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.status !== 0) throw new Error(`deno info ${root} failed:\n${result.stderr}`);
    const info = JSON.parse(result.stdout) as {
      modules: { specifier: string; dependencies?: InfoDependency[] }[];
    };
    for (const module of info.modules) {
      const from = local(module.specifier);
      if (!from || graph.has(from)) continue;
      const edges: Edge[] = [];
      for (const dependency of module.dependencies ?? []) {
        const target = dependency.code?.specifier ?? dependency.type?.specifier ??
          dependency.specifier;
        edges.push({
          to: local(target) ?? target,
          dynamic: dependency.isDynamic === true,
          typeOnly: dependency.code === undefined,
        });
      }
      graph.set(from, edges);
    }
  }
  return graph;
}

/** A repository path for a file: URL inside the repository, else `undefined`. */
function local(specifier: string): string | undefined {
  if (!specifier.startsWith("file:")) return undefined;
  const path = relative(ROOT, fileURLToPath(specifier));
  return path.startsWith("..") ? undefined : path;
}

/** The src/ folder (layer) of a path, or `undefined` outside src/. */
function layerOf(path: string): string | undefined {
  const match = /^src\/([^/]+)\//.exec(path);
  return match?.[1];
}

/** Every cycle's path, found by a depth-first search over all edges. */
export function findCycles(graph: Map<string, Edge[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    stack.push(node);
    for (const { to } of graph.get(node) ?? []) {
      if (!graph.has(to)) continue;
      if (state.get(to) === "open") cycles.push([...stack.slice(stack.indexOf(to)), to]);
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** What `path` reaches through static, non-type imports, itself excluded. */
function staticClosure(graph: Map<string, Edge[]>, path: string): Set<string> {
  const seen = new Set<string>();
  const todo = [path];
  while (todo.length) {
    for (const edge of graph.get(todo.pop()!) ?? []) {
      if (edge.dynamic || edge.typeOnly || seen.has(edge.to)) continue;
      seen.add(edge.to);
      todo.push(edge.to);
    }
  }
  return seen;
}

/** Runs every check and returns the problems found, with the number of checks made. */
export function checkGraph(graph: Map<string, Edge[]>): { problems: string[]; checks: number } {
  const problems: string[] = [];
  let checks = 1;
  for (const cycle of findCycles(graph)) problems.push(`Import cycle: ${cycle.join(" -> ")}`);
  for (const [from, edges] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    const layer = layerOf(from);
    for (const edge of edges) {
      checks++;
      if (layer && edge.to.startsWith("npm:") && !edge.typeOnly) {
        problems.push(
          `${from} imports ${edge.to} by a literal specifier: Deno then resolves the package ` +
            `(and its dependencies) on every start; load it with importOptionalPeer`,
        );
      }
      if (edge.dynamic && graph.get(edge.to)?.some((back) => back.to === from)) {
        problems.push(`${edge.to}, loaded lazily by ${from}, imports it back`);
      }
      const target = layerOf(edge.to);
      if (layer === "cli" && !target && !cliMayImport(edge.to)) {
        problems.push(
          `${from} imports ${edge.to}: src/cli/ imports only the entry points ` +
            `(${CLI_ENTRY_POINTS.join(", ")}), node:, npm packages and src/cli/`,
        );
      }
      if (!layer || !target || target === layer) continue;
      const rule = LAYERS[layer];
      if (!rule) {
        problems.push(`${from}: src/${layer}/ is not a known layer (scripts/check_graph.ts)`);
        continue;
      }
      const allowed = edge.dynamic ? [...rule.imports, ...(rule.lazy ?? [])] : rule.imports;
      if (!allowed.includes(target)) {
        problems.push(
          `${from} imports ${edge.to}${edge.dynamic ? " lazily" : ""}: src/${layer}/ may not ` +
            `depend on src/${target}/`,
        );
      }
    }
    if (layer === "core") {
      checks++;
      for (const reached of staticClosure(graph, from)) {
        const reachedLayer = layerOf(reached);
        if (reachedLayer !== "core" && reachedLayer !== "shared") {
          problems.push(
            `${from} reaches ${reached} through static imports (the core loads only src/core/ and src/shared/)`,
          );
        }
      }
    }
  }
  return { problems, checks };
}

/**
 * The arrows of `layers` that no import uses: the table lists exactly the
 * imports that exist. A `lazy` arrow needs a lazy import; an `imports` arrow
 * a static or type-only one.
 */
export function unusedArrows(
  graph: Map<string, Edge[]>,
  layers: Record<string, { imports: string[]; lazy?: string[] }> = LAYERS,
): string[] {
  const used = new Set<string>();
  for (const [from, edges] of graph) {
    for (const edge of edges) {
      used.add(`${layerOf(from)} ${edge.dynamic ? "lazy" : "imports"} ${layerOf(edge.to)}`);
    }
  }
  const problems: string[] = [];
  for (const [layer, rule] of Object.entries(layers)) {
    for (const kind of ["imports", "lazy"] as const) {
      for (const target of rule[kind] ?? []) {
        if (!used.has(`${layer} ${kind} ${target}`)) {
          problems.push(`LAYERS lets src/${layer}/ import src/${target}/ (${kind}), but none does`);
        }
      }
    }
  }
  return problems;
}

if (import.meta.main) {
  const graph = readGraph(ROOTS);
  const { problems, checks: graphChecks } = checkGraph(graph);
  const unused = unusedArrows(graph);
  problems.push(...unused);
  const checks = graphChecks +
    Object.values(LAYERS).flatMap((r) => [...r.imports, ...r.lazy ?? []]).length;
  for (const problem of problems) console.log(`FAIL ${problem}`);
  console.log(`Checked ${graph.size} modules and their imports from ${ROOTS.length} entry points.`);
  console.log(`${checks - problems.length} passed, ${problems.length} failed`);
  process.exitCode = problems.length ? 1 : 0;
}

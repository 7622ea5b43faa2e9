// scripts/check_graph.ts on small synthetic module graphs: it must pass a graph that keeps the
// layers and fail one with a cycle, a lazily loaded module importing its loader, an import
// against the layers (a lazy one from the core included), a core module reaching the config
// layer or `node:` statically, a literal import of an npm package, or a command module importing
// past the entry points; and that the LAYERS table allows no arrow that no import uses.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  checkGraph,
  type Edge,
  findCycles,
  LAYERS,
  unusedArrows,
} from "../../scripts/check_graph.ts";
import { repositoryFile } from "../_helpers/mod.ts";

type Imports = Record<string, (string | { to: string; dynamic?: boolean; typeOnly?: boolean })[]>;

/** A graph from each module's imports: a string is a static import, an object says more. */
function graphOf(imports: Imports): Map<string, Edge[]> {
  return new Map(
    Object.entries(imports).map(([from, edges]) => [
      from,
      edges.map((edge) =>
        typeof edge === "string"
          ? { to: edge, dynamic: false, typeOnly: false }
          : { dynamic: false, typeOnly: false, ...edge }
      ),
    ]),
  );
}

/**
 * A graph in the layers' direction: the core loads the token request lazily,
 * and the runtime installer loads credentials and environments lazily.
 */
const LAYERED: Imports = {
  "mod.ts": ["src/runtime/install.ts", "src/core/session.ts"],
  "config.ts": ["src/config/environments.ts"],
  "src/shared/errors.ts": [],
  "src/shared/files.ts": ["node:fs/promises", "src/shared/errors.ts"],
  "src/core/options.ts": [],
  "src/core/session.ts": [
    "src/core/options.ts",
    "src/shared/errors.ts",
    { to: "src/core/token_client.ts", dynamic: true },
  ],
  "src/core/token_client.ts": ["src/core/options.ts", "src/shared/errors.ts"],
  "src/runtime/install.ts": [
    "src/core/options.ts",
    { to: "src/credentials/sources.ts", dynamic: true },
    { to: "src/config/environments.ts", dynamic: true },
  ],
  "src/credentials/sources.ts": ["src/shared/files.ts", "src/core/options.ts"],
  "src/config/token_cache.ts": ["src/shared/files.ts", "src/credentials/sources.ts"],
  "src/config/environments.ts": ["src/core/session.ts", "src/shared/files.ts"],
  "cli.ts": ["src/cli/main.ts"],
  "src/cli/main.ts": [
    "mod.ts",
    { to: "config.ts", dynamic: true },
    "src/cli/skeleton.ts",
    "node:process",
    { to: "npm:/@modelcontextprotocol/sdk@1.32.2/types.js", dynamic: true, typeOnly: true },
  ],
  "src/cli/skeleton.ts": [{ to: "config.ts", typeOnly: true }],
};

/** The layered graph with one module's imports replaced. */
function withImports(module: string, edges: Imports[string]): Map<string, Edge[]> {
  return graphOf({ ...LAYERED, [module]: edges });
}

describe("checkGraph() and findCycles() of scripts/check_graph.ts", () => {
  it("pass a graph whose imports follow the layers, counting a check per import and core module", () => {
    const graph = graphOf(LAYERED);
    assert.deepEqual(findCycles(graph), []);
    const { problems, checks } = checkGraph(graph);
    assert.deepEqual(problems, []);
    const imports = [...graph.values()].reduce((n, edges) => n + edges.length, 0);
    assert.equal(checks, 1 + imports + 3);
  });

  it("find an import cycle, lazy and type-only imports included, and fail on it", () => {
    const graph = withImports("src/core/token_client.ts", [
      "src/core/options.ts",
      { to: "src/core/request.ts", typeOnly: true },
    ]);
    graph.set("src/core/request.ts", [{
      to: "src/core/token_client.ts",
      dynamic: true,
      typeOnly: false,
    }]);
    assert.deepEqual(findCycles(graph), [[
      "src/core/token_client.ts",
      "src/core/request.ts",
      "src/core/token_client.ts",
    ]]);
    const { problems } = checkGraph(graph);
    assert.ok(
      problems.includes(
        "Import cycle: src/core/token_client.ts -> src/core/request.ts -> src/core/token_client.ts",
      ),
      problems.join("\n"),
    );
  });

  it("fail a lazily loaded module that imports the module that loads it", () => {
    const graph = withImports("src/core/token_client.ts", [
      "src/core/options.ts",
      "src/core/session.ts",
    ]);
    const { problems } = checkGraph(graph);
    assert.ok(
      problems.includes(
        "src/core/token_client.ts, loaded lazily by src/core/session.ts, imports it back",
      ),
      problems.join("\n"),
    );
    assert.ok(problems.some((problem) => problem.startsWith("Import cycle: ")));
  });

  it("fail an import against the layers' direction, and a lazy one the layer may not make", () => {
    const upward = checkGraph(withImports("src/shared/errors.ts", ["src/core/options.ts"]));
    assert.deepEqual(upward.problems, [
      "src/shared/errors.ts imports src/core/options.ts: src/shared/ may not depend on src/core/",
    ]);
    const sideways = checkGraph(
      withImports("src/credentials/sources.ts", [
        "src/core/options.ts",
        { to: "src/config/environments.ts", dynamic: true },
      ]),
    );
    assert.deepEqual(sideways.problems, [
      "src/credentials/sources.ts imports src/config/environments.ts lazily: src/credentials/ " +
      "may not depend on src/config/",
    ]);
    const lazyFromCore = checkGraph(
      withImports("src/core/session.ts", [
        "src/core/options.ts",
        { to: "src/credentials/sources.ts", dynamic: true },
      ]),
    );
    assert.deepEqual(lazyFromCore.problems, [
      "src/core/session.ts imports src/credentials/sources.ts lazily: src/core/ may not depend " +
      "on src/credentials/",
    ]);
    const unknown = checkGraph(withImports("src/extra/thing.ts", ["src/core/options.ts"]));
    assert.deepEqual(unknown.problems, [
      "src/extra/thing.ts: src/extra/ is not a known layer (scripts/check_graph.ts)",
    ]);
  });

  it("fail a module of src/ that names an npm package in a literal import, lazy or not, but not in a type", () => {
    const graph = withImports("src/config/token_cache.ts", [
      "src/shared/files.ts",
      { to: "npm:/redis@6.3.1", dynamic: true },
      { to: "npm:/undici@7.10.0" },
      { to: "npm:/@modelcontextprotocol/sdk@1.32.2/types.js", dynamic: true, typeOnly: true },
    ]);
    const { problems } = checkGraph(graph);
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.ok(
      problems[0].startsWith("src/config/token_cache.ts imports npm:/redis@6.3.1 by a literal"),
    );
    assert.ok(problems[1].includes("npm:/undici@7.10.0"));
  });

  it("fail a command module that imports an internal module, lazily or for types alike", () => {
    const internal = checkGraph(
      withImports("src/cli/main.ts", [
        "mod.ts",
        "src/core/session.ts",
        { to: "src/shared/redact.ts", dynamic: true },
        { to: "src/config/environments.ts", typeOnly: true },
      ]),
    );
    assert.deepEqual(internal.problems, [
      "src/cli/main.ts imports src/core/session.ts: src/cli/ may not depend on src/core/",
      "src/cli/main.ts imports src/shared/redact.ts lazily: src/cli/ may not depend on src/shared/",
      "src/cli/main.ts imports src/config/environments.ts: src/cli/ may not depend on src/config/",
    ]);
    const outside = checkGraph(
      withImports("src/cli/main.ts", ["cli.ts", "scripts/check_graph.ts", "tests/_helpers/mod.ts"]),
    );
    const rule = "src/cli/ imports only the entry points (mod.ts, config.ts, client.ts, " +
      "telemetry.ts, testing.ts), node:, npm packages and src/cli/";
    assert.ok(
      ["cli.ts", "scripts/check_graph.ts", "tests/_helpers/mod.ts"].every((to) =>
        outside.problems.includes(`src/cli/main.ts imports ${to}: ${rule}`)
      ),
      outside.problems.join("\n"),
    );
  });

  it("fail a core module that reaches the config layer or node: through static imports", () => {
    const config = checkGraph(
      withImports("src/core/session.ts", ["src/core/options.ts", "src/config/token_cache.ts"]),
    );
    assert.ok(
      config.problems.includes(
        "src/core/session.ts imports src/config/token_cache.ts: src/core/ may not depend on " +
          "src/config/",
      ),
      config.problems.join("\n"),
    );
    assert.ok(
      config.problems.includes(
        "src/core/session.ts reaches src/config/token_cache.ts through static imports (the core " +
          "loads only src/core/ and src/shared/)",
      ),
      config.problems.join("\n"),
    );
    const node = checkGraph(withImports("src/core/options.ts", ["src/shared/files.ts"]));
    const reached = node.problems.filter((problem) =>
      problem.includes(" reaches node:fs/promises")
    );
    assert.deepEqual(reached, [
      "src/core/options.ts reaches node:fs/promises through static imports (the core loads " +
      "only src/core/ and src/shared/)",
      "src/core/session.ts reaches node:fs/promises through static imports (the core loads " +
      "only src/core/ and src/shared/)",
      "src/core/token_client.ts reaches node:fs/promises through static imports (the core " +
      "loads only src/core/ and src/shared/)",
    ]);
    const typeOnly = checkGraph(
      withImports("src/core/options.ts", [{ to: "src/shared/files.ts", typeOnly: true }]),
    );
    assert.deepEqual(typeOnly.problems, []);
  });
});

describe("unusedArrows() of scripts/check_graph.ts", () => {
  it("lists the arrows of a table that no import uses, static and lazy apart", () => {
    const layers = {
      core: { imports: ["shared"] },
      runtime: { imports: ["core", "config"], lazy: ["credentials", "config"] },
      credentials: { imports: ["shared", "core", "api"] },
      config: { imports: ["shared", "core", "credentials"] },
    };
    assert.deepEqual(unusedArrows(graphOf(LAYERED), layers), [
      "LAYERS lets src/runtime/ import src/config/ (imports), but none does",
      "LAYERS lets src/credentials/ import src/api/ (imports), but none does",
    ]);
  });

  it("the core's row allows no import, static or lazy, of any layer but the shared bottom", () => {
    assert.deepEqual(LAYERS.core, { imports: ["shared"] });
  });
});

// A check of the repository's own files: it runs where the sources are (Deno, Bun).
const BUILD_SCRIPT = repositoryFile("scripts/build_npm.ts");

describe("the optional packages' specifiers", () => {
  it("are deno.json's imports of the same names, and the npm build's optional peers", {
    skip: BUILD_SCRIPT.skip,
  }, async () => {
    const { OPTIONAL_PEERS } = await import("../../src/shared/optional_peer.ts");
    const { readFile } = await import("node:fs/promises");
    const deno = JSON.parse(await readFile(new URL("../../deno.json", import.meta.url), "utf8"));
    for (const [name, specifier] of Object.entries(OPTIONAL_PEERS)) {
      assert.equal(deno.imports[name], specifier, name);
    }
    const build = await readFile(BUILD_SCRIPT.url, "utf8");
    const peers = /const OPTIONAL_PEERS[^{]*\{([^}]*)\}/.exec(build)?.[1] ?? "";
    const names = [...peers.matchAll(/^\s*"?([@\w/.-]+)"?:/gm)].map((match) => match[1]);
    assert.deepEqual(names.sort(), Object.keys(OPTIONAL_PEERS).sort());
  });
});

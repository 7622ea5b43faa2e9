/**
 * The JSR test: the package as a new user gets it from JSR, without JSR.
 *
 * It takes the files `deno publish` would upload (the list its dry run
 * prints, from deno.json `publish.include`), unfurls the bare specifiers that
 * deno.json `imports` maps (`"@napi-rs/keyring"` becomes
 * `"npm:@napi-rs/keyring@^2.1.2"`, as publish rewrites them), and serves them
 * from a local registry on 127.0.0.1 that speaks JSR's protocol: the
 * package's `meta.json` (its versions and the latest), `<version>_meta.json`
 * (the file manifest with sizes and sha256 checksums, and the exports), and
 * the files under `<version>/`. With `JSR_URL` pointing there, a scratch
 * `DENO_DIR`, and HOME and the XDG folders in a temporary folder, it checks as
 * a new user would:
 *
 * 1. `deno run -A jsr:@kognic/auth/cli get-access-token --server <url>` prints
 *    a token from a local auth server, with the credentials in
 *    `KOGNIC_CLIENT_ID` and `KOGNIC_CLIENT_SECRET`, and the API accepts it;
 * 2. `deno add jsr:@kognic/auth` in a fresh project maps `@kognic/auth` to a
 *    caret range of this version;
 * 3. a module importing `@kognic/auth` and `@kognic/auth/testing` by name
 *    passes `deno check`, checked in one program beside a module with a
 *    deliberate type error, which must be the only error reported (so the
 *    types are real);
 * 4. that module runs: a fetch through `AuthSession` reaches the API with the
 *    bearer token;
 * 5. everything Deno asked the registry for was served (no 404 of ours).
 *
 * ```sh
 * deno run -A scripts/jsr_test.ts
 * ```
 *
 * Closes with one line `N passed, N failed`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type EchoResponse, startAuthServer } from "../testing.ts";
import { Checks, exec as run, expectSuccess, type Outcome } from "./checks.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const DENO = process.execPath;
/** A subprocess that takes longer than this is stopped and fails its check. */
const TIMEOUT_MS = 180_000;

/** Runs a command without blocking this process, whose registry and auth server must answer. */
function exec(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> },
): Promise<Outcome> {
  return run(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env, timeoutMs: TIMEOUT_MS });
}

const checks = new Checks();
/** Runs one named check; a thrown error fails it with its message. */
const check = checks.checkAsync.bind(checks);

interface DenoJson {
  name: string;
  version: string;
  exports: Record<string, string>;
  imports?: Record<string, string>;
}

/** The files `deno publish` would upload, as paths relative to the repository ("mod.ts"). */
export async function publishFiles(): Promise<string[]> {
  const outcome = expectSuccess(
    "deno publish --dry-run",
    await exec(DENO, ["publish", "--dry-run", "--allow-dirty"], {}),
  );
  const files = [...(outcome.stdout + outcome.stderr).matchAll(/^\s+(file:\/\/\S+)/gm)]
    .map((match) => relative(ROOT, fileURLToPath(match[1])));
  if (files.length === 0) throw new Error(`No file list in:\n${outcome.stdout}${outcome.stderr}`);
  return files.sort();
}

/**
 * Rewrites the module specifiers that deno.json `imports` maps (exactly, or
 * as a prefix ending in "/") to their targets, in static imports and exports
 * and in `import()` with a string literal: what publish does to a module.
 */
export function unfurl(source: string, imports: Record<string, string>): string {
  const target = (specifier: string): string | undefined => {
    if (imports[specifier]) return imports[specifier];
    for (const [key, value] of Object.entries(imports)) {
      if (key.endsWith("/") && specifier.startsWith(key)) {
        return value + specifier.slice(key.length);
      }
    }
    return undefined;
  };
  return source.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\2/g,
    (whole, lead: string, quote: string, specifier: string) => {
      const mapped = target(specifier);
      return mapped ? `${lead}${quote}${mapped}${quote}` : whole;
    },
  );
}

interface Registry {
  url: string;
  /** Every path Deno asked for, with the status it got. */
  requests: { path: string; status: number }[];
  close(): Promise<void>;
}

/** Serves one version of the package the way JSR serves it to Deno. */
function startRegistry(
  denoJson: DenoJson,
  files: Map<string, Uint8Array>,
): Promise<Registry> {
  const [scope, name] = denoJson.name.slice(1).split("/");
  const base = `/@${scope}/${name}`;
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const [path, bytes] of files) {
    manifest[`/${path}`] = {
      size: bytes.byteLength,
      checksum: `sha256-${createHash("sha256").update(bytes).digest("hex")}`,
    };
  }
  const documents = new Map<string, string>([
    [
      `${base}/meta.json`,
      JSON.stringify({
        scope,
        name,
        latest: denoJson.version,
        versions: { [denoJson.version]: {} },
      }),
    ],
    [
      `${base}/${denoJson.version}_meta.json`,
      JSON.stringify({ manifest, exports: denoJson.exports }),
    ],
  ]);
  const requests: Registry["requests"] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const prefix = `${base}/${denoJson.version}/`;
    const document = documents.get(path);
    const file = path.startsWith(prefix) ? files.get(path.slice(prefix.length)) : undefined;
    const status = document !== undefined || file !== undefined ? 200 : 404;
    requests.push({ path, status });
    if (document !== undefined) {
      res.writeHead(200, { "content-type": "application/json" }).end(document);
    } else if (file !== undefined) {
      const type = path.endsWith(".json")
        ? "application/json"
        : path.endsWith(".ts")
        ? "application/typescript"
        : "text/plain";
      res.writeHead(200, { "content-type": type }).end(file);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/`,
        requests,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The new user's module: an import by name, a type error that must be caught, a fetch. */
const USER_MODULE = `
import { AuthSession, KognicAuthError } from "@kognic/auth";
import type { EchoResponse } from "@kognic/auth/testing";

const session = new AuthSession({
  authServer: Deno.env.get("AUTH_SERVER_URL")!,
  auth: [Deno.env.get("CLIENT_ID")!, Deno.env.get("CLIENT_SECRET")!],
});
try {
  const response = await session.fetch(Deno.env.get("API_URL")!);
  const body = await response.json() as EchoResponse;
  console.log(JSON.stringify({ status: response.status, clientId: body.clientId }));
} catch (error) {
  if (error instanceof KognicAuthError) console.error(error.code);
  throw error;
}
`;

/** The same module with one line that the package's types must refuse. */
/** A terminal style sequence (ESC [ ... m). */
const ANSI_STYLE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Beside USER_MODULE in the same `deno check`: one mistake the types must catch. */
const USER_MODULE_WITH_TYPE_ERROR = `import { AuthSession } from "@kognic/auth";
new AuthSession({ clientId: 42 });
`;

if (import.meta.main) {
  const started = Date.now();
  const denoJson = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as DenoJson;
  const work = mkdtempSync(join(tmpdir(), "kognic-auth-jsr-"));
  const home = join(work, "home");
  mkdirSync(home);
  const secret = `jsr-${createHash("sha256").update(String(Math.random())).digest("hex")}`;
  const clientId = "jsr-client";
  const auth = await startAuthServer({ clients: { [clientId]: secret } });
  let registry: Registry | undefined;
  const env = (): Record<string, string> => ({
    JSR_URL: registry!.url,
    DENO_DIR: join(work, "deno_dir"),
    HOME: home,
    XDG_CACHE_HOME: join(home, "cache"),
    XDG_CONFIG_HOME: join(home, "config"),
    DENO_NO_UPDATE_CHECK: "1",
  });
  const outputs: string[] = [];
  try {
    const files = new Map<string, Uint8Array>();
    await check(
      "the files deno publish would upload, with mapped specifiers unfurled",
      async () => {
        const list = await publishFiles();
        for (const target of Object.values(denoJson.exports)) {
          if (!list.includes(target.replace(/^\.\//, ""))) {
            throw new Error(`The publish list lacks the export ${target}`);
          }
        }
        const strays = list.filter((path) =>
          path.startsWith("tests/") || path.startsWith("scripts/")
        );
        if (strays.length) throw new Error(`The publish list holds ${strays.join(", ")}`);
        let unfurled = 0;
        for (const path of list) {
          const bytes = readFileSync(join(ROOT, path));
          if (/\.[cm]?[jt]sx?$/.test(path)) {
            const source = bytes.toString("utf8");
            const rewritten = unfurl(source, denoJson.imports ?? {});
            if (rewritten !== source) unfurled++;
            files.set(path, new TextEncoder().encode(rewritten));
          } else {
            files.set(path, new Uint8Array(bytes));
          }
        }
        // What a user's Deno resolves: no specifier that only the package's deno.json could map.
        const keys = Object.keys(denoJson.imports ?? {});
        for (const [path, bytes] of files) {
          if (!/\.[cm]?[jt]sx?$/.test(path)) continue;
          const text = new TextDecoder().decode(bytes);
          const bare = keys.find((key) => {
            const quoted = `["']${key.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}["']`;
            return new RegExp(`\\bimport\\s*\\(\\s*${quoted}|\\bfrom\\s*${quoted}`).test(text);
          });
          if (bare) throw new Error(`${path} still imports "${bare}" after unfurling`);
        }
        return `${list.length} files, ${unfurled} with unfurled specifiers`;
      },
    );
    registry = await startRegistry(denoJson, files);
    const jsr = `jsr:${denoJson.name}`;

    await check(`deno run -A ${jsr}/cli get-access-token --server <url>`, async () => {
      const outcome = expectSuccess(
        "deno run",
        await exec(DENO, ["run", "-A", `${jsr}/cli`, "get-access-token", "--server", auth.url], {
          cwd: work,
          env: { ...env(), KOGNIC_CLIENT_ID: clientId, KOGNIC_CLIENT_SECRET: secret },
        }),
      );
      outputs.push(outcome.stdout, outcome.stderr);
      const token = outcome.stdout.trim();
      if (!(token.length > 20) || /\s/.test(token)) {
        throw new Error(`Expected one token on stdout, got:\n${outcome.stdout}`);
      }
      const api = await fetch(auth.apiUrl, { headers: { authorization: `Bearer ${token}` } });
      await api.body?.cancel();
      if (api.status !== 200) {
        throw new Error(`The API answered the printed token with ${api.status}`);
      }
      return `a token of ${token.length} characters, accepted by the API`;
    });

    await check(
      `deno run -A ${jsr}/testing-server --help: the local auth server from the shell`,
      async () => {
        const outcome = expectSuccess(
          "deno run",
          await exec(DENO, ["run", "-A", `${jsr}/testing-server`, "--help"], {
            cwd: work,
            env: env(),
          }),
        );
        outputs.push(outcome.stdout, outcome.stderr);
        if (!outcome.stdout.startsWith("Usage: kognic-auth-testing")) {
          throw new Error(`Expected the usage on stdout, got:\n${outcome.stdout}`);
        }
        return "its usage, exit 0";
      },
    );

    const project = join(work, "project");
    mkdirSync(project);
    await check(`deno add ${jsr} in a fresh project`, async () => {
      const outcome = expectSuccess(
        "deno add",
        await exec(DENO, ["add", jsr], { cwd: project, env: env() }),
      );
      outputs.push(outcome.stdout, outcome.stderr);
      const written = JSON.parse(readFileSync(join(project, "deno.json"), "utf8"));
      const mapped = written.imports?.[denoJson.name];
      if (mapped !== `${jsr}@^${denoJson.version}`) {
        throw new Error(`deno.json maps ${denoJson.name} to ${mapped}`);
      }
      return `${denoJson.name}: ${mapped}`;
    });

    await check(
      "deno check of a module importing it by name; its types catch a mistake",
      async () => {
        writeFileSync(join(project, "main.ts"), USER_MODULE.trimStart());
        writeFileSync(join(project, "broken.ts"), USER_MODULE_WITH_TYPE_ERROR.trimStart());
        // One program (the package's types are checked once): main.ts must
        // have no error, and broken.ts exactly its one.
        const checked = await exec(DENO, ["check", "main.ts", "broken.ts"], {
          cwd: project,
          env: env(),
        });
        // The diagnostics' text: Deno colours them when FORCE_COLOR is set at all.
        const output = (checked.stdout + checked.stderr).replace(ANSI_STYLE, "");
        const errors = output.match(/TS\d+ \[ERROR\]/g) ?? [];
        if (
          checked.status === 0 || errors.length !== 1 || !/TS2322/.test(output) ||
          !/broken\.ts:2:/.test(output)
        ) {
          throw new Error(
            `deno check main.ts broken.ts: want only TS2322 at broken.ts line 2:\n${output}`,
          );
        }
      },
    );

    await check("a fetch through AuthSession from the installed package", async () => {
      const outcome = expectSuccess(
        "deno run main.ts",
        await exec(
          DENO,
          ["run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", "main.ts"],
          {
            cwd: project,
            env: {
              ...env(),
              AUTH_SERVER_URL: auth.url,
              API_URL: `${auth.apiUrl}/from-jsr`,
              CLIENT_ID: clientId,
              CLIENT_SECRET: secret,
            },
          },
        ),
      );
      outputs.push(outcome.stdout, outcome.stderr);
      const seen = JSON.parse(outcome.stdout.trim()) as Pick<EchoResponse, "clientId"> & {
        status: number;
      };
      if (seen.status !== 200 || seen.clientId !== clientId) {
        throw new Error(`The API saw ${outcome.stdout}`);
      }
      return `HTTP ${seen.status}, the API saw client ${seen.clientId}`;
    });

    await check("Deno fetched the package from the local registry, and found everything", () => {
      const missing = registry!.requests.filter((request) => request.status !== 200);
      if (missing.length) {
        throw new Error(`Not served: ${missing.map((request) => request.path).join(", ")}`);
      }
      const paths = new Set(registry!.requests.map((request) => request.path));
      for (
        const expected of [
          "meta.json",
          `${denoJson.version}_meta.json`,
          `${denoJson.version}/cli.ts`,
        ]
      ) {
        if (![...paths].some((path) => path.endsWith(`/${expected}`))) {
          throw new Error(`Deno never asked for ${expected}`);
        }
      }
      return Promise.resolve(`${registry!.requests.length} requests, ${paths.size} paths`);
    });

    await check("no output above showed the client secret", () => {
      if (outputs.some((text) => text.includes(secret))) throw new Error("The secret was printed");
      return Promise.resolve(`${outputs.length} outputs checked`);
    });
  } finally {
    await registry?.close();
    await auth.close();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\nJSR test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  checks.close();
}

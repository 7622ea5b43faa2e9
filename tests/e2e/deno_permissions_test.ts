// The commands under Deno's permissions, as real subprocesses: without
// --allow-write the token cache is not written and the command says so once;
// without --allow-env the variables read as unset (the command still works
// when the flags say enough) and one line names them and the permission.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  kogCommand,
  runCli,
  runCommand,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

const SKIP = "Deno" in globalThis ? false : "Deno's permission flags";
const NET = "--allow-net=127.0.0.1";

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };
let credentials: string;
let environments: string;

before(async () => {
  server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
  dir = await tempDir();
  credentials = await writeCredentials(dir.path);
  await mkdir(join(dir.path, "config", "kognic"), { recursive: true });
  environments = join(dir.path, "config", "kognic", "environments.json");
  await writeFile(
    environments,
    JSON.stringify({
      environments: { local: { host: "127.0.0.1", auth_server: server.url, credentials } },
    }),
  );
});

after(async () => {
  await server?.close();
  await dir?.cleanup();
});

describe("Deno permissions", () => {
  it(
    "without --allow-write the token cache is not written: one warning naming the permission, a token request every run",
    { skip: SKIP },
    async () => {
      const env = {
        XDG_CONFIG_HOME: join(dir.path, "config"),
        XDG_CACHE_HOME: join(dir.path, "no-write-cache"),
      };
      server.resetCounts();
      for (let run = 1; run <= 2; run++) {
        const result = await runCli(
          ["get-access-token", "--env", "local", "--token-cache", "file"],
          { env, denoPermissions: [NET, "--allow-read", "--allow-env"] },
        );
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
        assert.equal(
          result.stderr,
          `Warning: the token cache (file ${
            join(env.XDG_CACHE_HOME, "kognic-auth", "tokens.json")
          }) is not written: Deno's --allow-write permission is missing, so every run requests a ` +
            "new token (run with --allow-write, or --token-cache none to not cache)\n",
        );
        assert.equal(server.counts.tokenRequests, run);
      }
      // kog says the same, once.
      const kog = await runCommand(
        kogCommand([NET, "--allow-read", "--allow-env"]),
        ["get", server.apiUrl, "--token-cache", "file"],
        { env },
      );
      assert.equal(kog.code, 0, kog.stderr);
      assert.equal(
        kog.stderr.match(/^Warning: .*--allow-write permission is missing/gm)?.length,
        1,
      );
    },
  );

  it("with --allow-write the second run takes the token from the cache and warns of nothing", {
    skip: SKIP,
  }, async () => {
    const env = {
      XDG_CONFIG_HOME: join(dir.path, "config"),
      XDG_CACHE_HOME: join(dir.path, "cache"),
    };
    server.resetCounts();
    for (let run = 1; run <= 2; run++) {
      const result = await runCli(
        ["get-access-token", "--env", "local", "--token-cache", "file"],
        { env, denoPermissions: [NET, "--allow-read", "--allow-env", "--allow-write"] },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
    }
    assert.equal(server.counts.tokenRequests, 1);
  });

  it(
    "without --allow-env the variables read as unset, the commands still work from their flags, and one line names the variables and the permission",
    { skip: SKIP },
    async () => {
      const env = { CLAUDE_CODE_MCP_SERVER_URL: "https://elsewhere.example/mcp" };
      const result = await runCli(
        [
          "get-access-token",
          "--server",
          server.url,
          "--credentials",
          credentials,
          "--token-cache",
          "none",
        ],
        { env, denoPermissions: [NET, "--allow-read"] },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(
        lines[0],
        /^Warning: Deno's env permission does not cover (?:[\w]+, )*CLAUDE_CODE_MCP_SERVER_URL(?:, [\w]+)*; read as unset \(run with --allow-env, or --allow-env=[\w,]+\)$/,
      );

      const kog = await runCommand(
        kogCommand([NET, "--allow-read"]),
        ["get", server.apiUrl, "--env-config-file-path", environments, "--token-cache", "none"],
        { env: {} },
      );
      assert.equal(kog.code, 0, kog.stderr);
      assert.equal(JSON.parse(kog.stdout).clientId, CLIENT_ID);
      assert.match(
        kog.stderr,
        /^Warning: Deno's env permission does not cover [\w, ]+; read as unset/,
      );

      // Credentials that only a variable could give: the error and the warning say why.
      const missing = await runCli(
        ["get-access-token", "--server", server.url, "--token-cache", "none"],
        {
          env: { KOGNIC_CLIENT_ID: CLIENT_ID, KOGNIC_CLIENT_SECRET: CLIENT_SECRET },
          denoPermissions: [NET, "--allow-read"],
        },
      );
      assert.equal(missing.code, 1);
      assert.match(
        missing.stderr,
        /^Warning: Deno's env permission does not cover [\w, ]*KOGNIC_CLIENT_ID[\w, ]*;/m,
      );
      assert.match(missing.stderr, /^Error: /m);
    },
  );

  it("secret hygiene: no output held the client secret", { skip: SKIP }, () => {
    assert.ok(assertNoSecretSeen() > 0);
  });
});

// The core is web-standard: mod.ts runs under Deno with network access to the
// loopback address only — no environment, no file system — and fetches through
// AuthSession with explicit credentials. (scripts/size.ts checks the other
// half: mod.ts bundles for the browser with no static `node:` import.)
//
// The child always gets an explicit permission flag: Deno's node:child_process
// runs a `deno run` spawned without any permission flag with every permission.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { startAuthServer } from "../../testing.ts";

const isDeno = "Deno" in globalThis;
const CLIENT_ID = "web-client";
const CLIENT_SECRET = "web-s3cret-never-print-me";

/** The child program, read from stdin: it gets the server's URLs as arguments. */
const child = (modUrl: string): string => `
import { AuthSession } from ${JSON.stringify(modUrl)};

const [authServer, apiUrl] = Deno.args;
const session = new AuthSession({
  clientId: ${JSON.stringify(CLIENT_ID)},
  clientSecret: ${JSON.stringify(CLIENT_SECRET)},
  authServer,
});
const response = await session.fetch(apiUrl, { headers: { accept: "application/json" } });
const denied = (fn: () => unknown): boolean => {
  try {
    fn();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotCapable;
  }
};
console.log(JSON.stringify({
  status: response.status,
  body: await response.json(),
  // The flags are in force: the program cannot read the environment or files.
  envDenied: denied(() => Deno.env.get("HOME")),
  readDenied: denied(() => Deno.readTextFileSync(new URL(import.meta.url))),
}));
`;

function runDeno(
  args: string[],
  stdin: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (chunk: Uint8Array) => (stdout += new TextDecoder().decode(chunk)));
    proc.stderr.on("data", (chunk: Uint8Array) => (stderr += new TextDecoder().decode(chunk)));
    proc.on("error", reject);
    proc.on("close", (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(stdin);
  });
}

describe("web-standard core", () => {
  it(
    "mod.ts fetches through AuthSession under deno run --allow-net=127.0.0.1 (no env, no read)",
    { skip: isDeno ? false : "needs Deno: it runs mod.ts under Deno's permission flags" },
    async () => {
      const server = await startAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
      try {
        const modUrl = new URL("../../mod.ts", import.meta.url).href;
        const { code, stdout, stderr } = await runDeno(
          ["run", "--no-prompt", "--allow-net=127.0.0.1", "-", server.url, server.apiUrl],
          child(modUrl),
        );
        assert.equal(code, 0, `deno run failed:\n${stderr}`);
        const result = JSON.parse(stdout);
        assert.equal(result.status, 200);
        assert.equal(result.body.clientId, CLIENT_ID);
        assert.equal(result.envDenied, true, "environment access was not denied");
        assert.equal(result.readDenied, true, "file access was not denied");
        assert.equal(server.counts.tokensIssued, 1);
        assert.ok(!stdout.includes(CLIENT_SECRET) && !stderr.includes(CLIENT_SECRET));
      } finally {
        await server.close();
      }
    },
  );
});

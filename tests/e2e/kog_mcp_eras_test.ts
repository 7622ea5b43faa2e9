// `kog mcp` answers clients of both MCP protocol eras, end to end: SDK v2's
// client in `auto` mode (which probes `server/discover` and speaks
// 2026-07-28 where it can) and SDK v1's client (2025-11-25 only) spawn
// `kog mcp` over stdio; its kognic_request calls the local auth server's
// sample API, which checks the bearer token of every request.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { type SampleApiServer, startSampleApiServer } from "../_helpers/sample_api.ts";
import {
  CLIENT_SECRET,
  CLIENTS,
  denoDir,
  isolatedXdg,
  kogCommand,
  record,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";

let server: SampleApiServer;
let dir: { path: string; cleanup: () => Promise<void> };
const received: string[] = [];

before(async () => {
  server = await startSampleApiServer({ clients: CLIENTS });
  dir = await tempDir();
  const credentials = await writeCredentials(dir.path);
  const xdg = isolatedXdg(dir.path);
  await mkdir(join(xdg.XDG_CONFIG_HOME, "kognic"), { recursive: true });
  await writeFile(
    join(xdg.XDG_CONFIG_HOME, "kognic", "environments.json"),
    JSON.stringify({
      default_environment: "local",
      environments: { local: { host: "127.0.0.1", auth_server: server.url, credentials } },
    }),
  );
});

after(async () => {
  await server.close();
  await dir.cleanup();
});

interface CallResult {
  isError?: boolean;
  content: { type: string; text: string }[];
}

function spawnParameters(): { command: string; args: string[]; env: Record<string, string> } {
  const [command, ...prefix] = kogCommand();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NO_COLOR: "1",
    ...isolatedXdg(dir.path),
  };
  const deno = "Deno" in globalThis ? denoDir() : undefined;
  if (deno) env.DENO_DIR = deno;
  return { command, args: [...prefix, "mcp", "--token-cache", "none", "-v"], env };
}

const CWD = fileURLToPath(new URL("../..", import.meta.url));

/** Keeps every message a transport hands its client, whoever sets the handler. */
function recordMessages(transport: object): void {
  let handler: ((message: unknown, extra?: unknown) => void) | undefined;
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => handler,
    set: (value) => {
      handler = value && ((message: unknown, extra?: unknown) => {
        received.push(JSON.stringify(message));
        value(message, extra);
      });
    },
  });
}

/** The checks of either era: the tools, a GET through the token-checking API, the environments. */
async function exercise(
  callTool: (name: string, args: Record<string, unknown>) => Promise<CallResult>,
  toolNames: () => Promise<string[]>,
): Promise<void> {
  assert.deepEqual(await toolNames(), ["kognic_request", "kognic_environments"]);
  const before = server.counts.apiRequests;
  const get = await callTool("kognic_request", {
    method: "GET",
    url: `${server.apiBaseUrl}/items`,
  });
  assert.notEqual(get.isError, true, get.content[0].text);
  assert.match(get.content[0].text, /^HTTP 200 OK\n/);
  assert.match(get.content[0].text, /"name": "alpha"/);
  assert.ok(server.counts.apiRequests > before, "the API saw the call");
  const environments = await callTool("kognic_environments", {});
  assert.match(environments.content[0].text, /"name": "local"/);
}

describe("kog mcp across the MCP eras", () => {
  it("answers a new-era client (SDK v2, auto) in MCP 2026-07-28", async () => {
    const transport = new StdioV2({ ...spawnParameters(), stderr: "pipe", cwd: CWD });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Uint8Array) => (stderr += chunk));
    recordMessages(transport);
    const client = new ClientV2(
      { name: "new-era-client", version: "2.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await client.connect(transport);
    try {
      assert.equal(client.getProtocolEra(), "modern");
      assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
      await exercise(
        async (name, args) => await client.callTool({ name, arguments: args }) as CallResult,
        async () => (await client.listTools()).tools.map((tool) => tool.name),
      );
    } finally {
      await client.close();
      record(stderr);
    }
  });

  it("answers an old-era client (SDK v1) in MCP 2025-11-25", async () => {
    const transport = new StdioV1({ ...spawnParameters(), stderr: "pipe", cwd: CWD });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Uint8Array) => (stderr += chunk));
    recordMessages(transport);
    const client = new ClientV1({ name: "old-era-client", version: "1.0.0" });
    await client.connect(transport);
    try {
      assert.equal(client.getServerVersion()?.name, "kog");
      // The answer to `initialize` named the 2025 revision the client asked for.
      const initialize = received.map((text) => JSON.parse(text)).find((message) =>
        message.result?.protocolVersion !== undefined
      );
      assert.equal(initialize?.result.protocolVersion, "2025-11-25");
      await exercise(
        async (name, args) => await client.callTool({ name, arguments: args }) as CallResult,
        async () => (await client.listTools()).tools.map((tool: { name: string }) => tool.name),
      );
    } finally {
      await client.close();
      record(stderr);
    }
  });

  it("no message either client received held the secret", () => {
    assert.ok(received.length >= 6, `${received.length} messages`);
    for (const text of received) assert.ok(!text.includes(CLIENT_SECRET));
  });
});

// `kog mcp` answers clients of both MCP protocol eras, end to end: SDK v2's
// client in `auto` mode (which probes `server/discover` and speaks
// 2026-07-28 where it can) and SDK v1's client (2025-11-25 only) spawn
// `kog mcp` over stdio; its kognic_request calls the local auth server's
// sample API, which checks the bearer token of every request.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { type KogHome, type SampleApiServer, startKogHome } from "../_helpers/sample_api.ts";
import {
  connectClient,
  spawnCommand,
  type ToolClient,
  toolClient,
} from "../_helpers/mcp_client.ts";
import { CLIENT_SECRET, isolatedXdg, kogCommand, record } from "../_helpers/mod.ts";

let home: KogHome;
let server: SampleApiServer;
let dir: string;
const received: string[] = [];

before(async () => {
  home = await startKogHome();
  ({ server, dir } = home);
});

after(() => home.close());

/** The checks of either era: the tools, a GET through the token-checking API, the environments. */
async function exercise(client: ToolClient): Promise<void> {
  assert.deepEqual(await client.toolNames(), ["kognic_request", "kognic_environments"]);
  const before = server.counts.apiRequests;
  const get = await client.call("kognic_request", {
    method: "GET",
    url: `${server.apiBaseUrl}/items`,
  });
  assert.notEqual(get.isError, true, get.content[0].text);
  assert.match(get.content[0].text, /^HTTP 200 OK\n/);
  assert.match(get.content[0].text, /"name": "alpha"/);
  assert.ok(server.counts.apiRequests > before, "the API saw the call");
  const environments = await client.call("kognic_environments", {});
  assert.match(environments.content[0].text, /"name": "local"/);
}

describe("kog mcp across the MCP eras", () => {
  it("answers a new-era client (SDK v2, auto) in MCP 2026-07-28", async () => {
    const spawned = spawnCommand(
      StdioV2,
      [...kogCommand(), "mcp", "--token-cache", "none", "-v"],
      { env: isolatedXdg(dir), received },
    );
    const client = new ClientV2(
      { name: "new-era-client", version: "2.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await connectClient(client, spawned.transport);
    try {
      assert.equal(client.getProtocolEra(), "modern");
      assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
      await exercise(toolClient(client));
    } finally {
      await client.close();
      record(spawned.stderr());
    }
  });

  it("answers an old-era client (SDK v1) in MCP 2025-11-25", async () => {
    const spawned = spawnCommand(
      StdioV1,
      [...kogCommand(), "mcp", "--token-cache", "none", "-v"],
      { env: isolatedXdg(dir), received },
    );
    const client = new ClientV1({ name: "old-era-client", version: "1.0.0" });
    await connectClient(client, spawned.transport);
    try {
      assert.equal(client.getServerVersion()?.name, "kog");
      // The answer to `initialize` named the 2025 revision the client asked for.
      const initialize = received.map((text) => JSON.parse(text)).find((message) =>
        message.result?.protocolVersion !== undefined
      );
      assert.equal(initialize?.result.protocolVersion, "2025-11-25");
      await exercise(toolClient(client));
    } finally {
      await client.close();
      record(spawned.stderr());
    }
  });

  it("no message either client received held the secret", () => {
    assert.ok(received.length >= 6, `${received.length} messages`);
    for (const text of received) assert.ok(!text.includes(CLIENT_SECRET));
  });
});

// A hostile MCP server that echoes the bearer token everywhere it can: in a
// JSON answer, in an event of a request's event stream, in a notification on
// the session's event stream and in the JSON-RPC error of an HTTP 400. The
// SDK's client spawns `kognic-auth mcp-proxy` against it; no message the
// client receives may hold the token, and each echo arrives as `[token]`.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { LocalAuthServer } from "../../testing.ts";
import { cliCommand, isolatedXdg } from "../_helpers/mod.ts";
import {
  connectClient,
  proxyArgs,
  type ProxyHome,
  spawnCommand,
  startProxyHome,
} from "../_helpers/mcp_client.ts";

let home: ProxyHome;
let auth: LocalAuthServer;
let dir: string;
let credentials: string;
let hostile: { url: string; tokens: Set<string>; close(): Promise<void> };

/** A 2025-11-25 Streamable HTTP server, hand-written, that puts the caller's token in every answer. */
async function startEchoingServer(): Promise<typeof hostile> {
  const tokens = new Set<string>();
  const streams = new Set<ServerResponse>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    tokens.add(token);
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      streams.add(res);
      res.on("close", () => streams.delete(res));
      res.write(
        `data: ${
          JSON.stringify({
            jsonrpc: "2.0",
            method: "notifications/message",
            params: { level: "info", data: `stream ${token}` },
          })
        }\n\n`,
      );
      return;
    }
    if (req.method === "DELETE") {
      res.writeHead(200).end();
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const message = JSON.parse(body);
    if (message.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const answer = (result: unknown): string =>
      JSON.stringify({ jsonrpc: "2.0", id: message.id, result });
    if (message.method === "initialize") {
      res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "s-1" });
      res.end(answer({
        protocolVersion: "2025-11-25",
        capabilities: { tools: {}, logging: {} },
        serverInfo: { name: `echo ${token}`, version: "1" },
      }));
    } else if (message.method === "tools/list") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(answer({
        tools: [{ name: "t", description: token, inputSchema: { type: "object" } }],
      }));
    } else if (message.method === "tools/call") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const note = JSON.stringify({
        jsonrpc: "2.0",
        method: "notifications/message",
        params: { level: "info", data: `call ${token}` },
      });
      // The token split across two writes of the stream.
      const event = `data: ${note}\n\ndata: ${
        answer({ content: [{ type: "text", text: `result ${token}` }] })
      }\n\n`;
      const cut = event.indexOf(token) + 5;
      res.write(event.slice(0, cut));
      setTimeout(() => res.end(event.slice(cut)), 20);
    } else {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({
        jsonrpc: "2.0",
        id: message.id,
        error: { code: -32600, message: `refused ${token}` },
      }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    tokens,
    close: async () => {
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

before(async () => {
  home = await startProxyHome();
  ({ auth, dir, credentials } = home);
  hostile = await startEchoingServer();
});

after(async () => {
  await hostile.close();
  await home.close();
});

describe("kognic-auth mcp-proxy and a server that echoes the token", () => {
  it("replaces the token in every message the client receives, on every path", async () => {
    const spawned = spawnCommand(
      StdioClientTransport,
      [...cliCommand(), ...proxyArgs(hostile.url, auth.url, credentials)],
      { env: isolatedXdg(dir) },
    );
    const logs: string[] = [];
    const client = new Client({ name: "echo-test", version: "1.0.0" });
    client.setNotificationHandler(
      LoggingMessageNotificationSchema,
      (notification: { params: { data: unknown } }) =>
        void logs.push(String(notification.params.data)),
    );
    await connectClient(client, spawned.transport);
    try {
      assert.equal(client.getServerVersion()?.name, "echo [token]");
      const { tools } = await client.listTools();
      assert.equal(tools[0].description, "[token]");
      const result = await client.callTool({ name: "t", arguments: {} });
      assert.equal((result.content as { text: string }[])[0].text, "result [token]");
      const refused = await client.listPrompts().then(() => undefined, (error: Error) => error);
      assert.match(String(refused?.message), /refused \[token\]/);
      for (let waited = 0; !logs.includes("stream [token]") && waited < 10_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(logs.includes("call [token]"), logs.join(", "));
      assert.ok(logs.includes("stream [token]"), "the session stream's notification arrived");
    } finally {
      await client.close();
    }
    const tokens = [...hostile.tokens].filter((token) => token.length > 20);
    assert.ok(tokens.length >= 1, "the server was sent a token");
    assert.ok(spawned.received.length >= 6, `${spawned.received.length} messages`);
    for (const text of [...spawned.received, spawned.stderr()]) {
      for (const token of tokens) assert.ok(!text.includes(token), `a token reached: ${text}`);
    }
  });
});

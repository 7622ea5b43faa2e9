// How `kognic-auth mcp-proxy` reads a server's answers, against a hand-written 2025-11-25
// Streamable HTTP server that frames them in every way the formats allow: event streams with
// "\n", "\r\n" and "\r" line ends (mixed too), comments, `id:` and `event:` lines, events of
// another type (skipped), data over several lines, and a JSON body of unknown length; each is
// written in small pieces, cut inside multi-byte UTF-8 characters and between "\r" and "\n".
// The SDK's client spawns the proxy; every answer and notification must arrive whole and once.

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
let server: { url: string; close(): Promise<void> };

/** Text with characters of two, three and four bytes in UTF-8. */
const WIDE = "é € 😀 日本";

/** The pieces a body is written in: every 1 to 7 bytes, so that cuts fall everywhere. */
function pieces(text: string): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const out: Uint8Array[] = [];
  for (let at = 0, size = 1; at < bytes.length; at += size, size = size % 7 + 1) {
    out.push(bytes.subarray(at, at + size));
  }
  return out;
}

async function writeSlowly(res: ServerResponse, text: string): Promise<void> {
  for (const piece of pieces(text)) {
    res.write(piece);
    await new Promise((resolve) => setImmediate(resolve));
  }
  res.end();
}

/** An event stream of a tools/call: a notification, an event of another type, the answer. */
function eventStream(id: unknown, tool: string): string {
  const eol = tool === "crlf" ? "\r\n" : tool === "cr" ? "\r" : "\n";
  const note = JSON.stringify({
    jsonrpc: "2.0",
    method: "notifications/message",
    params: { level: "info", data: `${tool} note ${WIDE}` },
  });
  const other = JSON.stringify({ jsonrpc: "2.0", id, result: { content: [] } });
  // The answer's JSON over three data lines (joined with "\n", still JSON).
  const answer = [
    `{"jsonrpc":"2.0","id":${JSON.stringify(id)},`,
    `"result":{"content":[{"type":"text",`,
    `"text":"${tool} answer ${WIDE}"}]}}`,
  ];
  if (tool === "mixed") {
    return `: a comment\r\nid: 1\rdata: ${note}\n\r\n` +
      `event: other\ndata: ${other}\r\rretry: 10\r\n` +
      `data:${answer[0]}\r\ndata: ${answer[1]}\rdata: ${answer[2]}\n\n`;
  }
  return `: a comment${eol}id: 1${eol}data: ${note}${eol}${eol}` +
    `event: other${eol}data: ${other}${eol}${eol}` +
    `event: message${eol}${answer.map((line) => `data: ${line}`).join(eol)}${eol}${eol}`;
}

/** The hand-written server: the tools `lf`, `crlf`, `cr` and `mixed` (event streams) and `json`. */
async function startFramingServer(): Promise<typeof server> {
  const http = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST") {
      res.writeHead(405).end();
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
        serverInfo: { name: "framing", version: "1" },
      }));
    } else if (message.method === "tools/call" && message.params.name === "json") {
      // No content-length: the body's end is the answer's end.
      res.writeHead(200, { "content-type": "application/json" });
      await writeSlowly(res, answer({ content: [{ type: "text", text: `json answer ${WIDE}` }] }));
    } else if (message.method === "tools/call") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      await writeSlowly(res, eventStream(message.id, message.params.name));
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(answer({}));
    }
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

before(async () => {
  home = await startProxyHome();
  ({ auth, dir, credentials } = home);
  server = await startFramingServer();
});

after(async () => {
  await server.close();
  await home.close();
});

describe("kognic-auth mcp-proxy reading a server's answers", () => {
  it("passes on every message event whole, whatever the line ends and wherever a write is cut", async () => {
    const spawned = spawnCommand(
      StdioClientTransport,
      [...cliCommand(), ...proxyArgs(server.url, auth.url, credentials)],
      { env: isolatedXdg(dir) },
    );
    const notes: string[] = [];
    const client = new Client({ name: "framing-test", version: "1.0.0" });
    client.setNotificationHandler(
      LoggingMessageNotificationSchema,
      (notification: { params: { data: unknown } }) =>
        void notes.push(String(notification.params.data)),
    );
    await connectClient(client, spawned.transport);
    const tools = ["lf", "crlf", "cr", "mixed", "json"];
    try {
      // One after the other, then all at once (the reads of several streams interleave).
      for (const tool of tools) {
        const result = await client.callTool({ name: tool, arguments: {} });
        assert.deepEqual(result.content, [{ type: "text", text: `${tool} answer ${WIDE}` }]);
      }
      const contents = await Promise.all(
        tools.map(async (tool) => (await client.callTool({ name: tool, arguments: {} })).content),
      );
      assert.deepEqual(
        contents,
        tools.map((tool) => [{ type: "text", text: `${tool} answer ${WIDE}` }]),
      );
    } finally {
      await client.close();
    }
    // Each event stream's notification, twice; the events of another type never.
    assert.deepEqual(
      notes.sort(),
      ["cr", "cr", "crlf", "crlf", "lf", "lf", "mixed", "mixed"].map((tool) =>
        `${tool} note ${WIDE}`
      ),
    );
    const answers = spawned.received.filter((text) => text.includes('"content"'));
    assert.equal(answers.length, tools.length * 2, answers.join("\n"));
    assert.ok(
      !answers.some((text) => text.includes('"content":[]')),
      "an `other` event came through",
    );
    assert.equal(spawned.stderr(), "");
  });
});

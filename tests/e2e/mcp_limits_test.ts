// The ends of `kognic-auth mcp-proxy`'s cross-era bridging, end to end with real components (the
// official SDKs on both sides, the proxy a subprocess, a real token check on the server):
//
// - a 2026-07-28 server ending the `subscriptions/listen` stream the proxy keeps open for a 2025
//   client, gracefully (its handler closing) or by dropping the connection: the proxy says so
//   (`-v`), does not reopen it by itself, goes on serving, and opens a new one when the client
//   next subscribes; a 2026-07-28 client of such a server, forwarded as it is, is told its
//   stream ended;
// - a client that does not answer the server's requests within `--input-timeout`: a 2025 client
//   a 2026-07-28 server's request, a 2026-07-28 client an old-era server's (by retrying the
//   call): the round ends with the documented error on both sides, the proxy goes on serving,
//   and no token reaches the client; and `--input-timeout` itself is checked.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as StdioV1 } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioV2 } from "@modelcontextprotocol/client/stdio";
import { MEMO_URI, startMcpServer, type TestMcpServer } from "../_helpers/mcp_server.ts";
import { startMcpServerV2, type TestMcpServerV2 } from "../_helpers/mcp_server_v2.ts";
import {
  type CallResult,
  connectClient,
  proxyArgs,
  type ProxyHome,
  spawnCommand,
  startProxyHome,
  toolClient,
} from "../_helpers/mcp_client.ts";
import { childEnv, cliCommand, CLIENT_SECRET, isolatedXdg, record } from "../_helpers/mod.ts";

let home: ProxyHome;
let oldServer: TestMcpServer;

before(async () => {
  home = await startProxyHome();
  oldServer = await startMcpServer(home.auth, { ask: true });
});

after(async () => {
  await oldServer.close();
  await home.close();
});

/** The proxy's command line for `url`, with `-v` and `extra` arguments. */
function proxyCommand(url: string, extra: string[] = []): string[] {
  return [...cliCommand(), "-v", ...proxyArgs(url, home.auth.url, home.credentials), ...extra];
}

/** Waits until `check` holds, checking every 50 ms; fails with `what` after 60 s (a bound only). */
async function until(what: string | (() => string), check: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() >= deadline) {
      assert.fail(`${typeof what === "string" ? what : what()} within 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Asserts the proxy still serves calls: the echo tool answers. */
async function assertServing(client: Parameters<typeof toolClient>[0]): Promise<void> {
  assert.equal((await toolClient(client).call("echo", { text: "on" })).content[0].text, "on");
}

/** Asserts no token the server was sent, and not the client secret, is in `texts`. */
function assertNoToken(server: { tokensSeen: ReadonlySet<string> }, texts: string[]): void {
  assert.ok(server.tokensSeen.size > 0);
  for (const text of texts) {
    assert.ok(!text.includes(CLIENT_SECRET), "the secret reached the client");
    for (const token of server.tokensSeen) assert.ok(!text.includes(token), "a token leaked");
  }
}

/** How many `subscriptions/listen` requests the server got. */
function listens(server: TestMcpServerV2): number {
  return server.methods.filter((method) => method === "subscriptions/listen").length;
}

describe("a 2026-07-28 server ends the subscriptions/listen stream", () => {
  for (const how of ["graceful", "abrupt"] as const) {
    // On Bun under load, a listen stream dropped by the server is not always
    // seen to end by the proxy's SDK client (Bun's node:http server and fetch
    // between them), so the test would wait forever; not yet explained. The
    // abrupt end is taken on Deno and Node.js, and on Bun for a new-era client.
    const bunDrop = how === "abrupt" && "Bun" in globalThis &&
      "on Bun under load a dropped listen stream is not always seen to end (not yet explained)";
    it(`kept for a 2025 client (${how}): said with -v, not reopened, reopened by a subscribe`, {
      skip: bunDrop,
    }, async () => {
      await using server = await startMcpServerV2(home.auth, { legacy: "reject", ask: true });
      const spawned = spawnCommand(StdioV1, proxyCommand(server.url), {
        env: isolatedXdg(home.dir),
      });
      const client = new ClientV1({ name: "old-era-client", version: "1.0.0" });
      const updated: string[] = [];
      client.setNotificationHandler(
        ResourceUpdatedNotificationSchema,
        (notification: { params: { uri: string } }) => void updated.push(notification.params.uri),
      );
      await connectClient(client, spawned.transport);
      try {
        await until("the proxy opened its listen stream", () => server.openListens === 1);
        await server.endListens(how);
        const cause = how === "graceful" ? "graceful" : "remote";
        await until(
          () => `a -v line that the stream ended (stderr: ${spawned.stderr().slice(-600)})`,
          () =>
            spawned.stderr().includes(
              `ended the stream of change notifications (${cause}); it is not reopened`,
            ),
        );
        // The proxy goes on serving calls, and did not open another stream by itself.
        const opened = listens(server);
        await assertServing(client);
        assert.equal(listens(server), opened);
        assert.equal(server.openListens, 0);
        // The client's next subscribe opens a new one, on which the updates come again.
        await client.subscribeResource({ uri: MEMO_URI });
        assert.equal(listens(server), opened + 1);
        const deadline = Date.now() + 60_000;
        while (!updated.includes(MEMO_URI)) {
          assert.ok(Date.now() < deadline, "no notifications/resources/updated within 60 s");
          const result = await client.callTool({ name: "change", arguments: {} }) as CallResult;
          assert.equal(result.content[0].text, "changed");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await client.close();
        record(spawned.stderr());
      }
      assertNoToken(server, [...spawned.received, spawned.stderr()]);
    });
  }

  for (const how of ["graceful", "abrupt"] as const) {
    it(`opened by a 2026-07-28 client, forwarded as it is (${how}): the client is told`, async () => {
      await using server = await startMcpServerV2(home.auth, { legacy: "reject", ask: true });
      const spawned = spawnCommand(StdioV2, proxyCommand(server.url), {
        env: isolatedXdg(home.dir),
      });
      const client = new ClientV2(
        { name: "new-era-client", version: "2.0.0" },
        { versionNegotiation: { mode: "auto" } },
      );
      await connectClient(client, spawned.transport);
      try {
        assert.equal(client.getProtocolEra(), "modern");
        const listening = await client.listen({ toolsListChanged: true });
        await until("the listen stream reached the server", () => server.openListens === 1);
        await server.endListens(how);
        const cause = await listening.closed;
        assert.equal(cause, how === "graceful" ? "graceful" : "remote");
        await assertServing(client);
      } finally {
        await client.close();
        record(spawned.stderr());
      }
      assertNoToken(server, [...spawned.received, spawned.stderr()]);
    });
  }
});

describe("mcp-proxy --input-timeout: a client that does not answer the server's requests", () => {
  it("2025 client, 2026-07-28 server: the call ends with the error, the client's request is cancelled", async () => {
    await using server = await startMcpServerV2(home.auth, { legacy: "reject", ask: true });
    const spawned = spawnCommand(
      StdioV1,
      proxyCommand(server.url, ["--input-timeout", "1"]),
      { env: isolatedXdg(home.dir) },
    );
    const client = new ClientV1(
      { name: "old-era-client", version: "1.0.0" },
      { capabilities: { elicitation: {}, sampling: {}, roots: {} } },
    );
    const questions: string[] = [];
    // Never answered: the handler ends only if the request is cancelled.
    client.setRequestHandler(
      ElicitRequestSchema,
      (request: { params: { message?: string } }, extra: { signal: AbortSignal }) =>
        new Promise((resolve) => {
          questions.push(String(request.params.message));
          extra.signal.addEventListener("abort", () => resolve({ action: "decline" }));
        }),
    );
    // The round's other request (a completion) is answered at once.
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      role: "assistant" as const,
      content: { type: "text" as const, text: "hi" },
      model: "test",
    }));
    await connectClient(client, spawned.transport);
    try {
      // The SDK's own timeout (60 s) is far above the proxy's 1 s: only the proxy ends the call.
      await assert.rejects(
        client.callTool({ name: "ask", arguments: {} }),
        (error: { code?: unknown; message?: unknown }) => {
          assert.equal(error.code, -32603);
          assert.match(
            String(error.message),
            /the MCP client did not answer elicitation\/create within 1 s/,
          );
          return true;
        },
      );
      assert.deepEqual(questions, ["What is your name? (asked with [token])"]);
      // The client was told its request is withdrawn (SDK v1 ignores a cancellation of request 0,
      // so the wire is checked, not its handler's signal).
      const messages = spawned.received.map((text) => JSON.parse(text));
      const elicitation = messages.find((message) => message.method === "elicitation/create");
      assert.ok(elicitation, "the client was asked");
      await until(
        "the client's request was cancelled",
        () =>
          spawned.received.some((text) => {
            const message = JSON.parse(text);
            return message.method === "notifications/cancelled" &&
              message.params?.requestId === elicitation.id;
          }),
      );
      // stderr is a pipe of its own: its line may come after the answer on stdout.
      await until(
        "the -v line",
        () =>
          /the MCP client did not answer elicitation\/create within 1 s; \S+ is told so/.test(
            spawned.stderr(),
          ),
      );
      // The proxy goes on serving.
      await assertServing(client);
    } finally {
      await client.close();
      record(spawned.stderr());
    }
    assertNoToken(server, [...spawned.received, spawned.stderr()]);
  });

  it("2026-07-28 client, 2025 server: the server is told, the late retry is refused", async () => {
    const errors = oldServer.askErrors.length;
    const spawned = spawnCommand(
      StdioV2,
      proxyCommand(oldServer.url, ["--input-timeout", "1"]),
      { env: isolatedXdg(home.dir) },
    );
    const client = new ClientV2(
      { name: "new-era-client", version: "2.0.0" },
      { versionNegotiation: { mode: "auto" }, capabilities: { elicitation: { form: {} } } },
    );
    const questions: string[] = [];
    // Answered only once the proxy has given the round up: the retry comes too late.
    client.setRequestHandler("elicitation/create", async (request) => {
      questions.push(String((request.params as { message?: unknown }).message));
      await until(
        "the proxy gave the round up",
        () => /within 1 s; the call/.test(spawned.stderr()),
      );
      return { action: "accept" as const, content: { name: "Ada" } };
    });
    await connectClient(client, spawned.transport);
    try {
      assert.equal(client.getProtocolEra(), "modern");
      await assert.rejects(
        client.callTool({ name: "ask", arguments: {} }),
        /Invalid or expired requestState/,
      );
      assert.deepEqual(questions, ["What is your name? (asked with [token])"]);
      assert.match(
        spawned.stderr(),
        /the MCP client did not retry the call with its answers within 1 s; the call to \S+ was ended/,
      );
      // The server's request was answered with the error.
      await until("the server got the error", () => oldServer.askErrors.length > errors);
      assert.match(
        oldServer.askErrors[errors],
        /^error -32603: .*the MCP client did not retry the call with its answers within 1 s/,
      );
      await assertServing(client);
    } finally {
      await client.close();
      record(spawned.stderr());
    }
    assertNoToken(oldServer, [...spawned.received, spawned.stderr()]);
  });

  for (const bad of ["0", "-1", "abc", "3601", "1e3", ""]) {
    it(`refuses --input-timeout "${bad}" before sending anything (exit 2)`, () => {
      const [program, ...args] = proxyCommand(oldServer.url, [`--input-timeout=${bad}`]);
      const accepted = oldServer.accepted;
      const run = spawnSync(program, args, {
        env: childEnv(program, isolatedXdg(home.dir)),
        input: "",
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stdout, "");
      assert.match(
        run.stderr,
        bad === "" ? /--input-timeout/ : new RegExp(
          `--input-timeout must be a number of seconds above 0 and at most 3600, not "${bad}"`,
        ),
      );
      assert.equal(oldServer.accepted, accepted);
    });
  }
});

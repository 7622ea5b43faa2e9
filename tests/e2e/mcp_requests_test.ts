// The server's requests of the client (elicitation, sampling, roots) through `kognic-auth
// mcp-proxy`, end to end with real components, for each pair of protocol eras: an MCP client of
// either era (SDK v1 for 2025-11-25, SDK v2 in `auto` mode for 2026-07-28) spawns the proxy over
// stdio and answers the requests; the server of either era (SDK v1's stateful server, which
// sends them as JSON-RPC requests on the call's event stream, or SDK v2's of 2026-07-28 only,
// which returns them as `input_required` results over two rounds, two requests in the first)
// asks them inside a tool call, with the call's token in the elicitation's message. The
// server's change notification (`notifications/tools/list_changed`) reaches the client too:
// unasked from a 2025 server, on a `subscriptions/listen` stream from a 2026-07-28 server. A
// 2025 server's request outside any call, which a 2026-07-28 client cannot be asked, is
// answered with an error.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { Client as ClientV2 } from "@modelcontextprotocol/client";
import { type AskAnswers, MEMO_URI, type TokenCheckedServer } from "../_helpers/mcp_server.ts";
import type { CallResult } from "../_helpers/mcp_client.ts";
import { connectProxy, type ProxyClient, useProxyEras } from "../_helpers/mcp_eras.ts";
import { CLIENT_SECRET } from "../_helpers/mod.ts";

type AskServer = TokenCheckedServer & { readonly asked: AskAnswers };

const eras = useProxyEras({ ask: true });

const ROOT = "file:///work/ada";

/** A client of the proxy, with what it was asked and everything it received. */
interface AskingClient extends ProxyClient {
  /** The messages of the elicitations the client was sent. */
  questions: string[];
  /** How many times the client was asked its roots. */
  rootLists(): number;
  /** How many times the client was asked for a completion. */
  samples(): number;
  /** How many `notifications/tools/list_changed` the client received. */
  changes(): number;
  /** Resolves at the next `notifications/tools/list_changed`, or after `ms`. */
  nextChange(ms: number): Promise<void>;
  /** Sends `notifications/roots/list_changed` (a 2025 client). */
  rootsChanged(): Promise<void>;
  /** Subscribes to a resource's updates (a 2025 client; a 2026-07-28 one listens to MEMO_URI's). */
  subscribe(uri: string): Promise<void>;
  /** The URIs of the `notifications/resources/updated` the client received. */
  updated: string[];
  /** Closes the `subscriptions/listen` stream (a 2026-07-28 client). */
  unlisten(): Promise<void>;
}

/** A client of the proxy that answers elicitations with the name Ada and roots with ROOT. */
async function connect(era: "old" | "new", url: string): Promise<AskingClient> {
  const questions: string[] = [];
  let rootLists = 0;
  const elicit = (request: { params: { message?: string } }) => {
    const message = String(request.params.message);
    questions.push(message);
    // A question with a tag (`#tag`) is answered with the name and the tag.
    const tag = / #(\w+)$/.exec(message)?.[1];
    return { action: "accept" as const, content: { name: tag ? `Ada#${tag}` : "Ada" } };
  };
  let samples = 0;
  const sample = () => {
    samples++;
    return {
      role: "assistant" as const,
      content: { type: "text" as const, text: "hi" },
      model: "test",
    };
  };
  const roots = () => {
    rootLists++;
    return { roots: [{ uri: ROOT, name: "work" }] };
  };
  const updated: string[] = [];
  let listening: { close(): Promise<void> } | undefined;
  let changes = 0;
  let changed: (() => void) | undefined;
  const onChange = () => {
    changes++;
    changed?.();
  };
  const proxy = await connectProxy(eras.home, era, url, {
    oldOptions: { capabilities: { elicitation: {}, sampling: {}, roots: { listChanged: true } } },
    newOptions: { capabilities: { elicitation: { form: {} }, sampling: {}, roots: {} } },
    old: (client) => {
      client.setRequestHandler(ElicitRequestSchema, elicit);
      client.setRequestHandler(ListRootsRequestSchema, roots);
      client.setRequestHandler(CreateMessageRequestSchema, sample);
      client.setNotificationHandler(ToolListChangedNotificationSchema, onChange);
      client.setNotificationHandler(
        ResourceUpdatedNotificationSchema,
        (notification: { params: { uri: string } }) => void updated.push(notification.params.uri),
      );
    },
    new: (client) => {
      client.setRequestHandler("elicitation/create", elicit);
      client.setRequestHandler("roots/list", roots);
      client.setRequestHandler("sampling/createMessage", sample);
      client.setNotificationHandler("notifications/tools/list_changed", onChange);
      client.setNotificationHandler(
        "notifications/resources/updated",
        (notification) => void updated.push(notification.params.uri),
      );
    },
    // A client of 2026-07-28 asks for change notifications, and for the updates of a resource.
    connected: async (client) => {
      if (client instanceof ClientV2 && client.getProtocolEra() === "modern") {
        listening = await client.listen({
          toolsListChanged: true,
          resourceSubscriptions: [MEMO_URI],
        });
      }
    },
  });
  const connected = proxy.client;
  const rootsChanged = async (): Promise<void> => {
    assert.ok(connected instanceof ClientV1, "only the old-era client says its roots changed");
    await connected.sendRootsListChanged();
  };
  const subscribe = async (uri: string): Promise<void> => {
    assert.ok(connected instanceof ClientV1, "only the old-era client subscribes this way");
    await connected.subscribeResource({ uri });
  };
  return {
    unlisten: async () => {
      assert.ok(listening, "the client listens");
      await listening.close();
    },
    rootsChanged,
    subscribe,
    updated,
    ...proxy,
    questions,
    rootLists: () => rootLists,
    samples: () => samples,
    changes: () => changes,
    nextChange: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        changed = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
  };
}

/**
 * A 2025 server asks the client its roots outside any call; the answer the server gets (see
 * `listRootsOutsideCalls`), and the proxy's stderr.
 */
async function rootsOutsideCalls(era: "old" | "new"): Promise<{ outcome: string; stderr: string }> {
  const proxy = await connect(era, eras.oldServer.url);
  let outcome;
  try {
    // A call first, so that the session's event stream is open before the server asks.
    const result: CallResult = await proxy.call("echo", { text: "open" });
    assert.equal(result.content[0].text, "open");
    const deadline = Date.now() + 60_000;
    do {
      assert.ok(Date.now() < deadline, "the session's event stream did not open within 60 s");
      outcome = await eras.oldServer.listRootsOutsideCalls();
      // Before the stream is open, the server's request goes nowhere and times out.
    } while (/not connected|no session|timed out/i.test(outcome));
  } finally {
    await proxy.close();
  }
  return { outcome, stderr: proxy.stderr() };
}

/** Calls `change` until the client has the update of MEMO_URI it subscribed to (60 s at most). */
async function updateArrives(proxy: AskingClient): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!proxy.updated.includes(MEMO_URI)) {
    assert.ok(Date.now() < deadline, "no notifications/resources/updated within 60 s");
    const result: CallResult = await proxy.call("change", {});
    assert.equal(result.content[0].text, "changed");
    await proxy.nextChange(1000);
  }
}

/**
 * The checks of every era pair: `ask` is answered with what the client answered the server,
 * twice in a row; the client was asked with the token replaced; no token reached the client.
 */
async function askThrough(
  era: "old" | "new",
  server: AskServer,
  mode: RegExp,
  also?: (proxy: AskingClient) => Promise<void>,
): Promise<void> {
  const asked = server.asked.names.length;
  const proxy = await connect(era, server.url);
  try {
    assert.equal(proxy.era, era === "old" ? "legacy" : "modern");
    for (let call = 0; call < 2; call++) {
      const result: CallResult = await proxy.call("ask", {});
      assert.notEqual(result.isError, true, JSON.stringify(result));
      assert.equal(
        result.content[0].text,
        `hello Ada; the model says hi; roots ${ROOT}; token [token]`,
      );
    }
    // The server's change notification reaches the client. The proxy's stream for them may
    // open after the first call; each call sends one, until one arrives (the deadline a bound).
    const deadline = Date.now() + 60_000;
    while (proxy.changes() === 0) {
      assert.ok(Date.now() < deadline, "no notifications/tools/list_changed within 60 s");
      const result: CallResult = await proxy.call("change", {});
      assert.equal(result.content[0].text, "changed");
      await proxy.nextChange(1000);
    }
    await also?.(proxy);
    // The same proxy still serves plain calls.
    const echoed: CallResult = await proxy.call("echo", { text: "after" });
    assert.equal(echoed.content[0].text, "after");
  } finally {
    await proxy.close();
  }
  // The server got the client's answers: the name of the elicitation, the root of the listing.
  assert.deepEqual(server.asked.names.slice(asked), ["Ada", "Ada"]);
  assert.deepEqual(server.asked.roots.slice(asked), [ROOT, ROOT]);
  assert.deepEqual(server.asked.samples.slice(asked), ["hi", "hi"]);
  assert.deepEqual(proxy.questions, Array(2).fill("What is your name? (asked with [token])"));
  assert.equal(proxy.rootLists(), 2);
  assert.equal(proxy.samples(), 2);
  assert.match(proxy.stderr(), mode);
  assert.ok(server.tokensSeen.size > 0);
  for (const message of [...proxy.received, proxy.stderr()]) {
    assert.ok(!message.includes(CLIENT_SECRET), "the secret reached the client");
    for (const token of server.tokensSeen) {
      assert.ok(!message.includes(token), "a token reached the client");
    }
  }
}

describe("kognic-auth mcp-proxy passes the server's requests of the client on", () => {
  it("from a 2026-07-28 server (input_required) to an old-era client (JSON-RPC requests)", async () => {
    await askThrough(
      "old",
      eras.newServer,
      /bridging MCP 2025 \(initialize\) on stdio and MCP 2026-07-28/,
      async (proxy) => {
        // The new era has no word for it (the roots are asked within each call): one -v line.
        await proxy.rootsChanged();
        const deadline = Date.now() + 30_000;
        while (!/notifications\/roots\/list_changed is not passed on/.test(proxy.stderr())) {
          assert.ok(Date.now() < deadline, "no -v line for notifications/roots/list_changed");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        // `resources/subscribe` becomes the listen stream's filter: the update arrives.
        await proxy.subscribe(MEMO_URI);
        while (!proxy.updated.includes(MEMO_URI)) {
          assert.ok(Date.now() < deadline, "no notifications/resources/updated within 30 s");
          const result: CallResult = await proxy.call("change", {});
          assert.equal(result.content[0].text, "changed");
          await proxy.nextChange(1000);
        }
      },
    );
  });

  it("from an old-era server (JSON-RPC requests) to a 2026-07-28 client (input_required)", async () => {
    await askThrough(
      "new",
      eras.oldServer,
      /bridging MCP 2026-07-28 on stdio and MCP 2025 \(initialize\)/,
      async (proxy) => {
        // The proxy subscribed upstream to the resource the client's listen stream names...
        await updateArrives(proxy);
        assert.ok(eras.oldServer.subscriptions.has(MEMO_URI));
        // ...and unsubscribes when the stream closes.
        await proxy.unlisten();
        const deadline = Date.now() + 30_000;
        while (eras.oldServer.subscriptions.has(MEMO_URI)) {
          assert.ok(Date.now() < deadline, "no resources/unsubscribe within 30 s");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      },
    );
  });

  it("between a 2026-07-28 client and server, as they are", async () => {
    await askThrough(
      "new",
      eras.newServer,
      /forwarding MCP messages as they are \(MCP 2026-07-28\)/,
      updateArrives,
    );
  });

  it("between an old-era client and server, as they are", async () => {
    await askThrough(
      "old",
      eras.oldServer,
      /forwarding MCP messages as they are \(MCP 2025 \(initialize\)\)/,
    );
  });

  it("answers an old-era server's request outside a call with an error for a 2026-07-28 client", async () => {
    const { outcome, stderr } = await rootsOutsideCalls("new");
    assert.match(outcome, /^error -32603: .*cannot pass on roots\/list: .*none is in flight/);
    assert.match(stderr, /roots\/list from \S+ was refused/);
  });

  it("passes an old-era server's request outside a call to an old-era client", async () => {
    const { outcome } = await rootsOutsideCalls("old");
    assert.equal(outcome, `answered ${ROOT}`);
  });

  it("tells apart the calls of a 2026-07-28 client that an old-era server asks at once", async () => {
    const asked = eras.oldServer.asked.names.length;
    const proxy = await connect("new", eras.oldServer.url);
    const tags = ["a", "b", "c", "d"];
    try {
      // Each call's question ends with its tag, and the client answers with it: an answer
      // that reached another call's server request would show in that call's result.
      const results = await Promise.all(
        tags.map(async (tag): Promise<CallResult> => await proxy.call("ask", { tag })),
      );
      for (const [i, result] of results.entries()) {
        assert.notEqual(result.isError, true, JSON.stringify(result));
        assert.match(result.content[0].text, new RegExp(`^hello Ada#${tags[i]}; `));
      }
    } finally {
      await proxy.close();
    }
    assert.deepEqual(
      [...eras.oldServer.asked.names.slice(asked)].sort(),
      tags.map((tag) => `Ada#${tag}`),
    );
    assert.doesNotMatch(proxy.stderr(), /was refused/);
  });
});

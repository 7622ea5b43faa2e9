import assert from "node:assert/strict";
import { createServer } from "node:http";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { metrics, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { AuthSession } from "../../mod.ts";
import { MemoryTokenCache } from "../../config.ts";
import { openTelemetryListener } from "../../telemetry.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { CLIENT_ID, CLIENT_SECRET, CLIENTS, runCommand } from "../_helpers/mod.ts";

let server: LocalAuthServer;
const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const tokens: string[] = [];

before(async () => {
  server = await startAuthServer({ clients: CLIENTS });
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  );
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
});
after(async () => {
  await reader.shutdown();
  trace.disable();
  metrics.disable();
  await server.close();
});

const named = (name: string): ReadableSpan[] =>
  spans.getFinishedSpans().filter((s) => s.name === name);

describe("OpenTelemetry", () => {
  it("records a span per token acquisition and request, and cache hits and misses, in the SDK's exporter", async () => {
    const onEvent = await openTelemetryListener();
    const cache = new MemoryTokenCache();
    server.failTokenRequests({ status: 503, times: 1 });
    const first = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      retry: { baseDelay: 1, maxDelay: 2 },
      tokenCache: cache,
      onEvent,
    });
    tokens.push(await first.getAccessToken());
    const second = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, CLIENT_SECRET],
      tokenCache: cache,
      onEvent,
    });
    tokens.push(await second.getAccessToken());

    const acquisitions = named("kognic_auth.acquire_token");
    assert.deepEqual(
      acquisitions.map((s) => s.attributes["kognic_auth.token.source"]),
      ["request", "cache"],
    );
    const requests = named("kognic_auth.token_request");
    assert.deepEqual(requests.map((s) => s.attributes["http.response.status_code"]), [503, 200]);
    assert.equal(requests[0].status.code, 2, "the 503 attempt is an error span");
    assert.deepEqual(
      named("kognic_auth.token_cache").map((s) => s.attributes["kognic_auth.cache.result"]),
      ["miss", "hit"],
    );
    for (const span of spans.getFinishedSpans()) {
      assert.equal(span.instrumentationScope.name, "@kognic/auth");
    }
  });

  it("records a failed acquisition as an error span with the error code", async () => {
    const session = new AuthSession({
      authServer: server.url,
      auth: [CLIENT_ID, "wrong-secret"],
      onEvent: await openTelemetryListener(),
    });
    await assert.rejects(session.getAccessToken());
    const failed = named("kognic_auth.acquire_token").at(-1)!;
    assert.equal(failed.status.code, 2);
    assert.equal(failed.attributes["error.type"], "oauth_error");
    assert.equal(failed.attributes["http.response.status_code"], 401);
  });

  it("counts token requests by outcome and records their duration", async () => {
    await reader.forceFlush();
    const exported = metricExporter.getMetrics().at(-1)!;
    const all = exported.scopeMetrics.flatMap((scope) => scope.metrics);
    const counter = all.find((m) => m.descriptor.name === "kognic_auth.token.requests")!;
    const outcomes = counter.dataPoints.map((
      point,
    ) => [point.attributes["kognic_auth.outcome"], point.value]);
    assert.ok(outcomes.some(([outcome]) => outcome === "answered"));
    assert.ok(outcomes.some(([outcome]) => outcome === "retried"));
    assert.ok(outcomes.some(([outcome]) => outcome === "failed"));
    const histogram = all.find((m) => m.descriptor.name === "kognic_auth.token.request.duration")!;
    assert.equal(histogram.descriptor.unit, "ms");
    assert.ok(histogram.dataPoints.length > 0);
  });

  it("puts no secret and no token in any span or metric attribute", async () => {
    await reader.forceFlush();
    const text =
      JSON.stringify(spans.getFinishedSpans().map((s) => [s.name, s.attributes, s.status])) +
      JSON.stringify(metricExporter.getMetrics());
    assert.ok(!text.includes(CLIENT_SECRET));
    for (const token of tokens) assert.ok(!text.includes(token));
  });

  it(
    "on Deno with OTEL_DENO=true, the spans go to the runtime's own OTLP exporter",
    { skip: "Deno" in globalThis ? false : "OTEL_DENO is Deno's own OpenTelemetry" },
    async () => {
      const received: string[] = [];
      const collector = createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
          if (req.url === "/v1/traces") received.push(body);
          res.writeHead(200, { "content-type": "application/json" }).end("{}");
        });
      });
      await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
      const { port } = collector.address() as { port: number };
      try {
        const script = fileURLToPath(new URL("../testdata/otel/deno_otel.ts", import.meta.url));
        const { code, stderr } = await runCommand(
          [process.execPath, "run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", script],
          [],
          {
            env: {
              OTEL_DENO: "true",
              OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
              OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
              OTEL_SERVICE_NAME: "kognic-auth-test",
              KOGNIC_TEST_AUTH_SERVER: server.url,
              KOGNIC_CLIENT_ID: CLIENT_ID,
              KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
            },
            killAfter: 60_000,
          },
        );
        assert.equal(code, 0, stderr);
        const text = received.join("\n");
        assert.match(text, /kognic_auth\.acquire_token/);
        assert.match(text, /kognic_auth\.token_request/);
        assert.ok(!text.includes(CLIENT_SECRET));
      } finally {
        await new Promise<void>((resolve) => collector.close(() => resolve()));
      }
    },
  );
});

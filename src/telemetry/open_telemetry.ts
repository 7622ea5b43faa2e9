// OpenTelemetry spans and metrics from the session's and API client's events, through the optional
// peer `@opentelemetry/api` (on Deno with `OTEL_DENO=true`, the runtime's provider). No attribute
// carries a secret, token or URL user info.

import type { AuthEvent, AuthEventListener } from "../core/events.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { VERSION } from "../shared/version.ts";
import { importOptionalPeer } from "../shared/optional_peer.ts";

/** The instrumentation scope's name: the tracer's and the meter's. */
export const INSTRUMENTATION_NAME = "@kognic/auth";

/** Options of {@linkcode openTelemetryListener}. */
export interface OpenTelemetryOptions {
  /** The `@opentelemetry/api` module to use (a bundled copy). @default {the installed one} */
  api?: unknown;
}

type Attributes = Record<string, string | number | boolean>;
type SpanLike = {
  setStatus(status: { code: number; message?: string }): void;
  end(at?: Date): void;
};
type Instrument = { description?: string; unit?: string };

/** The part of `@opentelemetry/api` used here. */
interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): {
      startSpan(name: string, options: { startTime?: Date; attributes?: Attributes }): SpanLike;
    };
  };
  metrics: {
    getMeter(name: string, version?: string): {
      createCounter(name: string, options?: Instrument): { add(n: number, at?: Attributes): void };
      createHistogram(
        name: string,
        options?: Instrument,
      ): { record(n: number, at?: Attributes): void };
    };
  };
  SpanStatusCode: { OK: number; ERROR: number };
}

/**
 * An `onEvent` listener that turns events into OpenTelemetry data:
 *
 * - span `kognic_auth.acquire_token` for each token acquisition, with
 *   `kognic_auth.token.source` (`request` or `cache`) and
 *   `kognic_auth.token.waiters` (callers that shared it), or an error
 *   status with `error.type` (the error code) when it failed;
 * - span `kognic_auth.token_request` for each answered token request
 *   attempt, with `http.response.status_code` and `kognic_auth.attempt`;
 * - span `kognic_auth.token_cache` for each cache read
 *   (`kognic_auth.cache.result`: `hit` or `miss`), and
 *   `kognic_auth.token_cache.lock_wait` for a wait for another holder;
 * - counter `kognic_auth.token.requests` (by `kognic_auth.outcome`:
 *   `answered`, `retried`, `failed`, and `http.response.status_code`) and
 *   histogram `kognic_auth.token.request.duration` in milliseconds.
 *
 * @param options The API module, when not the one installed.
 * @returns The listener, for `AuthSession`'s (and `KognicClient`'s) `onEvent`.
 * @throws {ConfigurationError} When `@opentelemetry/api` is not installed.
 *
 * @example
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 * import { openTelemetryListener } from "@kognic/auth/telemetry";
 * const session = new AuthSession({ onEvent: await openTelemetryListener() });
 * ```
 */
export async function openTelemetryListener(
  options: OpenTelemetryOptions = {},
): Promise<AuthEventListener> {
  const api = (options.api as OtelApi | undefined) ||
    await importOptionalPeer<OtelApi>("@opentelemetry/api").catch(() => {
      throw new ConfigurationError(
        "OpenTelemetry needs the package @opentelemetry/api: install it with " +
          "`npm install @opentelemetry/api` (on Deno it comes through its npm: import)",
      );
    });
  if (typeof api?.trace?.getTracer !== "function" || typeof api.metrics?.getMeter !== "function") {
    throw new ConfigurationError(
      "The @opentelemetry/api module given has no trace and metrics API",
    );
  }
  const { OK, ERROR } = api.SpanStatusCode ?? { OK: 1, ERROR: 2 };
  const tracer = api.trace.getTracer(INSTRUMENTATION_NAME, VERSION);
  const meter = api.metrics.getMeter(INSTRUMENTATION_NAME, VERSION);
  const requests = meter.createCounter("kognic_auth.token.requests", {
    description: "Token request attempts, by outcome",
  });
  const durations = meter.createHistogram("kognic_auth.token.request.duration", {
    description: "Time from sending a token request to its whole answer",
    unit: "ms",
  });
  const span = (name: string, duration: number, attributes: Attributes, error?: string): void => {
    const end = new Date();
    const started = tracer.startSpan(name, {
      startTime: new Date(end.getTime() - Math.max(0, duration)),
      attributes,
    });
    started.setStatus(error ? { code: ERROR, message: error } : { code: OK });
    started.end(end);
  };
  return (event: AuthEvent): void => {
    switch (event.type) {
      case "token.acquired":
        span("kognic_auth.acquire_token", event.duration, {
          "kognic_auth.token.source": event.source,
          "kognic_auth.token.waiters": event.waiters,
        });
        break;
      case "token.failed":
        span("kognic_auth.acquire_token", event.duration, {
          "error.type": event.code,
          "kognic_auth.attempts": event.attempts,
          ...(event.status ? { "http.response.status_code": event.status } : {}),
        }, event.code);
        requests.add(1, { "kognic_auth.outcome": "failed", "error.type": event.code });
        break;
      case "token.response": {
        const status = { "http.response.status_code": event.status };
        const error = event.status >= 400 ? `HTTP ${event.status}` : undefined;
        const attributes = { ...status, "kognic_auth.attempt": event.attempt };
        span("kognic_auth.token_request", event.duration, attributes, error);
        requests.add(1, { "kognic_auth.outcome": "answered", ...status });
        durations.record(event.duration, status);
        break;
      }
      case "token.retry":
        requests.add(1, { "kognic_auth.outcome": "retried", "error.type": event.code });
        break;
      case "cache.hit":
      case "cache.miss":
        span("kognic_auth.token_cache", 0, {
          "kognic_auth.cache.result": event.type === "cache.hit" ? "hit" : "miss",
        });
        break;
      case "cache.lock_wait":
        span("kognic_auth.token_cache.lock_wait", event.duration, {});
        break;
    }
  };
}

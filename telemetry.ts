/**
 * OpenTelemetry for `@kognic/auth`: spans for token acquisition (a cache
 * hit or miss, a wait for another holder, a token request) and metrics for
 * token requests and their duration, made from the session's events through
 * `@opentelemetry/api` when the application has it. On Deno with
 * `OTEL_DENO=true` they join the runtime's own traces.
 *
 * @example
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 * import { openTelemetryListener } from "@kognic/auth/telemetry";
 *
 * const session = new AuthSession({ onEvent: await openTelemetryListener() });
 * ```
 *
 * @module
 */

export {
  INSTRUMENTATION_NAME,
  openTelemetryListener,
  type OpenTelemetryOptions,
} from "./src/telemetry/open_telemetry.ts";
export { describeEvent } from "./src/core/event_log.ts";

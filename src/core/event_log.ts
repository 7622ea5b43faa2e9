/**
 * Events as one line each (`-v`, `KOGNIC_AUTH_LOG`, the once-per-origin
 * unauthenticated warning). Loaded only when something logs.
 *
 * @module
 */

// Reach every module mod.ts loads, so a bundler shares one chunk (docs/architecture.md).
import "./options.ts";
import "./events.ts";
import "./access_token.ts";
import "./egress.ts";
import type { AuthEvent } from "./events.ts";
import { type EnvSource, peekEnv } from "../shared/env_var.ts";
import { redact } from "../shared/redact.ts";

/** The levels of `KOGNIC_AUTH_LOG`, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

const LEVEL_OF: Record<AuthEvent["type"], LogLevel> = {
  "token.request": "debug",
  "token.response": "debug",
  "token.retry": "info",
  "token.failed": "warn",
  "token.acquired": "info",
  "token.renewal": "debug",
  "cache.hit": "debug",
  "cache.miss": "debug",
  "cache.lock_wait": "info",
  "request.replay": "info",
  "request.unauthenticated": "warn",
  "api.retry": "info",
  "api.deprecation": "warn",
};

/** The level an event is logged at. */
export function levelOf(event: AuthEvent): LogLevel {
  return LEVEL_OF[event.type] ?? "debug";
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

/**
 * An event as one line, such as `token request attempt 2 failed
 * (token_network_error, HTTP 503); retrying in 412 ms`: the line
 * `KOGNIC_AUTH_LOG` writes (without its `kognic-auth: ` prefix), for logs of
 * your own. Like the events, it never holds a secret or a token.
 *
 * @param event The event.
 * @returns The line, without a trailing newline.
 *
 * @example
 * ```ts
 * import { AuthSession } from "@kognic/auth";
 * import { describeEvent } from "@kognic/auth/telemetry";
 *
 * const session = new AuthSession({ onEvent: (event) => console.debug(describeEvent(event)) });
 * ```
 */
export function describeEvent(event: AuthEvent): string {
  switch (event.type) {
    case "token.request":
      return `token request attempt ${event.attempt} (${event.grant}) to ${event.url}`;
    case "token.response":
      return `token endpoint answered HTTP ${event.status} to attempt ${event.attempt} in ${
        ms(event.duration)
      }`;
    case "token.retry":
      return `token request attempt ${event.attempt} failed (${event.code}${
        event.status ? `, HTTP ${event.status}` : ""
      }); retrying in ${ms(event.delay)}`;
    case "token.failed":
      return `token request failed after ${event.attempts} attempt${
        event.attempts === 1 ? "" : "s"
      } in ${ms(event.duration)} (${event.code}${event.status ? `, HTTP ${event.status}` : ""})`;
    case "token.acquired":
      return `token from ${event.source === "request" ? "the auth server" : "the token cache"} in ${
        ms(event.duration)
      }${event.waiters > 1 ? ` for ${event.waiters} callers` : ""}, expires at ${
        new Date(event.expiresAt).toISOString()
      }`;
    case "token.renewal":
      return `getting a new token (${event.reason.replaceAll("_", " ")})`;
    case "cache.hit":
      return `token cache hit for ${event.key}`;
    case "cache.miss":
      return `token cache miss for ${event.key}`;
    case "cache.lock_wait":
      return `waited ${ms(event.duration)} for the token cache lock of ${event.key}`;
    case "request.replay":
      return `${event.method} ${event.url} answered 401; replaying once with a new token`;
    case "request.unauthenticated":
      return `${event.method} to ${event.origin} sent without the token: the origin is not allowed`;
    case "api.retry":
      return `${event.method} ${event.url} failed (${
        event.status ? `HTTP ${event.status}` : event.code ?? "network error"
      }); attempt ${event.attempt} in ${ms(event.delay)}`;
    case "api.deprecation":
      return event.message;
  }
}

/**
 * Writes `event` to stderr (`console.error`) as `kognic-auth: <line>` when
 * its level is at least `level`.
 *
 * @param event The event.
 * @param level The `KOGNIC_AUTH_LOG` value; an unknown value logs at `info`.
 */
export function logEvent(event: AuthEvent, level: string): void {
  const threshold = LOG_LEVELS.indexOf(level.toLowerCase() as LogLevel);
  const at = LOG_LEVELS.indexOf(levelOf(event));
  if (at >= (threshold < 0 ? 1 : threshold)) {
    // Every line passes the redactor: an event may carry text a server chose.
    console.error(`kognic-auth: ${redact(describeEvent(event))}`);
  }
}

/** The `KOGNIC_AUTH_LOG` value that silences the log, the unauthenticated-request warning included. */
export const LOG_OFF = "off";

/** The most origins remembered for the once-per-origin warning; later ones go unreported. */
export const MAX_WARNED_ORIGINS = 256;

/** Origins already warned about in this process (bounded by {@linkcode MAX_WARNED_ORIGINS}). */
const warnedOrigins = new Set<string>();

/**
 * Whether a request sent without the token to `origin` should be reported:
 * true the first time for each origin in the process (at most
 * {@linkcode MAX_WARNED_ORIGINS} origins), false after.
 */
function firstTimeFor(origin: string): boolean {
  if (warnedOrigins.has(origin) || warnedOrigins.size >= MAX_WARNED_ORIGINS) return false;
  warnedOrigins.add(origin);
  return true;
}

/**
 * The warning for a request sent without the token because its origin is not
 * allowed, written once per origin even when `KOGNIC_AUTH_LOG` is unset.
 *
 * @param event The event.
 * @returns The line, without a trailing newline.
 */
export function describeUnauthenticated(
  event: Extract<AuthEvent, { type: "request.unauthenticated" }>,
): string {
  return `${describeEvent(event)} (allowedOrigins); the server will likely answer 401. ` +
    `Said once per origin; an onEvent listener or KOGNIC_AUTH_LOG=${LOG_OFF} silences it`;
}

/**
 * What a session does with its events when it has no `onEvent` listener:
 * a request sent without the token because its origin is not allowed is
 * reported on stderr once per origin in the process (every time at
 * `KOGNIC_AUTH_LOG=debug`); with `KOGNIC_AUTH_LOG=debug|info|warn`, the other
 * events of that level and above too; `KOGNIC_AUTH_LOG=off` writes nothing.
 *
 * @param env Environment variables to read instead of the process's.
 * @returns A listener, or `undefined` when `KOGNIC_AUTH_LOG=off`.
 */
export function loggerFromEnv(env?: EnvSource): ((event: AuthEvent) => void) | undefined {
  const level = peekEnv("KOGNIC_AUTH_LOG", env)?.toLowerCase();
  if (level === LOG_OFF) return undefined;
  return (event) => {
    if (event.type === "request.unauthenticated") {
      if (level === "debug") logEvent(event, level);
      else if (firstTimeFor(event.origin)) {
        console.error(`kognic-auth: ${describeUnauthenticated(event)}`);
      }
    } else if (level) logEvent(event, level);
  };
}

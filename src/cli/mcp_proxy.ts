// `kognic-auth mcp-proxy URL`: an MCP stdio server for the MCP client, and an
// MCP Streamable HTTP client to URL, in whichever protocol era each side
// speaks (the bridge itself is mcp_bridge.ts). Every HTTP request to URL goes
// through AuthSession.fetch, so it carries a current token (renewed ahead of
// expiry, one token request for any number of messages in flight, a 401
// renewed and replayed once). stdout carries only MCP messages, with any
// token a server echoes replaced; stderr only diagnostics, never a token.

import { loadClient } from "./api_client.ts";
import type { EnvSource } from "../../mod.ts";
import { type Debug, describe } from "./common.ts";
import { chooseToken, type FlagValues, tokenWithin } from "./token_choice.ts";
import { UsageError } from "./skeleton.ts";
import { cliFetch } from "./common.ts";
import { checkMcpSdk } from "./mcp_sdk.ts";
import { INPUT_WAIT_MS, runMcpBridge } from "./mcp_bridge.ts";

/** What the proxy reads and writes besides stdin and stdout, which carry MCP. */
export interface McpProxyIO {
  /** Writes a diagnostic line to standard error. */
  stderr(text: string): void;
  /** Environment variables. @default {the process's} */
  env?: EnvSource;
  /** The fetch of token requests. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

// A header name is an RFC 9110 token; a value has no line breaks.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Headers the transport or the session sets; a -H for them would break the session.
const RESERVED = new Set([
  "content-type",
  "accept",
  "mcp-session-id",
  "mcp-protocol-version",
  "mcp-method",
  "mcp-name",
]);
const ERROR_TEXT_LIMIT = 500;
/** The most `--input-timeout` may be, in seconds. */
const MAX_INPUT_TIMEOUT_SECONDS = 3600;
/** The command whose help usage errors point to. */
const COMMAND = "kognic-auth mcp-proxy";

/** `-H "Key: Value"` flags as a header object. */
export function parseHeaderFlags(flags: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const flag of flags) {
    const colon = flag.indexOf(":");
    const name = colon > 0 ? flag.slice(0, colon).trim() : "";
    const value = colon > 0 ? flag.slice(colon + 1).trim() : "";
    if (!HEADER_NAME.test(name)) {
      throw new UsageError(
        `-H needs "Name: value" with a header name before the colon, not "${flag.slice(0, 80)}"`,
        COMMAND,
      );
    }
    // deno-lint-ignore no-control-regex
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) {
      throw new UsageError(`-H ${name}: the value has a control character`, COMMAND);
    }
    if (RESERVED.has(name.toLowerCase())) {
      throw new UsageError(`-H ${name}: this header is set by the MCP transport itself`, COMMAND);
    }
    headers[name] = value;
  }
  return headers;
}

/**
 * `--input-timeout SECONDS` in ms: how long the client's answers to the server's requests may take
 * across eras (default 600 s).
 */
export function inputTimeoutFlag(values: FlagValues): number {
  const text = values["input-timeout"];
  if (text === undefined) return INPUT_WAIT_MS;
  const seconds = typeof text === "string" && /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= MAX_INPUT_TIMEOUT_SECONDS)) {
    throw new UsageError(
      `--input-timeout must be a number of seconds above 0 and at most ${MAX_INPUT_TIMEOUT_SECONDS}, not "${
        String(text).slice(0, 40)
      }"`,
      COMMAND,
    );
  }
  return Math.round(seconds * 1000);
}

/**
 * Runs the proxy until the MCP client closes stdin; returns the exit code.
 * The token is fetched before the first message is read, so that missing
 * credentials or an unreachable auth server fail at once with their message.
 */
export async function runMcpProxy(
  values: FlagValues,
  positionals: string[],
  io: McpProxyIO,
  debug: Debug,
): Promise<number> {
  const started = performance.now();
  // The bridge names itself with the package's version, from @kognic/auth/client.
  await loadClient();
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "mcp-proxy needs the MCP server's URL" : "mcp-proxy takes one URL",
    );
  }
  let url: URL;
  try {
    url = new URL(positionals[0]);
  } catch {
    throw new UsageError(
      `mcp-proxy: not a valid absolute URL: "${positionals[0].slice(0, 200)}"`,
      COMMAND,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`mcp-proxy needs an http or https URL, not ${url.protocol}`, COMMAND);
  }
  const extraHeaders = parseHeaderFlags((values.H as string[] | undefined) ?? []);
  const inputWaitMs = inputTimeoutFlag(values);
  const where = `${url.origin}${url.pathname}`;
  // First, so that a missing SDK is reported before anything else is tried.
  checkMcpSdk();

  // The tokens sent (the latest 64), to keep them out of every diagnostic.
  const tokens = new Set<string>();
  const clean = (text: string): string => {
    let out = text;
    for (const token of tokens) out = out.split(token).join("[token]");
    return describe(out).slice(0, ERROR_TEXT_LIMIT);
  };
  // Through the proxy of HTTPS_PROXY and the like, when one is set (on Node, undici's).
  const runtimeFetch = await cliFetch(undefined, io.env, debug);
  const tokenFetch = io.fetch ?? runtimeFetch;
  let tokenUrl = "";
  // Token requests may use the given fetch; the MCP traffic, streamed, uses the runtime's.
  const sessionFetch: typeof fetch = (input, init) => {
    if ((input instanceof Request ? input.url : String(input)) === tokenUrl) {
      return tokenFetch(input, init);
    }
    // The session sends a plain record, with its own token as a lowercase `authorization`.
    const headers = init?.headers;
    let sent: string | null | undefined;
    if (headers === undefined || Array.isArray(headers) || headers instanceof Headers) {
      sent = new Headers(headers).get("authorization");
    } else {
      const record = headers as Record<string, string>;
      sent = record.authorization;
      if (sent === undefined) {
        for (const key in record) if (key.toLowerCase() === "authorization") sent = record[key];
      }
    }
    if (sent?.startsWith("Bearer ")) {
      tokens.add(sent.slice(7));
      if (tokens.size > 64) tokens.delete(tokens.values().next().value!);
    }
    return runtimeFetch(input, init);
  };
  const choice = await chooseToken(
    values,
    { url: url.href, from: "the MCP server's URL" },
    io.env,
    sessionFetch,
    debug,
    COMMAND,
    { warn: (text) => io.stderr(`Warning: ${text}\n`) },
  );
  tokenUrl = choice.session.tokenUrl.href;
  tokens.add((await tokenWithin(choice, started)).accessToken);

  const authFetch: typeof fetch = async (input, init) => {
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    const response = await choice.session.fetch(input, init);
    debug(`${method} ${where}: HTTP ${response.status}`);
    return response;
  };

  let closing = false;
  const report = (what: string, error: unknown): void => {
    if (closing) return;
    io.stderr(
      `kognic-auth mcp-proxy: ${what}: ${clean(String((error as Error)?.message ?? error))}\n`,
    );
  };
  // What reaches the MCP client: every token the session sent replaced, in case a server echoes one.
  const scrub = (text: string): string => {
    let out = text;
    for (const token of tokens) if (out.includes(token)) out = out.split(token).join("[token]");
    return out;
  };
  debug(`forwarding MCP messages between stdio and ${where}`);
  const outcome = await runMcpBridge({
    url,
    where,
    fetch: authFetch,
    headers: extraHeaders,
    scrub,
    clean,
    report,
    debug,
    inputWaitMs,
  });
  closing = true;
  if (outcome.failure !== undefined) {
    io.stderr(
      `kognic-auth mcp-proxy: ${
        clean(String((outcome.failure as Error)?.message ?? outcome.failure))
      }\n`,
    );
    return 1;
  }
  return 0;
}

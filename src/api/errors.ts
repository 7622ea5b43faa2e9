// The API client's errors, and the server's message found in an error body.

import { type ApiErrorCode, KognicAuthError, setErrorFields } from "../shared/errors.ts";
import type { KognicAuthErrors } from "../credentials/keyring_binding.ts";
import { parseRetryAfter } from "../shared/retry.ts";
import { displayUrl } from "../core/egress.ts";
import { readBoundedSecretText } from "../shared/body.ts";
import { redact, redactAndCut } from "../shared/redact.ts";

/** The most of an error body kept, in characters. */
export const MAX_BODY_CHARS = 64 * 1024;
const MAX_MESSAGE_CHARS = 500;

export type { ApiErrorCode };

/**
 * The errors a {@linkcode KognicClient} call throws for conditions a caller can
 * handle: the API's and the session's; `switch (error.code)` narrows to the class.
 *
 * @example
 * ```ts
 * import type { KognicClientErrors } from "@kognic/auth/client";
 *
 * function describe(error: KognicClientErrors): string {
 *   switch (error.code) {
 *     case "api_error":
 *       return `HTTP ${error.status}: ${error.serverMessage ?? error.message}`;
 *     case "api_timeout":
 *       return `no answer within ${error.timeout} ms`;
 *     default:
 *       return error.message;
 *   }
 * }
 * ```
 */
export type KognicClientErrors = KognicAuthErrors | ApiError | ApiTimeoutError | ApiNetworkError;

/** Options of {@linkcode ApiError}. */
export interface ApiErrorOptions extends ErrorOptions {
  /** The response's HTTP status. */
  status: number;
  /** The response's status text, if any. */
  statusText?: string;
  /** The request method. */
  method: string;
  /** The request URL. */
  url: string;
  /** The message the server gave in the body, if one was found. */
  serverMessage?: string;
  /** The response body as text (at most 64 KiB), if it was read. */
  body?: string;
  /** The wait the server asked for with `Retry-After`, in milliseconds. */
  retryAfter?: number;
  /** How many requests were sent, retries included. @default {1} */
  attempts?: number;
}

/**
 * The API answered with an HTTP error status, or a body the call cannot use
 * (not JSON, no `data` envelope). Secrets this process holds are replaced by
 * `[redacted]` in the message, the body and the server's message.
 */
export class ApiError extends KognicAuthError {
  /** The condition's stable code. */
  declare readonly code: "api_error";
  /** The response's HTTP status. */
  declare readonly status: number;
  /** The response's status text, or `""`. */
  declare readonly statusText: string;
  /** The request method. */
  declare readonly method: string;
  /** The request URL. */
  declare readonly url: string;
  /** The message the server gave in the body, if one was found. */
  declare readonly serverMessage: string | undefined;
  /** The response body as text (at most 64 KiB), if it was read. */
  declare readonly body: string | undefined;
  /** The wait the server asked for with `Retry-After`, in milliseconds. */
  declare readonly retryAfter: number | undefined;
  /** How many requests were sent, retries included. */
  declare readonly attempts: number;
  /** Whether the same request may succeed later: 408, 425, 429 and 5xx. */
  declare readonly retryable: boolean;

  /**
   * Creates the error.
   * @param message A sentence naming the request and the problem.
   * @param options The request, the response's status and the server's message.
   */
  constructor(message: string, options: ApiErrorOptions) {
    super("api_error", redact(message), options);
    const status = options.status;
    // Redacted before cut; cuts fall between characters.
    setErrorFields(this, {
      name: "ApiError",
      status,
      statusText: options.statusText ?? "",
      method: options.method,
      url: displayUrlText(options.url),
      serverMessage: options.serverMessage === undefined
        ? undefined
        : redactAndCut(options.serverMessage, MAX_MESSAGE_CHARS),
      body: options.body === undefined ? undefined : redactAndCut(options.body, MAX_BODY_CHARS, ""),
      retryAfter: options.retryAfter,
      attempts: options.attempts ?? 1,
      retryable: status === 408 || status === 425 || status === 429 || status >= 500,
    });
  }
}

/** An attempt of a {@linkcode KognicClient} request got no response in time (not retried). */
export class ApiTimeoutError extends KognicAuthError {
  /** The condition's stable code. */
  declare readonly code: "api_timeout";
  /** The request method. */
  declare readonly method: string;
  /** The request URL. */
  declare readonly url: string;
  /** The timeout that passed, in milliseconds. */
  declare readonly timeout: number;
  /** How many requests were sent, retries included (the last one timed out). */
  declare readonly attempts: number;
  /** Whether the same request may succeed later: always, as for a token request's timeout. */
  declare readonly retryable: true;

  /**
   * Creates the error.
   * @param message A sentence naming the request and the timeout.
   * @param options The request, the timeout and the attempts (@default {1}).
   */
  constructor(
    message: string,
    options: { method: string; url: string; timeout: number; attempts?: number } & ErrorOptions,
  ) {
    super("api_timeout", message, options);
    setErrorFields(this, {
      name: "ApiTimeoutError",
      method: options.method,
      url: displayUrlText(options.url),
      timeout: options.timeout,
      attempts: options.attempts ?? 1,
      retryable: true,
    });
  }
}

/**
 * A {@linkcode KognicClient} request could not reach the server (refused, DNS,
 * reset, certificate), after any retries; `cause` is what the runtime threw.
 */
export class ApiNetworkError extends KognicAuthError {
  /** The condition's stable code. */
  declare readonly code: "api_network_error";
  /** The request method. */
  declare readonly method: string;
  /** The request URL. */
  declare readonly url: string;
  /** How many requests were attempted, retries included. */
  declare readonly attempts: number;
  /** Whether the same request may succeed later: always, as for a token request's network error. */
  declare readonly retryable: true;

  /**
   * Creates the error.
   * @param message A sentence naming the request and the cause.
   * @param options The request, the attempts and the runtime's error as `cause`.
   */
  constructor(
    message: string,
    options: { method: string; url: string; attempts: number } & ErrorOptions,
  ) {
    super("api_network_error", message, options);
    setErrorFields(this, {
      name: "ApiNetworkError",
      method: options.method,
      url: displayUrlText(options.url),
      attempts: options.attempts,
      retryable: true,
    });
  }
}

/**
 * The server's message in an error body, in one line of at most 500 characters: a JSON body's
 * `message`, `error_description`, `detail`, `title`, `error` or `errors[0]`; an HTML title; the text.
 */
export function messageOf(body: string, contentType: string | null): string | undefined {
  const text = body.trim();
  if (text === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const found = json !== undefined
    ? jsonMessage(json)
    : /html/i.test(contentType ?? "") || /^<(!doctype|html)/i.test(text)
    ? /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]
    : text;
  if (found === undefined) return undefined;
  const message = found.replace(/\s+/g, " ").trim();
  if (message === "") return undefined;
  // Redacted before it is cut, so a secret across the cut leaves no part behind.
  return redactAndCut(message, MAX_MESSAGE_CHARS);
}

function jsonMessage(json: unknown, depth = 0): string | undefined {
  if (typeof json === "string") return json;
  if (typeof json !== "object" || json === null || depth > 2) return undefined;
  if (Array.isArray(json)) return json.length > 0 ? jsonMessage(json[0], depth + 1) : undefined;
  const record = json as Record<string, unknown>;
  for (const key of ["message", "error_description", "detail", "title", "error", "errors"]) {
    const found = jsonMessage(record[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** A URL as text without its user info; text that is not a URL is only redacted. */
function displayUrlText(url: string): string {
  try {
    return displayUrl(url);
  } catch {
    return redact(url);
  }
}

/** Options of {@linkcode apiErrorFromResponse}. */
export interface ApiErrorFromResponseOptions {
  /** The request's method, as the message shows it. */
  method: string;
  /** The request's URL (shown without user info or query secrets). */
  url: URL | string;
  /** How many attempts were sent. @default {1} */
  attempts?: number;
}

/**
 * The {@linkcode ApiError} that `KognicClient` throws for an HTTP error
 * response, for requests sent another way: the body is read with a bound
 * (at most 64 KiB kept) and redacted, and the server's message taken from it.
 *
 * @param response The error response; its body is consumed.
 * @param options The request it answered.
 * @returns The error, to throw.
 *
 * @example
 * ```ts ignore
 * import { apiErrorFromResponse } from "@kognic/auth/client";
 *
 * const response = await session.fetch("https://app.kognic.com/v1/projects");
 * if (!response.ok) throw await apiErrorFromResponse(response, { method: "GET", url: response.url });
 * ```
 */
export async function apiErrorFromResponse(
  response: Response,
  options: ApiErrorFromResponseOptions,
): Promise<ApiError> {
  const { method, attempts = 1 } = options;
  const { status, statusText, headers } = response;
  const url = displayUrl(new URL(options.url));
  // At most 64 KiB is read, whatever the server sends; the rest is cancelled.
  const body = await readBoundedSecretText(response, MAX_BODY_CHARS).then(
    (read) => read.text,
    () => undefined,
  );
  const serverMessage = messageOf(body ?? "", headers.get("content-type"));
  const shown = `HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
  const retryAfter = parseRetryAfter(headers.get("retry-after"));
  return new ApiError(
    `${method} "${url}" failed with ${shown}` + (serverMessage ? `: ${serverMessage}` : ""),
    { status, statusText, method, url, serverMessage, body, attempts, retryAfter },
  );
}

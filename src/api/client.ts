// `KognicClient`: Kognic API calls over an `AuthSession`, as Kognic's Python base client
// makes them (User-Agent, sunset warnings, retries, errors).

import { inspectAsJson, KognicAuthError } from "../shared/errors.ts";
import { AuthSession } from "../core/session.ts";
import type { RetryOptions } from "../core/options.ts";
import {
  DEFAULT_RETRY_STATUSES,
  parseRetryAfter,
  resolveRetryPolicy,
  Retry,
  type RetryPolicy,
  withRetries,
} from "../shared/retry.ts";
import { checkNumber, startDeadline } from "../shared/deadline.ts";
import { describeCause, redact, redactCause } from "../shared/redact.ts";
import { type AuthEventListener, emit } from "../core/events.ts";
import { displayUrl } from "../core/egress.ts";
import { ApiError, apiErrorFromResponse, ApiNetworkError, ApiTimeoutError } from "./errors.ts";
import { defaultDeprecationHandler, type DeprecationHandler, sunsetNotice } from "./deprecation.ts";
import { VERSION } from "../shared/version.ts";
import { readBoundedText } from "../shared/body.ts";

/** The most of a body {@linkcode KognicClient.json} and {@linkcode KognicClient.data} read: 100 MiB. */
const MAX_JSON_BYTES = 100 * 1024 * 1024;

/** What {@linkcode KognicClientOptions.onRetry} is told before a retry. */
export interface ApiRetryEvent {
  /** The request method. */
  method: string;
  /** The request URL. */
  url: string;
  /** The attempt about to be made: 2 for the first retry. */
  attempt: number;
  /** How long the client waits before it, in milliseconds. */
  delay: number;
  /** The status of the response that is retried, if there was one. */
  status?: number;
  /** The error that is retried, such as a connection reset, if there was one. */
  error?: unknown;
}

/** Options of {@linkcode KognicClient}. */
export interface KognicClientOptions {
  /** The session that authenticates the requests. @default {new AuthSession()} */
  session?: AuthSession;
  /** The URL relative paths (`"projects"`, `"/projects"`) are joined to; else paths are absolute. */
  baseUrl?: string | URL;
  /** A name appended to the `User-Agent`, such as `"my-pipeline/1.2"`. */
  clientName?: string;
  /** Headers sent with every request; a request's own headers override them. */
  headers?: RequestInit["headers"];
  /**
   * How requests are retried; `false` turns retrying off.
   * @default {{ limit: 3, baseDelay: 500, maxDelay: 30000, maxRetryAfter: 60000 }}
   */
  retry?: RetryOptions | false;
  /**
   * How long one attempt (token request included) may wait for the response's headers, in ms;
   * `Infinity` waits for ever, 2^31 ms or more is clamped to 2^31 - 1. @default {60000}
   */
  timeout?: number;
  /** Called for each sunset header; `null` ignores them. @default {defaultDeprecationHandler} */
  onDeprecation?: DeprecationHandler | null;
  /** Called before each retry, for logging. */
  onRetry?: (event: ApiRetryEvent) => void;
  /** Called with the client's events (`api.retry`, `api.deprecation`); its failures are ignored. */
  onEvent?: AuthEventListener;
}

/** Options of one request of {@linkcode KognicClient}. */
export interface ApiRequestInit extends Omit<RequestInit, "method"> {
  /** A value sent as a JSON body, with `Content-Type: application/json` unless set. */
  json?: unknown;
  /** Query parameters appended to the URL. */
  searchParams?: URLSearchParams | Record<string, string> | [string, string][] | string;
  /** This request's retry options, over the client's; `false` turns retrying off. */
  retry?: RetryOptions | false;
  /** This request's timeout in milliseconds, instead of the client's. */
  timeout?: number;
  /** Throw an {@linkcode ApiError} for a status outside 200-299. @default {true} */
  throwHttpErrors?: boolean;
}

/** The methods retried by default: the idempotent ones of RFC 9110 but TRACE. */
export const DEFAULT_RETRY_METHODS: readonly string[] = Object.freeze(
  ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"],
);
export { DEFAULT_RETRY_STATUSES };
/** The default timeout of one attempt of a {@linkcode KognicClient} request, in milliseconds. */
export const DEFAULT_API_TIMEOUT = 60_000;

/**
 * Calls Kognic APIs through an {@linkcode AuthSession}. Every request gets a `User-Agent`, its
 * `sunset-date`/`Sunset` headers go to the deprecation handler, and idempotent requests (GET, HEAD,
 * OPTIONS, PUT, DELETE) are retried on 429, 502, 503, 504 or a network error: 3 times by default,
 * with full jitter (up to 0.5, 1, 2 s) or after the server's `Retry-After`. A status outside
 * 200-299 throws an {@linkcode ApiError} with the server's message; {@linkcode KognicClient.data}
 * unwraps Kognic's `{"data": ...}` envelope.
 *
 * @example
 * ```ts
 * import { AuthSession } from "@kognic/auth";
 * import { KognicClient } from "@kognic/auth/client";
 * import { startAuthServer } from "@kognic/auth/testing";
 *
 * await using server = await startAuthServer({
 *   routes: { "/v1/projects": () => Response.json({ data: [{ id: 1 }, { id: 2 }, { id: 3 }] }) },
 * });
 * const session = new AuthSession({ authServer: server.url, auth: ["test-client", "test-secret"] });
 * const client = new KognicClient({ session, baseUrl: server.url });
 * const projects = await client.data<{ id: number }[]>("GET", "v1/projects");
 * console.log(projects.length); // 3
 * ```
 */
export class KognicClient {
  #session: AuthSession;
  #baseUrl: string | undefined;
  #userAgent: string;
  #clientName: string | undefined;
  #headers: Headers;
  #retry: RetryOptions | false;
  #timeout: number;
  #onDeprecation: DeprecationHandler | null;
  #onRetry: ((event: ApiRetryEvent) => void) | undefined;
  #onEvent: AuthEventListener | undefined;

  /**
   * Creates a client; nothing is sent until the first request.
   * @param options The session, base URL, client name, retries and handlers.
   * @throws {TypeError} For a `baseUrl` that is not an absolute http(s) URL, or a bad `clientName`.
   * @throws {RangeError} For a `timeout` not a positive number, or a `retry` field out of range.
   */
  constructor(options: KognicClientOptions = {}) {
    this.#session = options.session ?? new AuthSession();
    if (options.baseUrl !== undefined) {
      const given = String(options.baseUrl);
      if (!URL.canParse(given)) {
        throw new TypeError(`baseUrl "${redact(given)}" is not an absolute URL`);
      }
      const base = new URL(given);
      if (base.protocol !== "https:" && base.protocol !== "http:") {
        throw new TypeError(`baseUrl "${displayUrl(base)}" must be an http(s) URL`);
      }
      this.#baseUrl = base.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
    }
    this.#clientName = options.clientName;
    this.#userAgent = userAgent(options.clientName);
    this.#headers = new Headers(options.headers);
    this.#retry = options.retry ?? {};
    this.#timeout = checkTimeout(options.timeout);
    this.#onDeprecation = options.onDeprecation === undefined
      ? defaultDeprecationHandler
      : options.onDeprecation;
    this.#onRetry = options.onRetry;
    this.#onEvent = options.onEvent;
  }

  /** The session that authenticates the requests. */
  get session(): AuthSession {
    return this.#session;
  }

  /** The `User-Agent` sent with each request (unless a request sets its own). */
  get userAgent(): string {
    return this.#userAgent;
  }

  /**
   * Sends a request, retrying it as the options allow.
   *
   * @param method The HTTP method, in any case.
   * @param path An absolute URL, or a path joined to `baseUrl`.
   * @param init Fetch options, plus `json`, `searchParams`, `retry`, `timeout` and `throwHttpErrors`.
   * @returns The response, with a status in 200-299 unless `throwHttpErrors` is false.
   * @throws {ApiError} For a status outside 200-299, after any retries.
   * @throws {ApiTimeoutError} When an attempt gets no response within the timeout.
   * @throws {CredentialsError} When the session has no usable credentials.
   * @throws {ApiNetworkError} When the server cannot be reached, after any retries.
   * @throws {TokenError} When the session cannot get a token.
   * @throws {TypeError} For a relative path without `baseUrl`.
   */
  async request(method: string, path: string | URL, init: ApiRequestInit = {}): Promise<Response> {
    const { json, searchParams, retry: requestRetry, timeout: requestTimeout, ...rest } = init;
    const { throwHttpErrors = true } = init;
    delete (rest as ApiRequestInit).throwHttpErrors;
    const verb = method.toUpperCase();
    const url = this.#resolve(path, searchParams);
    const href = url.href;
    const label = `${verb} "${displayUrl(url)}"`;

    const headers = new Headers(this.#headers);
    new Headers(rest.headers).forEach((value, name) => headers.set(name, value));
    if (!headers.has("user-agent")) headers.set("user-agent", this.#userAgent);
    let body = rest.body;
    if (json !== undefined) {
      if (body !== undefined && body !== null) {
        throw new TypeError("Give either json or body, not both");
      }
      body = JSON.stringify(json);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }

    const retry = retryOptions(this.#retry, requestRetry);
    const timeout = checkTimeout(requestTimeout ?? this.#timeout);
    const retries = retry.methods.includes(verb) && !(body instanceof ReadableStream)
      ? retry.limit
      : 0;
    const signal = rest.signal ?? undefined;
    return await withRetries<Response>({ ...retry, limit: retries }, signal, async (attempt) => {
      const request = { method: verb, url: href, attempts: attempt };
      const retrying = (delay: number, event: { status?: number; error?: unknown }): void =>
        this.#retrying({ method: verb, url: href, attempt: attempt + 1, delay, ...event });
      const deadline = startDeadline(timeout, {
        signal,
        reason: () => new DOMException("Timed out", "TimeoutError"),
      });
      let response: Response;
      try {
        response = await this.#session.fetch(href, {
          ...rest,
          method: verb,
          headers,
          body,
          signal: deadline.signal,
        });
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (deadline.expired) {
          const message = `${label} got no response within ${timeout} ms`;
          throw new ApiTimeoutError(message, { ...request, timeout, cause: redactCause(error) });
        }
        if (error instanceof KognicAuthError) throw error;
        return new Retry<Response>(
          () => {
            const message = `${label} failed: ${describeCause(error, url.host)}`;
            throw new ApiNetworkError(message, { ...request, cause: redactCause(error) });
          },
          undefined,
          (delay) => retrying(delay, { error }),
        );
      } finally {
        deadline.clear();
      }
      const settle = async (): Promise<Response> => {
        this.#notifySunset(verb, url, response.headers);
        if (!response.ok && throwHttpErrors) {
          throw await apiErrorFromResponse(response, { ...request, url });
        }
        return response;
      };
      if (!retry.statuses.includes(response.status)) return await settle();
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      return new Retry(settle, retryAfter, async (delay) => {
        await response.body?.cancel();
        retrying(delay, { status: response.status });
      });
    });
  }

  /** Sends a GET request, as {@linkcode KognicClient.request}. @throws {ApiError} For a non-2xx status. */
  get(path: string | URL, init?: ApiRequestInit): Promise<Response> {
    return this.request("GET", path, init);
  }

  /** Sends a POST request (retried only if `retry.methods` lists it), as `request`. */
  post(path: string | URL, init?: ApiRequestInit): Promise<Response> {
    return this.request("POST", path, init);
  }

  /** Sends a PUT request, as {@linkcode KognicClient.request}. @throws {ApiError} For a non-2xx status. */
  put(path: string | URL, init?: ApiRequestInit): Promise<Response> {
    return this.request("PUT", path, init);
  }

  /** Sends a PATCH request (retried only if `retry.methods` lists it), as `request`. */
  patch(path: string | URL, init?: ApiRequestInit): Promise<Response> {
    return this.request("PATCH", path, init);
  }

  /** Sends a DELETE request, as {@linkcode KognicClient.request}. @throws {ApiError} For non-2xx. */
  delete(path: string | URL, init?: ApiRequestInit): Promise<Response> {
    return this.request("DELETE", path, init);
  }

  /**
   * Sends a request and parses its JSON body (`Accept: application/json` unless set; empty: undefined).
   *
   * @param method The HTTP method, in any case.
   * @param path An absolute URL, or a path joined to `baseUrl`.
   * @param init Request options.
   * @returns The parsed body.
   * @throws {ApiError} For a status outside 200-299, a body that is not JSON,
   *   or one over 100 MiB (read no further).
   */
  async json<T = unknown>(
    method: string,
    path: string | URL,
    init: ApiRequestInit = {},
  ): Promise<T> {
    return (await this.#json(method.toUpperCase(), path, init)).value as T;
  }

  /**
   * Sends a request and returns the `data` of the response's `{"data": ...}` envelope.
   *
   * @param method The HTTP method, in any case.
   * @param path An absolute URL, or a path joined to `baseUrl`.
   * @param init Request options.
   * @returns The value under `data`.
   * @throws {ApiError} For a status outside 200-299, a body that is not JSON
   *   or over 100 MiB, or JSON without a `data` key (the message names the keys found).
   */
  async data<T = unknown>(
    method: string,
    path: string | URL,
    init: ApiRequestInit = {},
  ): Promise<T> {
    const verb = method.toUpperCase();
    const { value, response, url } = await this.#json(verb, path, init);
    if (isRecord(value) && Object.hasOwn(value, "data")) return value.data as T;
    let found: string;
    if (Array.isArray(value)) found = "a JSON array";
    else if (isRecord(value)) {
      const keys = Object.keys(value).map((key) => JSON.stringify(key));
      found = keys.length === 0
        ? "an empty object"
        : `the key${keys.length === 1 ? "" : "s"} ${keys.join(", ")}`;
    } else found = value === undefined ? "an empty body" : JSON.stringify(value);
    const { status, statusText } = response;
    throw new ApiError(
      `Response to ${verb} "${displayUrl(url)}" has no "data" envelope; found ${found}`,
      { status, statusText, method: verb, url: url.href },
    );
  }

  async #json(
    method: string,
    path: string | URL,
    init: ApiRequestInit,
  ): Promise<{ value: unknown; response: Response; url: URL }> {
    const headers = new Headers(init.headers);
    if (!headers.has("accept") && !this.#headers.has("accept")) {
      headers.set("accept", "application/json");
    }
    const url = this.#resolve(path, init.searchParams);
    const response = await this.request(method, url, { ...init, searchParams: undefined, headers });
    const { text, complete } = await readBoundedText(response, MAX_JSON_BYTES);
    if (!complete) {
      const { status, statusText } = response;
      throw new ApiError(
        `Response to ${method} "${displayUrl(url)}" is larger than ${MAX_JSON_BYTES} bytes ` +
          "(100 MiB), the most json() and data() read; read a larger body from request()",
        { status, statusText, method, url: url.href },
      );
    }
    if (text.trim() === "") return { value: undefined, response, url };
    try {
      return { value: JSON.parse(text), response, url };
    } catch (error) {
      const type = response.headers.get("content-type");
      const { status, statusText } = response;
      throw new ApiError(
        `Response to ${method} "${displayUrl(url)}" is not JSON` +
          (type ? ` (content type ${type})` : ""),
        { status, statusText, method, url: url.href, body: text, cause: error },
      );
    }
  }

  #resolve(path: string | URL, searchParams: ApiRequestInit["searchParams"]): URL {
    let url: URL;
    if (path instanceof URL) url = new URL(path.href);
    else if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
      if (!URL.canParse(path)) throw new TypeError(`"${path}" is not a valid URL`);
      url = new URL(path);
    } else {
      if (this.#baseUrl === undefined) {
        throw new TypeError(`"${path}" is not an absolute URL, and the client has no baseUrl`);
      }
      url = new URL(`${this.#baseUrl}/${path.replace(/^\/+/, "")}`);
    }
    if (searchParams !== undefined) {
      new URLSearchParams(searchParams).forEach((value, name) =>
        url.searchParams.append(name, value)
      );
    }
    return url;
  }

  #notifySunset(method: string, url: URL, headers: Headers): void {
    const notice = sunsetNotice(method, url, headers);
    if (!notice) return;
    const { url: href, level, message } = notice;
    const sunset = notice.sunset.toISOString();
    emit(this.#onEvent, { type: "api.deprecation", method, url: href, sunset, level, message });
    emit(this.#onDeprecation ?? undefined, notice);
  }

  /** Tells the listeners of a retry; neither can break the request. */
  #retrying(event: ApiRetryEvent): void {
    const url = new URL(displayUrl(event.url));
    url.search = "";
    const { method, attempt, delay, status } = event;
    const code = (event.error as { code?: string } | undefined)?.code;
    emit(this.#onEvent, { type: "api.retry", method, url: url.href, attempt, delay, status, code });
    emit(this.#onRetry, event);
  }

  /** A description without credentials. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.#baseUrl, clientName: this.#clientName, userAgent: this.#userAgent };
  }
}
inspectAsJson(KognicClient, "KognicClient");

/**
 * The `User-Agent` of {@linkcode KognicClient}: `kognic-auth/<version> <runtime>/<version>`
 * (such as `kognic-auth/0.1.0 node/22.11.0`) and the client name when given.
 *
 * @param clientName A name to append, such as `"my-pipeline/1.2"`.
 * @returns The header value.
 * @throws {TypeError} When `clientName` has a control character.
 */
export function userAgent(clientName?: string): string {
  const parts = [`kognic-auth/${VERSION}`];
  const runtime = runtimeVersion();
  if (runtime) parts.push(runtime);
  if (clientName !== undefined) {
    // deno-lint-ignore no-control-regex
    if (typeof clientName !== "string" || /[\u0000-\u001f\u007f]/.test(clientName)) {
      throw new TypeError("clientName must be a string without control characters");
    }
    if (clientName.trim() !== "") parts.push(clientName.trim());
  }
  return parts.join(" ");
}

function runtimeVersion(): string | undefined {
  const g = globalThis as {
    Deno?: { version?: { deno?: string } };
    Bun?: { version?: string };
    process?: { versions?: { node?: string } };
  };
  if (g.Deno?.version?.deno) return `deno/${g.Deno.version.deno}`;
  if (g.Bun?.version) return `bun/${g.Bun.version}`;
  if (g.process?.versions?.node) return `node/${g.process.versions.node}`;
  return undefined;
}

const DEFAULT_RETRY = { limit: 3, baseDelay: 500, maxDelay: 30_000, maxRetryAfter: 60_000 };

function retryOptions(
  client: RetryOptions | false,
  request: RetryOptions | false | undefined,
): RetryPolicy & { methods: string[]; statuses: readonly number[] } {
  if (client === false || request === false) {
    return { limit: 0, baseDelay: 0, maxDelay: 0, maxRetryAfter: 0, methods: [], statuses: [] };
  }
  const options = { ...client, ...request };
  return {
    ...resolveRetryPolicy(options, DEFAULT_RETRY),
    methods: (options.methods ?? DEFAULT_RETRY_METHODS).map((method) => method.toUpperCase()),
    statuses: options.statuses ?? DEFAULT_RETRY_STATUSES,
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A timeout in ms; `Infinity` is none, a huge one is clamped by the deadline. */
function checkTimeout(timeout: number | undefined): number {
  return checkNumber("timeout", timeout, DEFAULT_API_TIMEOUT, {
    min: 0,
    minInclusive: false,
    infinite: true,
    unit: "milliseconds",
  });
}

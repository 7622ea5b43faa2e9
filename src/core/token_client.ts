/**
 * The OAuth 2.0 token request, loaded lazily with the first: the
 * client-credentials and refresh-token grants (RFC 6749 sections 4.4 and 6),
 * a timeout per attempt and in all, and bounded, jittered retries.
 *
 * @module
 */

// Reach every module mod.ts loads, so a bundler shares one chunk (docs/architecture.md).
import "./egress.ts";
import { AccessToken, MAX_TOKEN_LIFETIME_SECONDS, tokenSetProblem } from "./access_token.ts";
import {
  DEFAULT_TOKEN_TIMEOUT,
  type RequestTokenOptions,
  TOKEN_ENDPOINT_AUTH_METHODS,
  type TokenRequestInit,
} from "./options.ts";
import {
  isRetryableTokenStatus,
  parseRetryAfter,
  resolveRetryPolicy,
  Retry,
  withRetries,
} from "../shared/retry.ts";
import {
  cutText,
  describeCause,
  redact,
  redactCause,
  rememberSecret,
  rememberUrlSecrets,
} from "../shared/redact.ts";
import { emit, tokenUpdated } from "./events.ts";
import { readBoundedText } from "../shared/body.ts";
import { checkNumber, startDeadline } from "../shared/deadline.ts";
import {
  OAuthError,
  TokenError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "../shared/errors.ts";

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const DEFAULT_LIFETIME_SECONDS = 3600;
const RETRY_DEFAULTS = { limit: 3, baseDelay: 200, maxDelay: 5000, maxRetryAfter: 30_000 };
/** The most of a token response read: tokens are a few KiB; anything past this is refused. */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** The longest server-asked wait remembered between requests (an hour). */
const MAX_HOLDOFF = 3_600_000;

/** Sends the token request, retrying as the options allow (public as `requestToken`). */
export async function sendTokenRequest(options: TokenRequestInit): Promise<AccessToken> {
  const policy = resolveRetryPolicy(options.retry, RETRY_DEFAULTS);
  const positive = { min: 0, minInclusive: false, infinite: true, unit: "milliseconds" };
  const budget = checkNumber("totalTimeout", options.totalTimeout, Infinity, positive);
  const perAttempt = checkNumber("timeout", options.timeout, DEFAULT_TOKEN_TIMEOUT, positive);
  // Messages and events show the token URL without its user info, whose password the redactor knows.
  const shownUrl = rememberUrlSecrets(options.tokenUrl);
  const holdoff = options.holdoff;
  const now = options.now ?? Date.now;
  const started = now();
  const left = (holdoff?.until ?? 0) - started;
  if (left > 0) {
    throw new OAuthError(
      `Token request to "${shownUrl}" not sent: the server asked (Retry-After) ` +
        `to wait ${Math.ceil(left / 1000)} s more`,
      { status: holdoff!.status, retryable: true, retryAfter: left, attempts: 0 },
    );
  }
  // The budget runs on the monotonic clock: `options.now` may be a test's fake clock.
  const startedAt = performance.now();
  const remaining = (): number => budget - (performance.now() - startedAt);
  const fail = (error: TokenError): never => {
    emit(options.onEvent, {
      type: "token.failed",
      attempts: error.attempts,
      code: error.code,
      status: error.status,
      duration: now() - started,
    });
    throw error;
  };
  const outOfBudget = (error: TokenError, attempts: number): never =>
    fail(
      new TokenTimeoutError(
        `Token request to "${shownUrl}" gave up after ${
          ((performance.now() - startedAt) / 1000).toFixed(1)
        } s (total timeout ${budget} ms) and ${attempts} attempt${attempts === 1 ? "" : "s"}; ` +
          `the last ${error.message.replace(`Token request to "${shownUrl}" `, "")}`,
        { retryable: true, status: error.status, attempts, cause: error },
      ),
    );
  // Out of budget, the error says so, with the last attempt's cause.
  const final = (error: TokenError, attempt: number): never =>
    remaining() <= 0 ? outOfBudget(error, attempt) : fail(error);
  return await withRetries(policy, options.signal, async (attempt) => {
    try {
      const timeout = Math.min(perAttempt, Math.max(1, remaining()));
      return tokenUpdated(
        options.onTokenUpdated,
        await attemptToken(options, attempt, timeout, shownUrl),
      );
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      if (!error.retryable) return final(error, attempt);
      const { retryAfter, code, status } = error;
      return new Retry<AccessToken>(
        () => {
          // A wait longer than the policy honours is remembered: the session fails fast till then.
          if (holdoff && retryAfter !== undefined && retryAfter > policy.maxRetryAfter) {
            holdoff.until = now() + Math.min(retryAfter, MAX_HOLDOFF);
            holdoff.status = status;
          }
          return final(error, attempt);
        },
        retryAfter,
        (delay) => {
          // A wait that would outlast the budget cannot lead to a token in time.
          if (delay >= remaining()) outOfBudget(error, attempt);
          emit(options.onEvent, { type: "token.retry", attempt, delay, code, status });
        },
      );
    }
  });
}

async function attemptToken(
  options: RequestTokenOptions,
  attempt: number,
  timeout: number,
  tokenUrl: string,
): Promise<AccessToken> {
  const { credentials, scopes, refreshToken } = options;
  const now = options.now ?? Date.now;
  const sendTo = String(options.tokenUrl);
  const grant = refreshToken === undefined ? "client_credentials" : "refresh_token";
  const form = new URLSearchParams({ grant_type: grant });
  if (refreshToken !== undefined) form.set("refresh_token", refreshToken);
  const authMethod = options.authMethod ?? "client_secret_post";
  if (!TOKEN_ENDPOINT_AUTH_METHODS.includes(authMethod)) {
    throw new TypeError(
      `Unknown token endpoint auth method "${authMethod}"; expected one of ` +
        TOKEN_ENDPOINT_AUTH_METHODS.join(", "),
    );
  }
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    "accept": "application/json",
  };
  let basic: string | undefined;
  if (authMethod === "client_secret_basic") {
    // RFC 6749 section 2.3.1: each part form-urlencoded, then base64 of "id:secret".
    basic = btoa(`${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`);
    headers.authorization = `Basic ${basic}`;
  } else {
    form.set("client_id", credentials.clientId);
    form.set("client_secret", credentials.clientSecret);
  }
  if (scopes && scopes.length > 0) form.set("scope", scopes.join(" "));
  const deadline = startDeadline(timeout, { signal: options.signal });
  const sentAt = now();
  emit(options.onEvent, { type: "token.request", grant, attempt, url: tokenUrl });
  const secrets = [credentials.clientSecret, basic, refreshToken];
  for (const secret of secrets) rememberSecret(secret);
  let status: number | undefined;
  try {
    const response = await (options.fetch ?? fetch)(sendTo, {
      method: "POST",
      headers,
      body: form.toString(),
      signal: deadline.signal,
      // Not "error" (workerd rejects it): a redirect fails below, the secret never sent on.
      redirect: "manual",
    });
    status = response.status;
    if (response.type === "opaqueredirect" || REDIRECT_STATUS.has(status)) {
      await response.body?.cancel();
      throw new TokenResponseError(
        `Token request to "${tokenUrl}" was redirected${
          status ? ` (HTTP ${status})` : ""
        }; a token request never follows a redirect`,
        { status: status || undefined, retryable: false, attempts: attempt },
      );
    }
    const { text, complete } = await readBoundedText(response, MAX_TOKEN_RESPONSE_BYTES);
    emit(options.onEvent, { type: "token.response", attempt, status, duration: now() - sentAt });
    if (!response.ok) throw httpError(tokenUrl, response, text, secrets, attempt);
    if (!complete) {
      throw new TokenResponseError(
        `Token response from "${tokenUrl}" is larger than ${MAX_TOKEN_RESPONSE_BYTES} bytes`,
        { status, retryable: false, attempts: attempt },
      );
    }
    return parseTokenResponse(text, tokenUrl, response.status, sentAt, attempt);
  } catch (error) {
    if (error instanceof TokenError) throw error;
    if (options.signal?.aborted) throw options.signal.reason;
    if (deadline.expired) {
      throw new TokenTimeoutError(
        `Token request to "${tokenUrl}" timed out after ${Math.round(timeout)} ms`,
        { retryable: true, status, attempts: attempt },
      );
    }
    throw new TokenNetworkError(
      `Token request to "${tokenUrl}" failed: ${
        redact(describeCause(error, new URL(sendTo).host), secrets)
      }`,
      { retryable: true, cause: redactCause(error), status, attempts: attempt },
    );
  } finally {
    deadline.clear();
  }
}

function httpError(
  tokenUrl: string,
  response: Response,
  text: string,
  secrets: (string | undefined)[],
  attempts: number,
): OAuthError {
  const status = response.status;
  // Not JSON (an HTML error page, say): no fields.
  const json = jsonObject(text);
  const body = typeof json === "string" ? undefined : json;
  const str = (value: unknown): string | undefined =>
    typeof value === "string" ? cutText(redact(value, secrets), 500) : undefined;
  const error = str(body?.error);
  const errorDescription = str(body?.error_description);
  const retryable = isRetryableTokenStatus(status);
  let message = `Token request to "${tokenUrl}" failed with HTTP ${status}`;
  if (error) message += `: ${error}`;
  if (errorDescription) message += ` (${errorDescription})`;
  if (status === 429) message += ". Client authentication rate limit exceeded, please slow down";
  return new OAuthError(message, {
    status,
    retryable,
    attempts,
    retryAfter: retryable ? parseRetryAfter(response.headers.get("retry-after")) : undefined,
    error,
    errorDescription,
    errorUri: str(body?.error_uri),
  });
}

function parseTokenResponse(
  text: string,
  tokenUrl: string,
  status: number,
  sentAt: number,
  attempts: number,
): AccessToken {
  const fail = (problem: string): TokenResponseError =>
    new TokenResponseError(`Token response from "${tokenUrl}" ${problem}`, {
      status,
      retryable: false,
      attempts,
    });
  const body = jsonObject(text);
  if (typeof body === "string") throw fail(body);
  if (typeof body.access_token !== "string" || body.access_token === "") {
    throw fail("has no access_token");
  }
  const tokenType = body.token_type ?? "Bearer";
  if (typeof tokenType !== "string" || tokenType.toLowerCase() !== "bearer") {
    throw fail(`has token_type ${JSON.stringify(tokenType)}; only "Bearer" is supported`);
  }
  let lifetime = DEFAULT_LIFETIME_SECONDS;
  if (body.expires_in !== undefined && body.expires_in !== null) {
    const value = typeof body.expires_in === "string" && body.expires_in.trim() !== ""
      ? Number(body.expires_in)
      : body.expires_in;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw fail(`has expires_in ${JSON.stringify(body.expires_in)}; expected a positive number`);
    }
    lifetime = Math.min(value, MAX_TOKEN_LIFETIME_SECONDS);
  }
  const set = {
    accessToken: body.access_token,
    tokenType: "Bearer",
    issuedAt: sentAt,
    expiresAt: sentAt + lifetime * 1000,
    refreshToken: typeof body.refresh_token === "string" && body.refresh_token || undefined,
    scope: typeof body.scope === "string" ? body.scope : undefined,
  };
  // The one check of every token (tokenSetProblem), as a cached or provided one passes.
  const problem = tokenSetProblem(set);
  if (problem) {
    rememberSecret(set.accessToken);
    throw fail(`has an unusable token: ${problem}`);
  }
  return new AccessToken(set);
}

/** `text` as a JSON object, or what it is instead. */
function jsonObject(
  text: string,
): Record<string, unknown> | "is not JSON" | "is not a JSON object" {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    return "is not JSON";
  }
  return json && typeof json === "object" && !Array.isArray(json) ? json : "is not a JSON object";
}

/** `value` as application/x-www-form-urlencoded encodes it (a space is `+`). */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

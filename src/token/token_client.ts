/**
 * The OAuth 2.0 token request: the client-credentials grant (RFC 6749
 * section 4.4) and the refresh-token grant (section 6), with `client_secret_post`
 * client authentication, a timeout, and bounded, jittered retries. Loaded
 * lazily, on the first token request.
 *
 * @module
 */

import { AccessToken } from "../core/access_token.ts";
import { DEFAULT_TOKEN_TIMEOUT, type RequestTokenOptions } from "../core/options.ts";
import { parseRetryAfter, sleep } from "../shared/retry.ts";
import {
  OAuthError,
  TokenError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "../shared/errors.ts";

const RETRYABLE_STATUS = new Set([408, 425, 429]);
const MAX_LIFETIME_SECONDS = 365 * 24 * 3600;
const DEFAULT_LIFETIME_SECONDS = 3600;

/**
 * Sends the token request, retrying as the options allow. The public entry is
 * `requestToken` in core/request_token.ts, which loads this module on first use.
 */
export async function sendTokenRequest(options: RequestTokenOptions): Promise<AccessToken> {
  const limit = options.retry?.limit ?? 3;
  const baseDelay = options.retry?.baseDelay ?? 200;
  const maxDelay = options.retry?.maxDelay ?? 5000;
  const maxRetryAfter = options.retry?.maxRetryAfter ?? 30_000;
  const signal = options.signal;
  const budget = options.totalTimeout;
  if (budget !== undefined && !(budget > 0)) {
    throw new RangeError("totalTimeout must be a positive number of milliseconds");
  }
  // The budget runs on the monotonic clock: `options.now` may be a test's fake clock.
  const started = performance.now();
  const left = (): number =>
    budget === undefined ? Infinity : budget - (performance.now() - started);
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      const timeout = Math.min(options.timeout ?? DEFAULT_TOKEN_TIMEOUT, Math.max(1, left()));
      return await attemptToken(options, timeout);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      error.attempts = attempt;
      const outOfTime = budget !== undefined && left() <= 0;
      if (!error.retryable || attempt > limit) {
        throw outOfTime ? budgetError(options, performance.now() - started, attempt, error) : error;
      }
      let delay: number;
      if (error.retryAfter !== undefined) {
        if (error.retryAfter > maxRetryAfter) throw error;
        delay = error.retryAfter + Math.random() * Math.min(1000, error.retryAfter * 0.1);
      } else {
        delay = Math.random() * Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
      }
      // A wait that would outlast the budget cannot lead to a token in time.
      if (outOfTime || delay >= left()) {
        throw budgetError(options, performance.now() - started, attempt, error);
      }
      await sleep(delay, signal);
    }
  }
}

/** The error for a token request that ran out of its total budget. */
function budgetError(
  options: RequestTokenOptions,
  elapsed: number,
  attempts: number,
  last: TokenError,
): TokenTimeoutError {
  const tokenUrl = String(options.tokenUrl);
  const cause = last.message.replace(`Token request to "${tokenUrl}" `, "");
  return new TokenTimeoutError(
    `Token request to "${tokenUrl}" gave up after ${(elapsed / 1000).toFixed(1)} s ` +
      `(total timeout ${options.totalTimeout} ms) and ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }; the last ${cause}`,
    { retryable: true, status: last.status, attempts, cause: last },
  );
}

async function attemptToken(options: RequestTokenOptions, timeout: number): Promise<AccessToken> {
  const { credentials, scopes, refreshToken } = options;
  const now = options.now ?? Date.now;
  const tokenUrl = String(options.tokenUrl);
  const form = new URLSearchParams();
  if (refreshToken !== undefined) {
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", refreshToken);
  } else {
    form.set("grant_type", "client_credentials");
  }
  form.set("client_id", credentials.clientId);
  form.set("client_secret", credentials.clientSecret);
  if (scopes && scopes.length > 0) form.set("scope", scopes.join(" "));

  const timeoutController = new AbortController();
  const timer = setTimeout(() => timeoutController.abort(), timeout);
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeoutController.signal])
    : timeoutController.signal;
  const sentAt = now();
  const secrets = [credentials.clientSecret, refreshToken];
  let status: number | undefined;
  try {
    const response = await (options.fetch ?? fetch)(tokenUrl, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
      },
      body: form.toString(),
      signal,
      redirect: "error",
    });
    status = response.status;
    const text = await response.text();
    if (!response.ok) throw httpError(tokenUrl, response, text, secrets);
    return parseTokenResponse(text, tokenUrl, response.status, sentAt);
  } catch (error) {
    if (error instanceof TokenError) throw error;
    if (options.signal?.aborted) throw options.signal.reason;
    if (timeoutController.signal.aborted) {
      throw new TokenTimeoutError(
        `Token request to "${tokenUrl}" timed out after ${Math.round(timeout)} ms`,
        { retryable: true, status },
      );
    }
    throw new TokenNetworkError(
      `Token request to "${tokenUrl}" failed: ${
        redact(String((error as Error)?.message), secrets)
      }`,
      { retryable: true, cause: error, status },
    );
  } finally {
    clearTimeout(timer);
  }
}

function httpError(
  tokenUrl: string,
  response: Response,
  text: string,
  secrets: (string | undefined)[],
): OAuthError {
  const status = response.status;
  let body: Record<string, unknown> | undefined;
  try {
    const json = JSON.parse(text);
    if (json && typeof json === "object" && !Array.isArray(json)) body = json;
  } catch { /* not JSON: an HTML error page, say */ }
  const str = (value: unknown): string | undefined =>
    typeof value === "string" ? redact(value, secrets).slice(0, 500) : undefined;
  const error = str(body?.error);
  const errorDescription = str(body?.error_description);
  const retryable = status >= 500 || RETRYABLE_STATUS.has(status);
  let message = `Token request to "${tokenUrl}" failed with HTTP ${status}`;
  if (error) message += `: ${error}`;
  if (errorDescription) message += ` (${errorDescription})`;
  if (status === 429) message += ". Client authentication rate limit exceeded, please slow down";
  return new OAuthError(message, {
    status,
    retryable,
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
): AccessToken {
  const fail = (problem: string): TokenResponseError =>
    new TokenResponseError(`Token response from "${tokenUrl}" ${problem}`, {
      status,
      retryable: false,
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail("is not JSON");
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw fail("is not a JSON object");
  }
  const body = json as Record<string, unknown>;
  if (typeof body.access_token !== "string" || body.access_token === "") {
    throw fail("has no access_token");
  }
  // RFC 6749 allows visible ASCII; anything else, or surrounding space, cannot
  // travel intact in an Authorization header.
  if (!/^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/.test(body.access_token)) {
    throw fail("has an access_token that is not printable ASCII");
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
    lifetime = Math.min(value, MAX_LIFETIME_SECONDS);
  }
  return new AccessToken({
    accessToken: body.access_token,
    tokenType: "Bearer",
    issuedAt: sentAt,
    expiresAt: sentAt + lifetime * 1000,
    refreshToken: typeof body.refresh_token === "string" && body.refresh_token !== ""
      ? body.refresh_token
      : undefined,
    scope: typeof body.scope === "string" ? body.scope : undefined,
  });
}

/**
 * Removes secrets from text a server sent back, in the forms a server may echo
 * them: as they are, percent-encoded, and form-encoded.
 */
function redact(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    const forms = new Set([
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ s: secret }).toString().slice(2),
    ]);
    for (const form of forms) out = out.split(form).join("[redacted]");
  }
  return out;
}

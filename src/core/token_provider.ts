/**
 * A token from the session's `tokenProvider`, bounded like a token request
 * (the shorter of `timeout` and `totalTimeout`, then `TokenTimeoutError`) and
 * checked as every token is. Loaded on a provider's first call.
 *
 * @module
 */

// Reach every module mod.ts loads, so a bundler shares one chunk (docs/architecture.md).
import "./events.ts";
import "./egress.ts";
import { AccessToken, type TokenSet } from "./access_token.ts";
import { DEFAULT_TOKEN_TIMEOUT } from "./options.ts";
import { TokenTimeoutError } from "../shared/errors.ts";
import { checkNumber, withDeadline } from "../shared/deadline.ts";

/** The session options that bound a provider. */
export interface ProviderBounds {
  /** The provider. */
  tokenProvider: (options: { signal: AbortSignal }) => Promise<TokenSet>;
  /** The time one call may take, in ms. @default {10000} */
  timeout?: number;
  /** The time one call may take in all, in ms. @default {no limit beyond `timeout`} */
  totalTimeout?: number;
}

/**
 * Calls the provider with a deadline and checks what it gives.
 *
 * @param options The provider and its bounds.
 * @param signal Aborts the call (the caller that started it gave up).
 * @returns The token.
 * @throws {TokenTimeoutError} When the provider does not answer in time.
 * @throws {TypeError} When it gives something that is not a usable token (never quoting it).
 * @throws {RangeError} For a `timeout` or `totalTimeout` out of range.
 */
export async function provideToken(
  options: ProviderBounds,
  signal: AbortSignal,
): Promise<AccessToken> {
  const positive = { min: 0, minInclusive: false, infinite: true, unit: "milliseconds" };
  const limit = Math.min(
    checkNumber("timeout", options.timeout, DEFAULT_TOKEN_TIMEOUT, positive),
    checkNumber("totalTimeout", options.totalTimeout, Infinity, positive),
  );
  const set = await withDeadline(limit, (inner) => options.tokenProvider({ signal: inner }), {
    signal,
    reason: () =>
      new TokenTimeoutError(`The tokenProvider gave no token within ${limit} ms`, {
        retryable: true,
      }),
  });
  try {
    return new AccessToken(set);
  } catch (error) {
    throw new TypeError(`The tokenProvider gave an unusable token: ${(error as Error).message}`);
  }
}

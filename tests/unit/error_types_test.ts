// The error unions narrow on `code`: in a `switch (error.code)`, each case
// sees its class's own fields. Type-checked by `deno check tests/` (and by
// the npm build's compiler), so this file stops compiling if narrowing
// breaks; the `@ts-expect-error` lines stop compiling if it grows too loose.
// The same switches also run, on real errors.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConfigurationError,
  CredentialsError,
  type KognicAuthErrorCode,
  type KognicAuthErrors,
  OAuthError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "../../mod.ts";
import { KeyringError } from "../../config.ts";
import {
  ApiError,
  type ApiErrorCode,
  ApiTimeoutError,
  type KognicClientErrors,
} from "../../client.ts";

/** A line per error, using fields that only the narrowed class has. */
function describeCore(error: KognicAuthErrors): string {
  switch (error.code) {
    case "oauth_error":
      return `oauth ${error.error} ${error.errorDescription} ${error.status} ${error.attempts}`;
    case "keyring_unavailable":
      return `keyring unreachable=${error.unreachable}`;
    case "configuration_invalid":
      // @ts-expect-error: only a KeyringError says whether the keyring was unreachable
      return `configuration ${error.unreachable}`;
    case "credentials_not_found":
    case "credentials_invalid":
    case "credentials_expired":
      // @ts-expect-error: a CredentialsError has no status
      return `credentials ${error.code} ${error.status}`;
    case "token_response_invalid":
    case "token_timeout":
    case "token_network_error":
      return `token ${error.code} retryable=${error.retryable}`;
    default: {
      // Every code is handled: what is left is never.
      const unhandled: never = error;
      return String(unhandled);
    }
  }
}

function describeClient(error: KognicClientErrors): string {
  switch (error.code) {
    case "api_error":
      return `api ${error.method} ${error.status} ${error.serverMessage}`;
    case "api_timeout":
      return `api timeout ${error.timeout}`;
    case "oauth_error":
      return `oauth ${error.error}`;
    default:
      return error.code;
  }
}

// The code unions: the core's holds no API code, and the API's its own.
const coreCode: KognicAuthErrorCode = "keyring_unavailable";
// @ts-expect-error: the API client's codes are not the core's
const notCore: KognicAuthErrorCode = "api_error";
const apiCode: ApiErrorCode = "api_timeout";

describe("the error unions", () => {
  it("narrow the core's errors by code at run time as the types say", () => {
    const cases: [KognicAuthErrors, string][] = [
      [
        new OAuthError("refused", {
          status: 401,
          retryable: false,
          error: "invalid_client",
          errorDescription: "bad secret",
        }),
        "oauth invalid_client bad secret 401 1",
      ],
      [new KeyringError("no bus", { unreachable: true }), "keyring unreachable=true"],
      [new ConfigurationError("bad url") as KognicAuthErrors, "configuration undefined"],
      [
        new CredentialsError("credentials_invalid", "bad"),
        "credentials credentials_invalid undefined",
      ],
      [
        new TokenResponseError("no token", { retryable: false }),
        "token token_response_invalid retryable=false",
      ],
      [new TokenTimeoutError("slow", { retryable: true }), "token token_timeout retryable=true"],
      [
        new TokenNetworkError("down", { retryable: true }),
        "token token_network_error retryable=true",
      ],
    ];
    for (const [error, expected] of cases) assert.equal(describeCore(error), expected);
  });

  it("keep a KeyringError a ConfigurationError, with its own code", () => {
    const error = new KeyringError("The system keyring did not answer");
    assert.ok(error instanceof ConfigurationError);
    assert.equal(error.code, "keyring_unavailable");
    assert.equal(error.name, "KeyringError");
    assert.equal(error.unreachable, false);
  });

  it("narrow the API client's errors by code", () => {
    const api = new ApiError("HTTP 404", {
      status: 404,
      method: "GET",
      url: "https://app.kognic.com/v1/x",
      serverMessage: "No such project",
    });
    assert.equal(describeClient(api), "api GET 404 No such project");
    const timeout = new ApiTimeoutError("slow", {
      method: "GET",
      url: "https://x.test",
      timeout: 5,
    });
    assert.equal(describeClient(timeout), "api timeout 5");
    assert.deepEqual([coreCode, notCore, apiCode], [
      "keyring_unavailable",
      "api_error",
      "api_timeout",
    ]);
  });
});

// Every error class the entry points export, in one table: each is a
// KognicAuthError, each code belongs to exactly one class, every field is
// read-only, and the union types (KognicAuthErrors, KognicClientErrors) hold
// exactly the codes there are. The type-level checks below stop `deno check`
// when a union and the classes drift apart.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import * as core from "../../mod.ts";
import * as config from "../../config.ts";
import * as client from "../../client.ts";
import * as cli from "../../cli.ts";
import * as kog from "../../kog.ts";
import * as telemetry from "../../telemetry.ts";
import * as testing from "../../testing.ts";
import { repositoryFile } from "../_helpers/mod.ts";
import {
  ConfigurationError,
  CredentialsError,
  KognicAuthError,
  type KognicAuthErrorCode,
  type KognicAuthErrors,
  OAuthError,
  TokenError,
  TokenNetworkError,
  TokenResponseError,
  TokenTimeoutError,
} from "../../mod.ts";
import { KeyringError } from "../../config.ts";
import {
  ApiError,
  type ApiErrorCode,
  ApiNetworkError,
  ApiTimeoutError,
  type KognicClientErrors,
} from "../../client.ts";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;
/** The members of a union whose `code` may be `C`. */
type Owners<Union, C> = Union extends { code: infer K } ? (C extends K ? Union : never) : never;
type OneClassPerCode<Union extends { code: string }> = false extends {
  [C in Union["code"]]: [Owners<Union, C>] extends [never] ? false
    : IsUnion<Owners<Union, C>> extends false ? true
    : false;
}[Union["code"]] ? false
  : true;

// The unions hold every code, and no other.
const coreUnionIsTrue: Same<KognicAuthErrors["code"], KognicAuthErrorCode> = true;
const clientUnionIsTrue: Same<KognicClientErrors["code"], KognicAuthErrorCode | ApiErrorCode> =
  true;
const baseCodeIsTrue: Same<KognicAuthError["code"], KognicAuthErrorCode | ApiErrorCode> = true;
// Narrowing a union on a code leaves one class.
const coreCodesNarrowToOne: OneClassPerCode<KognicAuthErrors> = true;
const clientCodesNarrowToOne: OneClassPerCode<KognicClientErrors> = true;

/** Every code, spelled out once: the type checks above tie it to the unions. */
const CODES = [
  "credentials_not_found",
  "credentials_invalid",
  "credentials_expired",
  "configuration_invalid",
  "keyring_unavailable",
  "oauth_error",
  "token_response_invalid",
  "token_timeout",
  "token_network_error",
  "api_error",
  "api_timeout",
  "api_network_error",
] as const;
const codesAreTheUnion: Same<(typeof CODES)[number], KognicAuthErrorCode | ApiErrorCode> = true;

// deno-lint-ignore no-explicit-any
type ErrorClass = abstract new (...args: any[]) => KognicAuthError;

/** Each class the entry points export that can be thrown, with instances of every code it has. */
const THROWN: [ErrorClass, KognicAuthErrors | KognicClientErrors, ...KognicAuthError[]][] = [
  [
    CredentialsError,
    new CredentialsError("credentials_not_found", "No credentials"),
    new CredentialsError("credentials_invalid", "Bad credentials"),
    new CredentialsError("credentials_expired", "Old credentials"),
  ],
  [ConfigurationError, new ConfigurationError("Bad setting") as KognicAuthErrors],
  [KeyringError, new KeyringError("No keyring", { unreachable: true })],
  [
    OAuthError,
    new OAuthError("Refused", { status: 401, retryable: false, error: "invalid_client" }),
  ],
  [TokenResponseError, new TokenResponseError("Not JSON", { status: 200, retryable: false })],
  [TokenTimeoutError, new TokenTimeoutError("Slow", { retryable: true, attempts: 4 })],
  [TokenNetworkError, new TokenNetworkError("Down", { retryable: true })],
  [
    ApiError,
    new ApiError("HTTP 503", { status: 503, method: "GET", url: "https://app.kognic.com/v1/x" }),
  ],
  [
    ApiTimeoutError,
    new ApiTimeoutError("Slow", { method: "GET", url: "https://app.kognic.com/v1/x", timeout: 5 }),
  ],
  [
    ApiNetworkError,
    new ApiNetworkError("Down", { method: "GET", url: "https://app.kognic.com/v1/x", attempts: 2 }),
  ],
];
/** The classes that are only ever a base: never thrown themselves. */
const BASES: ErrorClass[] = [KognicAuthError, TokenError];

describe("the error hierarchy", () => {
  it("has every error class the entry points export in its table", () => {
    const exported = new Set<unknown>();
    for (const entry of [core, config, client, cli, kog, telemetry, testing]) {
      for (const value of Object.values(entry)) {
        if (typeof value === "function" && value.prototype instanceof Error) exported.add(value);
      }
    }
    const known = new Set<unknown>([...THROWN.map(([type]) => type), ...BASES]);
    assert.deepEqual(
      [...exported].filter((type) => !known.has(type)).map((type) => (type as ErrorClass).name),
      [],
    );
    assert.deepEqual([...known].filter((type) => !exported.has(type)), []);
  });

  for (const [type, ...errors] of THROWN) {
    it(`${type.name} is a KognicAuthError named after its class, with read-only fields`, () => {
      for (const error of errors) {
        assert.ok(error instanceof KognicAuthError);
        assert.ok(error instanceof type);
        assert.equal(error.name, type.name);
        const fields = Object.keys(error);
        for (const field of ["name", "code"]) assert.ok(fields.includes(field), field);
        for (const field of fields) {
          const descriptor = Object.getOwnPropertyDescriptor(error, field)!;
          assert.equal(descriptor.writable, false, `${type.name}.${field} is writable`);
          const before = (error as unknown as Record<string, unknown>)[field];
          assert.throws(() => {
            (error as unknown as Record<string, unknown>)[field] = "changed";
          }, TypeError);
          assert.equal((error as unknown as Record<string, unknown>)[field], before);
        }
      }
    });
  }

  it("gives each code to exactly one class, and every code to one", () => {
    const owner = new Map<string, string>();
    for (const [type, ...errors] of THROWN) {
      for (const { code } of errors) {
        assert.equal(owner.get(code) ?? type.name, type.name, `code ${code} of two classes`);
        owner.set(code, type.name);
      }
    }
    assert.deepEqual([...owner.keys()].sort(), [...CODES].sort());
  });

  it("gives every request error the same fields for attempts and retrying", () => {
    const requestErrors = THROWN.flatMap(([, ...errors]) => errors).filter((error) =>
      error instanceof TokenError || error instanceof ApiError ||
      error instanceof ApiTimeoutError || error instanceof ApiNetworkError
    ) as (TokenError | ApiError | ApiTimeoutError | ApiNetworkError)[];
    assert.equal(requestErrors.length, 7);
    for (const error of requestErrors) {
      assert.equal(typeof error.attempts, "number", `${error.name}.attempts`);
      assert.equal(typeof error.retryable, "boolean", `${error.name}.retryable`);
    }
  });

  const errorsDoc = repositoryFile("docs/errors.md");
  it("lists every class and code in docs/errors.md", { skip: errorsDoc.skip }, async () => {
    const text = await readFile(errorsDoc.url, "utf8");
    const rows = new Set(
      [...text.matchAll(/^\| `(\w+)` +\| `(\w+)` +\|/gm)].map(([, name, code]) =>
        `${name} ${code}`
      ),
    );
    const expected = THROWN.flatMap(([type, ...errors]) =>
      errors.map(({ code }) => `${type.name} ${code}`)
    );
    assert.deepEqual([...rows].sort(), expected.sort());
  });

  it("keeps the unions' type checks", () => {
    assert.deepEqual(
      [
        coreUnionIsTrue,
        clientUnionIsTrue,
        baseCodeIsTrue,
        coreCodesNarrowToOne,
        clientCodesNarrowToOne,
        codesAreTheUnion,
      ],
      [true, true, true, true, true, true],
    );
  });
});

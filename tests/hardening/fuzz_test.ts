// Property-based fuzzing with fast-check: credentials files, objects and
// environment combinations; environments files; token endpoint responses
// served by a real local server; and CLI argument vectors run in-process. Every case must end in a
// success that holds up, or a typed error with a message; never a crash, a
// hang, or a secret in any message or output.
//
// KOGNIC_FUZZ_RUNS sets the cases per property (1,000 by default; the test
// command runs 500 on Deno and 100 on the other runtimes, `deno task
// reliability` 10,000), KOGNIC_FUZZ_SEED replays a run.
// With KOGNIC_RELIABILITY_REPORT set, each property appends its counts there
// as a JSON line.

import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  type AccessToken,
  ApiCredentials,
  CredentialsError,
  KognicAuthError,
  requestToken,
  resolveCredentials,
  type TokenError,
} from "../../mod.ts";
import {
  DEFAULT_ENVIRONMENT,
  type Environment,
  loadCredentials,
  loadEnvironments,
  parseCredentials,
  resolveEnvironment,
} from "../../config.ts";
import { main } from "../../cli.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import { CLIENT_ID, CLIENT_SECRET, runMain, tempDir } from "../_helpers/mod.ts";
import { type StandIn, startJsonStandIn, startStandIn } from "../_helpers/servers.ts";

/** A secret the local server does not accept; it must not leak either. */
const WRONG_SECRET = "wr0ng-Fz5kT1-never-print-me";
const RUNS = Math.max(1, Math.floor(Number(process.env.KOGNIC_FUZZ_RUNS) || 1000));
const SEED = process.env.KOGNIC_FUZZ_SEED ? Number(process.env.KOGNIC_FUZZ_SEED) : undefined;
const REPORT = process.env.KOGNIC_RELIABILITY_REPORT;

/** Outcome counts of one property, for the report. */
type Tally = Record<string, number>;

function count(tally: Tally, outcome: string): void {
  tally[outcome] = (tally[outcome] ?? 0) + 1;
}

/** Runs one case with a hang guard of 10 s. */
async function guarded(run: () => Promise<void> | void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(run),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("hang: no outcome within 60 s")), 60_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A failure's kind, for counting: its type and the stable start of its message. */
function kindOf(error: unknown): string {
  if (!(error instanceof Error)) return `thrown ${typeof error}`;
  if (error.name !== "AssertionError") {
    return `${error.name}: ${error.message.replace(/\d+/g, "#").slice(0, 80)}`;
  }
  return error.message.split(/[:("{\n]/)[0].trim().replace(/\d+/g, "#").slice(0, 80);
}

/**
 * Runs a property on RUNS generated cases, all of them even when some fail,
 * counting the outcomes and the failures by kind; then, if any failed, runs it
 * again from the same seed to let fast-check shrink the first failure to a
 * small counterexample, which fails the test. Each case has a hang guard of 10 s.
 */
async function fuzz<T>(
  target: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T, tally: Tally) => Promise<void> | void,
): Promise<void> {
  const tally: Tally = {};
  let cases = 0;
  let failed = 0;
  const seed = SEED ?? Math.floor(Math.random() * 2 ** 31);
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      cases++;
      try {
        await guarded(() => predicate(value, tally));
      } catch (error) {
        failed++;
        count(tally, `FAILED: ${fixturesNamed(kindOf(error))}`);
      }
    }),
    { numRuns: RUNS, seed },
  );
  let message: string | undefined;
  if (failed > 0) {
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, (value) => guarded(() => predicate(value, {}))),
        { numRuns: RUNS, seed },
      );
      message = `${failed} of ${cases} cases failed, but none failed again from seed ${seed}`;
    } catch (failure) {
      // fast-check's report shows the counterexample, which may hold the fixed
      // test secrets: name them instead, so a failure report is no leak.
      message = fixturesNamed(
        `${failed} of ${cases} cases failed. ${(failure as Error).message}\nCaused by: ${
          (failure as Error).cause
        }`,
      );
    }
  }
  if (REPORT) {
    appendFileSync(
      REPORT,
      JSON.stringify({
        file: "fuzz",
        target,
        runs: RUNS,
        cases,
        failedCases: failed,
        seed,
        passed: failed === 0,
        failure: message?.slice(0, 3000),
        outcomes: tally,
        elapsedMs: Date.now() - started,
      }) + "\n",
    );
  }
  if (message !== undefined) throw new Error(message);
}

/** Replaces the fixed test secrets with their names. */
function fixturesNamed(text: string): string {
  return text.replaceAll(CLIENT_SECRET, "<CLIENT_SECRET>").replaceAll(
    WRONG_SECRET,
    "<WRONG_SECRET>",
  );
}

/** Every form a leaked secret could take in text: raw, percent- and form-encoded, JSON-escaped. */
function secretForms(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
  ]);
  return [...forms].filter((form) => form.length >= 4);
}

function assertNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      assert.ok(
        !text.includes(form),
        `${where} contains a secret (${JSON.stringify(form)}): ${text.slice(0, 300)}`,
      );
    }
  }
}

/** A secret with characters that URL and JSON encoding change, unlike any other value here. */
const secretArb = fc
  .tuple(
    fc.string({ minLength: 6, maxLength: 16 }),
    fc.constantFrom("", "+", "/", "=", "&", "%", " ", '"', "\\", "é"),
  )
  .map(([body, special]) => `SEC${special}${body}-never-print`);

let dir: { path: string; cleanup: () => Promise<void> };
before(async () => {
  dir = await tempDir();
});
after(async () => {
  await dir.cleanup();
});

// --- Credentials -------------------------------------------------------------

/** A timestamp as text or junk, with what a careful parser must make of it. */
interface Stamp {
  value: unknown;
  /** "valid": must give `ms`; "invalid": must be refused; "either": no crash. */
  verdict: "valid" | "invalid" | "either";
  ms?: number;
}

const instantArb = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) });

const stampArb: fc.Arbitrary<Stamp> = fc.oneof(
  fc.tuple(
    instantArb,
    fc.constantFrom("iso", "iso", "iso", "nanos", "nanos", "seconds", "minutes", "space", "lower"),
  )
    .map(([ms, style]): Stamp => {
      const iso = new Date(ms).toISOString();
      switch (style) {
        case "nanos":
          return { value: iso.replace("Z", "456789Z"), verdict: "valid", ms };
        case "seconds":
          return { value: iso.replace(/\.\d+Z$/, "Z"), verdict: "valid", ms: ms - (ms % 1000) };
        case "minutes":
          return {
            value: iso.replace(/:\d\d\.\d+Z$/, "Z"),
            verdict: "valid",
            ms: ms - (ms % 60_000),
          };
        case "space":
          return { value: iso.replace("T", " "), verdict: "valid", ms };
        case "lower":
          return { value: iso.replace("Z", "z"), verdict: "valid", ms };
        default:
          return { value: iso, verdict: "valid", ms };
      }
    }),
  fc.tuple(instantArb, fc.integer({ min: -14 * 60, max: 14 * 60 }), fc.boolean())
    .map(([ms, offset, colon]): Stamp => {
      const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
      const abs = Math.abs(offset);
      const hh = String(Math.floor(abs / 60)).padStart(2, "0");
      const mm = String(abs % 60).padStart(2, "0");
      const zone = `${offset < 0 ? "-" : "+"}${hh}${colon ? ":" : ""}${mm}`;
      return { value: local + zone, verdict: "valid", ms };
    }),
  instantArb.map((ms): Stamp => ({
    value: new Date(ms).toISOString().slice(0, -1),
    verdict: "invalid",
  })),
  instantArb.map((ms): Stamp => ({
    value: new Date(ms).toISOString().slice(0, 10),
    verdict: "invalid",
  })),
  instantArb.map((ms): Stamp => ({ value: ms, verdict: "invalid" })),
  fc.string({ maxLength: 30 }).map((value): Stamp => ({ value, verdict: "invalid" })),
  fc.constantFrom<Stamp>(
    { value: "2024-13-45T25:61:00Z", verdict: "invalid" },
    { value: "2024-05-01T10:00.500Z", verdict: "invalid" },
    { value: "2024-05-01T10:00:00+99:99", verdict: "invalid" },
    { value: "", verdict: "invalid" },
    { value: true, verdict: "invalid" },
    { value: {}, verdict: "invalid" },
    { value: [], verdict: "invalid" },
    { value: "2024-02-30T00:00:00Z", verdict: "either" },
    { value: "2024-05-01T24:00:00Z", verdict: "either" },
    { value: "0000-01-01T00:00:00Z", verdict: "either" },
  ),
);

const ABSENT = Symbol("absent");
type Maybe<T> = T | typeof ABSENT;

/** A field that is absent, null, of the right type, or of a wrong one. */
function fieldArb<T>(
  good: fc.Arbitrary<T>,
  ...bad: fc.Arbitrary<unknown>[]
): fc.Arbitrary<Maybe<unknown>> {
  return fc.oneof(
    { weight: 20, arbitrary: good },
    { weight: 1, arbitrary: fc.constant(ABSENT) },
    { weight: 1, arbitrary: fc.constant(null) },
    ...bad.map((arbitrary) => ({ weight: 1, arbitrary })),
  );
}

const junkArb = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(""),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
);

interface FileModel {
  secret: string;
  fields: Record<string, Maybe<unknown>>;
  created: Maybe<Stamp>;
  expires: Maybe<Stamp>;
  extra: Record<string, unknown>;
}

const idArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);

/** Stands for the case's secret in generated fields; fileObject() puts the secret in. */
const SECRET_SLOT = Symbol("secret");

const fileModelArb: fc.Arbitrary<FileModel> = fc.record({
  secret: secretArb,
  fields: fc.record({
    clientId: fieldArb(idArb, junkArb),
    clientSecret: fieldArb(fc.constant(SECRET_SLOT), junkArb),
    email: fieldArb(fc.emailAddress(), junkArb),
    userId: fieldArb(
      fc.integer({ min: -1, max: 2 ** 40 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constant(2 ** 60),
      fc.constant("42"),
    ),
    issuer: fieldArb(fc.domain(), junkArb),
    name: fieldArb(fc.string({ maxLength: 20 }), fc.integer()),
    scopes: fieldArb(
      fc.array(fc.stringMatching(/^[a-z]{1,8}(:[a-z]{1,8})?$/), { maxLength: 3 }),
      fc.constant("api:read"),
      fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { minLength: 1, maxLength: 3 })
        .filter((a) => a.some((x) => typeof x !== "string")),
    ),
  }),
  created: fc.oneof(stampArb, fc.constant(ABSENT), fc.constant(ABSENT)),
  expires: fc.oneof(stampArb, fc.constant(ABSENT), fc.constant(ABSENT)),
  extra: fc.dictionary(fc.stringMatching(/^x[a-z]{0,6}$/), fc.jsonValue({ maxDepth: 1 }), {
    maxKeys: 2,
  }),
}).map((model) =>
  model.fields.clientSecret === SECRET_SLOT
    ? { ...model, fields: { ...model.fields, clientSecret: model.secret } }
    : model
);

function fileObject(model: FileModel): Record<string, unknown> {
  const out: Record<string, unknown> = { ...model.extra };
  for (const [key, value] of Object.entries(model.fields)) if (value !== ABSENT) out[key] = value;
  if (model.created !== ABSENT) out.created = model.created.value;
  if (model.expires !== ABSENT) out.expires = model.expires.value;
  return out;
}

const isText = (v: unknown): v is string => typeof v === "string" && v !== "";

/**
 * What parseCredentials must make of a parsed file, from the file format
 * alone: the fields it must return, "invalid" for a refusal, or "either"
 * where both are acceptable.
 */
function expectFile(model: FileModel): "invalid" | "either" | Record<string, unknown> {
  const f = model.fields;
  if (!isText(f.clientId) || !isText(f.clientSecret) || !isText(f.email) || !isText(f.issuer)) {
    return "invalid";
  }
  if (typeof f.userId !== "number" || !Number.isSafeInteger(f.userId)) return "invalid";
  if (f.name !== ABSENT && f.name !== null && typeof f.name !== "string") return "invalid";
  const scopes = f.scopes;
  if (
    scopes !== ABSENT && scopes !== null &&
    !(Array.isArray(scopes) && scopes.every((s) => typeof s === "string"))
  ) return "invalid";
  let either = false;
  const times: Record<string, number | undefined> = {};
  for (const key of ["created", "expires"] as const) {
    const stamp = model[key];
    if (stamp === ABSENT || stamp.value === null) continue;
    if (stamp.verdict === "invalid") return "invalid";
    if (stamp.verdict === "either") either = true;
    times[key] = stamp.ms;
  }
  if (either) return "either";
  return {
    clientId: f.clientId,
    email: f.email,
    // The file is JSON, which writes -0 as 0.
    userId: Object.is(f.userId, -0) ? 0 : f.userId,
    issuer: f.issuer,
    name: typeof f.name === "string" ? f.name : "API Credentials",
    scopes: Array.isArray(scopes) ? scopes : undefined,
    created: times.created,
    expires: times.expires,
  };
}

/** Checks credentials hold up: fields as expected, printable without the secret, expiry checkable. */
function assertUsable(credentials: ApiCredentials, secret: string): void {
  assert.equal(credentials.clientSecret, secret);
  for (
    const text of [
      JSON.stringify(credentials),
      String(credentials),
      inspect(credentials, { depth: 4 }),
    ]
  ) {
    assertNoSecret(text, [secret], "printed credentials");
  }
  try {
    credentials.assertNotExpired(Date.now());
  } catch (error) {
    assert.ok(error instanceof CredentialsError, `assertNotExpired threw ${error}`);
    assertNoSecret((error as Error).message, [secret], "expiry message");
  }
  const scopes = credentials.scopes;
  assert.ok(
    scopes === undefined || (Array.isArray(scopes) && scopes.every((s) => typeof s === "string")),
    `scopes is ${JSON.stringify(scopes)}`,
  );
}

/** The error a case ended in must be typed, have a message and hold no secret. */
function assertTypedError(error: unknown, secrets: readonly string[], types: string[]): string {
  const name = error instanceof KognicAuthError
    ? `${error.name}(${error.code})`
    : (error as Error)?.name ?? typeof error;
  if (
    !(error instanceof KognicAuthError || error instanceof TypeError) ||
    !types.some((type) => name.startsWith(type))
  ) {
    assert.fail(
      `expected ${types.join(" or ")}, got ${name}: ${(error as Error)?.message}\n${
        (error as Error)?.stack
      }`,
    );
  }
  const message = (error as Error).message;
  assert.ok(message.length > 0, "the error has a message");
  assertNoSecret(message, secrets, "error message");
  assertNoSecret(String(error), secrets, "error string");
  return name;
}

function checkParsed(model: FileModel, value: unknown, source: string, tally: Tally): void {
  const expected = expectFile(model);
  let credentials: ApiCredentials;
  try {
    credentials = parseCredentials(value, source);
  } catch (error) {
    const name = assertTypedError(error, [model.secret], ["CredentialsError(credentials_invalid)"]);
    assert.ok((error as Error).message.includes(source), "the message names the file");
    assert.notEqual(typeof expected, "object", `refused a valid file: ${(error as Error).message}`);
    count(tally, name);
    return;
  }
  assert.notEqual(expected, "invalid", `accepted an invalid file: ${JSON.stringify(value)}`);
  assertUsable(credentials, model.secret);
  if (typeof expected === "object") {
    assert.deepEqual(
      {
        clientId: credentials.clientId,
        email: credentials.email,
        // -0 and 0 are one user id (JSON writes -0 as 0; an object may hold either).
        userId: credentials.userId === 0 ? 0 : credentials.userId,
        issuer: credentials.issuer,
        name: credentials.name,
        scopes: credentials.scopes ? [...credentials.scopes] : undefined,
        created: credentials.created?.getTime(),
        expires: credentials.expires?.getTime(),
      },
      expected,
    );
  }
  count(tally, "success");
}

describe("fuzz: credentials", () => {
  it(`parseCredentials() on ${RUNS} generated credentials objects`, async () => {
    await fuzz("credentials objects (parseCredentials)", fileModelArb, (model, tally) => {
      checkParsed(model, fileObject(model), "fuzz.json", tally);
    });
  });

  it(`loadCredentials() on ${RUNS} generated credentials files`, async () => {
    let n = 0;
    const fileArb = fc.record({
      model: fileModelArb,
      form: fc.constantFrom("json", "json", "json", "truncated", "array", "bom", "junk", "empty"),
      cut: fc.nat(),
      name: fc.constantFrom("c.json", "c.JSON", "c.Json", "c.txt", "c.json.bak", "c"),
    });
    await fuzz(
      "credentials files (loadCredentials)",
      fileArb,
      async ({ model, form, cut, name }, tally) => {
        const object = fileObject(model);
        const json = JSON.stringify(object);
        const text = form === "json"
          ? json
          : form === "truncated"
          ? json.slice(0, cut % json.length)
          : form === "array"
          ? JSON.stringify([object])
          : form === "bom"
          ? `\uFEFF${json}`
          : form === "junk"
          ? `clientSecret=${model.secret}`
          : "";
        const caseDir = join(dir.path, `load-${n++}`);
        await mkdir(caseDir);
        const path = join(caseDir, name);
        await writeFile(path, text);
        let credentials: ApiCredentials;
        try {
          credentials = await loadCredentials(path);
        } catch (error) {
          count(tally, assertTypedError(error, [model.secret], ["CredentialsError"]));
          if (form === "json" && /\.json$/i.test(name)) {
            assert.notEqual(typeof expectFile(model), "object", `refused a valid file: ${error}`);
          }
          return;
        }
        assert.ok(/\.json$/i.test(name), `read a file not named .json: ${name}`);
        assert.ok(form === "json" || form === "truncated", `accepted a ${form} file`);
        checkParsed(model, JSON.parse(text), path, {});
        assertUsable(credentials, model.secret);
        count(tally, "success");
      },
    );
  });

  it(`resolveCredentials() on ${RUNS} combinations of options and environment`, async () => {
    const files = {
      valid: join(dir.path, "valid.json"),
      invalid: join(dir.path, "invalid.json"),
      missing: join(dir.path, "missing.json"),
      text: join(dir.path, "credentials.txt"),
    };
    const fileContent = {
      clientId: "file-client",
      clientSecret: CLIENT_SECRET,
      email: "dev@example.com",
      userId: 1,
      issuer: "auth.app.kognic.com",
    };
    await writeFile(files.valid, JSON.stringify(fileContent));
    await writeFile(files.invalid, JSON.stringify({ ...fileContent, userId: "one" }));
    await writeFile(files.text, JSON.stringify(fileContent));
    const pathArb = fc.constantFrom(
      files.valid,
      files.invalid,
      files.missing,
      files.text,
      "~/valid.json",
      "keyring://fuzz-profile",
    );
    const authArb = fc.oneof(
      fc.constant(ABSENT),
      fc.constant(null),
      pathArb,
      fc.constant(""),
      fc.tuple(fieldArb(idArb, fc.integer()), fieldArb(fc.constant(CLIENT_SECRET), fc.constant("")))
        .map(([a, b]) => [a, b].filter((x) => x !== ABSENT)),
      fc.constant(["a", CLIENT_SECRET, "c"]),
      fc.record({
        clientId: fieldArb(idArb, fc.integer()),
        clientSecret: fieldArb(fc.constant(CLIENT_SECRET), fc.constant("")),
        scopes: fc.oneof(
          fc.constant(ABSENT),
          fc.array(fc.constantFrom("api:read", "api:write"), { maxLength: 2 }),
          fc.constant("api:read"),
        ),
        expires: fc.oneof(
          fc.constant(ABSENT),
          fc.constant(new Date("2099-01-01T00:00:00Z")),
          fc.constant(new Date("2001-01-01T00:00:00Z")),
          fc.constant("2099-01-01T00:00:00Z"),
          fc.constant(new Date(Number.NaN)),
        ),
      }).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== ABSENT))),
      fc.constant("instance"),
      fc.constantFrom(42, true),
    );
    const optionArb = <T>(...values: T[]): fc.Arbitrary<T | typeof ABSENT> =>
      fc.oneof({ weight: 6, arbitrary: fc.constant(ABSENT) }, fc.constantFrom(...values));
    const caseArb = fc.record({
      auth: authArb,
      clientId: optionArb<unknown>("opt-client", "", 7),
      clientSecret: optionArb(CLIENT_SECRET, ""),
      KOGNIC_CREDENTIALS: fc.oneof(fc.constant(ABSENT), fc.constant(""), pathArb),
      KOGNIC_CLIENT_ID: fc.oneof(fc.constant(ABSENT), fc.constantFrom("", "env-client")),
      KOGNIC_CLIENT_SECRET: fc.oneof(fc.constant(ABSENT), fc.constantFrom("", CLIENT_SECRET)),
    });
    const instance = new ApiCredentials({
      clientId: "instance-client",
      clientSecret: CLIENT_SECRET,
    });
    await fuzz("credentials sources (resolveCredentials)", caseArb, async (c, tally) => {
      const env: Record<string, string> = { HOME: dir.path };
      for (
        const key of ["KOGNIC_CREDENTIALS", "KOGNIC_CLIENT_ID", "KOGNIC_CLIENT_SECRET"] as const
      ) {
        if (c[key] !== ABSENT) env[key] = c[key] as string;
      }
      const options: Record<string, unknown> = { env };
      if (c.auth !== ABSENT) options.auth = c.auth === "instance" ? instance : c.auth;
      if (c.clientId !== ABSENT) options.clientId = c.clientId;
      if (c.clientSecret !== ABSENT) options.clientSecret = c.clientSecret;
      const expected = expectSource(options, env, instance);
      let credentials: ApiCredentials;
      try {
        credentials = await resolveCredentials(options);
      } catch (error) {
        const name = assertTypedError(error, [CLIENT_SECRET], [
          "CredentialsError",
          "KeyringError",
          "TypeError",
        ]);
        assert.ok(
          expected.startsWith("error:") &&
              expected.slice(6).split("|").some((type) => name.startsWith(type)) ||
            expected === "either",
          `expected ${expected}, got ${name}: ${(error as Error).message}`,
        );
        count(tally, name);
        return;
      }
      assert.ok(
        expected === credentials.clientId || expected === "either" ||
          (expected.includes("|keyring") && /keyring/.test(credentials.source)),
        `expected ${expected}, got credentials for ${credentials.clientId}`,
      );
      assertUsable(credentials, CLIENT_SECRET);
      count(tally, `success(${credentials.source.replace(/\/.*\//, ".../")})`);
    });
  });
});

/**
 * The precedence of credentials sources, from the spec: the client id the
 * credentials must have, "error:<Type>" for a refusal, or "either".
 */
function expectSource(
  options: Record<string, unknown>,
  env: Record<string, string>,
  instance: ApiCredentials,
): string {
  const { auth, clientId, clientSecret } = options;
  const file = (path: string): string => {
    // Without a keyring (as in CI) the profile cannot be read; with one, it holds nothing.
    if (/^keyring:/.test(path)) {
      return "error:KeyringError|CredentialsError(credentials_not_found)";
    }
    if (!/\.json$/i.test(path)) return "error:CredentialsError(credentials_invalid)";
    if (path.endsWith("missing.json")) return "error:CredentialsError(credentials_not_found)";
    if (path.endsWith("invalid.json")) return "error:CredentialsError(credentials_invalid)";
    return "file-client";
  };
  if (auth !== undefined && (clientId !== undefined || clientSecret !== undefined)) {
    return "error:TypeError";
  }
  if (clientId !== undefined || clientSecret !== undefined) {
    return isText(clientId) && isText(clientSecret)
      ? clientId
      : "error:CredentialsError(credentials_invalid)";
  }
  if (auth !== undefined && auth !== null) {
    if (typeof auth === "string") return auth === "" ? "error:TypeError" : file(auth);
    if (auth === instance) return instance.clientId;
    if (Array.isArray(auth)) {
      if (auth.length !== 2) return "error:TypeError";
      return isText(auth[0]) && isText(auth[1])
        ? auth[0]
        : "error:CredentialsError(credentials_invalid)";
    }
    if (typeof auth === "object") {
      const init = auth as Record<string, unknown>;
      if (!isText(init.clientId) || !isText(init.clientSecret)) {
        return "error:CredentialsError(credentials_invalid)";
      }
      // Fields of the wrong type may be refused, or converted; assertUsable checks the result.
      const wellTyped = (init.scopes === undefined || Array.isArray(init.scopes)) &&
        (init.expires === undefined ||
          (init.expires instanceof Date && !Number.isNaN(init.expires.getTime())));
      return wellTyped ? init.clientId : "either";
    }
    return "error:TypeError";
  }
  if (env.KOGNIC_CREDENTIALS) return file(env.KOGNIC_CREDENTIALS);
  if (env.KOGNIC_CLIENT_ID && env.KOGNIC_CLIENT_SECRET) return env.KOGNIC_CLIENT_ID;
  if (env.KOGNIC_CLIENT_ID || env.KOGNIC_CLIENT_SECRET) {
    return "error:CredentialsError(credentials_invalid)";
  }
  // The keyring's default profile is the last source; where one runs, it may hold credentials.
  return "error:CredentialsError(credentials_not_found)|keyring";
}

// --- Environments files ------------------------------------------------------

/** One environment of a generated file: its fields, and whether each is acceptable. */
interface EnvModel {
  name: string;
  host: { value: Maybe<unknown>; ok: boolean; normalized?: string };
  authServer: { value: Maybe<unknown>; ok: boolean };
  credentials: { value: Maybe<unknown>; ok: boolean };
  scopes: { value: Maybe<unknown>; ok: boolean };
}

const envNameArb = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "production",
      "demo",
      "a.b",
      "with space",
      "__proto__",
      "constructor",
      "toString",
      "hasOwnProperty",
    ),
  },
);

const hostArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.oneof(
      fc.domain(),
      fc.constantFrom(
        "app.kognic.com",
        "demo.kognic.com",
        "kognic.com",
        "api.app.kognic.com",
        "127.0.0.1",
        "[::1]",
        "localhost",
      ),
    ).map((host) => ({ value: host, ok: true, normalized: host })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("APP.Kognic.COM", " app.kognic.com ", "app.kognic.com.")
      .map((host) => ({ value: host, ok: true, normalized: "app.kognic.com" })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      "https://app.kognic.com",
      "app.kognic.com:443",
      "app.kognic.com/v1",
      "",
      "bücher.example",
      "a..b",
      5,
      null,
      ABSENT,
      ["app.kognic.com"],
    ).map((value) => ({ value, ok: false })),
  },
);

const envModelArb: fc.Arbitrary<EnvModel> = fc.record({
  name: envNameArb,
  host: hostArb,
  authServer: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        "https://auth.app.kognic.com",
        "https://auth.demo.kognic.com/",
        "http://127.0.0.1:8080",
        "http://auth.example.com",
      ).map((value) => ({ value, ok: true })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>("auth.app.kognic.com", "ftp://x", "", 7, null, ABSENT)
        .map((value) => ({ value, ok: false })),
    },
  ),
  credentials: fc.oneof(
    {
      weight: 8,
      arbitrary: fc.constantFrom<unknown>(
        ABSENT,
        null,
        "~/creds.json",
        "keyring://prod",
        "/abs/creds.json",
      ).map((value) => ({ value, ok: true })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>("", 3, ["x"]).map((value) => ({ value, ok: false })),
    },
  ),
  scopes: fc.oneof(
    {
      weight: 8,
      arbitrary: fc.constantFrom<unknown>(ABSENT, null, [], ["api:read"], ["a", "b"])
        .map((value) => ({ value, ok: true })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>("api:read", [1], {}).map((value) => ({
        value,
        ok: false,
      })),
    },
  ),
});

interface EnvFileModel {
  top: "object" | "array" | "null" | "string";
  environments: EnvModel[];
  environmentsForm: "object" | "absent" | "null" | "array" | "string";
  defaultEnvironment: { value: Maybe<unknown>; ok: boolean };
  extra: Record<string, unknown>;
}

const envFileArb: fc.Arbitrary<EnvFileModel> = fc.record({
  top: fc.oneof(
    { weight: 20, arbitrary: fc.constant("object" as const) },
    { weight: 1, arbitrary: fc.constantFrom("array" as const, "null" as const, "string" as const) },
  ),
  environments: fc.uniqueArray(envModelArb, { maxLength: 5, selector: (e) => e.name }),
  environmentsForm: fc.oneof(
    { weight: 20, arbitrary: fc.constant("object" as const) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "absent" as const,
        "null" as const,
        "array" as const,
        "string" as const,
      ),
    },
  ),
  defaultEnvironment: fc.oneof(
    {
      weight: 8,
      arbitrary: fc.constantFrom<unknown>(
        ABSENT,
        ABSENT,
        null,
        "production",
        "missing",
        "__proto__",
      )
        .map((value) => ({ value, ok: true })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>("", 5).map((value) => ({ value, ok: false })),
    },
  ),
  extra: fc.dictionary(fc.stringMatching(/^x_[a-z]{1,5}$/), fc.jsonValue({ maxDepth: 1 }), {
    maxKeys: 2,
  }),
});

/** The JSON text of a generated environments file, in the generated order. */
function envFileText(model: EnvFileModel): string {
  const member = (key: string, value: unknown): string =>
    `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  const envText = (e: EnvModel): string => {
    const fields: string[] = [];
    const add = (key: string, field: { value: Maybe<unknown> }): void => {
      if (field.value !== ABSENT) fields.push(member(key, field.value));
    };
    add("host", e.host);
    add("auth_server", e.authServer);
    add("credentials", e.credentials);
    add("scopes", e.scopes);
    return `{${fields.join(",")}}`;
  };
  const environments = model.environmentsForm === "object"
    ? `{${model.environments.map((e) => `${JSON.stringify(e.name)}:${envText(e)}`).join(",")}}`
    : model.environmentsForm === "array"
    ? "[]"
    : model.environmentsForm === "string"
    ? '"production"'
    : "null";
  const members = Object.entries(model.extra).map(([k, v]) => member(k, v));
  if (model.environmentsForm !== "absent") members.push(`"environments":${environments}`);
  if (model.defaultEnvironment.value !== ABSENT) {
    members.push(member("default_environment", model.defaultEnvironment.value));
  }
  if (model.top === "array") return "[]";
  if (model.top === "null") return "null";
  if (model.top === "string") return '"environments"';
  return `{${members.join(",")}}`;
}

/** Whether a generated file is acceptable, by the file format's rules. */
function envFileOk(model: EnvFileModel): boolean {
  if (model.top !== "object") return false;
  if (!model.defaultEnvironment.ok) return false;
  if (model.environmentsForm === "array" || model.environmentsForm === "string") return false;
  if (model.environmentsForm !== "object") return true;
  return model.environments.every((e) =>
    e.host.ok && e.authServer.ok && e.credentials.ok && e.scopes.ok
  );
}

/** Which environment a URL must resolve to, by the spec's order, or "unknown-default". */
function expectEnvironment(
  model: EnvFileModel,
  select: { name?: string; url?: string },
): string {
  const environments = model.environmentsForm === "object" ? model.environments : [];
  const names = new Set(environments.map((e) => e.name));
  if (select.name !== undefined) return names.has(select.name) ? select.name : "unknown";
  if (select.url !== undefined) {
    const hostname = new URL(select.url).hostname.toLowerCase().replace(/\.$/, "");
    const exact = environments.find((e) => e.host.normalized === hostname);
    if (exact) return exact.name;
    let best: EnvModel | undefined;
    for (const e of environments) {
      const host = e.host.normalized!;
      if (hostname.endsWith(`.${host}`) && (!best || host.length > best.host.normalized!.length)) {
        best = e;
      }
    }
    if (best) return best.name;
  }
  const fallback = model.defaultEnvironment.value;
  if (typeof fallback === "string") return names.has(fallback) ? fallback : "unknown";
  return DEFAULT_ENVIRONMENT.name;
}

describe("fuzz: environments files", () => {
  it(`loadEnvironments() and resolveEnvironment() on ${RUNS} generated files`, async () => {
    let n = 0;
    const urlHostArb = fc.oneof(
      fc.constantFrom(
        "app.kognic.com",
        "api.app.kognic.com",
        "evilapp.kognic.com",
        "APP.kognic.com.",
      ),
      fc.domain(),
    );
    const caseArb = fc.record({
      model: envFileArb,
      form: fc.constantFrom("file", "file", "file", "truncated", "missing", "empty"),
      cut: fc.nat(),
      selects: fc.array(
        fc.oneof(
          envNameArb.map((name) => ({ name })),
          fc.tuple(fc.option(fc.stringMatching(/^[a-z]{1,6}$/), { nil: undefined }), urlHostArb)
            .map(([sub, host]) => ({ url: `https://${sub ? `${sub}.` : ""}${host}/v1/projects` })),
          fc.constant({}),
        ),
        { maxLength: 4 },
      ),
    });
    await fuzz(
      "environments files (loadEnvironments, resolveEnvironment)",
      caseArb,
      async (c, tally) => {
        const path = join(dir.path, `environments-${n++}.json`);
        const text = envFileText(c.model);
        if (c.form !== "missing") {
          await writeFile(
            path,
            c.form === "truncated"
              ? text.slice(0, c.cut % text.length)
              : c.form === "empty"
              ? ""
              : text,
          );
        }
        const expectOk = c.form === "missing" || (c.form === "file" && envFileOk(c.model));
        let config;
        try {
          config = await loadEnvironments(path);
        } catch (error) {
          const name = assertTypedError(error, [], ["ConfigurationError"]);
          assert.ok((error as Error).message.includes(path), "the message names the file");
          assert.ok(!expectOk, `refused a valid file: ${(error as Error).message}\n${text}`);
          count(tally, name);
          return;
        }
        if (c.form === "truncated" && !envFileOk(c.model)) {
          // A cut that still parses may drop the bad part: nothing to compare.
          count(tally, "success (truncated)");
          return;
        }
        assert.ok(expectOk || c.form === "truncated", `accepted an invalid file:\n${text}`);
        const model = c.form === "missing"
          ? {
            ...c.model,
            environmentsForm: "absent" as const,
            defaultEnvironment: { value: ABSENT, ok: true },
          }
          : c.model;
        if (c.form === "truncated") {
          count(tally, "success (truncated)");
          return;
        }
        // Every environment in the file is there, by its name, with its fields.
        const listed = model.environmentsForm === "object" ? model.environments : [];
        for (const e of listed) {
          let got: Environment;
          try {
            got = resolveEnvironment(config, { name: e.name });
          } catch (error) {
            assert.fail(
              `environment ${JSON.stringify(e.name)} is in the file but not found: ${error}`,
            );
          }
          assert.equal(got.name, e.name);
          assert.equal(got.host, e.host.normalized);
          assert.equal(got.authServer, e.authServer.value);
        }
        for (const select of c.selects) {
          const expected = expectEnvironment(model, select);
          let got: Environment;
          try {
            got = resolveEnvironment(config, select);
          } catch (error) {
            assertTypedError(error, [], ["ConfigurationError"]);
            assert.equal(expected, "unknown", `${JSON.stringify(select)}: ${error}`);
            continue;
          }
          assert.equal(got.name, expected, `${JSON.stringify(select)} resolved to ${got.name}`);
        }
        count(tally, `success (${listed.length} environments)`);
      },
    );
  });
});

// --- Token endpoint responses ------------------------------------------------

/** One answer of the fuzzed token endpoint. */
type Reply =
  | { kind: "reset" }
  | { kind: "reset-mid-body" }
  | { kind: "redirect"; status: number }
  | {
    kind: "http";
    status: number;
    contentType: string;
    retryAfter: RetryAfter;
    body: BodyModel;
  };

interface RetryAfter {
  header?: string;
  /** The wait it asks for in ms (undefined: no usable value); dates are resolved when sent. */
  ms?: number | "past" | "future";
}

type BodyModel =
  | { form: "token"; fields: Record<string, unknown> }
  | { form: "error"; fields: Record<string, unknown>; echo: "none" | "secret" | "form" }
  | { form: "text"; text: string };

const retryAfterArb: fc.Arbitrary<RetryAfter> = fc.constantFrom<RetryAfter>(
  {},
  { header: "0", ms: 0 },
  { header: " 0 ", ms: 0 },
  { header: "1", ms: 1000 },
  { header: "120", ms: 120_000 },
  { header: "99999999999999999999", ms: 1e23 },
  { header: "past", ms: "past" },
  { header: "future", ms: "future" },
  { header: "soon" },
  { header: "-3" },
  { header: "1.5" },
  { header: "" },
);

/** Access tokens: mostly JWT-like, some that no Authorization header can carry as they are. */
const accessTokenArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{2,20}\.[A-Za-z0-9_-]{2,40}\.[A-Za-z0-9_-]{0,20}$/),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.stringMatching(/^[A-Za-z0-9]{1,8}$/),
      fc.constantFrom(" ", "\n", "\r\n", "\t", "\u0000", "\u001b[31m", "é", "€", "😀", "\u2028"),
      fc.stringMatching(/^[A-Za-z0-9]{0,8}$/),
    ).map(([a, b, c]) => a + b + c),
  },
  { weight: 1, arbitrary: fc.constantFrom(" leading", "trailing ", "") },
);

const tokenFieldsArb = fc.record(
  {
    access_token: fc.oneof(
      { weight: 10, arbitrary: accessTokenArb },
      { weight: 1, arbitrary: fc.constantFrom(null, 42, true, ["a"], { a: 1 }) },
    ),
    token_type: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("Bearer", "bearer", "BEARER") },
      { weight: 2, arbitrary: fc.constantFrom(null, "mac", "DPoP", "", " Bearer", 1, true) },
    ),
    expires_in: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1, max: 100_000 }) },
      {
        weight: 4,
        arbitrary: fc.constantFrom(
          0,
          -1,
          -3600,
          0.5,
          1e-9,
          1e12,
          1e308,
          null,
          "3600",
          " 60 ",
          "",
          " ",
          "soon",
          "1e3",
          "0x10",
          "-5",
          "Infinity",
          true,
          [],
          {},
        ),
      },
    ),
    refresh_token: fc.oneof(fc.stringMatching(/^[A-Za-z0-9]{8,16}$/), fc.constantFrom("", 5, null)),
    scope: fc.oneof(fc.constantFrom("api:read", "a b", ""), fc.constantFrom(3, null)),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const errorFieldsArb = fc.record(
  {
    error: fc.oneof(
      fc.constantFrom(
        "invalid_client",
        "invalid_request",
        "invalid_grant",
        "server_error",
        "temporarily_unavailable",
      ),
      fc.constantFrom(7, null, ""),
    ),
    error_description: fc.oneof(fc.string({ maxLength: 40 }), fc.constant("x".repeat(2000))),
    error_uri: fc.webUrl(),
  },
  { requiredKeys: [] },
);

const bodyArb: fc.Arbitrary<BodyModel> = fc.oneof(
  tokenFieldsArb.map((fields): BodyModel => ({ form: "token", fields })),
  fc.tuple(
    errorFieldsArb,
    fc.constantFrom("none", "none", "secret", "form") as fc.Arbitrary<"none" | "secret" | "form">,
  )
    .map(([fields, echo]): BodyModel => ({ form: "error", fields, echo })),
  fc.constantFrom(
    "",
    "null",
    "[]",
    '"token"',
    "42",
    '{"access_token": "abc", "expires_in": ',
    "<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>",
    "\uFEFF{}",
    "{}",
  ).map((text): BodyModel => ({ form: "text", text })),
);

const statusArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(200, 200, 200, 201) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      400,
      401,
      403,
      404,
      405,
      408,
      409,
      425,
      429,
      500,
      502,
      503,
      504,
      599,
    ),
  },
);

const replyArb: fc.Arbitrary<Reply> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      kind: fc.constant("http" as const),
      status: statusArb,
      contentType: fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "text/html",
        "text/plain",
      ),
      retryAfter: retryAfterArb,
      body: bodyArb,
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom<Reply>({ kind: "reset" }, { kind: "reset-mid-body" }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(301, 302, 303, 307, 308).map((status): Reply => ({
      kind: "redirect",
      status,
    })),
  },
);

/** A case: the client's secret and refresh token, and the answers to the first and second attempt. */
interface TokenCase {
  secret: string;
  refreshToken?: string;
  replies: [Reply, Reply];
}

const TOKEN_RETRY = { limit: 1, baseDelay: 1, maxDelay: 1, maxRetryAfter: 100 };

/** Serves each case's replies in turn at /case/<n>; a redirect leads to /elsewhere. */
interface FuzzServer {
  url: string;
  cases: Map<string, { replies: Reply[]; hits: number; form: string[]; secret: string }>;
  elsewhere: number;
  close(): Promise<void>;
}

function renderBody(body: BodyModel, secret: string, form: string): string {
  if (body.form === "text") return body.text;
  if (body.form === "token") {
    const { extra, ...fields } = body.fields;
    return JSON.stringify(extra === undefined ? fields : { ...fields, extra });
  }
  const fields = { ...body.fields };
  if (body.echo === "secret") fields.error_description = `bad secret ${secret} given`;
  if (body.echo === "form") fields.error_description = `cannot parse body: ${form}`;
  return JSON.stringify(fields);
}

function retryAfterHeader(retryAfter: RetryAfter): string | undefined {
  if (retryAfter.header === "past") return new Date(Date.now() - 3_600_000).toUTCString();
  if (retryAfter.header === "future") return new Date(Date.now() + 3_600_000).toUTCString();
  return retryAfter.header;
}

async function startFuzzServer(): Promise<FuzzServer> {
  const fuzzServer: FuzzServer = {
    url: "",
    cases: new Map(),
    elsewhere: 0,
    close: () => Promise.resolve(),
  };
  const server = await startStandIn((req, res, text) => {
    const id = /^\/case\/(\d+)$/.exec(req.url ?? "")?.[1];
    const entry = id === undefined ? undefined : fuzzServer.cases.get(id);
    if (!entry) {
      if (req.url === "/elsewhere") fuzzServer.elsewhere++;
      res.writeHead(404).end();
      return;
    }
    entry.form.push(text);
    const reply = entry.replies[entry.hits++];
    if (!reply) {
      res.writeHead(500, { "content-type": "text/plain", connection: "close" })
        .end("more attempts than planned");
      return;
    }
    if (reply.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (reply.kind === "redirect") {
      res.writeHead(reply.status, {
        location: `${fuzzServer.url}/elsewhere`,
        connection: "close",
      }).end();
      return;
    }
    const body = reply.kind === "reset-mid-body"
      ? '{"access_token":"abc.def.ghi","token_type":"Bearer"}'
      : renderBody(reply.body, entry.secret, text);
    const headers: Record<string, string> = {
      "content-type": reply.kind === "http" ? reply.contentType : "application/json",
      "content-length": String(Buffer.byteLength(body)),
      // A fresh connection per request: a runtime may transparently resend a
      // request whose reused keep-alive connection was reset, which would
      // blur the count of attempts.
      "connection": "close",
    };
    if (reply.kind === "http") {
      const retryAfter = retryAfterHeader(reply.retryAfter);
      if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
    }
    res.writeHead(reply.kind === "http" ? reply.status : 200, headers);
    if (reply.kind === "reset-mid-body") {
      res.write(body.slice(0, 12), () => res.socket?.destroy());
    } else {
      res.end(body);
    }
  });
  fuzzServer.url = server.url;
  fuzzServer.close = server.close;
  return fuzzServer;
}

/** Whether the token can be sent exactly as `Authorization: Bearer <token>`. */
function headerSafe(token: string): boolean {
  try {
    return new Headers({ authorization: `Bearer ${token}` }).get("authorization") ===
      `Bearer ${token}`;
  } catch {
    return false;
  }
}

/** What one reply must give, from the OAuth 2.0 spec and this package's documented rules. */
type Verdict =
  | { ok: true; token: string; lifetime: number }
  | { ok: "either"; token: string }
  | { ok: false; type: string; retryable: boolean; retryAfter?: number; status?: number };

const YEAR = 365 * 24 * 3600;

function judge(reply: Reply): Verdict {
  if (reply.kind === "reset" || reply.kind === "reset-mid-body") {
    return { ok: false, type: "TokenNetworkError", retryable: true };
  }
  if (reply.kind === "redirect") {
    // The secret must never follow a redirect: the request fails at once instead.
    return { ok: false, type: "TokenResponseError", retryable: false };
  }
  const status = reply.status;
  if (status >= 300) {
    const retryable = status >= 500 || [408, 425, 429].includes(status);
    const ms = reply.retryAfter.ms;
    return {
      ok: false,
      type: "OAuthError",
      retryable,
      status,
      retryAfter: !retryable || ms === undefined
        ? undefined
        : ms === "past"
        ? 0
        : ms === "future"
        ? 3_600_000
        : ms,
    };
  }
  const invalid: Verdict = { ok: false, type: "TokenResponseError", retryable: false, status };
  if (reply.body.form !== "token") {
    if (reply.body.form === "error") return invalid; // an error body has no access_token
    return invalid; // none of the text bodies is a usable token response
  }
  const f = reply.body.fields;
  if (typeof f.access_token !== "string" || f.access_token === "") return invalid;
  const type = f.token_type;
  if (
    type !== undefined && type !== null &&
    (typeof type !== "string" || type.toLowerCase() !== "bearer")
  ) {
    return invalid;
  }
  let lifetime = 3600;
  const e = f.expires_in;
  if (e !== undefined && e !== null) {
    const n = typeof e === "number"
      ? e
      : typeof e === "string" && e.trim() !== ""
      ? Number(e)
      : NaN;
    // JSON carries 1e308 as is; Infinity cannot be sent.
    if (!Number.isFinite(n) || n <= 0) return invalid;
    lifetime = Math.min(n, YEAR);
  }
  const token = f.access_token;
  if (!headerSafe(token)) return invalid;
  if (!/^[\x21-\x7E]+$/.test(token)) return { ok: "either", token };
  return { ok: true, token, lifetime };
}

describe("fuzz: token endpoint responses", () => {
  let fuzzServer: FuzzServer;
  before(async () => {
    fuzzServer = await startFuzzServer();
  });
  after(async () => {
    await fuzzServer.close();
  });

  it(`requestToken() on ${RUNS} generated token endpoint behaviours`, async () => {
    let next = 0;
    const caseArb: fc.Arbitrary<TokenCase> = fc.record({
      secret: secretArb,
      refreshToken: fc.option(fc.stringMatching(/^RT-[A-Za-z0-9]{8,12}$/), { nil: undefined }),
      replies: fc.tuple(replyArb, replyArb),
    });
    await fuzz("token endpoint responses (requestToken)", caseArb, async (c, tally) => {
      const id = String(next++);
      const entry = { replies: c.replies, hits: 0, form: [] as string[], secret: c.secret };
      fuzzServer.cases.set(id, entry);
      const secrets = [c.secret, ...(c.refreshToken ? [c.refreshToken] : [])];
      try {
        // The oracle: attempt by attempt, as RFC 6749 and the retry rules say.
        let expected: Verdict | undefined;
        let attempts = 0;
        for (const reply of c.replies) {
          attempts++;
          expected = judge(reply);
          if (expected.ok !== false || !expected.retryable || attempts > TOKEN_RETRY.limit) break;
          if (
            expected.retryAfter !== undefined && expected.retryAfter > TOKEN_RETRY.maxRetryAfter
          ) break;
        }
        let outcome: string;
        let token: AccessToken | undefined;
        let failure: unknown;
        try {
          token = await requestToken({
            tokenUrl: `${fuzzServer.url}/case/${id}`,
            credentials: { clientId: CLIENT_ID, clientSecret: c.secret },
            refreshToken: c.refreshToken,
            retry: TOKEN_RETRY,
            timeout: 8000,
          });
        } catch (error) {
          failure = error;
        }
        if (token) {
          outcome = "success";
          assert.ok(
            expected!.ok !== false,
            `accepted a token where an error was due: ${JSON.stringify(token.accessToken)}, ${
              JSON.stringify(expected)
            }`,
          );
          assert.equal(token.accessToken, (expected as { token: string }).token);
          if (expected!.ok === true) {
            const lifetime = token.expiresAt - token.issuedAt;
            // Within a millisecond: a lifetime of 1e-9 s vanishes into a timestamp's precision.
            assert.ok(
              Math.abs(lifetime - expected!.lifetime * 1000) < 1,
              `lifetime ${lifetime} ms for expires_in ${expected!.lifetime}`,
            );
          }
          assert.equal(token.tokenType, "Bearer");
          for (const text of [JSON.stringify(token), String(token), inspect(token)]) {
            assert.ok(!text.includes(token.accessToken), "a printed token shows the token");
          }
        } else {
          const name = assertTypedError(failure, secrets, [
            "OAuthError",
            "TokenResponseError",
            "TokenNetworkError",
          ]);
          const error = failure as TokenError;
          outcome = name.replace(/\(.*\)/, "");
          assert.notEqual(
            expected!.ok,
            true,
            `failed where a token was due: ${name}: ${error.message}`,
          );
          // A token outside visible ASCII may be accepted or refused as a bad response.
          const want: Extract<Verdict, { ok: false }> = expected!.ok === "either"
            ? { ok: false, type: "TokenResponseError", retryable: false, status: error.status }
            : expected as Extract<Verdict, { ok: false }>;
          assert.equal(
            error.name,
            want.type,
            `expected ${want.type}, got ${name}: ${error.message}`,
          );
          assert.equal(error.attempts, attempts, "attempts");
          if (want.status !== undefined) assert.equal(error.status, want.status);
          assert.equal(error.retryable, want.retryable, "retryable");
        }
        assert.equal(entry.hits, attempts, "requests the server saw");
        for (const form of entry.form) {
          const params = new URLSearchParams(form);
          assert.equal(params.get("client_secret"), c.secret, "the secret went in the form body");
          assert.equal(
            params.get("grant_type"),
            c.refreshToken ? "refresh_token" : "client_credentials",
          );
        }
        assert.equal(fuzzServer.elsewhere, 0, "a token request followed a redirect");
        count(tally, `${outcome} after ${attempts} attempt${attempts === 1 ? "" : "s"}`);
      } finally {
        fuzzServer.cases.delete(id);
      }
    });
  });
});

// --- CLI argument vectors ------------------------------------------------------

describe("fuzz: kognic-auth command line", () => {
  const secrets = [CLIENT_SECRET, WRONG_SECRET];
  let server: LocalAuthServer;
  let elsewhere: StandIn;
  let elsewhereUrl: string;
  const paths: Record<string, string> = {};
  const issued = new Set<string>();
  let outside = 0;

  before(async () => {
    server = await startAuthServer({
      clients: { [CLIENT_ID]: CLIENT_SECRET },
      refreshTokens: true,
    });
    // Stands in for every host but 127.0.0.1, so no request leaves the machine.
    elsewhere = await startJsonStandIn(400, {
      error: "invalid_request",
      error_description: "fuzz: not sent beyond 127.0.0.1",
    });
    elsewhereUrl = elsewhere.url;
    const base = {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      email: "dev@example.com",
      userId: 42,
      issuer: "auth.app.kognic.com",
    };
    const files: Record<string, string> = {
      valid: JSON.stringify(base),
      wrong: JSON.stringify({ ...base, clientSecret: WRONG_SECRET }),
      expired: JSON.stringify({ ...base, expires: "2001-01-01T00:00:00Z" }),
      scoped: JSON.stringify({ ...base, scopes: ["api:read"] }),
      broken: `{"clientSecret": "${CLIENT_SECRET}", `,
    };
    for (const [name, text] of Object.entries(files)) {
      paths[name] = join(dir.path, `cli-${name}.json`);
      await writeFile(paths[name], text);
    }
    paths.missing = join(dir.path, "cli-missing.json");
    paths.text = join(dir.path, "cli-valid.txt");
    await writeFile(paths.text, files.valid);
  });
  after(async () => {
    await server.close();
    await elsewhere.close();
  });

  /** Passes requests to 127.0.0.1 through, noting issued tokens; sends the rest to `elsewhere`. */
  const guard: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.hostname !== "127.0.0.1") {
      outside++;
      return await fetch(`${elsewhereUrl}/outside`, init);
    }
    const response = await fetch(input, init);
    const body = await response.clone().json().catch(() => undefined);
    if (typeof body?.access_token === "string") issued.add(body.access_token);
    if (typeof body?.refresh_token === "string") issued.add(body.refresh_token);
    return response;
  };

  it(`main() on ${RUNS} generated argument vectors and environments`, async () => {
    // Commands that change the system keyring run only where no real one can be
    // reached, or under scripts/with_keyring.sh's throwaway keyring; elsewhere
    // tokens go to the file cache in the test's HOME.
    const keyringSafe = process.platform === "linux" &&
      (!process.env.DBUS_SESSION_BUS_ADDRESS || process.env.KOGNIC_TEST_KEYRING === "1");
    const cacheModes = keyringSafe ? ["auto", "keyring", "file", "none", "disk"] : ["file", "none"];
    const envFile = join(dir.path, "cli-environments.json");
    await writeFile(
      envFile,
      JSON.stringify({
        default_environment: "local",
        environments: {
          local: { host: "127.0.0.1", auth_server: server.url, credentials: paths.valid },
          scoped: {
            host: "scoped.example",
            auth_server: `${server.url}/`,
            credentials: paths.scoped,
            scopes: ["api:read"],
          },
          remote: { host: "app.kognic.com", auth_server: "https://auth.app.kognic.com" },
          keyring: {
            host: "k.example",
            auth_server: server.url,
            credentials: "keyring://fuzz-nothing-here",
          },
        },
      }),
    );
    const value = (): fc.Arbitrary<string> =>
      fc.oneof(
        fc.constantFrom(
          server.url,
          `${server.url}/`,
          elsewhereUrl,
          "https://auth.app.kognic.com",
          "http://auth.example.com",
          "ftp://127.0.0.1/",
          "not a url",
          "",
        ),
        fc.constantFrom(...Object.values(paths), "~/nothing.json", envFile),
        fc.constantFrom("api:read", "a b", "-x", "--json", "local", "remote", "nope"),
        fc.constantFrom(...cacheModes),
        fc.string({ maxLength: 12 }),
      );
    const token = (): fc.Arbitrary<string> =>
      fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            "get-access-token",
            ...(keyringSafe ? ["credentials", "put", "get", "delete", "clear-cache"] : []),
            "--server",
            "--credentials",
            "--scopes",
            "--json",
            "--decode",
            "--env",
            "--env-config-file-path",
            "--token-cache",
            "--show-secret",
            "-v",
            "--verbose",
            "-h",
            "--help",
            "help",
            "--version",
            "--",
            "-",
            "--bogus",
            "-x",
          ),
        },
        { weight: 2, arbitrary: value() },
        {
          weight: 1,
          arbitrary: fc.tuple(
            fc.constantFrom("--server=", "--credentials=", "--scopes=", "--env=", "--token-cache="),
            value(),
          ).map(([flag, v]) => flag + v),
        },
      );
    const flag = (): fc.Arbitrary<readonly string[]> =>
      fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom<readonly string[]>(["--json"], ["--decode"], [
            "--scopes",
            "api:read",
          ]),
        },
        {
          weight: 2,
          arbitrary: fc.constantFrom(...Object.values(paths)).map((p) => ["--credentials", p]),
        },
        {
          weight: 2,
          arbitrary: fc.tuple(
            fc.constantFrom("local", "scoped", "remote", "keyring", "nope"),
            fc.boolean(),
          ).map(([name, file]) => [
            "--env",
            name,
            ...(file ? ["--env-config-file-path", envFile] : []),
          ]),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom<readonly string[]>(["--scopes", "a", "b"], [
            "--scopes",
            "bad\\scope",
          ]),
        },
        { weight: 1, arbitrary: token().map((t) => [t]) },
      );
    const getToken = fc.tuple(
      fc.constantFrom([], ["-v"], ["--verbose", "-v"]),
      fc.constantFrom(["--server", server.url], ["--server", `${server.url}/`], []),
      fc.array(flag(), { maxLength: 3 }),
      fc.constantFrom(...cacheModes),
    ).map(([verbose, where, flags, mode]) => [
      ...verbose,
      "get-access-token",
      ...where,
      ...flags.flat(),
      "--token-cache",
      mode,
    ]);
    const keyringCommands = fc.tuple(
      fc.constantFrom([], ["-v"]),
      fc.constantFrom(
        ["credentials", "put", paths.valid],
        ["credentials", "put", paths.broken],
        ["credentials", "get"],
        ["credentials", "get", "--show-secret"],
        ["credentials", "delete"],
        ["credentials"],
        ["clear-cache"],
        ["clear-cache", "--token-cache", "file"],
      ),
      fc.constantFrom([], ["--env", "fuzz-profile"]),
    ).map(([verbose, command, profile]) => [...verbose, ...command, ...profile]);
    const argsArb = fc.oneof(
      { weight: 1, arbitrary: fc.array(token(), { maxLength: 6 }) },
      { weight: 3, arbitrary: getToken },
      ...(keyringSafe ? [{ weight: 1, arbitrary: keyringCommands }] : []),
    );
    const envArb = fc.record(
      {
        KOGNIC_CREDENTIALS: fc.constantFrom(paths.valid, paths.valid, ...Object.values(paths), ""),
        KOGNIC_CLIENT_ID: fc.constantFrom(CLIENT_ID, "", "other-client"),
        KOGNIC_CLIENT_SECRET: fc.constantFrom(CLIENT_SECRET, WRONG_SECRET, ""),
      },
      { requiredKeys: [] },
    );
    await fuzz(
      "kognic-auth argument vectors (main)",
      fc.tuple(argsArb, envArb),
      async ([args, env], tally) => {
        const { code, stdout, stderr } = await runMain(main, args, {
          env: { HOME: dir.path, ...env },
          fetch: guard,
        });
        const where = `kognic-auth ${JSON.stringify(args)} with ${JSON.stringify(env)}`;
        assert.ok([0, 1, 2].includes(code), `${where} exited ${code}`);
        // The one way to print a secret is to ask for it.
        const asked = code === 0 && args.includes("credentials") && args.includes("get") &&
          args.includes("--show-secret");
        if (!asked) assertNoSecret(stdout, secrets, `stdout of ${where}`);
        assertNoSecret(stderr, secrets, `stderr of ${where}`);
        for (const value of issued) {
          assert.ok(!stderr.includes(value), `stderr of ${where} shows a token`);
        }
        if (code === 0) {
          assert.ok(stdout.length > 0, `${where} printed nothing`);
          assert.match(
            stderr,
            /^((debug|Warning): [^\n]*\n)*$/,
            `${where}: stderr besides debug lines and warnings`,
          );
        } else if (code === 1) {
          assert.equal(stdout, "", `${where}: stdout on an error`);
          assert.match(
            stderr,
            /^(debug: [^\n]*\n)*Error: [^\n]+\n$/,
            `${where}: not one Error: line`,
          );
        } else {
          assert.equal(stdout, "", `${where}: stdout on a usage error`);
          assert.match(
            stderr,
            /^(debug: [^\n]*\n)*Error: [^\n]+\nRun "kognic-auth[^\n"]* --help" for the usage\.\n$/,
            `${where}: not one Error: line and a pointer to --help`,
          );
        }
        count(tally, `exit ${code}`);
      },
    );
    if (REPORT) {
      appendFileSync(
        REPORT,
        JSON.stringify({
          file: "fuzz",
          note: "cli-outside",
          requestsRedirectedToLoopback: outside,
        }) + "\n",
      );
    }
  });
});

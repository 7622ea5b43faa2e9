import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { join } from "node:path";
import { ApiCredentials, AuthSession, CredentialsError, resolveCredentials } from "../../mod.ts";
import { loadCredentials, parseCredentials } from "../../config.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENT_SECRET,
  credentialsJson,
  record,
  rejection,
  tempDir,
  thrown,
  writeCredentials,
} from "../_helpers/mod.ts";

let dir: string;
let cleanup: () => Promise<void>;
let goodFile: string;

before(async () => {
  ({ path: dir, cleanup } = await tempDir());
  goodFile = await writeCredentials(dir);
});
after(async () => {
  await cleanup();
});

describe("loadCredentials()", () => {
  it("reads every field of a credentials file, cutting nanoseconds to milliseconds", async () => {
    const credentials = await loadCredentials(goodFile);
    assert.equal(credentials.clientId, CLIENT_ID);
    assert.equal(credentials.clientSecret, CLIENT_SECRET);
    assert.equal(credentials.email, "dev@example.com");
    assert.equal(credentials.userId, 42);
    assert.equal(credentials.issuer, "auth.app.kognic.com");
    assert.equal(credentials.name, "Test credentials");
    assert.equal(credentials.created?.toISOString(), "2024-05-01T10:00:00.123Z");
    assert.equal(credentials.expires?.toISOString(), "2099-01-01T00:00:00.000Z");
    assert.equal(credentials.scopes, undefined);
    assert.equal(credentials.source, goodFile);
  });

  it("defaults the name and keeps scopes", async () => {
    const path = await writeCredentials(
      dir,
      credentialsJson({ name: undefined, scopes: ["api:read", "api:write"] }),
      "scoped.json",
    );
    const credentials = await loadCredentials(path);
    assert.equal(credentials.name, "API Credentials");
    assert.deepEqual(credentials.scopes, ["api:read", "api:write"]);
  });

  it("expands a leading ~ with HOME", async () => {
    const credentials = await loadCredentials("~/credentials.json", { env: { HOME: dir } });
    assert.equal(credentials.source, join(dir, "credentials.json"));
  });

  it("accepts a .JSON extension in any case", async () => {
    const path = await writeCredentials(dir, credentialsJson(), "UPPER.JSON");
    assert.equal((await loadCredentials(path)).clientId, CLIENT_ID);
  });

  it("refuses a file whose name does not end in .json, naming it", async () => {
    const path = await writeCredentials(dir, credentialsJson(), "credentials.txt");
    const error = await rejection(loadCredentials(path));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_invalid");
    assert.equal(error.message, `Bad auth credentials file, must be json: ${path}`);
  });

  it("reports a missing file not named .json as not found, not as a wrong name", async () => {
    const path = join(dir, "missing.txt");
    const error = await rejection(loadCredentials(path));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_not_found");
    assert.equal(error.message, `Could not find API Credentials file at ${path}`);
  });

  it("reports a missing file with its path", async () => {
    const path = join(dir, "missing.json");
    const error = await rejection(loadCredentials(path));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_not_found");
    assert.equal(error.message, `Could not find API Credentials file at ${path}`);
  });

  it("reports a file that is not JSON with its path", async () => {
    const path = await writeCredentials(dir, "clientId=abc", "broken.json");
    const error = await rejection(loadCredentials(path));
    assert.equal(error.message, `Bad auth credentials file, must be json: ${path}`);
  });

  const badFiles: [string, unknown, RegExp][] = [
    ["an array", [1, 2], /must be a JSON object/],
    ["no clientId", credentialsJson({ clientId: undefined }), /Missing key clientId in/],
    ["no clientSecret", credentialsJson({ clientSecret: undefined }), /Missing key clientSecret/],
    ["no email", credentialsJson({ email: undefined }), /Missing key email in/],
    ["no userId", credentialsJson({ userId: undefined }), /Missing key userId in/],
    ["no issuer", credentialsJson({ issuer: undefined }), /Missing key issuer in/],
    ["a null clientId", credentialsJson({ clientId: null }), /Missing key clientId/],
    ["a numeric clientId", credentialsJson({ clientId: 7 }), /Key clientId .* non-empty string/],
    ["an empty clientSecret", credentialsJson({ clientSecret: "" }), /Key clientSecret .* string/],
    ["a string userId", credentialsJson({ userId: "42" }), /Key userId .* must be an integer/],
    ["a fractional userId", credentialsJson({ userId: 4.2 }), /Key userId .* integer/],
    ["scopes not a list", credentialsJson({ scopes: "api" }), /Key scopes .* array of strings/],
    ["a numeric scope", credentialsJson({ scopes: ["a", 1] }), /Key scopes .* array of strings/],
    ["a naive expires", credentialsJson({ expires: "2030-01-01T00:00:00" }), /expires .* no time/],
    ["a garbage expires", credentialsJson({ expires: "next tuesday" }), /Key expires .* ISO-8601/],
    ["an impossible date", credentialsJson({ expires: "2030-13-45T00:00:00Z" }), /not a valid/],
    ["a numeric created", credentialsJson({ created: 1700000000 }), /Key created .* ISO-8601/],
  ];
  for (const [what, content, message] of badFiles) {
    it(`refuses a file with ${what}, naming the key and the file`, async () => {
      const path = await writeCredentials(dir, JSON.stringify(content), "bad.json");
      const error = await rejection(loadCredentials(path));
      assert.ok(error instanceof CredentialsError, String(error));
      assert.equal(error.code, "credentials_invalid");
      assert.match(error.message, message);
      if (what !== "an array") assert.ok(error.message.includes(path), error.message);
    });
  }

  it("accepts timestamps with an offset and without seconds' fraction", () => {
    const credentials = parseCredentials(
      credentialsJson({ expires: "2030-01-01T02:00:00+02:00", created: "2024-01-01 00:00:00Z" }),
      "inline",
    );
    assert.equal(credentials.expires?.toISOString(), "2030-01-01T00:00:00.000Z");
    assert.equal(credentials.created?.toISOString(), "2024-01-01T00:00:00.000Z");
  });
});

describe("resolveCredentials()", () => {
  const idSecret = { KOGNIC_CLIENT_ID: "env-id", KOGNIC_CLIENT_SECRET: "env-secret-value" };

  it("takes a [clientId, clientSecret] pair", async () => {
    const credentials = await resolveCredentials({ auth: ["pair-id", "pair-secret"], env: {} });
    assert.equal(credentials.clientId, "pair-id");
    assert.equal(credentials.clientSecret, "pair-secret");
  });

  it("takes a credentials object and an ApiCredentials instance", async () => {
    const fromObject = await resolveCredentials({
      auth: { clientId: "obj-id", clientSecret: "obj-secret", scopes: ["x"] },
      env: {},
    });
    assert.equal(fromObject.clientId, "obj-id");
    assert.deepEqual(fromObject.scopes, ["x"]);
    const instance = new ApiCredentials({ clientId: "inst", clientSecret: "inst-secret" });
    assert.equal(await resolveCredentials({ auth: instance, env: {} }), instance);
  });

  it("takes the clientId and clientSecret options", async () => {
    const credentials = await resolveCredentials({ clientId: "a", clientSecret: "b", env: {} });
    assert.equal(credentials.clientId, "a");
  });

  it("takes a file path as auth and beats the environment", async () => {
    const credentials = await resolveCredentials({
      auth: goodFile,
      env: { ...idSecret, KOGNIC_CREDENTIALS: "/nowhere.json" },
    });
    assert.equal(credentials.clientId, CLIENT_ID);
  });

  it("prefers explicit credentials over every environment variable", async () => {
    const credentials = await resolveCredentials({
      auth: ["explicit", "explicit-secret"],
      env: { ...idSecret, KOGNIC_CREDENTIALS: goodFile },
    });
    assert.equal(credentials.clientId, "explicit");
  });

  it("prefers KOGNIC_CREDENTIALS over KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET", async () => {
    const credentials = await resolveCredentials({
      env: { ...idSecret, KOGNIC_CREDENTIALS: goodFile },
    });
    assert.equal(credentials.clientId, CLIENT_ID);
    assert.equal(credentials.source, goodFile);
  });

  it("does not fall through when KOGNIC_CREDENTIALS names a missing file", async () => {
    const error = await rejection(resolveCredentials({
      env: { ...idSecret, KOGNIC_CREDENTIALS: join(dir, "gone.json") },
    }));
    assert.match(error.message, /Could not find API Credentials file at .*gone\.json/);
  });

  it("uses KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET", async () => {
    const credentials = await resolveCredentials({ env: idSecret });
    assert.equal(credentials.clientId, "env-id");
    assert.equal(credentials.clientSecret, "env-secret-value");
    assert.equal(credentials.source, "KOGNIC_CLIENT_ID and KOGNIC_CLIENT_SECRET");
  });

  it("names KOGNIC_CLIENT_SECRET when only KOGNIC_CLIENT_ID is set", async () => {
    const error = await rejection(resolveCredentials({ env: { KOGNIC_CLIENT_ID: "x" } }));
    assert.ok(error instanceof CredentialsError);
    assert.match(error.message, /KOGNIC_CLIENT_ID is set but KOGNIC_CLIENT_SECRET is not/);
  });

  it("names KOGNIC_CLIENT_ID when only KOGNIC_CLIENT_SECRET is set", async () => {
    const error = await rejection(resolveCredentials({ env: { KOGNIC_CLIENT_SECRET: "x" } }));
    assert.match(error.message, /KOGNIC_CLIENT_SECRET is set but KOGNIC_CLIENT_ID is not/);
  });

  it("treats empty variables as unset", async () => {
    const error = await rejection(resolveCredentials({
      env: { KOGNIC_CREDENTIALS: "", KOGNIC_CLIENT_ID: "", KOGNIC_CLIENT_SECRET: "" },
    }));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_not_found");
  });

  it("lists every source tried when none has credentials", async () => {
    const error = await rejection(resolveCredentials({ env: {} }));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_not_found");
    for (
      const source of ["auth", "KOGNIC_CREDENTIALS", "KOGNIC_CLIENT_ID", "KOGNIC_CLIENT_SECRET"]
    ) {
      assert.ok(error.message.includes(source), `${source} missing from: ${error.message}`);
    }
  });

  const misuse: [string, () => unknown, RegExp][] = [
    [
      "auth with clientId",
      () => resolveCredentials({ auth: goodFile, clientId: "x", clientSecret: "y" }),
      /Choose either auth or clientId\+clientSecret/,
    ],
    ["a one-element tuple", () => resolveCredentials({ auth: ["x"] as never }), /tuple must be/],
    [
      "a three-element tuple",
      () => resolveCredentials({ auth: ["a", "b", "c"] as never }),
      /tuple/,
    ],
    ["a number", () => resolveCredentials({ auth: 5 as never }), /auth option must be/],
    ["an empty path", () => resolveCredentials({ auth: "" }), /auth option must be/],
  ];
  for (const [what, call, message] of misuse) {
    it(`throws a TypeError for ${what}`, async () => {
      const error = await rejection(async () => await call());
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
    });
  }

  // A bad value of a field is the same error whatever the source: the
  // options, a tuple, an object, a file or the environment.
  const badFields: [string, () => unknown, RegExp][] = [
    [
      "an empty secret in a tuple",
      () => resolveCredentials({ auth: ["a", ""] }),
      /^Key clientSecret in the auth option must be a non-empty string$/,
    ],
    [
      "clientId alone",
      () => resolveCredentials({ clientId: "a" }),
      /^Key clientSecret in the clientId and clientSecret options must be a non-empty string$/,
    ],
    [
      "clientSecret alone",
      () => resolveCredentials({ clientSecret: "b" }),
      /^Key clientId in the clientId and clientSecret options must be a non-empty string$/,
    ],
    [
      "an object without a secret",
      () => resolveCredentials({ auth: { clientId: "a" } as never }),
      /^Key clientSecret in the auth option must be a non-empty string$/,
    ],
    [
      "an object with a numeric userId",
      () =>
        resolveCredentials({ auth: { clientId: "a", clientSecret: "b", userId: "7" as never } }),
      /^Key userId in the auth option must be an integer$/,
    ],
    [
      "an object with scopes that are not strings",
      () =>
        resolveCredentials({ auth: { clientId: "a", clientSecret: "b", scopes: [1] as never } }),
      /^Key scopes in the auth option must be an array of strings$/,
    ],
    [
      "an object with a garbage expires",
      () => resolveCredentials({ auth: { clientId: "a", clientSecret: "b", expires: "soon" } }),
      /^Key expires in the auth option must be a Date or an ISO-8601 timestamp$/,
    ],
    [
      "ApiCredentials with an empty client id",
      () => new ApiCredentials({ clientId: "", clientSecret: "b" }),
      /^Key clientId in explicit credentials must be a non-empty string$/,
    ],
  ];
  for (const [what, call, message] of badFields) {
    it(`throws CredentialsError credentials_invalid for ${what}, naming the field and the source`, async () => {
      const error = await rejection(async () => await call());
      assert.ok(error instanceof CredentialsError, String(error));
      assert.equal(error.code, "credentials_invalid");
      assert.match(error.message, message);
    });
  }
});

describe("credentials expiry", () => {
  it("is not checked when a file is parsed", async () => {
    const path = await writeCredentials(
      dir,
      credentialsJson({ expires: "2001-02-03T04:05:06Z" }),
      "old.json",
    );
    const credentials = await loadCredentials(path);
    assert.equal(credentials.expires?.toISOString(), "2001-02-03T04:05:06.000Z");
  });

  it("is checked when a session is created from a file", async () => {
    const path = await writeCredentials(
      dir,
      credentialsJson({ expires: "2001-02-03T04:05:06Z" }),
      "old.json",
    );
    const error = await rejection(AuthSession.create({ auth: path }));
    assert.ok(error instanceof CredentialsError);
    assert.equal(error.code, "credentials_expired");
    assert.match(error.message, /^Credentials expired at 2001-02-03T04:05:06.000Z/);
  });

  it("is checked by the constructor for explicit credentials", () => {
    const error = thrown(() =>
      new AuthSession({
        auth: { clientId: "a", clientSecret: "b", expires: new Date("2001-01-01T00:00:00Z") },
      })
    );
    assert.ok(error instanceof CredentialsError);
    assert.match(error.message, /Credentials expired at 2001-01-01T00:00:00.000Z/);
  });
});

describe("ApiCredentials", () => {
  const credentials = new ApiCredentials({ clientId: "visible-id", clientSecret: CLIENT_SECRET });
  const views: [string, () => string][] = [
    ["JSON.stringify", () => JSON.stringify(credentials)],
    ["JSON.stringify of a containing object", () => JSON.stringify({ nested: [credentials] })],
    ["String()", () => String(credentials)],
    ["a template literal", () => `${credentials}`],
    ["node:util inspect", () => inspect(credentials, { showHidden: true, depth: 10 })],
    ["node:util inspect of a containing object", () => inspect({ credentials })],
    ["Object.entries", () => JSON.stringify(Object.entries(credentials))],
  ];
  if ("Deno" in globalThis) {
    const deno = (globalThis as unknown as { Deno: { inspect(v: unknown, o?: unknown): string } })
      .Deno;
    views.push(["Deno.inspect", () => deno.inspect(credentials, { showHidden: true, depth: 10 })]);
  }
  for (const [how, view] of views) {
    it(`hides the secret from ${how}`, () => {
      const text = record(view());
      assert.ok(!text.includes(CLIENT_SECRET), text);
      if (how !== "Object.entries") assert.ok(text.includes("visible-id"), text);
    });
  }

  it("still gives the secret to code that asks for it", () => {
    assert.equal(credentials.clientSecret, CLIENT_SECRET);
  });
});

// Last in the file, so it sees every message and output above. (A failing
// top-level after() hook is not reported by Deno's node:test, so this is a test.)
describe("secret hygiene", () => {
  it("no error message or output in this file contained the client secret", () => {
    assert.ok(assertNoSecretSeen() > 10, "the tests recorded their messages");
  });
});

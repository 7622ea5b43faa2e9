// The building blocks the commands take from the entry points, tested by
// their public names: the commands are a client of the public API, so
// whatever they use is exported, documented and tested here.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  ApiError,
  apiErrorFromResponse,
  readBoundedText,
  userAgent,
  VERSION,
} from "../../client.ts";
import { type AuthEvent, DEFAULT_AUTH_SERVER, DEFAULT_TOKEN_ENDPOINT } from "../../mod.ts";
import { describeEvent } from "../../telemetry.ts";
import {
  codePointLength,
  cutText,
  defaultAllowedOrigins,
  environmentAllowedOrigins,
  expandHome,
  getEnv,
  importOptionalPeer,
  isNotFound,
  isSecureDestination,
  MAX_FILE_BYTES,
  MAX_TOKEN_FILE_BYTES,
  normalHost,
  normalOrigin,
  parseCredentials,
  readBoundedBytes,
  readFileBytes,
  readTextFile,
  redactSecrets,
  redactTail,
  rememberUrlSecrets,
  toFileJson,
  TOKEN_ENDPOINT_AUTH_METHODS,
  tokenEgress,
  tokenUrlFor,
  withDeadline,
} from "../../config.ts";

describe("@kognic/auth/client building blocks", () => {
  it("VERSION is deno.json's version and the one userAgent() sends", () => {
    const denoJson = JSON.parse(
      readFileSync(new URL("../../deno.json", import.meta.url), "utf8"),
    ) as { version: string };
    assert.equal(VERSION, denoJson.version);
    assert.match(userAgent(), new RegExp(`^kognic-auth/${VERSION.replaceAll(".", "\\.")}( |$)`));
  });

  it("readBoundedBytes() stops at its limit and says the source had more", async () => {
    async function* chunks(): AsyncGenerator<Uint8Array | string> {
      yield "abc";
      yield new Uint8Array([100, 101, 102]);
      throw new Error("read past the limit");
    }
    const read = await readBoundedBytes(chunks(), 4);
    assert.deepEqual([...read.bytes], [97, 98, 99, 100]);
    assert.equal(read.complete, false);
    const all = await readBoundedBytes(new Response("xyz").body!, 10);
    assert.equal(new TextDecoder().decode(all.bytes), "xyz");
    assert.equal(all.complete, true);
  });

  it("readBoundedText() keeps whole characters within its byte limit", async () => {
    const cut = await readBoundedText(new Response("ab\u00e9cd"), 3);
    assert.deepEqual(cut, { text: "ab", complete: false });
    assert.deepEqual(await readBoundedText(new Response("ab\u00e9cd"), 64), {
      text: "ab\u00e9cd",
      complete: true,
    });
  });

  it("withDeadline() ends a wait that ignores its signal, with the reason given", async () => {
    const reason = new Error("too slow");
    let seen: AbortSignal | undefined;
    await assert.rejects(
      withDeadline(1, (signal) => {
        seen = signal;
        return new Promise<never>(() => {});
      }, { reason: () => reason }),
      (error) => error === reason,
    );
    assert.equal(seen?.aborted, true);
    assert.equal(await withDeadline(60_000, () => Promise.resolve(42)), 42);
  });

  it("apiErrorFromResponse() builds KognicClient's ApiError, the server's message read and redacted", async () => {
    const secret = "pw-api-error-helpers-5c0e";
    rememberUrlSecrets(`https://user:${secret}@proxy.example.com`);
    const response = new Response(JSON.stringify({ message: `denied for ${secret}` }), {
      status: 403,
      statusText: "Forbidden",
      headers: { "content-type": "application/json" },
    });
    const error = await apiErrorFromResponse(response, {
      method: "GET",
      url: "https://app.kognic.com/v1/projects",
    });
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "api_error");
    assert.equal(error.status, 403);
    assert.equal(error.attempts, 1);
    assert.equal(error.serverMessage, "denied for [redacted]");
    assert.match(
      error.message,
      /^GET "https:\/\/app\.kognic\.com\/v1\/projects" failed with HTTP 403 Forbidden/,
    );
    assert.equal(error.message.includes(secret), false);
  });
});

describe("@kognic/auth/config redaction and the character cut", () => {
  it("redactSecrets() removes a URL password that rememberUrlSecrets() was given", () => {
    const password = "pw-public-helpers-7f3a9c";
    assert.equal(
      rememberUrlSecrets(`https://user:${password}@proxy.example.com/path`),
      "https://proxy.example.com/path",
    );
    assert.equal(
      redactSecrets(`proxy said: bad password ${password} (${encodeURIComponent(password)})`),
      "proxy said: bad password [redacted] ([redacted])",
    );
  });

  it("redactTail() drops the start of a remembered secret at the end of a cut text", () => {
    const password = "pw-tail-helpers-91be42";
    rememberUrlSecrets(`https://user:${password}@proxy.example.com`);
    assert.equal(redactTail(`body ends with ${password.slice(0, 6)}`), "body ends with ");
    assert.equal(redactTail("body without a secret"), "body without a secret");
    // Another secret whose start is the text's last character does not save the rest.
    rememberUrlSecrets("https://user:i-start-like-the-tail-7c1@proxy.example.com");
    assert.equal(redactTail(`body ends with ${password.slice(0, 6)}`), "body ends with ");
  });

  it("cutText() and codePointLength() count characters, never splitting a surrogate pair", () => {
    const text = "ab\u{1F600}cd";
    assert.equal(codePointLength(text), 5);
    assert.equal(cutText(text, 3), "ab\u{1F600}");
    assert.equal(cutText(text, 2), "ab");
    assert.equal(cutText(text, 9), text);
  });
});

describe("@kognic/auth/config optional packages", () => {
  it("importOptionalPeer() loads an optional package, and a module of it by its subpath", async () => {
    const api = await importOptionalPeer<typeof import("@opentelemetry/api")>(
      "@opentelemetry/api",
    );
    assert.equal(typeof api.trace.getTracer, "function");
    await assert.rejects(importOptionalPeer("@opentelemetry/api", "/no-such-module.js"));
  });
});

describe("@kognic/auth/config environment variables and files", () => {
  it("getEnv() reads the given source, not the process, when one is given", () => {
    assert.equal(getEnv("KOGNIC_CLIENT_ID", { KOGNIC_CLIENT_ID: "from-record" }), "from-record");
    assert.equal(getEnv("KOGNIC_CLIENT_ID", {}), undefined);
  });

  it("expandHome() expands ~ and ~/ from HOME and leaves other paths alone", async () => {
    const env = { HOME: "/home/someone/" };
    assert.equal(await expandHome("~", env), "/home/someone");
    assert.equal(await expandHome("~/creds.json", env), "/home/someone/creds.json");
    assert.equal(await expandHome("./~/creds.json", env), "./~/creds.json");
    assert.equal(await expandHome("/etc/creds.json", env), "/etc/creds.json");
  });

  it("readTextFile() and readFileBytes() read a file, give undefined for a missing one, and refuse past maxBytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kognic-public-files-"));
    try {
      const path = join(dir, "data.json");
      writeFileSync(path, '{"a":1}');
      assert.equal(await readTextFile(path), '{"a":1}');
      assert.deepEqual(await readFileBytes(path), new TextEncoder().encode('{"a":1}'));
      assert.equal(await readTextFile(join(dir, "missing.json")), undefined);
      await assert.rejects(readTextFile(path, { maxBytes: 3 }), /larger than 3 bytes/);
      await assert.rejects(readFileBytes(dir), /not a regular file \(a directory\)/);
      assert.ok(MAX_FILE_BYTES > 0 && MAX_TOKEN_FILE_BYTES >= MAX_FILE_BYTES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("isNotFound() tells a missing file from other failures", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kognic-public-files-"));
    try {
      const missing = await stat(join(dir, "missing")).catch((error) => error);
      assert.equal(isNotFound(missing), true);
      writeFileSync(join(dir, "file"), "");
      const underAFile = await stat(join(dir, "file", "child")).catch((error) => error);
      assert.equal(isNotFound(underAFile), true);
      assert.equal(isNotFound(Object.assign(new Error("denied"), { code: "EACCES" })), false);
      assert.equal(isNotFound(undefined), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("@kognic/auth/config credentials files", () => {
  it("toFileJson() writes back what parseCredentials() read, the secret replaced when asked", () => {
    const file = {
      clientId: "id-1",
      clientSecret: "secret-public-helpers-3d1",
      email: "me@example.com",
      userId: 7,
      issuer: "auth.app.kognic.com",
      name: "CI robot",
      expires: "2099-01-01T00:00:00.000Z",
      scopes: ["api:read"],
    };
    const credentials = parseCredentials(file, "test");
    assert.deepEqual(toFileJson(credentials), file);
    assert.deepEqual(toFileJson(credentials, "<hidden>"), { ...file, clientSecret: "<hidden>" });
    assert.deepEqual(
      parseCredentials(toFileJson(credentials), "again").expires,
      credentials.expires,
    );
  });
});

describe("@kognic/auth/config egress rule", () => {
  it("normalHost() and normalOrigin() give one form for a trailing dot, case and default port", () => {
    const url = new URL("https://APP.Kognic.com.:443/v1");
    assert.equal(normalHost(url), "app.kognic.com");
    assert.equal(normalOrigin(url), "https://app.kognic.com");
    assert.equal(normalOrigin(new URL("http://localhost:8080/")), "http://localhost:8080");
  });

  it("isSecureDestination() allows https and loopback http, never user info", () => {
    const secure = ["https://app.kognic.com/", "http://127.0.0.1:9/", "http://api.localhost/"];
    const insecure = [
      "http://app.kognic.com/",
      "https://user:pw@app.kognic.com/",
      "ftp://app.kognic.com/",
    ];
    assert.deepEqual(secure.filter((url) => isSecureDestination(new URL(url))), secure);
    assert.deepEqual(insecure.filter((url) => isSecureDestination(new URL(url))), []);
    assert.equal(isSecureDestination(new URL("http://app.kognic.com/"), true), true);
  });

  it("tokenEgress() matches exact origins and subdomain patterns, and refuses a bad entry", () => {
    const goes = tokenEgress(["https://app.kognic.com", "https://*.kognic.test"]);
    assert.equal(goes(new URL("https://app.kognic.com/x")), true);
    assert.equal(goes(new URL("https://eu.kognic.test/")), true);
    assert.equal(goes(new URL("https://kognic.test/")), false);
    assert.equal(goes(new URL("https://evil.com/")), false);
    assert.equal(goes(new URL("https://app.kognic.com/"), false), false);
    assert.throws(() => tokenEgress(["not an origin"]), TypeError);
  });

  it("tokenUrlFor(), defaultAllowedOrigins() and environmentAllowedOrigins() give a session's defaults", () => {
    const tokenUrl = tokenUrlFor(DEFAULT_AUTH_SERVER, DEFAULT_TOKEN_ENDPOINT);
    assert.equal(tokenUrl.href, "https://auth.app.kognic.com/v1/auth/oauth/token");
    assert.deepEqual(defaultAllowedOrigins(tokenUrl), [
      "https://app.kognic.com",
      "https://*.app.kognic.com",
    ]);
    const environment = {
      name: "demo",
      host: "demo.kognic.test",
      authServer: DEFAULT_AUTH_SERVER,
    } as Parameters<typeof environmentAllowedOrigins>[0];
    assert.deepEqual(environmentAllowedOrigins(environment, tokenUrl), [
      "https://app.kognic.com",
      "https://*.app.kognic.com",
      "https://demo.kognic.test",
      "https://*.demo.kognic.test",
    ]);
    assert.throws(() => tokenUrlFor("http://auth.example.com", "/token"), /must use https/);
    assert.deepEqual([...TOKEN_ENDPOINT_AUTH_METHODS], [
      "client_secret_post",
      "client_secret_basic",
    ]);
  });
});

describe("@kognic/auth/telemetry event lines", () => {
  it("describeEvent() gives the one-line form of an event", () => {
    const table: [AuthEvent, string][] = [
      [
        { type: "token.retry", attempt: 2, delay: 412, code: "token_network_error", status: 503 },
        "token request attempt 2 failed (token_network_error, HTTP 503); retrying in 412 ms",
      ],
      [{ type: "cache.hit", key: "k1" }, "token cache hit for k1"],
      [
        { type: "token.renewal", reason: "ahead_of_expiry" },
        "getting a new token (ahead of expiry)",
      ],
    ];
    for (const [event, line] of table) assert.equal(describeEvent(event), line);
  });
});

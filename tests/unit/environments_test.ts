import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_ENVIRONMENT,
  type Environment,
  type EnvironmentsConfig,
  environmentsConfigPath,
  loadEnvironments,
  parseEnvironments,
  resolveEnvironment,
} from "../../src/config/environments.ts";
import { ConfigurationError } from "../../src/shared/errors.ts";

const testdata = fileURLToPath(new URL("../testdata/environments/", import.meta.url));

// File order puts the shorter host first: the longest suffix must still win.
const config = parseEnvironments({
  default_environment: "fallback",
  environments: {
    kognic: { host: "kognic.com", auth_server: "https://auth.kognic.com" },
    app: { host: "app.kognic.com", auth_server: "https://auth.app.kognic.com" },
    eu: { host: "eu.app.kognic.com", auth_server: "https://auth.eu.app.kognic.com" },
    first: { host: "same.example.com", auth_server: "https://auth1.example.com" },
    second: { host: "same.example.com", auth_server: "https://auth2.example.com" },
    local: { host: "127.0.0.1", auth_server: "http://127.0.0.1:8080" },
    fallback: { host: "fallback.example.com", auth_server: "https://auth.fallback.example.com" },
  },
}, "/config/environments.json");

const noDefault = parseEnvironments({
  environments: {
    app: { host: "app.kognic.com", auth_server: "https://auth.app.kognic.com" },
  },
}, "/config/no-default.json");

describe("resolveEnvironment()", () => {
  const cases: Array<{
    name: string;
    config?: EnvironmentsConfig;
    select?: { name?: string; url?: string | URL };
    expected: string;
  }> = [
    {
      name: "an explicit name wins over the URL",
      select: { name: "eu", url: "https://app.kognic.com/" },
      expected: "eu",
    },
    {
      name: "an exact host match",
      select: { url: "https://app.kognic.com/v1/projects" },
      expected: "app",
    },
    {
      name: "an exact match of the deepest host",
      select: { url: "https://eu.app.kognic.com" },
      expected: "eu",
    },
    {
      name: "the longest suffix, not the first in the file",
      select: { url: "https://api.eu.app.kognic.com/x" },
      expected: "eu",
    },
    {
      name: "a one-level subdomain",
      select: { url: "https://api.app.kognic.com/v1" },
      expected: "app",
    },
    {
      name: "a suffix match of the shortest host",
      select: { url: "https://docs.kognic.com" },
      expected: "kognic",
    },
    {
      name: "a label boundary: evilapp.kognic.com is not app.kognic.com",
      select: { url: "https://evilapp.kognic.com" },
      expected: "kognic",
    },
    {
      name: "a host name in any case, with a trailing dot",
      select: { url: "https://API.App.Kognic.COM./v1" },
      expected: "app",
    },
    {
      name: "a URL object",
      select: { url: new URL("https://app.kognic.com/v1") },
      expected: "app",
    },
    {
      name: "an IP address with a port",
      select: { url: "http://127.0.0.1:8080/token" },
      expected: "local",
    },
    {
      name: "the first of two environments with the same host",
      select: { url: "https://same.example.com" },
      expected: "first",
    },
    {
      name: "default_environment when no host matches",
      select: { url: "https://example.org" },
      expected: "fallback",
    },
    { name: "default_environment when nothing is selected", select: {}, expected: "fallback" },
    { name: "default_environment when select is omitted", expected: "fallback" },
    {
      name: "the built-in default without default_environment",
      config: noDefault,
      select: { url: "https://example.org" },
      expected: "default",
    },
    {
      name: "the built-in default for an empty config",
      config: { path: "/x", environments: {} },
      expected: "default",
    },
    {
      name: "no match for a suffix that is not at a label boundary",
      config: noDefault,
      select: { url: "https://xapp.kognic.com" },
      expected: "default",
    },
  ];
  for (const { name, config: used = config, select, expected } of cases) {
    it(`picks ${name}`, () => {
      assert.equal(resolveEnvironment(used, select).name, expected);
    });
  }

  it("returns the built-in default environment object", () => {
    assert.deepEqual(resolveEnvironment({ path: "/x", environments: {} }), DEFAULT_ENVIRONMENT);
    assert.deepEqual(
      { ...DEFAULT_ENVIRONMENT },
      { name: "default", host: "app.kognic.com", authServer: "https://auth.app.kognic.com" },
    );
  });

  it("rejects an unknown name, naming it and the file", () => {
    assert.throws(
      () => resolveEnvironment(config, { name: "nope" }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.message ===
          "Unknown environment: nope not found in config at /config/environments.json",
    );
  });

  it("does not take inherited properties for environment names", () => {
    assert.throws(() => resolveEnvironment(config, { name: "constructor" }), ConfigurationError);
    assert.throws(() => resolveEnvironment(config, { name: "__proto__" }), ConfigurationError);
  });

  it("rejects a default_environment that names a missing environment, naming it", () => {
    const broken = parseEnvironments({ default_environment: "gone", environments: {} }, "/c.json");
    assert.throws(
      () => resolveEnvironment(broken, { url: "https://app.kognic.com" }),
      (error: unknown) =>
        error instanceof ConfigurationError && error.message.includes("default_environment gone") &&
        error.message.includes("/c.json"),
    );
  });

  it("still resolves an explicit name when default_environment is broken", () => {
    const broken = parseEnvironments({
      default_environment: "gone",
      environments: { a: { host: "a.example.com", auth_server: "https://auth.example.com" } },
    }, "/c.json");
    assert.equal(resolveEnvironment(broken, { name: "a" }).name, "a");
  });

  it("matches an IP address only exactly, never as a parent domain", () => {
    const config = parseEnvironments({
      default_environment: "fallback",
      environments: {
        short: { host: "0.1", auth_server: "https://auth.short.example" },
        fallback: { host: "app.kognic.com", auth_server: "https://auth.app.kognic.com" },
      },
    }, "inline.json");
    assert.equal(resolveEnvironment(config, { url: "http://127.0.0.1:8080/x" }).name, "fallback");
  });

  it("keeps an environment named __proto__ as an entry", () => {
    const config = parseEnvironments({
      environments: { ["__proto__"]: { host: "proto.example", auth_server: "https://a.example" } },
    }, "inline.json");
    assert.equal(resolveEnvironment(config, { name: "__proto__" }).host, "proto.example");
  });

  it("rejects a URL that is not absolute with a TypeError", () => {
    assert.throws(() => resolveEnvironment(config, { url: "app.kognic.com/v1" }), TypeError);
  });
});

describe("parseEnvironments()", () => {
  it("converts the wire keys and keeps credentials raw", () => {
    const parsed = parseEnvironments({
      default_environment: "prod",
      environments: {
        prod: {
          host: "App.Kognic.com",
          auth_server: "https://auth.app.kognic.com",
          credentials: "~/creds.json",
          scopes: ["api:read", "api:write"],
          future_key: true,
        },
        vault: {
          host: "vault.example.com",
          auth_server: "https://auth.example.com",
          credentials: "keyring://vault",
        },
        none: { host: "none.example.com", auth_server: "https://auth.example.com", scopes: [] },
      },
    }, "/p.json");
    const expected: Record<string, Environment> = {
      prod: {
        name: "prod",
        host: "app.kognic.com",
        authServer: "https://auth.app.kognic.com",
        credentials: "~/creds.json",
        scopes: ["api:read", "api:write"],
      },
      vault: {
        name: "vault",
        host: "vault.example.com",
        authServer: "https://auth.example.com",
        credentials: "keyring://vault",
      },
      none: {
        name: "none",
        host: "none.example.com",
        authServer: "https://auth.example.com",
        scopes: [],
      },
    };
    assert.deepEqual(parsed, {
      path: "/p.json",
      defaultEnvironment: "prod",
      environments: expected,
    });
  });

  it("accepts an empty object and null values as absent", () => {
    assert.deepEqual(parseEnvironments({}, "/p.json"), { path: "/p.json", environments: {} });
    assert.deepEqual(
      parseEnvironments({ default_environment: null, environments: null }, "/p.json"),
      { path: "/p.json", environments: {} },
    );
    const parsed = parseEnvironments({
      environments: {
        a: { host: "a.com", auth_server: "https://a.com", credentials: null, scopes: null },
      },
    }, "/p.json");
    assert.deepEqual(parsed.environments.a, {
      name: "a",
      host: "a.com",
      authServer: "https://a.com",
    });
  });

  const invalid: Array<[string, unknown, string]> = [
    ["a top level that is an array", [], "the top level must be a JSON object"],
    ["a top level that is a string", "x", "the top level must be a JSON object"],
    [
      "a default_environment that is a number",
      { default_environment: 1 },
      "default_environment must be a non-empty string",
    ],
    [
      "an empty default_environment",
      { default_environment: "" },
      "default_environment must be a non-empty string",
    ],
    ["environments as a list", { environments: [] }, "environments must be an object"],
    [
      "an environment that is a string",
      { environments: { prod: "app.kognic.com" } },
      "environments.prod must be an object",
    ],
    [
      "a missing host",
      { environments: { prod: { auth_server: "https://a.com" } } },
      "environments.prod.host is missing",
    ],
    ["a host that is a number", {
      environments: { prod: { host: 1, auth_server: "https://a.com" } },
    }, "environments.prod.host must be a string"],
    ["a host with a scheme", {
      environments: { prod: { host: "https://app.kognic.com", auth_server: "https://a.com" } },
    }, "environments.prod.host must be a host name"],
    ["a host with a path", {
      environments: { prod: { host: "app.kognic.com/v1", auth_server: "https://a.com" } },
    }, "environments.prod.host must be a host name"],
    [
      "an empty host",
      { environments: { prod: { host: "", auth_server: "https://a.com" } } },
      "environments.prod.host must be a host name",
    ],
    [
      "a missing auth_server",
      { environments: { prod: { host: "a.com" } } },
      "environments.prod.auth_server is missing",
    ],
    ["an auth_server that is a number", {
      environments: { prod: { host: "a.com", auth_server: 443 } },
    }, "environments.prod.auth_server must be a string"],
    ["an auth_server that is not a URL", {
      environments: { prod: { host: "a.com", auth_server: "auth.a.com" } },
    }, "environments.prod.auth_server must be an http(s) URL"],
    ["an auth_server with another scheme", {
      environments: { prod: { host: "a.com", auth_server: "ftp://a.com" } },
    }, "environments.prod.auth_server must be an http(s) URL"],
    ["credentials that are an object", {
      environments: { prod: { host: "a.com", auth_server: "https://a.com", credentials: {} } },
    }, "environments.prod.credentials must be a non-empty string"],
    ["empty credentials", {
      environments: { prod: { host: "a.com", auth_server: "https://a.com", credentials: "" } },
    }, "environments.prod.credentials must be a non-empty string"],
    ["scopes as a string", {
      environments: { prod: { host: "a.com", auth_server: "https://a.com", scopes: "api:read" } },
    }, "environments.prod.scopes must be an array of strings"],
    ["scopes with a number", {
      environments: { prod: { host: "a.com", auth_server: "https://a.com", scopes: ["a", 1] } },
    }, "environments.prod.scopes must be an array of strings"],
  ];
  for (const [name, json, message] of invalid) {
    it(`rejects ${name}, naming the file and the key`, () => {
      assert.throws(
        () => parseEnvironments(json, "/cfg/environments.json"),
        (error: unknown) =>
          error instanceof ConfigurationError && error.code === "configuration_invalid" &&
          error.message.startsWith("Invalid environments file /cfg/environments.json: ") &&
          error.message.includes(message),
      );
    });
  }
});

describe("loadEnvironments()", () => {
  it("reads the example file", async () => {
    const path = join(testdata, "environments.json");
    const loaded = await loadEnvironments(path);
    assert.equal(loaded.path, path);
    assert.equal(loaded.defaultEnvironment, "production");
    assert.deepEqual(Object.keys(loaded.environments), ["production", "demo", "staging"]);
    assert.deepEqual(loaded.environments.production, {
      name: "production",
      host: "app.kognic.com",
      authServer: "https://auth.app.kognic.com",
      credentials: "~/.config/kognic/credentials-prod.json",
      scopes: ["api:read"],
    });
    assert.equal(loaded.environments.demo.credentials, "keyring://demo");
    assert.deepEqual(loaded.environments.staging.scopes, []);
    assert.equal(
      resolveEnvironment(loaded, { url: "https://x.staging.app.kognic.com" }).name,
      "staging",
    );
    assert.equal(resolveEnvironment(loaded, { url: "https://example.org" }).name, "production");
  });

  it("gives an empty config for a missing file", async () => {
    const path = join(testdata, "does-not-exist.json");
    assert.deepEqual(await loadEnvironments(path), { path, environments: {} });
  });

  it("rejects broken JSON, naming the file", async () => {
    const path = join(testdata, "broken.json");
    await assert.rejects(
      loadEnvironments(path),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.message.startsWith(`Bad environments file, must be JSON: ${path}`),
    );
  });

  it("rejects a value of the wrong type, naming the file and the key", async () => {
    const path = join(testdata, "wrong_types.json");
    await assert.rejects(
      loadEnvironments(path),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.message ===
          `Invalid environments file ${path}: environments.prod.auth_server must be a string`,
    );
  });

  it("loads a file whose default_environment is missing, and fails only on resolution", async () => {
    const path = join(testdata, "missing_default.json");
    const loaded = await loadEnvironments(path);
    assert.equal(resolveEnvironment(loaded, { name: "prod" }).name, "prod");
    assert.throws(
      () => resolveEnvironment(loaded),
      /default_environment gone not found in config at/,
    );
  });

  it("rejects a path that is a directory, naming it", async () => {
    await assert.rejects(
      loadEnvironments(testdata),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.message.includes("Could not read environments file"),
    );
  });

  it("reads the default path under XDG_CONFIG_HOME and expands ~", async () => {
    const home = await mkdtemp(join(tmpdir(), "kognic-env-"));
    try {
      const env = { HOME: home, XDG_CONFIG_HOME: join(home, "xdg") };
      assert.equal(
        await environmentsConfigPath({ env }),
        join(home, "xdg", "kognic", "environments.json"),
      );
      assert.deepEqual((await loadEnvironments(undefined, { env })).environments, {});

      await writeFile(
        join(home, "envs.json"),
        JSON.stringify({ environments: { h: { host: "h.com", auth_server: "https://h.com" } } }),
      );
      const loaded = await loadEnvironments("~/envs.json", { env });
      assert.equal(loaded.path, join(home, "envs.json"));
      assert.equal(loaded.environments.h.host, "h.com");
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe("environmentsConfigPath()", () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    [
      "XDG_CONFIG_HOME when set",
      { HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" },
      "/xdg/kognic/environments.json",
    ],
    [
      "~/.config when XDG_CONFIG_HOME is unset",
      { HOME: "/home/u" },
      "/home/u/.config/kognic/environments.json",
    ],
    [
      "~/.config when XDG_CONFIG_HOME is relative",
      { HOME: "/home/u", XDG_CONFIG_HOME: "rel" },
      "/home/u/.config/kognic/environments.json",
    ],
  ];
  for (const [name, env, expected] of cases) {
    it(`uses ${name}`, async () => {
      assert.equal(await environmentsConfigPath({ env }), expected);
    });
  }
});

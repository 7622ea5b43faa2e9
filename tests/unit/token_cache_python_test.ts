// The token cache file shared with the Python kognic-auth package, against the
// local auth server. Fixtures are written as that package writes the file
// (json.dumps of a flat key -> token dict, indented by 2; each token the
// token response with expires_at added, in seconds), and what this package
// writes is judged as that package judges it (is_valid: now < expires_at - 30).
// Another writer that takes no lock, as the Python package, is simulated at
// the moments between this package's read and its rename.

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AuthSession } from "../../src/core/session.ts";
import { main } from "../../cli.ts";
import { FileTokenCache, tokenCacheKey } from "../../config.ts";
import { fileTokenCacheSeams } from "../../src/config/token_cache.ts";
import { type LocalAuthServer, startAuthServer } from "../../testing.ts";
import {
  CLI_DENO_PERMISSIONS,
  CLIENT_ID,
  CLIENT_SECRET,
  CLIENTS,
  countTokenRequests,
  runCli,
  runMain,
  tempDir,
} from "../_helpers/mod.ts";
import {
  type Entry,
  pythonIsValid,
  pythonKey,
  pythonText,
  pythonToken,
} from "../_helpers/python_cache.ts";

type CacheFile = Record<string, Entry>;

const YEAR = 365 * 24 * 3_600_000;

let server: LocalAuthServer;
let dir: { path: string; cleanup: () => Promise<void> };

/** Entries the Python package wrote for other servers and clients, to be kept as they are. */
function foreignEntries(): CacheFile {
  const now = Math.floor(Date.now() / 1000);
  return {
    "https://auth.app.kognic.com:python-client": {
      access_token: "eyJpython.other.server",
      token_type: "bearer",
      expires_in: 3600,
      expires_at: now + 3000,
    },
    [`https://auth.app.kognic.com:python-client:s-${"0123456789ab"}`]: {
      access_token: "eyJpython.with.more",
      token_type: "Bearer",
      expires_in: 3600,
      expires_at: now + 1800.5,
      scope: "api:read",
      id_token: "not ours",
      extra: { nested: [1, "two", null] },
    },
    "https://auth.staging.kognic.com:python-client": {
      access_token: "eyJexpired.but.refreshable",
      token_type: "bearer",
      expires_in: 3600,
      expires_at: now - 7200,
      refresh_token: "python-refresh",
    },
    "https://auth.dev.kognic.com:python-client": {
      access_token: "eyJnot.yet.valid.for.us",
      token_type: "mac",
      expires_at: now + 3600,
    },
    // Not a token: what some other tool left in the file.
    "note": "written by some other tool" as unknown as Entry,
  };
}

/** A fresh cache file path. */
function cachePath(): string {
  return join(dir.path, crypto.randomUUID().slice(0, 8), "kognic-auth", "tokens.json");
}

async function writeCache(path: string, text: string): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, text);
}

async function readCache(path: string): Promise<CacheFile> {
  return JSON.parse(await readFile(path, "utf8"));
}

function session(path: string, scopes?: string[]): AuthSession {
  return new AuthSession({
    authServer: server.url,
    auth: [CLIENT_ID, CLIENT_SECRET],
    scopes,
    tokenCache: new FileTokenCache({ path }),
  });
}

/** Gets a token through the library (and uses it on the API) or through the CLI as a subprocess. */
const paths: Array<[string, (path: string, scopes?: string[]) => Promise<string>]> = [
  ["AuthSession.fetch", async (path, scopes) => {
    const authSession = session(path, scopes);
    const response = await authSession.fetch(server.apiUrl);
    assert.equal(response.status, 200, "the API accepts the token");
    await response.body?.cancel();
    return await authSession.getAccessToken();
  }],
  ["kognic-auth get-access-token", async (path, scopes) => {
    // `path` is XDG_CACHE_HOME/kognic-auth/tokens.json of this run.
    const home = join(path, "..", "..");
    const result = await runCli(
      [
        "get-access-token",
        "--server",
        server.url,
        "--token-cache",
        "file",
        ...(scopes ? ["--scopes", ...scopes] : []),
      ],
      {
        env: {
          HOME: home,
          XDG_CONFIG_HOME: join(home, "config"),
          XDG_CACHE_HOME: home,
          KOGNIC_CLIENT_ID: CLIENT_ID,
          KOGNIC_CLIENT_SECRET: CLIENT_SECRET,
        },
        denoPermissions: [...CLI_DENO_PERMISSIONS, "--allow-write"],
      },
    );
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trimEnd();
  }],
];

describe("the token cache file shared with the Python kognic-auth package", () => {
  before(async () => {
    server = await startAuthServer({ clients: CLIENTS });
    dir = await tempDir();
  });

  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  afterEach(() => {
    delete fileTokenCacheSeams.beforeReplace;
  });

  it("makes the keys as the Python package does", async () => {
    const cases: Array<[string[] | undefined, string | undefined]> = [
      [undefined, undefined],
      [["api:read"], "api:read"],
      [["api:read", "api:write"], "api:read api:write"],
    ];
    for (const [scopes, joined] of cases) {
      assert.equal(
        await tokenCacheKey("https://auth.app.kognic.com", "my-id", scopes),
        pythonKey("https://auth.app.kognic.com", "my-id", joined),
      );
    }
  });

  describe("uses a token the Python package stored, without a token request", () => {
    const cases: Array<[string, string[] | undefined, (entry: Entry) => void]> = [
      ["without scopes", undefined, () => {}],
      ["with one scope", ["api:read"], () => {}],
      ["with two scopes", ["api:read", "api:write"], () => {}],
      // Python hashes the scopes in the order given; this package sorts them.
      ["with two scopes in an order that is not sorted", ["api:write", "api:read"], () => {}],
      ["with a lowercase token type", undefined, (entry) => (entry.token_type = "bearer")],
      ["with an expires_at in fractions of a second", undefined, (entry) => {
        entry.expires_at = (entry.expires_at as number) - 0.25;
      }],
    ];
    for (const [pathName, getToken] of paths) {
      for (const [name, scopes, tweak] of cases) {
        it(`${pathName}, ${name}`, async () => {
          const joined = scopes?.join(" ");
          const entry = await pythonToken(server, joined);
          tweak(entry);
          const path = cachePath();
          const file = { ...foreignEntries(), [pythonKey(server.url, CLIENT_ID, joined)]: entry };
          await writeCache(path, pythonText(file));
          let token = "";
          const requests = await countTokenRequests(server, async () => {
            token = await getToken(path, scopes);
          });
          assert.equal(requests, 0);
          assert.equal(token, entry.access_token);
        });
      }
    }
  });

  describe("writes entries with the fields and units the Python package reads", () => {
    for (const [pathName, getToken] of paths) {
      for (const scopes of [undefined, ["api:read"]]) {
        it(`${pathName}, ${scopes ? "with" : "without"} scopes`, async () => {
          const path = cachePath();
          const before = Date.now();
          const token = await getToken(path, scopes);
          const after = Date.now();
          const text = await readFile(path, "utf8");
          const file = JSON.parse(text) as CacheFile;
          assert.equal(text, JSON.stringify(file, null, 2), "indented by 2, as json.dumps writes");
          const key = pythonKey(server.url, CLIENT_ID, scopes?.join(" "));
          assert.deepEqual(Object.keys(file), [key]);
          const entry = file[key];
          assert.deepEqual(
            Object.keys(entry),
            [
              "access_token",
              "token_type",
              "expires_in",
              "expires_at",
              ...(scopes ? ["scope"] : []),
            ],
          );
          assert.equal(entry.access_token, token);
          assert.equal(entry.token_type, "bearer");
          assert.equal(entry.expires_in, server.tokenLifetime);
          const expiresAt = entry.expires_at as number;
          assert.ok(Number.isInteger(expiresAt), "whole seconds since the epoch");
          assert.ok(expiresAt >= Math.floor(before / 1000) + server.tokenLifetime - 1);
          assert.ok(expiresAt <= Math.ceil(after / 1000) + server.tokenLifetime);
          assert.ok(pythonIsValid(entry));
          if (scopes) assert.equal(entry.scope, scopes.join(" "));
          assert.equal((await stat(path)).mode & 0o777, 0o600);
        });
      }
    }
  });

  describe("keeps the entries of other keys as they were", () => {
    const writes: Array<[string, (path: string) => Promise<void>]> = [
      ["a session storing a new token", async (path) => {
        assert.equal(await countTokenRequests(server, () => session(path).getAccessToken()), 1);
      }],
      ["FileTokenCache.set() of its key", async (path) => {
        const now = Date.now();
        await new FileTokenCache({ path }).set("mine", {
          accessToken: "t",
          tokenType: "Bearer",
          issuedAt: now,
          expiresAt: now + 60_000,
        });
      }],
      ["FileTokenCache.delete() of its key", async (path) => {
        await new FileTokenCache({ path }).delete(pythonKey(server.url, CLIENT_ID));
      }],
      ["a session storing a server's Retry-After", async (path) => {
        server.failTokenRequests({ status: 429, retryAfter: 120, times: 1 });
        await assert.rejects(session(path).getAccessToken(), { code: "oauth_error" });
        const file = await readCache(path);
        // A record of its own, apart from the tokens: no token fields at all.
        const record = file[`retry-after ${pythonKey(server.url, CLIENT_ID)}`] as unknown as Record<
          string,
          number
        >;
        assert.deepEqual(Object.keys(record).sort(), ["status", "until"]);
        assert.equal(record.status, 429);
        assert.ok(record.until > Date.now());
      }],
    ];
    for (const [name, write] of writes) {
      it(name, async () => {
        const path = cachePath();
        const foreign = foreignEntries();
        await writeCache(path, pythonText(foreign));
        await write(path);
        const file = await readCache(path);
        for (const [key, entry] of Object.entries(foreign)) assert.deepEqual(file[key], entry, key);
      });
    }
  });

  describe("migrates a file in this package's earlier shape", () => {
    it("reads it once, rewrites it in the shared shape and uses its token", async () => {
      const path = cachePath();
      const key = await tokenCacheKey(server.url, CLIENT_ID);
      const token = await session(join(dir.path, "elsewhere.json")).getAccessToken();
      const issuedAt = Date.now() - 1_000;
      const expiresAt = issuedAt + 3_600_000;
      await writeCache(
        path,
        JSON.stringify({
          version: 1,
          tokens: {
            [key]: { accessToken: token, tokenType: "Bearer", issuedAt, expiresAt },
            broken: { accessToken: 5 },
            gone: { accessToken: "old", tokenType: "Bearer", issuedAt: 0, expiresAt: 1 },
          },
        }),
      );
      let used = "";
      const requests = await countTokenRequests(server, async () => {
        used = await session(path).getAccessToken();
      });
      assert.equal(requests, 0);
      assert.equal(used, token);
      const text = await readFile(path, "utf8");
      assert.deepEqual(JSON.parse(text), {
        [key]: {
          access_token: token,
          token_type: "bearer",
          expires_in: Math.floor(expiresAt / 1000) - Math.floor(issuedAt / 1000),
          expires_at: Math.floor(expiresAt / 1000),
        },
      });
      assert.ok(pythonIsValid(JSON.parse(text)[key]));
      // Read once: the next read leaves the file alone.
      const { ino, mtimeMs } = await stat(path);
      assert.equal((await new FileTokenCache({ path }).get(key))?.accessToken, token);
      assert.deepEqual(
        [(await stat(path)).ino, (await stat(path)).mtimeMs, await readFile(path, "utf8")],
        [ino, mtimeMs, text],
      );
    });

    it("keeps what the Python package added beside the earlier shape", async () => {
      const path = cachePath();
      const now = Date.now();
      const ours = {
        accessToken: "ours",
        tokenType: "Bearer",
        issuedAt: now,
        expiresAt: now + 3_600_000,
      };
      const python = foreignEntries();
      // The Python package read the earlier file as a dict and added its key to it.
      await writeCache(
        path,
        pythonText({ version: 1, tokens: { ours }, ...python } as unknown as CacheFile),
      );
      assert.equal((await new FileTokenCache({ path }).get("ours"))?.accessToken, "ours");
      const file = await readCache(path);
      assert.equal(file.version, undefined);
      assert.equal(file.tokens, undefined);
      assert.equal(file.ours.access_token, "ours");
      for (const [key, entry] of Object.entries(python)) assert.deepEqual(file[key], entry, key);
    });
  });

  describe("does not lose a write of a process that takes no lock", () => {
    /** Writes the file as the Python package does: read it, add a key, write it in place. */
    async function pythonWrite(path: string, key: string, entry: Entry): Promise<void> {
      const file = JSON.parse(await readFile(path, "utf8").catch(() => "{}")) as CacheFile;
      file[key] = entry;
      await writeFile(path, pythonText(file));
    }

    for (const moment of ["check", "rename"] as const) {
      it(`merges a write made just before the ${moment === "check" ? "re-read" : "rename"}`, async () => {
        const path = cachePath();
        await writeCache(path, pythonText(foreignEntries()));
        const entry = await pythonToken(server);
        let calls = 0;
        fileTokenCacheSeams.beforeReplace = async (_path, when) => {
          if (when === moment && calls++ === 0) await pythonWrite(path, "python-meanwhile", entry);
        };
        const token = await session(path).getAccessToken();
        const file = await readCache(path);
        assert.deepEqual(file["python-meanwhile"], entry);
        assert.equal(file[pythonKey(server.url, CLIENT_ID)].access_token, token);
        for (const [key, value] of Object.entries(foreignEntries())) {
          if (key !== "note") assert.equal((file[key] as Entry).access_token, value.access_token);
        }
        assert.equal(file.note, "written by some other tool");
      });
    }

    it("waits for a write in progress (the file truncated, then written)", async () => {
      const path = cachePath();
      const foreign = foreignEntries();
      await writeCache(path, pythonText(foreign));
      const entry = await pythonToken(server);
      const complete = pythonText({ ...foreign, "python-meanwhile": entry });
      let checks = 0;
      fileTokenCacheSeams.beforeReplace = async (_path, when) => {
        if (when !== "check") return;
        checks++;
        // First a half-written file, completed before the next look.
        if (checks === 1) await writeFile(path, complete.slice(0, 40));
        if (checks === 2) await writeFile(path, complete);
      };
      await new FileTokenCache({ path }).set("mine", {
        accessToken: "mine",
        tokenType: "Bearer",
        issuedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
      });
      const file = await readCache(path);
      assert.deepEqual(file["python-meanwhile"], entry);
      assert.equal(file.mine.access_token, "mine");
      assert.ok(checks >= 3);
    });

    it("replaces the file all the same after 8 rounds against a writer that never stops", async () => {
      const path = cachePath();
      await writeCache(path, "{}");
      let checks = 0;
      fileTokenCacheSeams.beforeReplace = async (_path, when) => {
        if (when === "check") await writeFile(path, pythonText({ [`python-${++checks}`]: {} }));
      };
      await new FileTokenCache({ path }).set("mine", {
        accessToken: "mine",
        tokenType: "Bearer",
        issuedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
      });
      assert.equal(checks, 8);
      const file = await readCache(path);
      assert.equal(file.mine.access_token, "mine");
      assert.ok("python-7" in file, "the writes seen before the last round are kept");
    });
  });

  it("kognic-auth clear-cache removes the file with the Python package's tokens in it", async () => {
    const path = cachePath();
    const home = join(path, "..", "..");
    const foreign = foreignEntries();
    await writeCache(path, pythonText(foreign));
    const count = Object.keys(foreign).length;
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_CACHE_HOME: home };
    const result = await runMain(main, ["clear-cache", "--token-cache", "file"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Removed the token cache file ${path} (${count} tokens)\n`);
    await assert.rejects(stat(path), { code: "ENOENT" });
  });

  describe("an entry that is not a valid token is a miss, never an error", () => {
    const now = Math.floor(Date.now() / 1000);
    const valid = { token_type: "bearer", expires_in: 3600, expires_at: now + 3000 };
    const hostile: Array<[string, unknown]> = [
      ["an access_token that is a number", { ...valid, access_token: 5 }],
      ["an empty access_token", { ...valid, access_token: "" }],
      ["an access_token with a line break", { ...valid, access_token: "a\r\nX-Injected: 1" }],
      ["an access_token that is not ASCII", { ...valid, access_token: "tökén" }],
      ["an access_token with surrounding space", { ...valid, access_token: " tok " }],
      ["no access_token", { ...valid }],
      ["a token_type other than bearer", { ...valid, access_token: "t", token_type: "mac" }],
      ["a token_type that is a number", { ...valid, access_token: "t", token_type: 1 }],
      ["no expires_at", { access_token: "t", token_type: "bearer", expires_in: 3600 }],
      ["an expires_at that is a string", {
        ...valid,
        access_token: "t",
        expires_at: `${now + 3000}`,
      }],
      ["an infinite expires_at", `{"access_token": "t", "expires_at": 1e999}`],
      ["a negative expires_at", { ...valid, access_token: "t", expires_at: -1 }],
      ["an expired token", { ...valid, access_token: "t", expires_at: now - 10 }],
      ["a token with less than 30 s left", { ...valid, access_token: "t", expires_at: now + 20 }],
      ["an expires_in of 0", { ...valid, access_token: "t", expires_in: 0 }],
      ["a negative expires_in", { ...valid, access_token: "t", expires_in: -5 }],
      ["an expires_in that is not a number", { ...valid, access_token: "t", expires_in: "soon" }],
      ["an array", ["t"]],
      ["a string", "t"],
      ["null", null],
    ];
    for (const [name, entry] of hostile) {
      it(name, async () => {
        const path = cachePath();
        const key = pythonKey(server.url, CLIENT_ID);
        const value = typeof entry === "string" && entry.startsWith("{")
          ? entry
          : JSON.stringify(entry);
        await writeCache(
          path,
          `{"other": {"access_token": "x"}, ${JSON.stringify(key)}: ${value}}`,
        );
        let token = "";
        const requests = await countTokenRequests(server, async () => {
          token = await session(path).getAccessToken();
        });
        assert.equal(requests, 1);
        assert.notEqual(token, "t");
        const file = await readCache(path);
        assert.equal(file[key].access_token, token);
        assert.deepEqual(file.other, { access_token: "x" });
      });
    }

    it("takes an expiry more than a year and a day away for a damaged entry: a miss", async () => {
      const path = cachePath();
      await writeCache(path, pythonText({ k: { access_token: "t", expires_at: 1e12 } }));
      assert.equal(await new FileTokenCache({ path }).get("k"), undefined);
      await writeCache(
        path,
        pythonText({
          k: { access_token: "t", expires_at: Math.floor((Date.now() + YEAR) / 1000) },
        }),
      );
      assert.equal((await new FileTokenCache({ path }).get("k"))?.accessToken, "t");
    });
  });
});

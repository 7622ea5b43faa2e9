// The `kog` command end to end, in-process (`main(args, io)`) and as a real
// subprocess, against local auth servers with the sample API routes of
// testing.ts: every output format, bodies from -d, files and standard input,
// headers, methods in any case, environments chosen by the URL's host (the
// longest suffix), exit codes, the User-Agent, sunset warnings and retries.
// Also the output formatter and its JSON parser, table-driven and by
// property.
//
// Runs get their environment only through `io.env` (in-process) or the
// subprocess's environment: XDG_CONFIG_HOME and XDG_CACHE_HOME point into a
// temporary directory, so the user's files are never read or written.
// In-process runs use --token-cache none unless a test says otherwise (the
// keyring probe would reach the test process's own D-Bus session);
// subprocesses have no D-Bus session bus, so their default `auto` cache is
// the file, shared by the runs.
//
// The subprocess is `KOGNIC_KOG_CLI` (a JSON array, such as
// `["node", "npm/esm/bin/kog.js"]`) when set, else kog.ts under Deno or
// Bun, or the compiled kog.js imported by `node -e` under Node.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, main } from "../../kog.ts";
import { formatBody } from "../../src/cli/format.ts";
import { parseJson, stringifyJson } from "../../src/cli/json.ts";
import { VERSION } from "../../src/shared/version.ts";
import type { EchoResponse } from "../../testing.ts";
import {
  assertNoSecretSeen,
  CLIENT_ID,
  CLIENTS,
  credentialsJson,
  kogCommand,
  record,
  runCommand,
  runMain,
  tempDir,
  writeCredentials,
} from "../_helpers/mod.ts";
import { type SampleApiServer, startSampleApiServer } from "../_helpers/sample_api.ts";
import { FETCH_READS_AHEAD, FLOOD_BYTES, startFloodStandIn } from "../_helpers/servers.ts";

const testdata = fileURLToPath(new URL("../testdata/kog/", import.meta.url));
const DAY = 24 * 60 * 60 * 1000;
/** Anything that looks like a JWT: no access token may reach any output. */
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\./;

// The sample items of tests/_helpers/sample_api.ts (/v1/api/items) in each format.
const ITEMS_JSON = `[
  {
    "id": 1,
    "name": "alpha",
    "tags": [
      "red",
      "blue"
    ]
  },
  {
    "id": 2,
    "name": "beta, \\"two\\"",
    "owner": {
      "email": "b@example.com"
    },
    "notes": "line 1\\nline 2"
  },
  {
    "id": 3,
    "name": null,
    "active": false
  }
]
`;
const ITEMS_JSONL = `{"id":1,"name":"alpha","tags":["red","blue"]}
{"id":2,"name":"beta, \\"two\\"","owner":{"email":"b@example.com"},"notes":"line 1\\nline 2"}
{"id":3,"name":null,"active":false}
`;
const ITEMS_CSV = `id,name,tags,owner,notes,active
1,alpha,"[""red"",""blue""]",,,
2,"beta, ""two""",,"{""email"":""b@example.com""}","line 1
line 2",
3,,,,,false
`;
const ITEMS_TSV = `id\tname\ttags\towner\tnotes\tactive
1\talpha\t"[""red"",""blue""]"\t\t\t
2\t"beta, ""two"""\t\t"{""email"":""b@example.com""}"\t"line 1
line 2"\t
3\t\t\t\t\tfalse
`;
const ITEMS_TABLE =
  `| id | name        | tags           | owner                     | notes          | active |
|----|-------------|----------------|---------------------------|----------------|--------|
| 1  | alpha       | ["red","blue"] |                           |                |        |
| 2  | beta, "two" |                | {"email":"b@example.com"} | line 1\\nline 2 |        |
| 3  |             |                |                           |                | false  |
`;
const ITEMS_OUTPUT: Record<string, string> = {
  json: ITEMS_JSON,
  jsonl: ITEMS_JSONL,
  csv: ITEMS_CSV,
  tsv: ITEMS_TSV,
  table: ITEMS_TABLE,
};

/** The runtime part of the User-Agent, as this test process sees its runtime. */
function expectedRuntime(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno) return `deno/${g.Deno.version.deno}`;
  if (g.Bun) return `bun/${g.Bun.version}`;
  return `node/${process.versions.node}`;
}
const KOG_USER_AGENT = `kognic-auth/${VERSION} ${expectedRuntime()} kog/${VERSION}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const outputs: string[] = [];

function remember(result: Run): Run {
  record(result.stdout);
  record(result.stderr);
  outputs.push(result.stdout, result.stderr);
  return result;
}

// ---------------------------------------------------------------------------
// The subprocess

/** Runs `kog` as a real subprocess with only PATH, HOME, NO_COLOR and `env`. */
async function runKog(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Run> {
  const { code, stdout, stderr } = await runCommand(kogCommand(), args, options);
  return remember({ code, stdout, stderr });
}

// ---------------------------------------------------------------------------
// Shared setup: a local server, credentials, and an environments file

/** The local auth server with the sample API, environment "local" (host 127.0.0.1). */
let server: SampleApiServer;
/** Another server: the default_environment's, whose tokens `server` rejects. */
let otherServer: SampleApiServer;
let dir: { path: string; cleanup: () => Promise<void> };
let credentialsPath: string;
let xdg: Record<string, string>;

before(async () => {
  server = await startSampleApiServer({ clients: CLIENTS });
  otherServer = await startSampleApiServer({ clients: CLIENTS });
  dir = await tempDir();
  credentialsPath = await writeCredentials(dir.path, credentialsJson());
  xdg = {
    HOME: dir.path,
    XDG_CONFIG_HOME: join(dir.path, "config"),
    XDG_CACHE_HOME: join(dir.path, "cache"),
  };
  await mkdir(join(dir.path, "config", "kognic"), { recursive: true });
  await writeFile(
    join(dir.path, "config", "kognic", "environments.json"),
    JSON.stringify({
      default_environment: "elsewhere",
      environments: {
        elsewhere: {
          host: "elsewhere.example",
          auth_server: otherServer.url,
          credentials: credentialsPath,
        },
        local: {
          host: "127.0.0.1",
          auth_server: server.url,
          credentials: credentialsPath,
          scopes: ["env:read"],
        },
      },
    }),
  );
});

after(async () => {
  await server?.close();
  await otherServer?.close();
  await dir?.cleanup();
});

/** Runs `main` in-process with the temporary XDG directories and --token-cache none. */
async function run(
  args: string[],
  io: { stdin?: string; fetch?: typeof fetch; env?: Record<string, string> } = {},
): Promise<Run> {
  const cacheArgs = args.includes("--token-cache") ? [] : ["--token-cache", "none"];
  return remember(
    await runMain(main, [...args, ...cacheArgs], {
      stdin: io.stdin === undefined ? undefined : () => Promise.resolve(io.stdin!),
      env: { ...xdg, ...io.env },
      fetch: io.fetch,
    }),
  );
}

function api(route: string): string {
  return `${server.apiBaseUrl}/${route}`;
}

function assertOk(result: Run): void {
  assert.equal(result.code, EXIT_OK, `stderr: ${result.stderr}`);
}

// ---------------------------------------------------------------------------

describe("kog output formats", () => {
  it("prints the sample items in every format, sparse keys and nested values included", async () => {
    for (const [format, expected] of Object.entries(ITEMS_OUTPUT)) {
      const result = await run(["get", api("items"), "--format", format]);
      assertOk(result);
      assert.equal(result.stdout, expected, format);
      assert.equal(result.stderr, "");
    }
  });

  it("takes the list from an object whose only key holds it", async () => {
    for (const [format, expected] of Object.entries(ITEMS_OUTPUT)) {
      if (format === "json") continue;
      const result = await run(["get", api("enveloped"), "--format", format]);
      assertOk(result);
      assert.equal(result.stdout, expected, format);
    }
  });

  it("falls back to pretty JSON for an object that is not a one-key list", async () => {
    for (const route of ["page", "object"]) {
      const json = await run(["get", api(route)]);
      for (const format of ["jsonl", "csv", "tsv", "table"]) {
        const result = await run(["get", api(route), "--format", format]);
        assertOk(result);
        assert.equal(result.stdout, json.stdout, `${route} ${format}`);
      }
    }
    assert.equal(
      (await run(["get", api("object"), "--format", "csv"])).stdout,
      `{
  "id": 1,
  "name": "alpha"
}
`,
    );
  });

  it("prints nothing for an empty list, except [] as json", async () => {
    for (const route of ["empty", "empty-enveloped"]) {
      for (const format of ["jsonl", "csv", "tsv", "table"]) {
        const result = await run(["get", api(route), "--format", format]);
        assertOk(result);
        assert.equal(result.stdout, "", `${route} ${format}`);
      }
    }
    assert.equal((await run(["get", api("empty")])).stdout, "[]\n");
    assert.equal((await run(["get", api("empty-enveloped")])).stdout, '{\n  "data": []\n}\n');
  });

  it("puts list items that are not objects in a value column", async () => {
    assert.equal(
      (await run(["get", api("scalars"), "--format", "csv"])).stdout,
      "value\n1\ntwo\ntrue\n\n",
    );
    assert.equal(
      (await run(["get", api("scalars"), "--format", "table"])).stdout,
      "| value |\n|-------|\n| 1     |\n| two   |\n| true  |\n|       |\n",
    );
  });

  it("keeps numbers as written and keys in the server's order", async () => {
    assert.equal(
      (await run(["get", api("numbers")])).stdout,
      '[\n  {\n    "id": 12345678901234567890,\n    "ratio": 1.50,\n    "2": "two"\n  }\n]\n',
    );
    assert.equal(
      (await run(["get", api("numbers"), "--format", "csv"])).stdout,
      "id,ratio,2\n12345678901234567890,1.50,two\n",
    );
  });

  it("prints a response that is not JSON as it is, in any format", async () => {
    for (const format of ["json", "csv", "table"]) {
      const text = await run(["get", api("text"), "--format", format]);
      assertOk(text);
      assert.equal(text.stdout, "plain text, not JSON\n");
      const bad = await run(["get", api("bad-json"), "--format", format]);
      assertOk(bad);
      assert.equal(bad.stdout, '{"data": [\n');
    }
  });

  it("formats bodies as the table of cases says", () => {
    const json = "application/json";
    const cases: [string, string | null, string, string][] = [
      ['{"a": 1}', "text/plain", "json", '{"a": 1}\n'],
      ['{"a": 1}', null, "json", '{"a": 1}\n'],
      ['{"a":1}', "application/problem+json; charset=utf-8", "json", '{\n  "a": 1\n}\n'],
      ['{"a":1}', "Application/JSON", "json", '{\n  "a": 1\n}\n'],
      ["", json, "json", ""],
      ["no newline", "text/plain", "json", "no newline\n"],
      ["[[1, 2], {}]", json, "csv", 'value\n"[1,2]"\n\n'],
      ['[{"a": 1}, 2, {"b": "x"}]', json, "csv", "a,value,b\n1,,\n,2,\n,,x\n"],
      ["[{}, {}]", json, "csv", ""],
      ["[{}, {}]", json, "jsonl", "{}\n{}\n"],
      ['[{"a": "  padded "}]', json, "csv", "a\n  padded \n"],
      ['[{"a": "x\\ty"}]', json, "tsv", 'a\n"x\ty"\n'],
      ['[{"a": "x\\ty"}]', json, "csv", "a\nx\ty\n"],
      ['[{"a": "x\\ry"}]', json, "csv", "a\nx\\x0dy\n"],
      ['[{"a": "x\\r\\ny"}]', json, "csv", 'a\n"x\r\ny"\n'],
      ['[{"a": "lone\\rcr"}]', json, "csv", "a\nlone\\x0dcr\n"],
      ['[{"a": "esc\\u001b[2J"}]', json, "tsv", "a\nesc\\x1b[2J\n"],
      ['[{"a": "c1\\u009b31m"}]', json, "table", "| a         |\n|-----------|\n| c1\\x9b31m |\n"],
      ['["ls\\u2028"]', json, "json", '[\n  "ls\\u2028"\n]\n'],
      ["bell\u0007 text", "text/plain", "json", "bell\\x07 text\n"],
      ['[{"a|b": "c|d"}]', json, "table", "| a\\|b |\n|------|\n| c\\|d |\n"],
      ['[{"ä": "åäö"}, {"ä": "x"}]', json, "table", "| ä   |\n|-----|\n| åäö |\n| x   |\n"],
      ['{"only": "not a list"}', json, "csv", '{\n  "only": "not a list"\n}\n'],
      [
        '{"a": [1], "b": [2]}',
        json,
        "jsonl",
        '{\n  "a": [\n    1\n  ],\n  "b": [\n    2\n  ]\n}\n',
      ],
      ['{"items": [{"x": null}]}', json, "jsonl", '{"x":null}\n'],
      ['"just a string"', json, "table", '"just a string"\n'],
    ];
    for (const [body, type, format, expected] of cases) {
      assert.equal(
        formatBody(body, type, format as "json"),
        expected,
        `${format} of ${body} (${type})`,
      );
    }
  });

  it("parses JSON as JSON.parse does, printing it back as JSON.stringify would", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const indent of [undefined, 2]) {
          const text = JSON.stringify(value, null, indent);
          assert.equal(stringifyJson(parseJson(text), indent), text);
        }
      }),
      { numRuns: 300 },
    );
    const texts = fc.oneof(
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.tuple(fc.jsonValue(), fc.nat(), fc.string({ maxLength: 2 })).map(([value, at, junk]) => {
        const text = JSON.stringify(value) ?? "null";
        const cut = at % (text.length + 1);
        return text.slice(0, cut) + junk + text.slice(cut);
      }),
    );
    fc.assert(
      fc.property(texts, (text) => {
        let expected = true;
        try {
          JSON.parse(text);
        } catch {
          expected = false;
        }
        let actual = true;
        try {
          parseJson(text);
        } catch (error) {
          assert.ok(error instanceof SyntaxError);
          actual = false;
        }
        assert.equal(actual, expected, text);
      }),
      { numRuns: 1000 },
    );
    for (
      const text of [
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "[1,]",
        '{"a":1,}',
        "'a'",
        '"\\x"',
        "\u00a0 1",
        '"\t"',
      ]
    ) {
      assert.throws(() => parseJson(text), SyntaxError, text);
    }
    assert.throws(() => parseJson("[".repeat(5000) + "]".repeat(5000)), SyntaxError);
    assert.equal(stringifyJson(parseJson('{"a": 1, "a": 2, "b": 3}')), '{"a":2,"b":3}');
    assert.equal(stringifyJson(parseJson('"\\ud83d\\ude00 \\u00e9"')), '"😀 é"');
  });
});

describe("kog requests", () => {
  it("sends the method in any case, with headers in either spacing", async () => {
    for (const method of ["get", "Get", "GET", "pOsT", "put", "Delete", "patch", "OPTIONS"]) {
      const body = /post|put|patch/i.test(method) ? ["-d", "{}"] : [];
      const result = await run([
        method,
        server.apiUrl,
        "-H",
        "X-Spaced:   value one  ",
        "-H",
        "x-tight:two",
        "-H",
        "X-Multi: a",
        "-H",
        "x-multi: b",
        ...body,
      ]);
      assertOk(result);
      const echo: EchoResponse = JSON.parse(result.stdout);
      assert.equal(echo.method, method.toUpperCase());
      assert.equal(echo.headers["x-spaced"], "value one");
      assert.equal(echo.headers["x-tight"], "two");
      assert.equal(echo.headers["x-multi"], "a, b");
      assert.equal(echo.headers["user-agent"], KOG_USER_AGENT);
    }
    const head = await run(["head", api("items")]);
    assertOk(head);
    assert.equal(head.stdout, "");
  });

  it("sends -d as JSON, from the argument, a file or standard input", async () => {
    const fromArgument = await run(["post", server.apiUrl, "-d", '{"name": "x"}']);
    assertOk(fromArgument);
    let echo: EchoResponse = JSON.parse(fromArgument.stdout);
    assert.equal(echo.body, '{"name": "x"}');
    assert.equal(echo.headers["content-type"], "application/json");

    const file = join(testdata, "project.json");
    const fromFile = await run(["put", server.apiUrl, `-d@${file}`]);
    assertOk(fromFile);
    echo = JSON.parse(fromFile.stdout);
    assert.equal(echo.body, await readFile(file, "utf8"));
    assert.equal(echo.headers["content-type"], "application/json");

    const fromStdin = await run(["patch", server.apiUrl, "--data", "@-"], { stdin: "[1, 2]\n" });
    assertOk(fromStdin);
    assert.equal(JSON.parse(fromStdin.stdout).body, "[1, 2]\n");
  });

  it("sends other data as it is when -H sets a Content-Type, and checks JSON otherwise", async () => {
    const csv = join(testdata, "not-json.csv");
    const sent = await run([
      "post",
      server.apiUrl,
      "-d",
      `@${csv}`,
      "-H",
      "Content-Type: text/csv",
    ]);
    assertOk(sent);
    const echo: EchoResponse = JSON.parse(sent.stdout);
    assert.equal(echo.body, await readFile(csv, "utf8"));
    assert.equal(echo.headers["content-type"], "text/csv");

    const before = server.counts.apiRequests;
    for (
      const args of [
        ["-d", `@${csv}`],
        ["-d", "{bad"],
        ["-d", "{bad", "-H", "content-type: application/json"],
        ["-d", "@-"],
      ]
    ) {
      const result = await run(["post", server.apiUrl, ...args], { stdin: "not json" });
      assert.equal(result.code, EXIT_ERROR, args.join(" "));
      assert.match(
        result.stderr,
        /^Error: The request body from .+ is not JSON \(.+\); set a Content-Type header with -H to send other data\n$/,
      );
      assert.equal(result.stdout, "");
    }
    const missing = await run(["post", server.apiUrl, "-d", "@" + join(dir.path, "nope.json")]);
    assert.equal(missing.code, EXIT_ERROR);
    assert.match(missing.stderr, /^Error: Could not read the -d file .+nope\.json: /);
    assert.equal(server.counts.apiRequests, before);
  });

  it("replaces the environment's scopes with --scope, and uses them without it", async () => {
    const withEnvScopes = await run(["get", server.apiUrl]);
    assert.equal(JSON.parse(withEnvScopes.stdout).scope, "env:read");
    const replaced = await run(["get", server.apiUrl, "--scope", "a:b", "--scope", "c"]);
    assertOk(replaced);
    assert.equal(JSON.parse(replaced.stdout).scope, "a:b c");
    assert.equal(server.tokenRequests.at(-1)?.scope, "a:b c");
  });

  it("takes --scopes a b (kognic-auth's spelling) after METHOD URL, and says where it goes when given first", async () => {
    const greedy = await run(["get", server.apiUrl, "--scopes", "a:b", "c"]);
    assertOk(greedy);
    assert.equal(JSON.parse(greedy.stdout).scope, "a:b c");
    const mixed = await run(["get", server.apiUrl, "--scope", "d", "--scopes", "a:b", "c"]);
    assertOk(mixed);
    assert.equal(server.tokenRequests.at(-1)?.scope, "a:b c d");
    const first = await run(["--scopes", "a", "get", server.apiUrl]);
    assert.equal(first.code, EXIT_USAGE);
    assert.match(
      first.stderr,
      /^Error: METHOD and URL are missing \(--scopes takes every word up to the next option: put it after METHOD URL, or use --scope S\)\n/,
    );
  });

  it("kog mcp --help prints its help on stdout and exits 0, like every other help page", async () => {
    const help = await runKog(["mcp", "--help"], { env: xdg });
    assert.equal(help.code, EXIT_OK, help.stderr);
    assert.match(help.stdout, /^Usage: kog mcp \[options\]\n/);
    assert.equal(help.stderr, "");
  });

  it("uses the token cache file with --token-cache file", async () => {
    const home = await tempDir();
    try {
      const env = { XDG_CACHE_HOME: join(home.path, "cache") };
      const before = server.counts.tokensIssued;
      for (let i = 0; i < 2; i++) {
        assertOk(await run(["get", api("object"), "--token-cache", "file"], { env }));
      }
      assert.equal(server.counts.tokensIssued - before, 1);
      const cache = await readFile(join(home.path, "cache", "kognic-auth", "tokens.json"), "utf8");
      assert.ok(cache.includes(`:${CLIENT_ID}`));
    } finally {
      await home.cleanup();
    }
  });

  it("prints debug lines with -v, never a secret or a token", async () => {
    const result = await run(["-v", "get", api("flaky/verbose?retryAfter=0"), "--format", "jsonl"]);
    assertOk(result);
    assert.deepEqual(JSON.parse(result.stdout), { key: "verbose", attempts: 2, method: "GET" });
    for (
      const fragment of [
        "debug: environment: local (host 127.0.0.1, auth server",
        "chosen by the URL's host",
        `debug: credentials: client ${CLIENT_ID} from`,
        "debug: scopes: env:read (environment local)",
        "debug: token cache: none",
        "debug: token request to",
        "with the access token",
        "debug: HTTP 503; retry 1 in 0.0 s",
        "debug: HTTP 200 OK (application/json; charset=utf-8)",
      ]
    ) {
      assert.ok(result.stderr.includes(fragment), `"${fragment}" not in:\n${result.stderr}`);
    }
  });
});

describe("kog environments", () => {
  it("picks the environment by the URL's host, before default_environment", async () => {
    // default_environment "elsewhere" is otherServer's: its token would get a 401 here.
    const result = await run(["get", api("object")]);
    assertOk(result);
    assert.equal(otherServer.counts.tokenRequests, 0);
  });

  it("picks the longest host suffix, whatever the file order", async () => {
    // Names under .localhost do not resolve on every machine, so this fetch maps them to the
    // servers as DNS would; requests and tokens are real.
    const inner = await startSampleApiServer({ clients: CLIENTS });
    const outer = await startSampleApiServer({ clients: CLIENTS });
    const home = await tempDir();
    try {
      const file = join(home.path, "environments.json");
      await writeFile(
        file,
        JSON.stringify({
          environments: {
            outer: { host: "localhost", auth_server: outer.url, credentials: credentialsPath },
            decoy: { host: "am.localhost", auth_server: outer.url, credentials: credentialsPath },
            inner: { host: "team.localhost", auth_server: inner.url, credentials: credentialsPath },
          },
        }),
      );
      const hosts: Record<string, SampleApiServer> = {
        "api.team.localhost": inner,
        "team.localhost": inner,
        "api.other.localhost": outer,
      };
      const resolving: typeof fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const target = hosts[url.host];
        if (target) url.host = new URL(target.url).host;
        return fetch(url, init);
      };
      const cases: [string, SampleApiServer, string][] = [
        ["http://api.team.localhost/v1/api/object", inner, "inner"],
        ["http://team.localhost/v1/api/object", inner, "inner"],
        ["http://api.other.localhost/v1/api/object", outer, "outer"],
      ];
      for (const [url, expected, name] of cases) {
        const before = [inner.counts.apiRequests, outer.counts.apiRequests];
        const result = await run(["-v", "get", url, "--env-config-file-path", file], {
          fetch: resolving,
        });
        assertOk(result);
        assert.equal(JSON.parse(result.stdout).name, "alpha");
        assert.match(result.stderr, new RegExp(`debug: environment: ${name} \\(host `));
        const after = [inner.counts.apiRequests, outer.counts.apiRequests];
        assert.deepEqual(
          after.map((count, i) => count - before[i]),
          expected === inner ? [1, 0] : [0, 1],
          url,
        );
      }
      assert.equal(inner.counts.tokensIssued, 2);
      assert.equal(outer.counts.tokensIssued, 1);
    } finally {
      await inner.close();
      await outer.close();
      await home.cleanup();
    }
  });

  it("uses --env over the URL's host, and fails for an unknown one", async () => {
    // The environment "elsewhere" is not this URL's host: no token goes to it, and kog says so.
    const named = await run(["get", api("object"), "--env", "elsewhere"]);
    assert.equal(named.code, EXIT_ERROR);
    assert.match(
      named.stderr,
      /^Warning: no access token was sent to http:\/\/127\.0\.0\.1:\d+: it is not the host of environment elsewhere \(elsewhere\.example\)/,
    );
    assert.match(
      named.stderr,
      /\nError: GET ".+" failed with HTTP 401 Unauthorized: The request has no bearer token\.\n/,
    );
    const unknown = await run(["get", api("object"), "--env", "nope"]);
    assert.equal(unknown.code, EXIT_ERROR);
    assert.match(
      unknown.stderr,
      /^Error: Unknown environment: nope not found in config at .+environments\.json; its environments: elsewhere, local\n$/,
    );
    const missing = await run([
      "get",
      api("object"),
      "--env-config-file-path",
      join(dir.path, "none.json"),
    ]);
    assert.equal(missing.code, EXIT_ERROR);
    assert.match(missing.stderr, /^Error: Environments file not found: .+none\.json/);
  });
});

describe("kog exit codes and messages", () => {
  it("exits 1 on an answer over 100 MiB, printing nothing of it and reading no further", async () => {
    const flood = await startFloodStandIn(FLOOD_BYTES);
    try {
      const result = await run(["get", `${flood.url}/big`]);
      assert.equal(result.code, EXIT_ERROR, result.stderr);
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        /^Error: the answer of http:\/\/127\.0\.0\.1:\d+ is larger than 104857600 bytes \(100 MiB\), the most kog reads; nothing of it was printed\n/m,
      );
      const { written, whole } = await flood.ended;
      if (!FETCH_READS_AHEAD) {
        assert.equal(whole, false, `the whole answer was read (${written} bytes)`);
      }
    } finally {
      await flood.close();
    }
  });

  it("exits 1 with the status and the server's message on an HTTP error", async () => {
    const json = await run(["delete", api("status/404?message=Project 7 is gone")]);
    assert.equal(json.code, EXIT_ERROR);
    assert.equal(json.stdout, "");
    assert.equal(
      json.stderr,
      `Error: DELETE "${api("status/404?message=Project%207%20is%20gone")}" failed with HTTP 404 ` +
        `Not Found: Project 7 is gone\n{\n  "message": "Project 7 is gone",\n  "status": 404\n}\n`,
    );
    const text = await run(["get", api("status/500?format=text&message=Disk full")]);
    assert.equal(text.code, EXIT_ERROR);
    assert.match(
      text.stderr,
      /^Error: GET ".+" failed with HTTP 500 Internal Server Error: Disk full\n$/,
    );
  });

  it("exits 2 with one line and a pointer to --help for a command line it cannot understand", async () => {
    const cases: [string[], RegExp][] = [
      [[], /METHOD and URL are missing/],
      [["get"], /URL is missing/],
      [["fetch", server.apiUrl], /Unknown method "fetch"; expected one of GET, POST/],
      [["get", "app.kognic.com/v1"], /"app\.kognic\.com\/v1" is not a URL/],
      [["get", "ftp://example.com/x"], /is not an http\(s\) URL/],
      [["get", server.apiUrl, "extra"], /Too many arguments: "extra"/],
      [
        ["get", server.apiUrl, "--format", "xml"],
        /--format must be one of json, jsonl, csv, tsv, table/,
      ],
      [["get", server.apiUrl, "--token-cache", "disk"], /--token-cache must be one of/],
      [["get", server.apiUrl, "-H", "NoColon"], /Header "NoColon" is not in the form "Key: Value"/],
      [["get", server.apiUrl, "-H", "Bad Name: x"], /is not in the form/],
      [["get", server.apiUrl, "--nope"], /^Error: Unknown option --nope\n/],
      [["get", server.apiUrl, "-d", "{}"], /-d\/--data cannot be used with GET/],
      [["post", server.apiUrl, "-d", "{}", "-d", "{}"], /can be given only once/],
      [["post", server.apiUrl, "--scope", ""], /--scope needs a scope/],
      [["post", server.apiUrl, "--env", ""], /--env needs an environment name/],
    ];
    const before = server.counts.apiRequests + server.counts.tokenRequests;
    for (const [args, message] of cases) {
      const result = await run(args);
      assert.equal(result.code, EXIT_USAGE, args.join(" "));
      // One line saying what is wrong and a pointer to the help, not the help itself.
      assert.match(result.stderr, /^Error: [^\n]+\nRun "kog --help" for the usage\.\n$/);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    }
    assert.equal(server.counts.apiRequests + server.counts.tokenRequests, before);
  });

  it("prints the help and the version", async () => {
    const help = await run(["--help"]);
    assert.equal(help.code, EXIT_OK);
    assert.match(help.stdout, /^Usage: kog METHOD URL \[options\]/);
    const version = await run(["--version"]);
    assert.equal(version.stdout, `kog ${VERSION}\n`);
  });

  it("prints a sunset warning on stderr and the body on stdout", async () => {
    const far = new Date(Date.now() + 30 * DAY).toISOString();
    const result = await run(["get", api(`sunset?sunset-date=${far}`), "--format", "jsonl"]);
    assertOk(result);
    assert.equal(result.stdout, '{\n  "data": {\n    "deprecated": true\n  }\n}\n');
    assert.equal(
      result.stderr,
      `Warning: Endpoint GET ${api("sunset")} has been deprecated and will be removed at ` +
        `${far} (in 30 days); please update your client\n`,
    );
    const standard = new Date(Math.floor((Date.now() + 3 * DAY) / 1000) * 1000);
    const soon = await run([
      "get",
      api(`sunset?sunset=${encodeURIComponent(standard.toUTCString())}`),
    ]);
    assertOk(soon);
    assert.match(
      soon.stderr,
      new RegExp(`^Warning: .+ will be removed at ${standard.toISOString()} \\(in 3 days\\)`),
    );
  });

  it("retries a transient 503 on GET, and not on POST", async () => {
    const get = await run(["get", api("flaky/inproc-get?retryAfter=0")]);
    assertOk(get);
    assert.equal(JSON.parse(get.stdout).attempts, 2);
    assert.equal(server.flakyAttempts("inproc-get"), 2);
    const post = await run(["post", api("flaky/inproc-post?retryAfter=0"), "-d", "{}"]);
    assert.equal(post.code, EXIT_ERROR);
    assert.match(
      post.stderr,
      /^Error: POST ".+" failed with HTTP 503 Service Unavailable: Transient failure 1 of 1\n$/,
    );
    assert.equal(server.flakyAttempts("inproc-post"), 1);
  });
});

describe("kog as a subprocess", () => {
  const env = (): Record<string, string> => ({ ...xdg });

  it("prints every output format, sharing one cached token between runs", async () => {
    const before = server.counts.tokensIssued;
    for (const [format, expected] of Object.entries(ITEMS_OUTPUT)) {
      const result = await runKog(["GET", api("items"), "--format", format], { env: env() });
      assert.equal(result.code, 0, `${format}: ${result.stderr}`);
      assert.equal(result.stdout, expected, format);
      assert.equal(result.stderr, "");
    }
    const empty = await runKog(["get", api("empty-enveloped"), "--format", "table"], {
      env: env(),
    });
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, "");
    assert.equal(server.counts.tokensIssued - before, 1);
  });

  it("sends a body from standard input and a file, with headers and the User-Agent", async () => {
    const stdin = await runKog(["PoSt", server.apiUrl, "-d", "@-", "-H", "X-Trace:abc"], {
      env: env(),
      stdin: '{"a": [1, 2]}',
    });
    assert.equal(stdin.code, 0, stdin.stderr);
    let echo: EchoResponse = JSON.parse(stdin.stdout);
    assert.equal(echo.method, "POST");
    assert.equal(echo.body, '{"a": [1, 2]}');
    assert.equal(echo.headers["content-type"], "application/json");
    assert.equal(echo.headers["x-trace"], "abc");
    assert.equal(echo.headers["user-agent"], KOG_USER_AGENT);

    const file = join(testdata, "project.json");
    const fromFile = await runKog(["put", server.apiUrl, "-d", `@${file}`], { env: env() });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    echo = JSON.parse(fromFile.stdout);
    assert.equal(echo.method, "PUT");
    assert.equal(echo.body, await readFile(file, "utf8"));
  });

  it("exits 0, 1 and 2", async () => {
    const usage = await runKog([], { env: env() });
    assert.equal(usage.code, 2);
    assert.equal(
      usage.stderr,
      'Error: METHOD and URL are missing\nRun "kog --help" for the usage.\n',
    );
    const badInput = await runKog(["post", server.apiUrl, "-d", "{bad"], { env: env() });
    assert.equal(badInput.code, 1);
    assert.match(badInput.stderr, /^Error: The request body from -d is not JSON/);
    const httpError = await runKog(["get", api("status/403?message=Not yours")], { env: env() });
    assert.equal(httpError.code, 1);
    assert.equal(httpError.stdout, "");
    assert.match(httpError.stderr, /^Error: GET ".+" failed with HTTP 403 Forbidden: Not yours\n/);
  });

  it("prints a sunset warning on stderr", async () => {
    const far = new Date(Date.now() + 30 * DAY).toISOString();
    const result = await runKog(["get", api(`sunset?sunset-date=${far}`)], { env: env() });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /^Warning: Endpoint GET .+\/v1\/api\/sunset has been deprecated and will be removed at /,
    );
    assert.deepEqual(JSON.parse(result.stdout), { data: { deprecated: true } });
  });

  it("retries a transient 503 on GET, and not on POST", async () => {
    const get = await runKog(["get", api("flaky/sub-get?retryAfter=0")], { env: env() });
    assert.equal(get.code, 0, get.stderr);
    assert.equal(server.flakyAttempts("sub-get"), 2);
    const post = await runKog(["post", api("flaky/sub-post?retryAfter=0")], { env: env() });
    assert.equal(post.code, 1);
    assert.match(post.stderr, /HTTP 503 Service Unavailable: Transient failure 1 of 1/);
    assert.equal(server.flakyAttempts("sub-post"), 1);
  });

  it("accepts -v anywhere and says the environment came from the environments file", async () => {
    const file = join(dir.path, "config", "kognic", "environments.json");
    for (
      const args of [["-v", "get", api("object")], ["get", "-v", api("object")], [
        "get",
        api("object"),
        "-v",
      ]]
    ) {
      const result = await runKog(args, { env: env() });
      assert.equal(result.code, 0, result.stderr);
      const line = `debug: environment: local (host 127.0.0.1, auth server ${server.url}), ` +
        `chosen by the URL's host from ${file}\n`;
      assert.ok(result.stderr.startsWith(line), result.stderr);
    }
  });

  it("-v says the environment is the built-in default when there is no environments file", async () => {
    const home = await tempDir();
    try {
      const result = await runKog(["get", api("object"), "-v", "--token-cache", "none"], {
        env: {
          HOME: home.path,
          XDG_CONFIG_HOME: join(home.path, "config"),
          XDG_CACHE_HOME: join(home.path, "cache"),
          KOGNIC_CREDENTIALS: credentialsPath,
        },
      });
      // The built-in default's host is app.kognic.com, not this server's: no token is sent.
      assert.equal(result.code, 1, result.stderr);
      const missing = join(home.path, "config", "kognic", "environments.json");
      assert.ok(
        result.stderr.startsWith(
          "debug: environment: default (host app.kognic.com, auth server " +
            `https://auth.app.kognic.com), the built-in default (no environments file at ${missing})\n`,
        ),
        result.stderr,
      );
      assert.ok(!result.stderr.includes(`from ${missing}`), result.stderr);
    } finally {
      await home.cleanup();
    }
  });

  it("--help after the method and URL prints the help, exit 0, without a request", async () => {
    const before = server.counts.apiRequests + server.counts.tokenRequests;
    const result = await runKog(["get", api("object"), "--help"], { env: env() });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.match(result.stdout, /^Usage: kog METHOD URL \[options\]\n/);
    assert.equal(server.counts.apiRequests + server.counts.tokenRequests, before);
  });

  it("a mistyped method, flag or format gets one line with what was meant and a pointer to --help", async () => {
    const cases: [string[], string][] = [
      [["gte", api("object")], 'Unknown method "gte"; did you mean GET?'],
      [["get", api("object"), "--formt", "csv"], "Unknown option --formt; did you mean --format?"],
      [["get", api("object"), "--scoep", "a"], "Unknown option --scoep; did you mean --scope?"],
      [
        ["get", api("object"), "--format", "cvs"],
        '--format must be one of json, jsonl, csv, tsv, table, not "cvs"; did you mean csv?',
      ],
    ];
    for (const [args, message] of cases) {
      const result = await runKog(args, { env: env() });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(result.stderr, `Error: ${message}\nRun "kog --help" for the usage.\n`);
    }
  });

  it("--env with an unknown name lists the environments there, names only", async () => {
    const result = await runKog(["get", api("object"), "--env", "loca"], { env: env() });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^Error: Unknown environment: loca not found in config at .+environments\.json; its environments: elsewhere, local\n$/,
    );
    assert.ok(!result.stderr.includes("127.0.0.1"), "an environment's details were printed");
  });

  it("leaks no secret or token in any output", () => {
    assert.ok(assertNoSecretSeen() > 0);
    for (const output of outputs) assert.ok(!JWT.test(output), output.slice(0, 300));
  });
});

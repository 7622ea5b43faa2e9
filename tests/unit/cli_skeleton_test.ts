// The frame both commands are built on (src/cli/skeleton.ts): "did you mean",
// the strict option parser, the catch in main, and a command table, here a
// program of this file's own with a command that kognic-auth does not have.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import {
  type Command,
  didYouMean,
  editDistance,
  EXIT_ERROR,
  EXIT_OK,
  EXIT_USAGE,
  parseOptions,
  type Program,
  runMain,
  runProgram,
  tokenCacheMode,
  tokenize,
  UsageError,
} from "../../src/cli/skeleton.ts";
import { CredentialsError } from "../../src/shared/errors.ts";
import { loadLibrary } from "../../src/cli/library.ts";
import { assertNoSecretSeen, CLIENT_SECRET, record } from "../_helpers/mod.ts";

/** A usage error's message, from a function that must throw one. */
function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UsageError, `not a usage error: ${error}`);
    record(error.message);
    return error;
  }
  assert.fail("expected a usage error");
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function capture(
  fn: (io: Parameters<typeof runMain>[1]) => Promise<number>,
): Promise<Output> {
  let stdout = "";
  let stderr = "";
  const code = await fn({
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
  });
  record(stdout);
  record(stderr);
  return { code, stdout, stderr };
}

// The commands load the library when they run (runMain); the helpers tested
// one by one here need it loaded first.
before(() => loadLibrary());

describe("editDistance and didYouMean", () => {
  const distances: [string, string, number][] = [
    ["", "abc", 3],
    ["abc", "abc", 0],
    ["kitten", "sitting", 3],
    ["gte", "get", 1],
    ["--servr", "--server", 1],
    ["--credential", "--credentials", 1],
  ];
  for (const [a, b, distance] of distances) {
    it(`counts ${distance} edits from "${a}" to "${b}", a swap of neighbours as one`, () => {
      assert.equal(editDistance(a, b), distance);
      assert.equal(editDistance(b, a), distance);
    });
  }

  it("suggests the closest candidate when it is about one typo in three letters away", () => {
    assert.equal(didYouMean("--servr", ["--server", "--json"]), "; did you mean --server?");
    assert.equal(didYouMean("GTE", ["GET", "POST"]), "; did you mean GET?");
    assert.equal(didYouMean("fiel", ["auto", "keyring", "file"]), "; did you mean file?");
  });

  it("suggests nothing when nothing is close, and for one letter", () => {
    assert.equal(didYouMean("FETCH", ["GET", "POST", "PATCH"]), "");
    assert.equal(didYouMean("frobnicate", ["get-access-token", "credentials"]), "");
    assert.equal(didYouMean("x", ["v"]), "");
  });

  it("names every candidate that is equally close", () => {
    assert.equal(didYouMean("bet", ["get", "set", "delete"]), "; did you mean get or set?");
  });
});

describe("parseOptions", () => {
  const options = {
    server: { type: "string" },
    scopes: { type: "string", greedy: true },
    header: { type: "string", short: "H", multiple: true },
    json: { type: "boolean" },
    verbose: { type: "boolean", short: "v" },
  } as const;

  it("reads values, repeated and greedy options, short aliases and -v anywhere", () => {
    const { values, positionals } = parseOptions(
      ["--server", "https://x", "-H", "a: 1", "--scopes", "a", "b", "--json", "-H", "b: 2", "-v"],
      options,
      "prog cmd",
    );
    assert.deepEqual(values, {
      server: "https://x",
      header: ["a: 1", "b: 2"],
      scopes: ["a", "b"],
      json: true,
      verbose: true,
    });
    assert.deepEqual(positionals, []);
  });

  it("takes a value that starts with - only inline, and words after -- as positionals", () => {
    const { values, positionals } = parseOptions(
      ["--server=-x", "word", "--", "--json"],
      options,
      "prog cmd",
      true,
    );
    assert.equal(values.server, "-x");
    assert.equal(values.json, undefined);
    assert.deepEqual(positionals, ["word", "--json"]);
  });

  const errors: [string, string[], string][] = [
    [
      "an unknown option, with the closest one",
      ["--servr", "x"],
      "Unknown option --servr; did you mean --server?",
    ],
    ["an unknown short option", ["-x"], "Unknown option -x"],
    [
      "an option without its value",
      ["--server"],
      '--server needs a value (one that starts with "-" goes as --server=VALUE)',
    ],
    [
      "an option followed by another",
      ["--server", "--json"],
      '--server needs a value (one that starts with "-" goes as --server=VALUE)',
    ],
    ["a value given to a flag", ["--json=yes"], '--json takes no value, not "yes"'],
    ["a greedy option with no value", ["--scopes", "--json"], "--scopes needs at least one value"],
    [
      "a word the command does not take",
      ["extra"],
      'Unexpected argument "extra": prog cmd takes no arguments',
    ],
    [
      "a very long unknown option, cut short",
      [`--${"z".repeat(200)}`],
      `Unknown option --${"z".repeat(78)}...`,
    ],
  ];
  for (const [name, args, message] of errors) {
    it(`refuses ${name}, pointing to the command's help`, () => {
      const error = usage(() => parseOptions(args, options, "prog cmd"));
      assert.equal(error.message, message);
      assert.equal(error.command, "prog cmd");
    });
  }

  it("suggests the closest --token-cache mode, and takes auto when none is given", () => {
    assert.equal(tokenCacheMode({}, "prog", {}), "auto");
    assert.equal(tokenCacheMode({ "token-cache": "none" }, "prog", {}), "none");
    const error = usage(() =>
      tokenCacheMode({ "token-cache": "none" }, "prog", {}, ["auto", "file"])
    );
    assert.equal(error.message, '--token-cache must be one of auto, file, not "none"');
    assert.match(
      usage(() => tokenCacheMode({ "token-cache": "fiel" }, "prog", {})).message,
      /did you mean file\?$/,
    );
  });

  it("takes KOGNIC_TOKEN_CACHE when no flag is given, the flag winning, and Redis URLs", () => {
    const env = { KOGNIC_TOKEN_CACHE: "file" };
    assert.equal(tokenCacheMode({}, "prog", env), "file");
    assert.equal(tokenCacheMode({ "token-cache": "none" }, "prog", env), "none");
    assert.equal(
      tokenCacheMode({}, "prog", { KOGNIC_TOKEN_CACHE: "REDIS://127.0.0.1:6379/2" }),
      "redis://127.0.0.1:6379/2",
    );
    assert.match(
      usage(() => tokenCacheMode({}, "prog", { KOGNIC_TOKEN_CACHE: "fiel" })).message,
      /^KOGNIC_TOKEN_CACHE must be one of auto, keyring, file, none, not "fiel"; did you mean file\?$/,
    );
  });
});

describe("runMain", () => {
  it("prints a usage error as one line and a pointer to the command's help, exit 2", async () => {
    const result = await capture((io) =>
      runMain("prog", io, () => Promise.reject(new UsageError("Bad\nline\u001b[2J", "prog cmd")))
    );
    assert.equal(result.code, EXIT_USAGE);
    assert.equal(result.stdout, "");
    assert.equal(result.stderr, 'Error: Bad line\\x1b[2J\nRun "prog cmd --help" for the usage.\n');
  });

  it("prints any other error as one Error: line without its stack or cause, exit 1", async () => {
    const cause = new Error(`the secret was ${CLIENT_SECRET}`);
    const result = await capture((io) =>
      runMain(
        "prog",
        io,
        () =>
          Promise.reject(
            new CredentialsError("credentials_invalid", "Bad file\r\nhere", { cause }),
          ),
      )
    );
    assert.equal(result.code, EXIT_ERROR);
    assert.equal(result.stderr, "Error: Bad file here\n");
    const thrown = await capture((io) => runMain("prog", io, () => Promise.reject("a string")));
    assert.equal(thrown.stderr, "Error: a string\n");
  });
});

describe("runProgram with a command table", () => {
  const ran: { command: string; values: Record<string, unknown>; positionals: string[] }[] = [];
  const command = (name: string, options: Command["options"], positionals = false): Command => ({
    name,
    synopsis: positionals ? "URL [options]" : "[options]",
    summary: `Run ${name}`,
    options,
    help: Object.keys(options).map((option) => `  --${option.padEnd(27)}The ${option}\n`).join(""),
    positionals,
    run: ({ values, positionals }, { debug, command }) => {
      debug(`running ${command}`);
      if (values.fail) throw new UsageError("--fail was given");
      ran.push({ command, values, positionals });
      return Promise.resolve(EXIT_OK);
    },
  });
  const program: Program = {
    name: "prog",
    version: "1.2.3",
    commands: [
      command("serve", { port: { type: "string" }, fail: { type: "boolean" } }),
      command("mcp proxy", { upstream: { type: "string" } }, true),
      command("mcp list", {}),
    ],
    epilogue: "Exit codes: 0, 1, 2.\n",
  };
  const runArgs = (args: string[]): Promise<Output> =>
    capture((io) => runProgram(program, args, io));

  it("runs a command found by its words with its options, and -v before or after it", async () => {
    for (
      const args of [["-v", "mcp", "proxy", "http://x", "--upstream", "u"], [
        "mcp",
        "proxy",
        "http://x",
        "--upstream",
        "u",
        "-v",
      ]]
    ) {
      ran.length = 0;
      const result = await runArgs(args);
      assert.equal(result.code, EXIT_OK, result.stderr);
      assert.equal(result.stderr, "debug: running prog mcp proxy\n");
      // -v after the command is one of its values too; before it, only the debug line shows it.
      const values = args[0] === "-v" ? { upstream: "u" } : { upstream: "u", verbose: true };
      assert.deepEqual(ran, [{ command: "prog mcp proxy", values, positionals: ["http://x"] }]);
    }
  });

  it("prints the program's, a group's and a command's help, and the version", async () => {
    const whole = await runArgs(["--help"]);
    assert.equal(whole.code, EXIT_OK);
    assert.match(whole.stdout, /^Usage: prog \[-v\] <command> \[options\]\n/);
    for (
      const text of [
        "serve",
        "mcp proxy URL",
        "mcp list",
        "--port",
        "--upstream",
        "Exit codes: 0, 1, 2.",
      ]
    ) {
      assert.ok(whole.stdout.includes(text), `${text} not in:\n${whole.stdout}`);
    }
    const group = await runArgs(["mcp", "--help"]);
    assert.match(group.stdout, /^Usage: prog mcp <proxy\|list> \[options\]\n/);
    assert.ok(!group.stdout.includes("--port"), group.stdout);
    const one = await runArgs(["serve", "--port", "1", "--help"]);
    assert.equal(one.code, EXIT_OK);
    assert.match(
      one.stdout,
      /^Usage: prog serve \[options\]\n\nRun serve\.\n\nOptions:\n {2}--port /,
    );
    assert.deepEqual(await runArgs(["help", "mcp", "list"]), {
      code: EXIT_OK,
      stdout: (await runArgs(["mcp", "list", "-h"])).stdout,
      stderr: "",
    });
    assert.equal((await runArgs(["--version"])).stdout, "prog 1.2.3\n");
  });

  const usageErrors: [string, string[], string, string][] = [
    ["no command", [], "No command given", "prog"],
    ["a mistyped command", ["serv"], 'Unknown command "serv"; did you mean serve?', "prog"],
    ["a group without its command", ["mcp"], "mcp needs proxy or list", "prog mcp"],
    [
      "a mistyped command of a group",
      ["mcp", "lsit"],
      'Unknown mcp command "lsit"; did you mean list?',
      "prog mcp",
    ],
    [
      "a command's option before the command",
      ["--port", "1", "serve"],
      "--port is an option of serve: put it after the command",
      "prog",
    ],
    [
      "a usage error from the command itself",
      ["serve", "--fail"],
      "--fail was given",
      "prog serve",
    ],
    ["--version after a group", ["mcp", "--version"], "--version goes right after prog", "prog"],
  ];
  for (const [name, args, message, help] of usageErrors) {
    it(`answers ${name} with one line and a pointer to "${help} --help"`, async () => {
      const result = await runArgs(args);
      assert.equal(result.code, EXIT_USAGE);
      assert.equal(result.stdout, "");
      assert.equal(result.stderr, `Error: ${message}\nRun "${help} --help" for the usage.\n`);
    });
  }

  it("never shows a secret in any output or message", () => {
    assert.ok(assertNoSecretSeen() > 0);
  });
});

describe("the option tokenizer", () => {
  // The commands split their lines as node:util's parseArgs does (strict: false,
  // tokens: true), without loading it: the two agree on every line here.
  const options = {
    verbose: { type: "boolean", short: "v" },
    help: { type: "boolean", short: "h" },
    server: { type: "string" },
    scopes: { type: "string", multiple: true },
    header: { type: "string", short: "H", multiple: true },
    json: { type: "boolean", short: "j" },
  } as const;
  const lines: string[][] = [
    [],
    ["get-access-token"],
    ["--server", "http://x", "--json"],
    ["--server=http://x", "--json=yes", "--server="],
    ["--server", "--json"],
    ["--server"],
    ["-v", "-h", "-j"],
    ["-vh", "-vj", "-vjh"],
    ["-H", "A: b", "-HA:b", "-vHA:b", "-Hv"],
    ["-vH", "X: y", "-jvH"],
    ["-x", "-xyz", "-vx", "--unknown", "--unknown=1", "--unknown", "word"],
    ["-", "a", "--", "--server", "-v", "b"],
    ["--=x", "---", "---server", "-=", "-1", "-1.5"],
    ["word", "--scopes", "a", "--scopes=b", "-"],
    ["--", "--"],
  ];
  for (const line of lines) {
    it(`splits ${JSON.stringify(line)} as parseArgs does`, () => {
      const { tokens } = parseArgs({
        args: line,
        options,
        strict: false,
        allowPositionals: true,
        tokens: true,
      });
      const expected = tokens.map((token) => {
        const { index: _index, ...rest } = token;
        return rest;
      });
      assert.deepEqual(tokenize(line, options), expected);
    });
  }
});

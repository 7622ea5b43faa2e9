/**
 * The frame both commands (`kognic-auth` and `kog`) are built on: where they
 * read and write, their exit codes, the usage error and the catch in `main`
 * that turns every error into one line, the option parser with its "did you
 * mean", the command table with its help, and the `--token-cache` flag.
 *
 * @module
 */

import { stdinChunks, writeStderr, writeStdout } from "./process_io.ts";
import type { TokenCacheMode } from "../../config.ts";
import type { EnvSource } from "../../mod.ts";
import { describe, isPermissionDenied, oneLine } from "./common.ts";
import { configApi, loadLibrary, loadTelemetry } from "./library.ts";

/** Where a command reads and writes; tests pass their own. */
export interface CliIO {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /**
   * Reads standard input (`kog -d @-`): all of it, or, when `maxBytes` is
   * given, at most one byte more than that (so that the caller can tell a
   * larger input), reading with that bound.
   * @default {reads the process's standard input}
   */
  stdin?(maxBytes?: number): Promise<Uint8Array | string>;
  /**
   * Environment variables: the credentials variables, `HOME` and the XDG
   * directories of the environments file and the token cache. The system
   * keyring is found through the process's own environment (its D-Bus
   * session bus), whatever is given here. @default {the process's}
   */
  env?: EnvSource;
  /** The fetch used for token and API requests. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

export { EXIT_CLOSED_STDOUT, EXIT_ERROR, EXIT_OK, EXIT_USAGE, isClosedPipe } from "./process_io.ts";
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE } from "./process_io.ts";

/**
 * A command line that cannot be understood. `command` names the command
 * whose `--help` the message points to (`kognic-auth get-access-token`).
 */
export class UsageError extends Error {
  /** The program and command whose help to point to; the program's when unset. */
  readonly command: string | undefined;

  /** Creates the error. */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/**
 * The process's standard streams (a closed standard output ends the process
 * silently with {@linkcode EXIT_CLOSED_STDOUT}: see process_io.ts), and on
 * Deno an environment whose reads never throw.
 */
export function defaultIO(): CliIO {
  const io: CliIO = { stdout: writeStdout, stderr: writeStderr, stdin: readProcessStdin };
  const env = denoEnvWithoutPermission();
  if (env) io.env = env;
  return io;
}

/** The variables a run could not read for want of Deno's env permission, by env source. */
const DENIED_VARIABLES = new WeakMap<EnvSource, Set<string>>();

/**
 * On Deno, the process's environment as a record whose reads never throw: a
 * variable that Deno's env permission does not cover reads as unset (and
 * {@linkcode runMain} then says which ones, and the permission). Elsewhere
 * `undefined`: the process's own environment is read as usual.
 */
function denoEnvWithoutPermission(): EnvSource | undefined {
  const deno = (globalThis as {
    Deno?: { env: { get(name: string): string | undefined; toObject(): Record<string, string> } };
  }).Deno;
  if (!deno?.env) return undefined;
  const denied = new Set<string>();
  const read = (name: string): string | undefined => {
    try {
      return deno.env.get(name);
    } catch (error) {
      if (!isPermissionDenied(error)) throw error;
      if (denied.size < 100) denied.add(name);
      return undefined;
    }
  };
  const keys = (): string[] => {
    try {
      return Object.keys(deno.env.toObject());
    } catch (error) {
      if (!isPermissionDenied(error)) throw error;
      return [];
    }
  };
  const env = new Proxy({} as Record<string, string | undefined>, {
    get: (_, name) => typeof name === "string" ? read(name) : undefined,
    has: (_, name) => typeof name === "string" && read(name) !== undefined,
    ownKeys: () => keys(),
    getOwnPropertyDescriptor: (_, name) => {
      const value = typeof name === "string" ? read(name) : undefined;
      return value === undefined
        ? undefined
        : { value, enumerable: true, configurable: true, writable: false };
    },
  });
  DENIED_VARIABLES.set(env, denied);
  return env;
}

/** Writes one warning line for the variables a run could not read, if there were any. */
function warnDeniedEnv(io: CliIO): void {
  const denied = io.env ? DENIED_VARIABLES.get(io.env) : undefined;
  if (!denied?.size) return;
  const names = [...denied].sort();
  io.stderr(
    `Warning: Deno's env permission does not cover ${names.join(", ")}; read as unset ` +
      `(run with --allow-env, or --allow-env=${names.join(",")})\n`,
  );
}

/**
 * The process's standard input: all of it, or with `maxBytes`, at most one
 * byte more than that, read through the one bounded reader (body.ts), so
 * that an endless input costs at most the bound in memory.
 */
export async function readProcessStdin(maxBytes = Infinity): Promise<Uint8Array> {
  const { readBoundedBytes } = await import("../../config.ts");
  const limit = Number.isFinite(maxBytes) ? maxBytes + 1 : Number.MAX_SAFE_INTEGER;
  return (await readBoundedBytes(stdinChunks(), limit)).bytes;
}

/**
 * The same streams, with every text written to standard error (and, with
 * `stdout: true`, to standard output) passed through the redactor first:
 * the one place where a CLI's output meets it.
 */
export function redactedIO<T extends CliIO>(io: T, options: { stdout: boolean }): T {
  return {
    ...io,
    stdout: options.stdout
      ? (text: string) => io.stdout(configApi().redactSecrets(text))
      : io.stdout,
    stderr: (text: string) => io.stderr(configApi().redactSecrets(text)),
  };
}

/** One byte array (a copy, backed by a plain ArrayBuffer) of the chunks. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((size, chunk) => size + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Runs a command's body and turns what it throws into an exit code: a usage
 * error is one line and a pointer to `--help` (exit 2); any other error is
 * one line starting `Error:` (exit 1). Both lines have their control
 * characters escaped; messages never hold a secret, and stacks and causes
 * are not printed. The library is loaded first; `library.telemetry: false`
 * leaves `@kognic/auth/telemetry` to the body ({@linkcode loadTelemetry}).
 */
export async function runMain(
  program: string,
  io: CliIO,
  body: () => Promise<number>,
  library: { telemetry?: boolean } = {},
): Promise<number> {
  let code: number;
  try {
    await loadLibrary(library);
    code = await body();
  } catch (error) {
    warnDeniedEnv(io);
    if (error instanceof UsageError) {
      io.stderr(
        `Error: ${oneLine(error.message)}\n` +
          `Run "${oneLine(error.command ?? program)} --help" for the usage.\n`,
      );
      return EXIT_USAGE;
    }
    io.stderr(`Error: ${describe(error)}\n`);
    return EXIT_ERROR;
  }
  warnDeniedEnv(io);
  return code;
}

// ---------------------------------------------------------------------------
// "Did you mean"

/**
 * The edit distance between two strings: insertions, deletions,
 * substitutions and swaps of two neighbours each count one.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[i].push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2][j - 2] + 1);
      }
      rows[i].push(best);
    }
  }
  return rows[a.length][b.length];
}

/**
 * The candidates closest to a mistyped word (ignoring case), when one is
 * close enough to be what was meant: about one typo in three letters.
 * `"; did you mean X?"`, or `""` when none is.
 */
export function didYouMean(input: string, candidates: readonly string[]): string {
  if (input.length < 2 || input.length > 100) return "";
  const limit = Math.max(1, Math.floor(input.replace(/^-+/, "").length / 3));
  let best = limit + 1;
  let closest: string[] = [];
  for (const candidate of candidates) {
    const distance = editDistance(input.toLowerCase(), candidate.toLowerCase());
    if (distance > limit) continue;
    if (distance < best) [best, closest] = [distance, [candidate]];
    else if (distance === best) closest.push(candidate);
  }
  return closest.length && closest.length <= 3 ? `; did you mean ${closest.join(" or ")}?` : "";
}

// ---------------------------------------------------------------------------
// Options

/** One option of a command. */
export interface OptionSpec {
  /** A flag (`boolean`) or an option with a value (`string`). */
  type: "string" | "boolean";
  /** A one-letter alias (`v` for `-v`). */
  short?: string;
  /** Whether it may be given more than once; its value is then the list. */
  multiple?: boolean;
  /**
   * Whether it takes every word after it up to the next option, as
   * `--scopes a b --json` (argparse's `nargs="+"`); implies `multiple`.
   */
  greedy?: boolean;
}

/** The options of a command by their long names. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The options every command has: `-v` (anywhere on the line) and `-h`. */
export const COMMON_OPTIONS: OptionTable = {
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
};

/** The help lines of {@linkcode COMMON_OPTIONS}. */
export const COMMON_HELP =
  `  -v, --verbose                Debug output on stderr (never secrets or tokens)
  -h, --help                   Show this help
`;

/** A parsed command line: option values by long name, and the other words. */
export interface ParsedArgs {
  /** Each option given: `true` for a flag, the text, or the list of a repeatable one. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The words that are not options, in order. */
  positionals: string[];
}

/**
 * Parses a command's arguments strictly: an unknown option (with the closest
 * known one), an option without its value, a value given to a flag, and
 * (unless `allowPositionals`) any other word are usage errors pointing to
 * `command`'s help.
 */
export function parseOptions(
  args: readonly string[],
  options: OptionTable,
  command: string,
  allowPositionals = false,
): ParsedArgs {
  const expanded = expandGreedy(args, options, command);
  const tokens = tokenize(expanded, options);
  const longNames = Object.keys(options).map((name) => `--${name}`);
  const values: ParsedArgs["values"] = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (!allowPositionals) {
        throw new UsageError(
          `Unexpected argument "${clip(token.value)}": ${command} takes no arguments`,
          command,
        );
      }
      positionals.push(token.value);
      continue;
    }
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!spec) {
      throw new UsageError(
        `Unknown option ${clip(token.rawName)}${
          token.rawName.startsWith("--") ? didYouMean(token.rawName, longNames) : ""
        }`,
        command,
      );
    }
    const shown = spec.short ? `-${spec.short}/--${token.name}` : `--${token.name}`;
    if (spec.type === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(`${shown} takes no value, not "${clip(token.value)}"`, command);
      }
      values[token.name] = true;
      continue;
    }
    // A word starting with "-" after an option is another option, not its value.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("-"))) {
      throw new UsageError(
        `${shown} needs a value (one that starts with "-" goes as --${token.name}=VALUE)`,
        command,
      );
    }
    if (spec.multiple || spec.greedy) {
      const list = values[token.name];
      values[token.name] = Array.isArray(list) ? [...list, token.value] : [token.value];
    } else values[token.name] = token.value;
  }
  return { values, positionals };
}

/** One word (or part of one) of a command line, as `node:util`'s `parseArgs` tokens name them. */
export type ArgToken =
  | { kind: "option-terminator" }
  | { kind: "positional"; value: string }
  | { kind: "option"; name: string; rawName: string; value?: string; inlineValue?: boolean };

/**
 * Splits a command line into tokens the way `parseArgs` of `node:util` does
 * with `strict: false` and `tokens: true` (which would load Node's layer on
 * Deno): `--` ends the options; `--name=value` has an inline value (an `=`
 * right after `--` is part of the name);
 * `--name` and `-n` of a string option take the next word, whatever it is;
 * `-abc` is a group of short options unless `-a` takes a string, which then
 * takes the rest (`-aVALUE`), as does one inside a group; a lone `-` is a
 * positional. A short letter with no option of its own keeps the letter as its name.
 */
export function tokenize(args: readonly string[], options: OptionTable): ArgToken[] {
  const tokens: ArgToken[] = [];
  const rest = [...args];
  const longName = (letter: string): string =>
    Object.keys(options).find((name) => options[name].short === letter) ?? letter;
  const takesString = (name: string): boolean =>
    Object.hasOwn(options, name) && options[name].type === "string";
  while (rest.length) {
    const arg = rest.shift()!;
    if (arg === "--") {
      tokens.push({ kind: "option-terminator" });
      for (const word of rest) tokens.push({ kind: "positional", value: word });
      break;
    }
    const short = arg.length === 2 && arg[0] === "-" && arg[1] !== "-";
    if (short || (arg.length > 2 && arg.startsWith("--") && !arg.includes("=", 3))) {
      // `-n` or `--name`: a string option takes the next word, whatever it is.
      const name = short ? longName(arg[1]) : arg.slice(2);
      const value = takesString(name) && rest.length ? rest.shift() : undefined;
      tokens.push({
        kind: "option",
        name,
        rawName: arg,
        value,
        inlineValue: value === undefined ? undefined : false,
      });
    } else if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") {
      const first = longName(arg[1]);
      if (takesString(first)) {
        tokens.push({
          kind: "option",
          name: first,
          rawName: arg.slice(0, 2),
          value: arg.slice(2),
          inlineValue: true,
        });
        continue;
      }
      // A group: each letter an option of its own, until one that takes the rest.
      const expanded: string[] = [];
      for (let index = 1; index < arg.length; index++) {
        const letter = arg[index];
        if (!takesString(longName(letter)) || index === arg.length - 1) {
          expanded.push(`-${letter}`);
        } else {
          expanded.push(`-${arg.slice(index)}`);
          break;
        }
      }
      rest.unshift(...expanded);
    } else if (arg.length > 2 && arg.startsWith("--")) {
      const at = arg.indexOf("=", 3);
      tokens.push({
        kind: "option",
        name: arg.slice(2, at),
        rawName: arg.slice(0, at),
        value: arg.slice(at + 1),
        inlineValue: true,
      });
    } else tokens.push({ kind: "positional", value: arg });
  }
  return tokens;
}

/** Turns `--scopes a b --json` into `--scopes a --scopes b --json` for greedy options. */
function expandGreedy(args: readonly string[], options: OptionTable, command: string): string[] {
  const greedy = new Set(
    Object.entries(options).filter(([, spec]) => spec.greedy).map(([name]) => `--${name}`),
  );
  if (greedy.size === 0) return [...args];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (!greedy.has(arg)) {
      out.push(arg);
      continue;
    }
    let taken = 0;
    while (i + 1 < args.length && !args[i + 1].startsWith("-")) {
      out.push(arg, args[++i]);
      taken++;
    }
    if (taken === 0) throw new UsageError(`${arg} needs at least one value`, command);
  }
  return out;
}

/**
 * A string option that, when given, must not be empty (`--env ""`).
 *
 * @throws {UsageError} `--NAME needs WHAT` for an empty value.
 */
export function nonEmpty(
  values: ParsedArgs["values"],
  name: string,
  what: string,
  command: string,
): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new UsageError(`--${name} needs ${what}`, command);
  }
  return value;
}

/**
 * A value that must be one of a list (`--format`, `--token-cache`), with the
 * closest one suggested when it is not.
 */
export function oneOf<T extends string>(
  flag: string,
  value: string,
  allowed: readonly T[],
  command: string,
): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(
    `${flag} must be one of ${allowed.join(", ")}, not "${clip(value)}"${
      didYouMean(value, allowed)
    }`,
    command,
  );
}

// ---------------------------------------------------------------------------
// The token cache flag

/** The `--token-cache` modes of a command that reads tokens. */
export const TOKEN_CACHE_MODES: readonly TokenCacheMode[] = ["auto", "keyring", "file", "none"];

/** The `--token-cache` option. */
export const TOKEN_CACHE_OPTION: OptionTable = { "token-cache": { type: "string" } };

/** The help lines of `--token-cache` for a command that reads tokens. */
export const TOKEN_CACHE_HELP =
  `  --token-cache MODE           auto (the keyring if one answers, else the file),
                               keyring, file, none, or redis://HOST:PORT[/DB]
                               (rediss:// for TLS) to share one token across
                               machines (default: $KOGNIC_TOKEN_CACHE, else auto)
`;

/**
 * The scope options of every command that requests a token, in both
 * spellings: `--scopes a b` (every word up to the next option, as the Python
 * CLI takes them) and `--scope a --scope b` (repeatable). Read them with
 * {@linkcode scopesFlag}.
 */
export const SCOPE_OPTIONS: OptionTable = {
  scopes: { type: "string", greedy: true },
  scope: { type: "string", multiple: true },
};

/** The help lines of {@linkcode SCOPE_OPTIONS}; `replaces` says what they replace. */
export function scopeHelp(replaces: string): string {
  return `  --scopes S [S ...]           Scopes to request (${replaces}); takes
                               every word up to the next option
  --scope S                    A scope to request (repeatable); the same list as
                               --scopes, and both may be mixed
`;
}

/**
 * The scopes given with `--scopes` and `--scope` together (each scope once,
 * in the order given per option), or `undefined` when neither was given.
 *
 * @throws {UsageError} For an empty scope (`--scope ""`).
 */
export function scopesFlag(values: ParsedArgs["values"], command: string): string[] | undefined {
  const lists = (["scopes", "scope"] as const).map((name) => {
    const value = values[name];
    return value === undefined ? undefined : Array.isArray(value) ? value : [String(value)];
  });
  if (!lists[0] && !lists[1]) return undefined;
  const scopes: string[] = [];
  for (const [i, list] of lists.entries()) {
    for (const scope of list ?? []) {
      if (scope.trim() === "") {
        throw new UsageError(`--${i ? "scope" : "scopes"} needs a scope`, command);
      }
      if (!scopes.includes(scope)) scopes.push(scope);
    }
  }
  return scopes;
}

/**
 * The token cache mode of a command: its `--token-cache` value, else
 * `KOGNIC_TOKEN_CACHE`, else `auto`; one of `allowed`, or a Redis URL. A
 * mistyped mode gets the closest one suggested.
 */
export function tokenCacheMode(
  values: ParsedArgs["values"],
  command: string,
  env: EnvSource | undefined,
  allowed: readonly TokenCacheMode[] = TOKEN_CACHE_MODES,
): TokenCacheMode {
  const { getEnv, parseTokenCacheMode, TOKEN_CACHE_ENV } = configApi();
  const flag = values["token-cache"];
  const fromEnv = typeof flag === "string" ? undefined : getEnv(TOKEN_CACHE_ENV, env);
  const [where, value] = typeof flag === "string"
    ? ["--token-cache", flag]
    : fromEnv
    ? [TOKEN_CACHE_ENV, fromEnv]
    : ["--token-cache", "auto"];
  if (/^rediss?:\/\//i.test(value)) return parseTokenCacheMode(value, allowed, where);
  return oneOf(where, value, allowed, command);
}

// ---------------------------------------------------------------------------
// Commands

/** What a command's `run` gets. */
export interface CommandContext {
  /** Where it reads and writes. */
  io: CliIO;
  /** Writes a debug line when `-v` was given anywhere on the line. */
  debug: (text: string) => void;
  /** The program and command, as help and usage errors name it (`kognic-auth get-access-token`). */
  command: string;
}

/**
 * One entry of a program's command table. The words of `name` are typed in
 * that order (`credentials put`); the first word of several commands forms a
 * group (`kognic-auth credentials --help` lists its commands).
 */
export interface Command {
  /** The command's words, such as `get-access-token` or `credentials put`. */
  name: string;
  /** What follows the name in the usage line, such as `FILE [options]`. */
  synopsis: string;
  /** One line for the list of commands. */
  summary: string;
  /** Its options, besides {@linkcode COMMON_OPTIONS}. */
  options: OptionTable;
  /** The help lines of its options, aligned as in {@linkcode COMMON_HELP}. */
  help: string;
  /** Whether it takes words besides its options (it checks their count itself). */
  positionals?: boolean;
  /** Runs it; returns the exit code. */
  run(args: ParsedArgs, context: CommandContext): Promise<number>;
}

/** A program made of commands: `kognic-auth`. */
export interface Program {
  /** Its name, as typed. */
  name: string;
  /** Its version, printed by `--version` (or a function that loads it). */
  version: string | (() => Promise<string>);
  /** Its commands. */
  commands: readonly Command[];
  /** Text after the options in the program's help: files, exit codes. */
  epilogue: string;
}

/** The program's whole help: every command and its options. */
export function programHelp(program: Program): string {
  return helpOf(program, program.commands, `${program.name} [-v] <command> [options]`, "") +
    "\n" + program.epilogue.trimEnd() + "\n";
}

/** One command's help: its usage line, what it does, and its options. */
export function commandHelp(program: Program, command: Command): string {
  return `Usage: ${program.name} ${command.name} ${command.synopsis}`.trimEnd() + "\n\n" +
    `${command.summary}.\n\nOptions:\n${command.help}${COMMON_HELP}`;
}

/** A group's help: its commands and their options. */
function groupHelp(program: Program, group: string, commands: readonly Command[]): string {
  const words = commands.map((command) => command.name.split(" ").at(-1)).join("|");
  return helpOf(program, commands, `${program.name} ${group} <${words}> [options]`, `${group} `);
}

/** The usage line, the list of commands, the options of each, and the common ones. */
function helpOf(
  program: Program,
  commands: readonly Command[],
  usage: string,
  group: string,
): string {
  const lines = [`Usage: ${usage}`, "", "Commands:"];
  for (const command of commands) {
    const args = command.synopsis.replace(/\s*\[options\]\s*/, " ").trim();
    const name = `${command.name} ${args}`.trimEnd();
    const gap = name.length < 29 ? name.padEnd(29) : `${name}\n${" ".repeat(31)}`;
    lines.push(`  ${gap}${command.summary}`);
  }
  lines.push("");
  for (const command of commands) {
    if (command.help) lines.push(`Options of ${command.name}:`, command.help.trimEnd(), "");
  }
  lines.push(group ? "Options of every command:" : "Global options:", COMMON_HELP.trimEnd());
  if (!group) lines.push("  --version                    Show the version");
  lines.push("", `"${program.name} ${group}COMMAND --help" shows one command's options.`, "");
  return lines.join("\n");
}

/**
 * Runs a program's command line: the global options before the command
 * (`-v`, `-h`, `--version`), the command found by its words, its options
 * parsed (`-v` and `-h` among them, anywhere), its `--help`, and usage errors
 * that point to the right help. Returns the exit code; never exits.
 */
export function runProgram(
  program: Program,
  args: readonly string[],
  io: CliIO,
): Promise<number> {
  let verbose = false;
  const debug = (text: string): void => {
    if (verbose) io.stderr(`debug: ${text}\n`);
  };
  return runMain(program.name, io, async () => {
    let rest = [...args];
    let help = false;
    let version = false;
    /** Takes the global options before (and between) the command's words. */
    const takeGlobals = (top: boolean): void => {
      while (rest.length && rest[0].startsWith("-")) {
        const flag = rest[0];
        if (flag === "-v" || flag === "--verbose") verbose = true;
        else if (flag === "-h" || flag === "--help") help = true;
        else if (flag === "--version" && top) version = true;
        else throw misplacedOption(program, flag);
        rest = rest.slice(1);
      }
    };
    takeGlobals(true);
    if (version) {
      const shown = typeof program.version === "string" ? program.version : await program.version();
      io.stdout(`${program.name} ${shown}\n`);
      return EXIT_OK;
    }
    if (rest[0] === "help") {
      rest = rest.slice(1);
      help = true;
    }
    let words: string[] = [];
    let candidates = program.commands;
    while (true) {
      const group = words.join(" ");
      const exact = words.length ? candidates.find((command) => command.name === group) : undefined;
      if (exact) {
        return await runCommand(program, exact, rest, io, debug, help, (on) => (verbose ||= on));
      }
      if (words.length) takeGlobals(false);
      const level = words.length;
      const next = [...new Set(candidates.map((command) => command.name.split(" ")[level]))];
      const where = group ? `${program.name} ${group}` : program.name;
      const word = rest[0];
      if (word === undefined) {
        if (!help) {
          throw new UsageError(
            group ? `${group} needs ${orList(next)}` : "No command given",
            where,
          );
        }
        io.stdout(group ? groupHelp(program, group, candidates) : programHelp(program));
        return EXIT_OK;
      }
      if (!next.includes(word)) {
        throw new UsageError(
          `Unknown ${group ? `${group} ` : ""}command "${clip(word)}"${
            didYouMean(word, next) || `; expected ${orList(next)}`
          }`,
          where,
        );
      }
      words = [...words, word];
      rest = rest.slice(1);
      candidates = candidates.filter((command) => command.name.split(" ")[level] === word);
    }
    // The telemetry (event lines) is loaded by runCommand, only with -v.
  }, { telemetry: false });
}

/** The usage error of an option before the command that is not a global one. */
function misplacedOption(program: Program, flag: string): UsageError {
  if (flag === "--version") return new UsageError(`--version goes right after ${program.name}`);
  const name = flag.replace(/^--?/, "").replace(/=.*$/, "");
  const owners = program.commands.filter((command) => Object.hasOwn(command.options, name));
  if (owners.length) {
    return new UsageError(
      `${clip(flag)} is an option of ${orList(owners.map((command) => command.name))}: ` +
        `put it after the command`,
    );
  }
  return new UsageError(
    `Unknown option ${clip(flag)}${didYouMean(flag, ["--verbose", "--help", "--version"])}`,
  );
}

/** Parses a command's options and runs it, or prints its help. */
async function runCommand(
  program: Program,
  command: Command,
  args: readonly string[],
  io: CliIO,
  debug: (text: string) => void,
  help: boolean,
  setVerbose: (on: boolean) => boolean,
): Promise<number> {
  const name = `${program.name} ${command.name}`;
  const parsed = parseOptions(
    args,
    { ...command.options, ...COMMON_OPTIONS },
    name,
    command.positionals,
  );
  const verbose = setVerbose(parsed.values.verbose === true);
  if (help || parsed.values.help) {
    io.stdout(commandHelp(program, command));
    return EXIT_OK;
  }
  // The session events' -v lines are described by @kognic/auth/telemetry,
  // which a run without -v (the warm token of a headers helper) never loads.
  if (verbose) await loadTelemetry();
  try {
    return await command.run(parsed, { io, debug, command: name });
  } catch (error) {
    if (error instanceof UsageError && error.command === undefined) {
      throw new UsageError(error.message, name);
    }
    throw error;
  }
}

/** At most this many characters of a word from the command line are repeated in a message. */
const CLIPPED = 80;

/** A word from the command line as a message repeats it: at most {@linkcode CLIPPED} characters. */
export function clip(word: string): string {
  return word.length > CLIPPED ? `${word.slice(0, CLIPPED)}...` : word;
}

/** `put, get or delete`. */
function orList(words: readonly string[]): string {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

/**
 * The process a command runs in, reached through `Deno.*` on Deno and through
 * `process` elsewhere: its arguments, its standard output and error, its exit
 * code, and the exit codes themselves. Nothing here imports `node:`: on Deno,
 * importing any `node:` module (or reading `globalThis.process`) starts the
 * Node compatibility layer, which costs a short command more than the
 * command itself. Loaded by `cli.ts` before anything else, so `--version`
 * needs nothing more.
 *
 * @module
 */

/** Exit code: success (for `kog`, a 2xx response). */
export const EXIT_OK = 0;
/**
 * Exit code: an error, such as missing credentials, a refused token request,
 * unusable input or (for `kog`) an HTTP error.
 */
export const EXIT_ERROR = 1;
/** Exit code: the command line could not be understood. */
export const EXIT_USAGE = 2;
/**
 * The exit code when standard output is closed before the command is done
 * (the reader of a pipe left, as `head` does): 141, which is 128 + SIGPIPE,
 * as a shell reports a command ended by a closed pipe. The command ends at
 * once and silently.
 */
export const EXIT_CLOSED_STDOUT = 141;

/** Whether `error` says that the other end of a pipe was closed. */
export function isClosedPipe(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED" || name === "BrokenPipe";
}

interface DenoWriter {
  write(bytes: Uint8Array): Promise<number>;
}

interface DenoLike {
  args: string[];
  exitCode: number;
  stdin: { readable: AsyncIterable<Uint8Array> };
  stdout: DenoWriter;
  stderr: DenoWriter;
  build: { os: string };
  exit(code: number): never;
}

interface NodeStream {
  write(text: string): unknown;
  on(event: "error", listener: (error: unknown) => void): unknown;
  once(event: string, listener: (value: unknown) => void): unknown;
  writableLength?: number;
}

interface ProcessLike {
  argv: string[];
  exitCode?: number;
  platform: string;
  stdin: AsyncIterable<Uint8Array | string>;
  stdout: NodeStream;
  stderr: NodeStream;
  exit(code: number): never;
}

/** Deno's namespace, when this is Deno. */
function deno(): DenoLike | undefined {
  return (globalThis as { Deno?: DenoLike }).Deno;
}

/** Node's (or Bun's) `process`; read only where there is no `Deno`. */
function nodeProcess(): ProcessLike {
  return (globalThis as unknown as { process: ProcessLike }).process;
}

/** The command line's arguments after the program (and script) name. */
export function processArgs(): string[] {
  const d = deno();
  return d ? [...d.args] : nodeProcess().argv.slice(2);
}

/** Sets the exit code the process ends with, without ending it. */
export function setExitCode(code: number): void {
  const d = deno();
  if (d) d.exitCode = code;
  else nodeProcess().exitCode = code;
}

/** The operating system: `linux`, `darwin`, `windows` (Deno) or `win32` (Node.js), ... */
export function platform(): string {
  const d = deno();
  return d ? d.build.os : (nodeProcess()?.platform ?? "unknown");
}

/** Ends the process silently with {@linkcode EXIT_CLOSED_STDOUT}. */
function closedStdout(): never {
  const d = deno();
  return d ? d.exit(EXIT_CLOSED_STDOUT) : nodeProcess().exit(EXIT_CLOSED_STDOUT);
}

/**
 * A writer of text to standard output or error. A closed standard output
 * ends the process at once, silently, with {@linkcode EXIT_CLOSED_STDOUT},
 * however the runtime reports it (an `error` event on Node.js and Bun, a
 * rejected write on Deno), never as an uncaught EPIPE with a stack; any
 * other failure to write standard output stays an uncaught error. A failed
 * write to standard error is dropped: there is nowhere left to say anything.
 *
 * On Deno the writes are queued in order on the stream itself; the process
 * does not end before the queue is written.
 */
function writer(stream: "stdout" | "stderr"): (text: string) => void {
  const fail = (error: unknown): void => {
    if (stream === "stderr") return;
    if (isClosedPipe(error)) closedStdout();
    throw error;
  };
  const d = deno();
  if (!d) {
    const target = nodeProcess()[stream];
    target.on("error", fail);
    return (text) => {
      try {
        target.write(text);
      } catch (error) {
        fail(error);
      }
    };
  }
  const output = d[stream];
  const encoder = new TextEncoder();
  let tail = Promise.resolve();
  written.push(() => tail);
  const writeAll = async (bytes: Uint8Array): Promise<void> => {
    let offset = 0;
    while (offset < bytes.length) offset += await output.write(bytes.subarray(offset));
  };
  return (text) => {
    const bytes = encoder.encode(text);
    tail = tail.then(() => writeAll(bytes)).catch(fail);
  };
}

/** The process's standard input, as chunks. */
export function stdinChunks(): AsyncIterable<Uint8Array | string> {
  const d = deno();
  return d ? d.stdin.readable : nodeProcess().stdin;
}

/** On Deno, each writer's queue of writes, to wait for before the process ends. */
const written: (() => Promise<void>)[] = [];

/**
 * Ends the process with `code` once what the command wrote to standard output
 * and error has been handed to the system: nothing a finished command left
 * behind (a file operation that never returns, a timer, a socket) keeps the
 * process running or spending CPU.
 */
export function finish(code: number): void {
  const d = deno();
  if (d) {
    d.exitCode = code;
    Promise.all(written.map((tail) => tail())).then(() => d.exit(code), () => d.exit(code));
    return;
  }
  const p = nodeProcess();
  p.exitCode = code;
  // Once both streams have handed over what they hold, the process ends by
  // itself when nothing is left; what would keep it running gets a second.
  // A write that fails on a closed pipe ends it first, with its own code.
  const flushed = (stream: NodeStream): Promise<unknown> =>
    new Promise((resolve) => {
      if (!stream.writableLength) return resolve(undefined);
      for (const event of ["drain", "error", "close"]) stream.once(event, resolve);
    });
  Promise.all([flushed(p.stdout), flushed(p.stderr)]).then(() => {
    (setTimeout(() => p.exit(code), 1000) as { unref?: () => void }).unref?.();
  });
}

let stdoutWriter: ((text: string) => void) | undefined;
let stderrWriter: ((text: string) => void) | undefined;

/** Writes `text` to standard output. */
export function writeStdout(text: string): void {
  (stdoutWriter ??= writer("stdout"))(text);
}

/** Writes `text` to standard error. */
export function writeStderr(text: string): void {
  (stderrWriter ??= writer("stderr"))(text);
}

/** The global options that may come with `--version`, which wins over them. */
export const VERSION_COMPANIONS: ReadonlySet<string> = new Set([
  "-v",
  "--verbose",
  "-h",
  "--help",
  "--version",
]);

/**
 * Whether the arguments ask for the version alone: `--version`, with at most
 * `-v` and `-h` around it, before any command (as the full parser reads them).
 */
export function asksVersion(args: readonly string[]): boolean {
  return args.includes("--version") && args.every((arg) => VERSION_COMPANIONS.has(arg));
}

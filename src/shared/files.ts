/**
 * The one way to read a file the user points at, on Deno, Node and Bun, and to tell "not found".
 *
 * @module
 */

/** The most a file read with {@linkcode readTextFile} may hold by default: 1 MiB. */
export const MAX_FILE_BYTES = 1024 * 1024;

/** Options of {@linkcode readFileBytes} and {@linkcode readTextFile}. */
export interface ReadFileOptions {
  /** The most the file may hold, in bytes. @default {MAX_FILE_BYTES} */
  maxBytes?: number;
}

/** A file refused: not a regular file, or too large. The message omits the path, for the caller to name. */
export class FileRefusedError extends Error {
  /** Creates the error; `message` says what is wrong with the file. */
  constructor(message: string) {
    super(message);
    this.name = "FileRefusedError";
  }
}

/** The `code` of a Node-style system error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Whether `error` says a file does not exist (or a parent is not a
 * directory), on Deno, Node and Bun alike.
 *
 * @param error What a file operation threw.
 * @returns Whether the file is missing.
 */
export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOENT" || code === "ENOTDIR" || (error as Error | null)?.name === "NotFound";
}

/**
 * Makes a folder and its missing parents with `mode`, one level at a time:
 * Node's `mkdir(..., { recursive: true })` never returns for some paths (one
 * under /proc), which would keep the process running after its answer.
 *
 * @param path The folder.
 * @param mode The mode of each folder made.
 * @throws {Error} The runtime's error when a level cannot be made.
 */
export async function makeDirectory(path: string, mode = 0o700): Promise<void> {
  const fs = await import("node:fs/promises");
  const { dirname, resolve } = await import("node:path");
  const missing: string[] = [];
  for (let dir = resolve(path); !(await fs.stat(dir).catch(() => undefined)); dir = dirname(dir)) {
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    await fs.mkdir(dir, { mode }).catch((error) => {
      if (errorCode(error) !== "EEXIST" && (error as Error)?.name !== "AlreadyExists") throw error;
    });
  }
}

/**
 * Reads a whole file, refusing before a byte is read what is not a regular
 * file (a FIFO never blocks, a device is never read) or is over `maxBytes`,
 * and one that grows past it while read. Symbolic links are followed.
 *
 * @param path The file's path.
 * @param options The most the file may hold.
 * @returns The bytes, or `undefined` when the file (or a parent directory) does not exist.
 * @throws {FileRefusedError} For a file that is not regular or is too large.
 * @throws {Error} The runtime's error for other failures, such as a permission denied.
 */
export async function readFileBytes(
  path: string,
  options: ReadFileOptions = {},
): Promise<Uint8Array | undefined> {
  const maxBytes = options.maxBytes ?? MAX_FILE_BYTES;
  const deno = (globalThis as { Deno?: DenoFiles }).Deno;
  if (deno) return await readWithDeno(deno, path, maxBytes);
  const fs = await import("node:fs/promises");
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  try {
    checkFile(await fs.stat(path), maxBytes);
    // Non-blocking, in case a FIFO took the file's place since the stat.
    handle = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    return await readOpenFile(handle, maxBytes);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** The part of Deno's namespace that reading a file needs. */
interface DenoFiles {
  stat(path: string): Promise<DenoFileInfo>;
  open(path: string, options: { read: true }): Promise<{
    stat(): Promise<DenoFileInfo>;
    read(buffer: Uint8Array): Promise<number | null>;
    close(): void;
  }>;
}

interface DenoFileInfo {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isFifo: boolean | null;
  isCharDevice: boolean | null;
  isBlockDevice: boolean | null;
  isSocket: boolean | null;
}

/** Deno's file information in the shape {@linkcode checkFile} reads. */
function denoInfo(info: DenoFileInfo): FileInfo {
  return {
    size: info.size,
    isFile: () => info.isFile,
    isDirectory: () => info.isDirectory,
    isFIFO: () => info.isFifo === true,
    isCharacterDevice: () => info.isCharDevice === true,
    isBlockDevice: () => info.isBlockDevice === true,
    isSocket: () => info.isSocket === true,
  };
}

/**
 * {@linkcode readFileBytes} through `Deno.*` (`node:fs` would start Deno's
 * costly Node layer), with the same checks before and after the open. Deno
 * cannot open without blocking: a FIFO swapped in after the check would hold it.
 */
async function readWithDeno(
  deno: DenoFiles,
  path: string,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  let file: Awaited<ReturnType<DenoFiles["open"]>> | undefined;
  try {
    checkFile(denoInfo(await deno.stat(path)), maxBytes);
    file = await deno.open(path, { read: true });
    checkFile(denoInfo(await file.stat()), maxBytes);
    return await readChunks((chunk) => file!.read(chunk), maxBytes);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  } finally {
    try {
      file?.close();
    } catch {
      // Already closed.
    }
  }
}

/** Reads until `read` gives nothing, refusing more than `maxBytes` (one byte more tells a file that grew). */
async function readChunks(
  read: (chunk: Uint8Array, position: number) => Promise<number | null>,
  maxBytes: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  for (;;) {
    const chunk = new Uint8Array(Math.min(maxBytes + 1 - total, 64 * 1024));
    const count = await read(chunk, total);
    if (!count) break;
    total += count;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk.subarray(0, count));
  }
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

/**
 * Reads an open file whole, from its start, with the checks of {@linkcode readFileBytes}.
 *
 * @param handle The open file.
 * @param maxBytes The most it may hold.
 * @returns The bytes.
 * @throws {FileRefusedError} For a file that is not regular or is too large.
 */
export async function readOpenFile(
  handle: import("node:fs/promises").FileHandle,
  maxBytes: number,
): Promise<Uint8Array> {
  checkFile(await handle.stat(), maxBytes);
  return await readChunks(
    async (chunk, at) => (await handle.read(chunk, 0, chunk.length, at)).bytesRead,
    maxBytes,
  );
}

/**
 * Reads a whole file as UTF-8 text (a byte-order mark is kept, as
 * `readFile(path, "utf8")` keeps it), with the checks of {@linkcode readFileBytes}.
 *
 * @param path The file's path.
 * @param options The most the file may hold. @default {{ maxBytes: MAX_FILE_BYTES }}
 * @returns The text, or `undefined` when the file (or a parent directory) does not exist.
 * @throws {FileRefusedError} For a file that is not regular or is too large.
 * @throws {Error} The runtime's error for other failures, such as a permission denied.
 */
export async function readTextFile(
  path: string,
  options?: ReadFileOptions,
): Promise<string | undefined> {
  const bytes = await readFileBytes(path, options);
  return bytes && new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

interface FileInfo {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

function checkFile(info: FileInfo, maxBytes: number): void {
  if (!info.isFile()) {
    const kind = info.isDirectory()
      ? "a directory"
      : info.isFIFO()
      ? "a FIFO"
      : info.isCharacterDevice() || info.isBlockDevice()
      ? "a device"
      : info.isSocket()
      ? "a socket"
      : "not a file";
    throw new FileRefusedError(`it is not a regular file (${kind})`);
  }
  if (info.size > maxBytes) throw tooLarge(maxBytes);
}

function tooLarge(maxBytes: number): FileRefusedError {
  const limit = maxBytes % (1024 * 1024) === 0
    ? `${maxBytes / (1024 * 1024)} MiB`
    : `${maxBytes} bytes`;
  return new FileRefusedError(`it is larger than ${limit}`);
}

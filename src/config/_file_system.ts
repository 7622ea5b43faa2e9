// The file operations under the token file and its lock files: through `Deno.*` where `Deno` is
// present (any `node:` module starts Deno's Node layer, tens of ms of a cold command), through
// node:fs elsewhere. The logic above this seam (the atomic replace, the lock, stale locks) is
// written once; each operation here keeps the semantics of its node:fs form.

import { FileRefusedError, readDenoFile, readOpenFile } from "../shared/files.ts";

/** What the lock and the leftover sweep read of a file's status. */
export interface FileStatus {
  /** Last modification, ms since the epoch. */
  mtimeMs: number;
  /** The inode number; 0 where the runtime does not give one. */
  ino: number;
}

/** A file open for reading that may be read whole again, from its start, while open. */
export interface ReadableFile {
  /** The whole file; refuses one that is not regular or holds more than `maxBytes`. */
  read(maxBytes: number): Promise<Uint8Array>;
  /** Closes it; never throws. */
  close(): Promise<void>;
}

/** The operations; every one rejects with the runtime's error (its `code` such as `ENOENT`). */
export interface FileSystem {
  /** This process's id. */
  pid: number;
  /**
   * Opens a file to read without ever blocking on it: a FIFO or another
   * file that is not regular is refused (on Node.js opened without blocking
   * and refused at the read; on Deno, which cannot open without blocking,
   * refused with a FileRefusedError before the open).
   */
  openRead(path: string): Promise<ReadableFile>;
  /**
   * Creates `path` only if it does not exist, with mode 0600 (less the
   * umask), writes `text` and, with `sync`, flushes it to disk. A failure to
   * create rejects with nothing removed; a failure after removes the file.
   */
  createExclusive(path: string, text: string, options?: { sync?: boolean }): Promise<void>;
  /** A small file's whole text (a lock file). */
  readText(path: string): Promise<string>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  stat(path: string): Promise<FileStatus>;
  /** Sets a file's access and modification times to now. */
  touch(path: string): Promise<void>;
  /** The names in a folder. */
  readdir(path: string): Promise<string[]>;
  /** Makes one folder with `mode`; its parent must exist. */
  mkdir(path: string, mode: number): Promise<void>;
  /** The folder of a path, as node:path's `dirname`. */
  dirname(path: string): string;
  /** The last part of a path, as node:path's `basename`. */
  basename(path: string): string;
  /** `name` in the folder `directory`. */
  join(directory: string, name: string): string;
  /** The absolute form of a path. */
  resolve(path: string): string;
}

let chosen: Promise<FileSystem> | undefined;

/** The runtime's file operations (chosen once). */
export function fileSystem(): Promise<FileSystem> {
  const deno = (globalThis as { Deno?: DenoFileSystem }).Deno;
  chosen ??= deno ? Promise.resolve(denoFileSystem(deno)) : nodeFileSystem();
  return chosen;
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
  const fs = await fileSystem();
  const missing: string[] = [];
  for (let dir = fs.resolve(path); !(await fs.stat(dir).catch(() => undefined));) {
    missing.unshift(dir);
    const parent = fs.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const dir of missing) {
    await fs.mkdir(dir, mode).catch((error) => {
      const code = (error as { code?: unknown } | null)?.code;
      if (code !== "EEXIST" && (error as Error)?.name !== "AlreadyExists") throw error;
    });
  }
}

/** The part of Deno's namespace used here. */
interface DenoFileSystem {
  pid: number;
  build: { os: string };
  cwd(): string;
  open(path: string, options: {
    read?: boolean;
    write?: boolean;
    createNew?: boolean;
    mode?: number;
  }): Promise<DenoFile>;
  stat(path: string): Promise<DenoStatus>;
  readTextFile(path: string): Promise<string>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, path: string): Promise<void>;
  remove(path: string): Promise<void>;
  utime(path: string, atime: Date, mtime: Date): Promise<void>;
  readDir(path: string): AsyncIterable<{ name: string }>;
  mkdir(path: string, options: { mode: number }): Promise<void>;
}

interface DenoFile {
  stat(): Promise<DenoStatus>;
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  seek(offset: number, whence: 0): Promise<number>;
  sync(): Promise<void>;
  close(): void;
}

interface DenoStatus {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isFifo: boolean | null;
  isCharDevice: boolean | null;
  isBlockDevice: boolean | null;
  isSocket: boolean | null;
  mtime: Date | null;
  ino: number | null;
}

/** Closes a Deno file, ignoring one already closed. */
function closeQuietly(file: DenoFile): void {
  try {
    file.close();
  } catch {
    // Already closed.
  }
}

function denoFileSystem(deno: DenoFileSystem): FileSystem {
  const windows = deno.build.os === "windows";
  const separators = windows ? /[\\/]+$/ : /\/+$/;
  const lastSeparator = (path: string): number =>
    windows ? Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) : path.lastIndexOf("/");
  const isAbsolute = (path: string): boolean =>
    windows ? /^([a-zA-Z]:)?[\\/]/.test(path) : path.startsWith("/");
  const system: FileSystem = {
    pid: deno.pid,
    async openRead(path) {
      const status = await deno.stat(path);
      if (!status.isFile) throw new FileRefusedError("it is not a regular file");
      const file = await deno.open(path, { read: true });
      return {
        read: (maxBytes) => readDenoFile(file, maxBytes),
        close: () => Promise.resolve(closeQuietly(file)),
      };
    },
    async createExclusive(path, text, options) {
      const file = await deno.open(path, { write: true, createNew: true, mode: 0o600 });
      try {
        const bytes = new TextEncoder().encode(text);
        for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
        if (options?.sync) await file.sync();
      } catch (error) {
        closeQuietly(file);
        await deno.remove(path).catch(() => {});
        throw error;
      }
      closeQuietly(file);
    },
    readText: (path) => deno.readTextFile(path),
    rename: (from, to) => deno.rename(from, to),
    link: (existing, path) => deno.link(existing, path),
    unlink: (path) => deno.remove(path),
    async stat(path) {
      const status = await deno.stat(path);
      return { mtimeMs: status.mtime?.getTime() ?? 0, ino: status.ino ?? 0 };
    },
    touch(path) {
      const now = new Date();
      return deno.utime(path, now, now);
    },
    async readdir(path) {
      const names: string[] = [];
      for await (const entry of deno.readDir(path)) names.push(entry.name);
      return names;
    },
    mkdir: (path, mode) => deno.mkdir(path, { mode }),
    dirname(path) {
      const trimmed = path.replace(separators, "") || path.slice(0, 1);
      const at = lastSeparator(trimmed);
      if (at < 0) return windows && /^[a-zA-Z]:/.test(trimmed) ? trimmed.slice(0, 2) : ".";
      const parent = trimmed.slice(0, at).replace(separators, "");
      if (parent === "" || (windows && /^[a-zA-Z]:$/.test(parent))) {
        return trimmed.slice(0, at + 1);
      }
      return parent;
    },
    basename(path) {
      const trimmed = path.replace(separators, "");
      return trimmed.slice(lastSeparator(trimmed) + 1);
    },
    join: (directory, name) =>
      lastSeparator(directory) === directory.length - 1
        ? `${directory}${name}`
        : `${directory}${windows ? "\\" : "/"}${name}`,
    resolve: (path) => isAbsolute(path) ? path : system.join(deno.cwd(), path),
  };
  return system;
}

async function nodeFileSystem(): Promise<FileSystem> {
  const [fs, path, process] = await Promise.all([
    import("node:fs/promises"),
    import("node:path"),
    import("node:process"),
  ]);
  return {
    pid: process.pid,
    async openRead(file) {
      // Non-blocking: a FIFO is opened at once, and refused at the read.
      const handle = await fs.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
      return {
        read: (maxBytes) => readOpenFile(handle, maxBytes),
        close: () => handle.close().catch(() => {}),
      };
    },
    async createExclusive(file, text, options) {
      const handle = await fs.open(file, "wx", 0o600);
      try {
        await handle.writeFile(text, "utf8");
        if (options?.sync) await handle.sync();
      } catch (error) {
        await handle.close().catch(() => {});
        await fs.unlink(file).catch(() => {});
        throw error;
      }
      await handle.close();
    },
    readText: (file) => fs.readFile(file, "utf8"),
    rename: (from, to) => fs.rename(from, to),
    link: (existing, file) => fs.link(existing, file),
    unlink: (file) => fs.unlink(file),
    async stat(file) {
      const status = await fs.stat(file);
      return { mtimeMs: status.mtimeMs, ino: status.ino };
    },
    touch(file) {
      const now = new Date();
      return fs.utimes(file, now, now);
    },
    readdir: (directory) => fs.readdir(directory),
    mkdir: async (directory, mode) => void await fs.mkdir(directory, { mode }),
    dirname: (file) => path.dirname(file),
    basename: (file) => path.basename(file),
    join: (directory, name) => path.join(directory, name),
    resolve: (file) => path.resolve(file),
  };
}

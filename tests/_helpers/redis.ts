// A real redis-server on 127.0.0.1 for the Redis token cache's tests and the
// benchmark: a free port, no persistence (no RDB, no AOF), its directory
// removed when stopped. scripts/with_redis.sh installs redis-server when it is
// missing; where it is not on PATH, `redisServerMissing()` says why to skip.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Why the Redis tests cannot run here, or `undefined` when redis-server is on PATH. */
export function redisServerMissing(): string | undefined {
  try {
    const found = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
    if (found.status === 0) return undefined;
  } catch {
    // Not there.
  }
  return "needs redis-server on PATH: run under scripts/with_redis.sh, which installs it";
}

/** A running redis-server. */
export interface RedisServer extends AsyncDisposable {
  readonly port: number;
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  /** Stops the server (its data is gone: nothing is persisted). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Pauses (SIGSTOP) or resumes (SIGCONT) the server, to make it slow. */
  pause(paused: boolean): void;
}

// Stop and continue go through process.kill: Deno's ChildProcess.kill takes
// any signal it sends for the end of the process, and sends nothing after it.
function signal(child: ChildProcess, name: "SIGSTOP" | "SIGCONT"): void {
  try {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, name);
  } catch {
    // Gone already.
  }
}

function resume(child: ChildProcess): void {
  signal(child, "SIGCONT");
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(String(data).startsWith("+PONG")));
    socket.on("error", () => done(false));
  });
}

/** Starts redis-server on a free port of 127.0.0.1. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), "kognic-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
    ], { stdio: "ignore" });
    const started = child;
    for (let tries = 0; tries < 100; tries++) {
      if (started.exitCode !== null) throw new Error(`redis-server exited (${started.exitCode})`);
      if (await answersPing(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    resume(running);
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    pause(paused: boolean): void {
      if (!child) return;
      if (paused) signal(child, "SIGSTOP");
      else resume(child);
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

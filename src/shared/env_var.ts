// Apart from env.ts for browsers: its home paths load node:os, this must load anywhere.
// Environment variables, read without importing anything.

/** A source of environment variables: a plain record, or the process's own. */
export type EnvSource = Readonly<Record<string, string | undefined>>;

/** Options of the functions that read environment variables: where to read them. */
export interface EnvOptions {
  /** Environment variables to read instead of the process's. @default {the process's} */
  env?: EnvSource;
}

interface DenoEnvLike {
  env: { get(name: string): string | undefined; toObject(): Record<string, string> };
}
interface ProcessLike {
  env: Record<string, string | undefined>;
}

/**
 * Reads one environment variable, from `env` when given, else from the
 * process (Deno, Node, Bun). Returns `undefined` where there is no process
 * environment (browsers, most edge runtimes).
 *
 * @param name The variable's name.
 * @param env Where to read it; the process's environment when not given.
 * @returns The value, or `undefined` when it is not set.
 * @throws {Error} Deno's `NotCapable` without env permission for `name`.
 *
 * @example
 * ```ts
 * import { getEnv } from "@kognic/auth/config";
 *
 * console.log(getEnv("KOGNIC_CLIENT_ID", { KOGNIC_CLIENT_ID: "my-client" })); // "my-client"
 * ```
 */
export function getEnv(name: string, env?: EnvSource): string | undefined {
  if (env) return env[name];
  const deno = (globalThis as { Deno?: DenoEnvLike }).Deno;
  if (deno?.env) return deno.env.get(name);
  const process = (globalThis as { process?: ProcessLike }).process;
  return process?.env?.[name];
}

/** {@linkcode getEnv} for settings read unasked: `undefined` where reading would throw or prompt. */
export function peekEnv(name: string, env?: EnvSource): string | undefined {
  if (env) return env[name];
  const deno = (globalThis as { Deno?: DenoPermissionsLike }).Deno;
  if (deno && deno.permissions?.querySync?.({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  try {
    return getEnv(name);
  } catch {
    return undefined;
  }
}

interface DenoPermissionsLike {
  permissions?: {
    querySync?: (descriptor: { name: "env"; variable: string }) => { state: string };
  };
}

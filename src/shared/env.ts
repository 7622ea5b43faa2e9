// Environment variables and home-directory paths, reached without importing
// anything at module load: the core must import on any runtime, browsers and
// edge workers included, and touch the environment only when asked to.

/** A source of environment variables: a plain record, or the process's own. */
export type EnvSource = Readonly<Record<string, string | undefined>>;

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
 */
export function getEnv(name: string, env?: EnvSource): string | undefined {
  if (env) return env[name];
  const deno = (globalThis as { Deno?: DenoEnvLike }).Deno;
  if (deno?.env) return deno.env.get(name);
  const process = (globalThis as { process?: ProcessLike }).process;
  return process?.env?.[name];
}

/** The user's home directory: `HOME`, then `USERPROFILE`, then `node:os`. */
export async function homeDir(env?: EnvSource): Promise<string> {
  const fromEnv = getEnv("HOME", env) || getEnv("USERPROFILE", env);
  if (fromEnv) return fromEnv;
  const os = await import("node:os");
  return os.homedir();
}

/** Expands a leading `~` or `~/` to the home directory; other paths are returned as they are. */
export async function expandHome(path: string, env?: EnvSource): Promise<string> {
  if (path !== "~" && !path.startsWith("~/") && !path.startsWith("~\\")) return path;
  const home = await homeDir(env);
  return home.replace(/[\\/]+$/, "") + path.slice(1);
}

/**
 * An XDG base directory: `$XDG_CONFIG_HOME` or `~/.config` for `"config"`,
 * `$XDG_CACHE_HOME` or `~/.cache` for `"cache"`. A relative XDG value is
 * ignored, as the XDG specification says.
 */
export async function xdgDir(kind: "config" | "cache", env?: EnvSource): Promise<string> {
  const value = getEnv(kind === "config" ? "XDG_CONFIG_HOME" : "XDG_CACHE_HOME", env);
  if (value && (value.startsWith("/") || /^[A-Za-z]:[\\/]/.test(value))) {
    return value.replace(/[\\/]+$/, "");
  }
  const home = (await homeDir(env)).replace(/[\\/]+$/, "");
  return `${home}/${kind === "config" ? ".config" : ".cache"}`;
}

/**
 * Like {@linkcode getEnv}, for optional settings read without being asked:
 * `undefined` where reading would throw or, on Deno, prompt (no env
 * permission for `name`).
 */
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

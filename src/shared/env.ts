// Home-directory paths, importing nothing at load: the core imports on any runtime.

export { type EnvOptions, type EnvSource, getEnv, peekEnv } from "./env_var.ts";
import { type EnvSource, getEnv } from "./env_var.ts";

/** The user's home directory: `HOME`, then `USERPROFILE`, then `node:os`. */
export async function homeDir(env?: EnvSource): Promise<string> {
  const fromEnv = getEnv("HOME", env) || getEnv("USERPROFILE", env);
  if (fromEnv) return fromEnv;
  const os = await import("node:os");
  return os.homedir();
}

/**
 * Expands a leading `~` or `~/` to the home directory (`HOME`, then
 * `USERPROFILE`, then the operating system's); other paths are returned as
 * they are.
 *
 * @param path A path as a user wrote it.
 * @param env Where `HOME` is read; the process's environment when not given.
 * @returns The path.
 *
 * @example
 * ```ts
 * import { expandHome } from "@kognic/auth/config";
 *
 * console.log(await expandHome("~/.config/kognic", { HOME: "/home/me" })); // "/home/me/.config/kognic"
 * ```
 */
export async function expandHome(path: string, env?: EnvSource): Promise<string> {
  if (path !== "~" && !path.startsWith("~/") && !path.startsWith("~\\")) return path;
  const home = await homeDir(env);
  return home.replace(/[\\/]+$/, "") + path.slice(1);
}

/** An XDG base directory (`$XDG_CONFIG_HOME` or `~/.config`, likewise cache); a relative value is ignored. */
export async function xdgDir(kind: "config" | "cache", env?: EnvSource): Promise<string> {
  const value = getEnv(kind === "config" ? "XDG_CONFIG_HOME" : "XDG_CACHE_HOME", env);
  if (value && (value.startsWith("/") || /^[A-Za-z]:[\\/]/.test(value))) {
    return value.replace(/[\\/]+$/, "");
  }
  const home = (await homeDir(env)).replace(/[\\/]+$/, "");
  return `${home}/${kind === "config" ? ".config" : ".cache"}`;
}

// The optional packages, imported by a specifier built at run time: a literal
// one would make Deno resolve the package and its dependencies on every start.
// On Deno it is deno.json's `npm:` specifier; Node and Bun resolve the bare name.

/** The name of an optional package. */
export type OptionalPeer =
  | "@napi-rs/keyring"
  | "undici"
  | "@opentelemetry/api"
  | "redis"
  | "@modelcontextprotocol/client"
  | "@modelcontextprotocol/server";

/** The optional packages, with the `npm:` specifier deno.json's imports give each. */
export const OPTIONAL_PEERS: Readonly<Record<OptionalPeer, string>> = {
  "@napi-rs/keyring": "npm:@napi-rs/keyring@^2.1.2",
  undici: "npm:undici@^7.10.0",
  "@opentelemetry/api": "npm:@opentelemetry/api@1.9.0",
  redis: "npm:redis@6.3.1",
  "@modelcontextprotocol/client": "npm:@modelcontextprotocol/client@2.4.0",
  "@modelcontextprotocol/server": "npm:@modelcontextprotocol/server@2.4.0",
};

/**
 * Imports an optional package, or a module of it (`subpath` such as
 * `"/server/stdio.js"`). Rejects as a failed `import()` does when the package
 * is missing; on Deno the bare name is tried after the `npm:` specifier (it is
 * what an import map or the npm build under Deno resolves), and the first
 * error is the one reported.
 *
 * Public as `importOptionalPeer` in `@kognic/auth/config`.
 *
 * @param name The optional package.
 * @param subpath A module of the package, such as `"/stdio"`; the package's main module when empty.
 * @returns The module.
 * @throws {unknown} What `import()` throws when the package is missing or fails to load.
 *
 * @example
 * ```ts ignore
 * import { importOptionalPeer } from "@kognic/auth/config";
 *
 * const { trace } = await importOptionalPeer<typeof import("@opentelemetry/api")>("@opentelemetry/api");
 * ```
 */
export async function importOptionalPeer<T = Record<string, unknown>>(
  name: OptionalPeer,
  subpath = "",
): Promise<T> {
  const bare = `${name}${subpath}`;
  if (!("Deno" in globalThis)) return await import(bare);
  try {
    return await import(`${OPTIONAL_PEERS[name]}${subpath}`);
  } catch (error) {
    try {
      return await import(bare);
    } catch {
      throw error;
    }
  }
}

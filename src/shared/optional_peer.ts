// The optional packages, imported by a specifier built at run time: a literal
// one would make Deno resolve the package and its dependencies on every start.
// On Deno it is deno.json's `npm:` specifier; Node and Bun resolve the bare name.

/** The optional packages, with the `npm:` specifier deno.json's imports give each. */
export const OPTIONAL_PEERS = {
  "@napi-rs/keyring": "npm:@napi-rs/keyring@^2.1.2",
  undici: "npm:undici@^7.10.0",
  "@opentelemetry/api": "npm:@opentelemetry/api@1.9.0",
  redis: "npm:redis@6.3.1",
  "@modelcontextprotocol/client": "npm:@modelcontextprotocol/client@2.4.0",
  "@modelcontextprotocol/server": "npm:@modelcontextprotocol/server@2.4.0",
} as const;

/** The name of an optional package. */
export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

/**
 * Imports an optional package, or a module of it (`subpath` such as
 * `"/server/stdio.js"`). Rejects as a failed `import()` does when the package
 * is missing; on Deno the bare name is tried after the `npm:` specifier (it is
 * what an import map or the npm build under Deno resolves), and the first
 * error is the one reported.
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

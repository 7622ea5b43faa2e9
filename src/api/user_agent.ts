/**
 * The `User-Agent` of the API client.
 * @module
 */

import { VERSION } from "../shared/version.ts";

/**
 * The `User-Agent` of {@linkcode KognicClient}: `kognic-auth/<version> <runtime>/<version>`
 * (such as `kognic-auth/0.1.0 node/22.11.0`) and the client name when given.
 *
 * @param clientName A name to append, such as `"my-pipeline/1.2"`.
 * @returns The header value.
 * @throws {TypeError} When `clientName` has a control character.
 */
export function userAgent(clientName?: string): string {
  const parts = [`kognic-auth/${VERSION}`];
  const runtime = runtimeVersion();
  if (runtime) parts.push(runtime);
  if (clientName !== undefined) {
    // deno-lint-ignore no-control-regex
    if (typeof clientName !== "string" || /[\u0000-\u001f\u007f]/.test(clientName)) {
      throw new TypeError("clientName must be a string without control characters");
    }
    if (clientName.trim() !== "") parts.push(clientName.trim());
  }
  return parts.join(" ");
}

function runtimeVersion(): string | undefined {
  const g = globalThis as {
    Deno?: { version?: { deno?: string } };
    Bun?: { version?: string };
    process?: { versions?: { node?: string } };
  };
  if (g.Deno?.version?.deno) return `deno/${g.Deno.version.deno}`;
  if (g.Bun?.version) return `bun/${g.Bun.version}`;
  if (g.process?.versions?.node) return `node/${g.process.versions.node}`;
  return undefined;
}

/**
 * Configuration and storage for Kognic users on Deno, Node and Bun: the
 * credentials file, `environments.json`, token caches shared across processes,
 * and credentials in the system keyring, as Kognic's Python `kognic-auth`
 * keeps them.
 *
 * These live apart from the core (`@kognic/auth`) so that browsers and edge
 * workers never load them; the core imports them lazily when a file, an
 * environment or the keyring is actually used.
 *
 * @example Picking the environment for a URL
 * ```ts ignore
 * import { loadEnvironments, resolveEnvironment } from "@kognic/auth/config";
 *
 * const config = await loadEnvironments();
 * const environment = resolveEnvironment(config, { url: "https://app.kognic.com/v1/projects" });
 * console.log(environment.authServer);
 * ```
 *
 * @module
 */

// Wires files, variables, the keyring and environments.json into the core.
import "./src/runtime/install.ts";
import type { BoundedBytes } from "./src/shared/body.ts";
import type { OptionalPeer } from "./src/shared/optional_peer.ts";

export { parseCredentials, toFileJson } from "./src/credentials/json.ts";
export { loadCredentials } from "./src/credentials/sources.ts";
export {
  DEFAULT_ENVIRONMENT,
  type Environment,
  environmentAllowedOrigins,
  type EnvironmentsConfig,
  environmentsConfigPath,
  loadEnvironments,
  parseEnvironments,
  resolveEnvironment,
  type ResolveEnvironmentOptions,
} from "./src/config/environments.ts";
export {
  createTokenCache,
  type CreateTokenCacheOptions,
  FileTokenCache,
  type FileTokenCacheOptions,
  KEYRING_TOKEN_CACHE_SERVICE,
  KeyringTokenCache,
  type KeyringTokenCacheOptions,
  MAX_TOKEN_FILE_BYTES,
  MemoryTokenCache,
  parseTokenCacheMode,
  TOKEN_CACHE_ENV,
  type TokenCacheMode,
} from "./src/config/token_cache.ts";
export {
  type RedisCommandClient,
  RedisTokenCache,
  type RedisTokenCacheOptions,
  type TokenCacheFallbackEvent,
} from "./src/config/redis_token_cache.ts";
export {
  BaseTokenCache,
  type BaseTokenCacheOptions,
  type TokenRecordKind,
  type TokenRecordStore,
} from "./src/config/base_token_cache.ts";
export {
  type DenoKvAtomicLike,
  type DenoKvLike,
  DenoKvTokenCache,
  type DenoKvTokenCacheOptions,
} from "./src/config/deno_kv_token_cache.ts";
export {
  isUsable,
  TOKEN_CACHE_MARGIN,
  type TokenCache,
  tokenCacheKey,
  type TokenHoldoff,
} from "./src/core/token_cache.ts";
export {
  DEFAULT_PROFILE,
  deleteKeyringCredentials,
  KEYRING_CREDENTIALS_SERVICE,
  keyringAvailable,
  type KeyringAvailableOptions,
  parseKeyringUrl,
  readKeyringCredentials,
  storeKeyringCredentials,
} from "./src/credentials/keyring.ts";
export { configuredProxy, createProxyFetch, fetchHonoursProxy } from "./src/config/proxy.ts";
export {
  findKeyringAccounts,
  KeyringError,
  type KeyringErrorOptions,
} from "./src/credentials/keyring_binding.ts";
export type { EnvOptions } from "./src/shared/env.ts";
export {
  codePointLength,
  cutText,
  redactSecrets,
  redactTail,
  rememberUrlSecrets,
} from "./src/shared/redact.ts";
export { expandHome, getEnv } from "./src/shared/env.ts";
export {
  isNotFound,
  MAX_FILE_BYTES,
  readFileBytes,
  type ReadFileOptions,
  readTextFile,
} from "./src/shared/files.ts";
export {
  defaultAllowedOrigins,
  isSecureDestination,
  normalHost,
  normalOrigin,
  tokenEgress,
  tokenUrlFor,
} from "./src/core/egress.ts";
export { TOKEN_ENDPOINT_AUTH_METHODS } from "./src/core/options.ts";
export { type DeadlineOptions, withDeadline } from "./src/shared/deadline.ts";
export type { BoundedBytes } from "./src/shared/body.ts";
export type { OptionalPeer } from "./src/shared/optional_peer.ts";

// The two functions below load their modules at their first call: a command
// that only reads a cached token never needs them.

/**
 * Reads at most `limit` bytes of a stream or async iterable (such as
 * `process.stdin`), then stops, cancelling a web stream; says whether that was all.
 *
 * @example
 * ```ts ignore
 * import process from "node:process";
 * import { readBoundedBytes } from "@kognic/auth/config";
 *
 * const { bytes, complete } = await readBoundedBytes(process.stdin, 1024 * 1024);
 * ```
 */
export async function readBoundedBytes(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>,
  limit: number,
): Promise<BoundedBytes> {
  return await (await import("./src/shared/body.ts")).readBoundedBytes(source, limit);
}

/**
 * Imports an optional package, or a module of it (`subpath` such as
 * `"/server/stdio.js"`). Rejects as a failed `import()` does when the package
 * is missing; on Deno the bare name is tried after the `npm:` specifier (it is
 * what an import map or the npm build under Deno resolves), and the first
 * error is the one reported.
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
  return await (await import("./src/shared/optional_peer.ts")).importOptionalPeer<T>(name, subpath);
}

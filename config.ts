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
export { type BoundedBytes, readBoundedBytes } from "./src/shared/body.ts";
export { importOptionalPeer, type OptionalPeer } from "./src/shared/optional_peer.ts";

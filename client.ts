/**
 * An API client for Kognic services on top of `AuthSession`, with what
 * Kognic's Python base client adds to every request: a `User-Agent`
 * (`kognic-auth/<version> <runtime>/<version>` plus a client name),
 * deprecation warnings from the `sunset-date` and `Sunset` headers through a
 * replaceable handler, bounded and jittered retries of idempotent requests on
 * 429, 502, 503 and 504 (honouring `Retry-After`), errors that carry the
 * status, the request and the server's message, and the `data` envelope
 * unwrapped.
 *
 * It lives apart from the core (`@kognic/auth`) to keep the core small; it
 * runs wherever `fetch` does.
 *
 * @example
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 * import { KognicClient } from "@kognic/auth/client";
 *
 * const session = await AuthSession.forEnvironment({ url: "https://app.kognic.com" });
 * const client = new KognicClient({ session, baseUrl: "https://app.kognic.com/v1", clientName: "my-tool" });
 * const projects = await client.data<{ id: number; name: string }[]>("GET", "projects");
 * ```
 *
 * @module
 */

// Wires files, variables, the keyring and environments.json into the core.
import "./src/runtime/install.ts";

export {
  type ApiRequestInit,
  type ApiRetryEvent,
  DEFAULT_API_TIMEOUT,
  DEFAULT_RETRY_METHODS,
  DEFAULT_RETRY_STATUSES,
  KognicClient,
  type KognicClientOptions,
  userAgent,
} from "./src/api/client.ts";
export {
  ApiError,
  type ApiErrorCode,
  apiErrorFromResponse,
  type ApiErrorFromResponseOptions,
  type ApiErrorOptions,
  ApiNetworkError,
  ApiTimeoutError,
  type KognicClientErrors,
} from "./src/api/errors.ts";
export {
  defaultDeprecationHandler,
  type DeprecationHandler,
  type DeprecationNotice,
} from "./src/api/deprecation.ts";
export { VERSION } from "./src/shared/version.ts";
export { type BoundedText, readBoundedText } from "./src/shared/body.ts";

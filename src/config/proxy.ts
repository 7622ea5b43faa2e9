// A `fetch` that honours `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` on every runtime: on Node
// through the optional peer `undici`, loaded only when needed.

import { type EnvOptions, getEnv } from "../shared/env.ts";
import { ConfigurationError } from "../shared/errors.ts";
import { rememberUrlSecrets } from "../shared/redact.ts";
import { loadOptionalModule } from "../credentials/keyring_binding.ts";

const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];

/**
 * The proxy URL configured: `HTTPS_PROXY`, then `HTTP_PROXY`, in either case.
 *
 * @param options Environment variables to read instead of the process's, in `env`.
 * @returns The value, or `undefined` when none is set.
 */
export function configuredProxy(options: EnvOptions = {}): string | undefined {
  for (const name of PROXY_VARIABLES) {
    const value = getEnv(name, options.env);
    if (value) {
      rememberUrlSecrets(value); // its password is redacted from every text from now on
      return value;
    }
  }
  return undefined;
}

/**
 * Whether the global `fetch` honours the proxy variables: Deno, Bun, and Node 22.21+ or 24.5+
 * with `NODE_USE_ENV_PROXY=1`.
 *
 * @param options Environment variables to read instead of the process's, in `env`.
 * @returns True where nothing needs to be done.
 */
export function fetchHonoursProxy(options: EnvOptions = {}): boolean {
  const g = globalThis as {
    Deno?: unknown;
    Bun?: unknown;
    process?: { versions?: { node?: string } };
  };
  if (g.Deno !== undefined || g.Bun !== undefined) return true;
  const node = g.process?.versions?.node;
  if (!node) return true;
  if (getEnv("NODE_USE_ENV_PROXY", options.env) !== "1") return false;
  const [major, minor] = node.split(".").map(Number);
  return major > 24 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21);
}

/**
 * A `fetch` through the configured proxy: the global one where it honours the
 * variables or none is set, else undici's `EnvHttpProxyAgent` (which honours
 * `NO_PROXY`). Credentials in the proxy URL are used and never printed.
 *
 * @param options The environment to read.
 * @returns The fetch to pass as the `fetch` option.
 * @throws {ConfigurationError} `configuration_invalid` when a proxy is set on
 *   Node and `undici` is not installed, or the proxy URL is not a URL.
 *
 * @example
 * ```ts ignore
 * import { AuthSession } from "@kognic/auth";
 * import { createProxyFetch } from "@kognic/auth/config";
 *
 * const session = new AuthSession({ fetch: await createProxyFetch() });
 * ```
 */
export async function createProxyFetch(options: EnvOptions = {}): Promise<typeof fetch> {
  const global: typeof fetch = (input, init) => globalThis.fetch(input, init);
  const proxy = configuredProxy(options);
  if (!proxy || fetchHonoursProxy(options)) return global;
  if (!URL.canParse(proxy)) {
    throw new ConfigurationError(
      "The proxy variable (HTTPS_PROXY or HTTP_PROXY) is not a URL such as http://proxy.example:3128",
    );
  }
  const undici = await loadOptionalModule<UndiciModule>("undici", {
    feature: "The proxy set in HTTPS_PROXY or HTTP_PROXY, which Node's fetch ignores,",
    members: ["fetch", "EnvHttpProxyAgent"],
    version: "7",
    advice: " (or start Node 22.21+/24.5+ with NODE_USE_ENV_PROXY=1)",
  }, (message, cause) => new ConfigurationError(message, { cause }));
  const env = options.env;
  const read = (upper: string): string | undefined =>
    getEnv(upper, env) || getEnv(upper.toLowerCase(), env) || undefined;
  const dispatcher = new undici.EnvHttpProxyAgent({
    httpsProxy: read("HTTPS_PROXY") ?? read("HTTP_PROXY"),
    httpProxy: read("HTTP_PROXY"),
    noProxy: read("NO_PROXY"),
  });
  const proxied = undici.fetch;
  return ((input: RequestInfo | URL, init?: RequestInit) =>
    proxied(input, { ...init, dispatcher })) as typeof fetch;
}

interface UndiciModule {
  fetch: (
    input: RequestInfo | URL,
    init?: RequestInit & { dispatcher?: unknown },
  ) => Promise<Response>;
  EnvHttpProxyAgent: new (options: Record<string, string | undefined>) => unknown;
}

/**
 * The egress rule, written once: may a request go to a URL at all, and may
 * the access token go with it. Every path that sends a request or hands out
 * a token asks here (the session's fetch on every redirect hop,
 * `getRequestHeaders`, the commands' `--url`, `mcp-proxy` and `kog mcp`, which
 * have these functions from `@kognic/auth/config`), and every comparison uses
 * one normal form of an origin.
 *
 * @module
 */

import { isLoopbackHost } from "../shared/url.ts";

/**
 * A URL's host in normal form: as `URL` gives it, without a trailing dot.
 *
 * @param url The URL.
 * @returns The host name.
 */
export function normalHost(url: URL): string {
  const host = url.hostname;
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/**
 * A URL's origin in its normal form: scheme, normal host and the port, the
 * scheme's default port dropped (`https://app.kognic.com`).
 *
 * @param url The URL.
 * @returns The origin.
 */
export function normalOrigin(url: URL): string {
  return `${url.protocol}//${normalHost(url)}${url.port ? `:${url.port}` : ""}`;
}

/**
 * Whether a request to `url` may carry secrets: https, or http to loopback (or
 * any with `allowInsecureHttp`); never a URL with user info.
 *
 * @param url The URL.
 * @param allowInsecureHttp Whether plain http to any host is allowed.
 * @returns Whether secrets may go there.
 */
export function isSecureDestination(url: URL, allowInsecureHttp = false): boolean {
  return !url.username && !url.password &&
    (url.protocol === "https:" ||
      url.protocol === "http:" && (allowInsecureHttp || isLoopbackHost(url.hostname)));
}

interface OriginPattern {
  origin: string;
  /** For `*.`: the scheme, `.host` and the port part that a subdomain's origin ends with. */
  protocol: string;
  suffix: string;
}

function parseOriginPattern(pattern: string): OriginPattern {
  const match = /^(https?):\/\/(\*\.)?([^/?#]+?)\/?$/i.exec(pattern.trim());
  let url: URL | undefined;
  try {
    url = new URL(`${match![1]}://${match![3]}`);
  } catch { /* reported below */ }
  if (!url || url.username || url.password || url.hostname.includes("*")) {
    throw new TypeError(
      `allowedOrigins entry "${pattern}" is not an origin like "https://*.example.com:8443"`,
    );
  }
  const origin = normalOrigin(url);
  return match![2]
    ? { origin: "", protocol: url.protocol, suffix: `.${origin.slice(url.protocol.length + 2)}` }
    : { origin, protocol: "", suffix: "" };
}

/**
 * The token's side of the rule: a secure destination whose normal origin is
 * allowed (`https://*.example.com`: subdomains only), after trusted hops only.
 *
 * @param patterns The allowed origins.
 * @param allowInsecureHttp Whether plain http to a host that is not loopback may carry it.
 * @returns A function of a hop's URL and whether every earlier hop was trusted.
 * @throws {TypeError} For an entry that is not an origin.
 */
export function tokenEgress(
  patterns: readonly string[],
  allowInsecureHttp = false,
): (url: URL, earlierTrusted?: boolean) => boolean {
  const compiled = patterns.map(parseOriginPattern);
  const memo = new Map<string, boolean>();
  return (url, earlierTrusted = true) => {
    if (!earlierTrusted || !isSecureDestination(url, allowInsecureHttp)) return false;
    let allowed = memo.get(url.origin);
    if (allowed === undefined) {
      const origin = normalOrigin(url);
      // An IP address has no subdomains.
      const named = /[^\d.]/.test(url.hostname) && url.hostname[0] !== "[";
      allowed = compiled.some((p) =>
        p.protocol
          ? named && url.protocol === p.protocol && origin.endsWith(p.suffix) &&
            origin.length > p.protocol.length + 2 + p.suffix.length
          : origin === p.origin
      );
      if (memo.size < 256) memo.set(url.origin, allowed);
    }
    return allowed;
  };
}

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
 * A URL's host in its normal form: lower-case, IDN as punycode and IPv6 in
 * brackets (as `URL` gives them), without a trailing dot, so that
 * `app.kognic.com.` and `app.kognic.com` are one host.
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
 * Whether a request to `url` may carry secrets over its transport: https, or
 * http to a loopback address (`localhost`, `*.localhost`, 127.0.0.0/8,
 * `[::1]`), or any http when `allowInsecureHttp`. A URL with a user name or
 * password never does.
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
 * The token's side of the rule for a list of allowed origins: the token goes
 * to a URL when its transport is secure ({@linkcode isSecureDestination}),
 * its normal origin is one of the list's (an entry `https://*.example.com`
 * matches any subdomain of example.com over https on the default port, not
 * example.com itself), and every earlier hop of its redirect chain was
 * trusted.
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

/**
 * The egress rule, written once: the token URL, whether a request may carry
 * secrets to a URL, and whether the token goes with it. Every path that sends
 * a request or hands out a token asks here, comparing origins in one normal form.
 *
 * @module
 */

import { ConfigurationError, rememberSecret } from "../shared/errors.ts";

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`, with or without a trailing dot. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** https, or http to loopback (to any host with `allowInsecureHttp`). */
function secureScheme(url: URL, allowInsecureHttp: boolean): boolean {
  return url.protocol === "https:" ||
    url.protocol === "http:" && (allowInsecureHttp || isLoopbackHost(url.hostname));
}

/** Whether a request to `url` may carry secrets: https, or http to loopback (any with `allowInsecureHttp`); never with user info. */
export function isSecureDestination(url: URL, allowInsecureHttp = false): boolean {
  return !url.username && !url.password && secureScheme(url, allowInsecureHttp);
}

function parseUrl(value: string, what: string): URL {
  try {
    return new URL(value);
  } catch {
    // Never the user info of a URL in a message.
    throw new ConfigurationError(
      `The ${what} "${value.replace(/\/\/.*@/, "//")}" is not an absolute URL`,
    );
  }
}

/**
 * Joins an auth server URL and a token endpoint path (an absolute
 * `tokenEndpoint` as it is) without doubling or dropping slashes. The result
 * must be https, or http to loopback, unless `allowInsecureHttp`; a password
 * in it is remembered as a secret.
 *
 * @throws {ConfigurationError} For a URL that does not parse or is not secure.
 *
 * @example
 * ```ts
 * import { DEFAULT_AUTH_SERVER, DEFAULT_TOKEN_ENDPOINT } from "@kognic/auth";
 * import { defaultAllowedOrigins, tokenUrlFor } from "@kognic/auth/config";
 *
 * const tokenUrl = tokenUrlFor(DEFAULT_AUTH_SERVER, DEFAULT_TOKEN_ENDPOINT);
 * console.log(tokenUrl.href); // "https://auth.app.kognic.com/v1/auth/oauth/token"
 * console.log(defaultAllowedOrigins(tokenUrl)); // ["https://app.kognic.com", "https://*.app.kognic.com"]
 * ```
 */
export function tokenUrlFor(
  authServer: string,
  tokenEndpoint: string,
  allowInsecureHttp = false,
): URL {
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(tokenEndpoint)) {
    url = parseUrl(tokenEndpoint, "token endpoint");
  } else {
    const server = parseUrl(authServer, "auth server URL");
    const path = tokenEndpoint.replace(/^\/+/, "");
    const base = server.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
    url = parseUrl(path ? `${base}/${path}` : base, "token URL");
  }
  // The password of the URL (the auth server's, when the endpoint is a path) is a secret from now on.
  rememberSecret(url.password);
  if (!secureScheme(url, allowInsecureHttp)) {
    throw new ConfigurationError(
      `The token URL "${url.origin}" must use https${
        url.protocol === "http:"
          ? ": a client secret is never sent over plain http except to a loopback address"
          : ""
      }`,
    );
  }
  return url;
}

/**
 * The origins that receive the token when none are given: a loopback auth
 * server's own; else the auth server's domain without a leading `auth.` label,
 * and its subdomains (`https://app.kognic.com`, `https://*.app.kognic.com`).
 */
export function defaultAllowedOrigins(tokenUrl: URL): string[] {
  if (isLoopbackHost(tokenUrl.hostname)) return [tokenUrl.origin];
  const labels = tokenUrl.hostname.split(".");
  const domain = labels[0] === "auth" && labels.length > 2
    ? labels.slice(1).join(".")
    : tokenUrl.hostname;
  const port = tokenUrl.port ? `:${tokenUrl.port}` : "";
  return [
    `${tokenUrl.protocol}//${domain}${port}`,
    `${tokenUrl.protocol}//*.${domain}${port}`,
  ];
}

/** A URL without its user info (a password in a URL is never shown), for messages and events. */
export function displayUrl(url: URL | string): string {
  const copy = new URL(url);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

/** A URL's host in normal form: as `URL` gives it, without a trailing dot. */
export function normalHost(url: URL): string {
  const host = url.hostname;
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/** A URL's origin in normal form: scheme, normal host, and a port other than the scheme's default. */
export function normalOrigin(url: URL): string {
  return `${url.protocol}//${normalHost(url)}${url.port ? `:${url.port}` : ""}`;
}

/** An exact `origin`, or for `*.` the `protocol` and the `.host:port` a subdomain's origin ends with. */
type OriginPattern = { origin: string; protocol: string; suffix: string };

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
 * The token's side of the rule, as a function of a hop's URL and whether
 * every earlier hop was trusted: a secure destination whose normal origin is
 * one of `patterns` (`https://*.example.com`: subdomains only).
 *
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

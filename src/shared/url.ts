// URL helpers: the token URL, the https rule, origin patterns, URLs as messages show them.

import { ConfigurationError } from "./errors.ts";
import { rememberSecret } from "./secrets.ts";

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`, with or without a trailing dot. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
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

/** Joins the auth server and endpoint path (an absolute endpoint as it is); https or loopback unless allowed. */
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
  assertSecureUrl(url, "token URL", allowInsecureHttp);
  return url;
}

/** Throws unless the URL is https, or http to a loopback host, or http is allowed. */
export function assertSecureUrl(url: URL, what: string, allowInsecureHttp: boolean): void {
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && (allowInsecureHttp || isLoopbackHost(url.hostname))) return;
  if (url.protocol === "http:") {
    throw new ConfigurationError(
      `The ${what} "${url.origin}" must use https: a client secret is never sent over plain http ` +
        `except to a loopback address`,
    );
  }
  throw new ConfigurationError(`The ${what} "${url.origin}" must use https`);
}

/**
 * The default allowed origins: a loopback auth server's own; else its domain
 * without `auth.`, and its subdomains.
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

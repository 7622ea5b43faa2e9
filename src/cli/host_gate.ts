// The host gate of `kog mcp`: which hosts its tool may send a request to at
// all, built on the egress rule's normal host form and secure transport check
// (the library's, from @kognic/auth/config).

import { isSecureDestination, normalHost } from "../../config.ts";

/**
 * The request side of the egress rule, for `kog mcp`'s host gate: a
 * request may go to `url` only over https (http only to a loopback address),
 * without a user name or password, to one of `hosts` or a subdomain of one
 * (an IP address has none), or to exactly one of `exactHosts`, every host
 * compared in its normal form.
 *
 * @param hosts Hosts reachable with their subdomains.
 * @param exactHosts Hosts reachable themselves only.
 * @returns A function that gives `undefined` when a request may go to `url`,
 *   else why not.
 */
export function hostGate(
  hosts: readonly string[],
  exactHosts: readonly string[] = [],
): (url: URL) => string | undefined {
  const normal = (host: string): string => normalHost(new URL(`http://${host}`));
  const withSubdomains = hosts.map(normal);
  const exact = exactHosts.map(normal);
  return (url) => {
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      return `the scheme must be https, not ${url.protocol.slice(0, 20)}`;
    }
    if (url.username || url.password) return "the URL must not carry a user name or password";
    if (!isSecureDestination(url)) {
      return "plain http goes only to a loopback address; use https";
    }
    const host = normalHost(url);
    const named = /[^\d.]/.test(host) && host[0] !== "[";
    return exact.includes(host) ||
        withSubdomains.some((h) => host === h || named && host.endsWith(`.${h}`))
      ? undefined
      : `${host.slice(0, 200)} is not a reachable host`;
  };
}

// Host names routed to local servers, as DNS and a TLS-terminating front end would route them:
// the code under test sees and decides on the URL it was given (https://app.example.test/...),
// and the request it sends goes to a server on 127.0.0.1, which learns the origin it was sent to
// from the header x-routed-origin (and whether the URL carried user info from x-routed-userinfo).

/** Routes: a host as a URL names it (`app.example.test`, `app.example.test:8443`) to a base URL on 127.0.0.1. */
export type Routes = Readonly<Record<string, string>>;

/** The header that carries the origin a routed request was sent to. */
export const ROUTED_ORIGIN = "x-routed-origin";

/**
 * A fetch that sends requests for the hosts in `routes` to their local server (a trailing dot of
 * the host name is ignored, as DNS ignores it), and any other request to 127.0.0.1 as it is. A
 * request for any other host fails, so nothing leaves the machine.
 */
export function routedFetch(routes: Routes, base: typeof fetch = globalThis.fetch): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const key = url.hostname.replace(/\.$/, "") + (url.port ? `:${url.port}` : "");
    const target = routes[key];
    if (!target) {
      if (url.hostname === "127.0.0.1") return base(input, init);
      return Promise.reject(new TypeError(`no route to ${url.host} in this test`));
    }
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}));
    headers.set(ROUTED_ORIGIN, url.origin);
    if (url.username || url.password) headers.set("x-routed-userinfo", "yes");
    const routed = new URL(url.pathname + url.search, target);
    const request: RequestInit = { ...init, headers };
    if (input instanceof Request) {
      request.method ??= input.method;
      if (request.body === undefined && input.body) {
        request.body = input.body;
        (request as { duplex?: string }).duplex = "half";
      }
    }
    return base(routed, request);
  };
}

/** The routes given to a subprocess in KOGNIC_TEST_ROUTES, as JSON. */
export function routesFromEnv(text: string | undefined): Routes {
  return text ? JSON.parse(text) : {};
}

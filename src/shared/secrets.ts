// Apart from redact.ts for the size budget: the core loads this on import, redact.ts lazily.
/**
 * The secrets this process holds, and the hook through which the core's
 * errors and events reach the redactor. Small on purpose: the core imports
 * it, so that a token is known from the moment it exists (an `AccessToken`
 * made from a server's answer, a cache entry, a `tokenProvider` or an
 * `initialToken`), as are client secrets and the passwords of URLs. The
 * redactor itself (redact.ts) loads lazily, with the first code that can show
 * a server's text.
 *
 * @module
 */

/**
 * Client secrets, URL passwords and tokens, the most recently used last (the
 * token request registers its client secret and URL again on every attempt,
 * so token churn never pushes them out).
 */
export const knownSecrets: string[] = [];

/**
 * Remembers a secret so that the redactor removes it from every text.
 * Strings shorter than 4 characters are not remembered: removing them would
 * mangle text.
 */
export function rememberSecret(secret: unknown): void {
  if (typeof secret != "string" || secret.length < 4) return;
  const index = knownSecrets.indexOf(secret);
  if (index >= 0) knownSecrets.splice(index, 1);
  if (knownSecrets.push(secret) > 128) knownSecrets.shift();
}

/**
 * What the core's errors call for their message and `emit` for each event:
 * the identity until redact.ts loads and installs the redactor.
 */
export const redactor: { text(text: string): string; value<T>(value: T): T } = {
  text: (text) => text,
  value: (value) => value,
};

// The Deno and Node inspectors show an object's redacted JSON form, so that
// console.log never prints a secret held in a #private field.
/**
 * Installs Deno's and Node's custom-inspect hooks on a class's prototype: both
 * print `Name {...toJSON()}`.
 */
export function inspectAsJson(target: { prototype: { toJSON(): unknown } }, name: string): void {
  for (const key of ["Deno.customInspect", "nodejs.util.inspect.custom"]) {
    Object.defineProperty(target.prototype, Symbol.for(key), {
      value(this: { toJSON(): unknown }): string {
        return `${name} ${JSON.stringify(this.toJSON())}`;
      },
    });
  }
}

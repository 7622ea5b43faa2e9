// Apart from redact.ts for the size budget: the core loads this on import, redact.ts lazily.
/**
 * The secrets this process holds, known from the moment each exists, and the
 * hook through which errors and events reach the redactor (redact.ts, loaded
 * with the first code that can show a server's text).
 *
 * @module
 */

/** Secrets, most recently used last (client secrets are re-registered each attempt, so token churn keeps them). */
export const knownSecrets: string[] = [];

/** Remembers a secret for the redactor; under 4 characters it is not (removing it would mangle text). */
export function rememberSecret(secret: unknown): void {
  if (typeof secret != "string" || secret.length < 4) return;
  const index = knownSecrets.indexOf(secret);
  if (index >= 0) knownSecrets.splice(index, 1);
  if (knownSecrets.push(secret) > 128) knownSecrets.shift();
}

/** The redactor errors and `emit` call: the identity until redact.ts installs itself. */
export const redactor: { text(text: string): string; value<T>(value: T): T } = {
  text: (text) => text,
  value: (value) => value,
};

/** Makes the Deno and Node inspectors print `Name {...toJSON()}`, never a #private secret. */
export function inspectAsJson(target: { prototype: { toJSON(): unknown } }, name: string): void {
  for (const key of ["Deno.customInspect", "nodejs.util.inspect.custom"]) {
    Object.defineProperty(target.prototype, Symbol.for(key), {
      value(this: { toJSON(): unknown }): string {
        return `${name} ${JSON.stringify(this.toJSON())}`;
      },
    });
  }
}

/**
 * The secrets this process holds, and the hook through which the core's
 * errors reach the redactor. Small on purpose: the core imports it, so that a
 * token is known from the moment it exists (an `AccessToken` made from a
 * server's answer, a cache entry, a `tokenProvider` or an `initialToken`), as
 * are client secrets and the passwords of URLs. The redactor itself
 * (redact.ts) loads lazily, with the first code that can show a server's text.
 *
 * @module
 */

/** Client secrets and URL passwords: kept apart so that token churn never pushes them out. */
export const standingSecrets: string[] = [];
/** Access and refresh tokens, newest last. */
export const tokenSecrets: string[] = [];

/**
 * Remembers a secret so that the redactor removes it from every text.
 * Strings shorter than 4 characters are not remembered: removing them would
 * mangle text.
 */
export function rememberSecret(secret: unknown, token?: boolean): void {
  if (typeof secret !== "string" || secret.length < 4) return;
  const list = token ? tokenSecrets : standingSecrets;
  const index = list.indexOf(secret);
  if (index >= 0) list.splice(index, 1);
  list.push(secret);
  if (list.length > 64) list.shift();
}

/**
 * What the core's errors call for their message and cause, and `emit` for each event: the identity until
 * redact.ts loads and installs the redactor.
 */
export const redactor: {
  text(text: string): string;
  cause(cause: unknown): unknown;
  value<T>(value: T): T;
} = {
  text: (text) => text,
  cause: (cause) => cause,
  value: (value) => value,
};

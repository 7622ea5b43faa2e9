// Redaction of secrets from text that a server or a runtime hands back.
//
// The secrets this process holds (client secrets, access and refresh tokens),
// newest last, so that text a server or a runtime hands back can be cleaned
// of them wherever it surfaces. Only the lazily loaded paths use these.
const known: string[] = [];
const MAX_KNOWN = 64;

/**
 * Remembers a secret, so that {@linkcode redact} removes it from text. Secrets
 * shorter than 4 characters are not remembered: removing them would mangle text.
 */
export function rememberSecret(secret: string | undefined): void {
  if (typeof secret !== "string" || secret.length < 4) return;
  const index = known.indexOf(secret);
  if (index >= 0) known.splice(index, 1);
  known.push(secret);
  if (known.length > MAX_KNOWN) known.shift();
}

/**
 * Removes secrets from text that a server or a runtime handed back, in the
 * forms it may echo them: as they are, percent-encoded, and form-encoded. It
 * removes every secret remembered with {@linkcode rememberSecret} and the
 * `extra` ones; each becomes `[redacted]`.
 */
export function redact(text: string, extra: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of [...extra, ...known]) {
    if (typeof secret !== "string" || secret.length < 4) continue;
    const forms = new Set([
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ s: secret }).toString().slice(2),
    ]);
    for (const form of forms) out = out.split(form).join("[redacted]");
  }
  return out;
}

export { inspectAsJson } from "./inspect.ts";

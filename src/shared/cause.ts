/**
 * The underlying cause of a failed request, in words: runtimes wrap the
 * reason a connection failed (refused, a DNS failure, a certificate error)
 * one or two levels down in `error.cause`, under a bare "fetch failed".
 *
 * @module
 */

import { redact, redactAndCut } from "./redact.ts";

const MAX_DEPTH = 5;
const MAX_CHARS = 300;
const CERTIFICATE =
  /CERT|certificate|self[- ]signed|UNABLE_TO_(?:GET|VERIFY)|unknown ?issuer|InvalidCertificate/i;

/**
 * The messages and codes along an error's `cause` chain, most specific
 * last, as one line: `fetch failed: connect ECONNREFUSED 127.0.0.1:9
 * (ECONNREFUSED)`. A certificate failure adds a hint about private CAs
 * that names `host`.
 *
 * @param error What a fetch threw.
 * @param host The host that was asked, for the certificate hint.
 * @returns One line, at most a few hundred characters.
 */
export function describeCause(error: unknown, host: string): string {
  const parts: string[] = [];
  let code: string | undefined;
  let current: unknown = error;
  for (let depth = 0; depth < MAX_DEPTH && current != null; depth++) {
    const message = current instanceof Error
      ? current.message
      : typeof current === "string"
      ? current
      : undefined;
    if (message) {
      const line = message.replace(/\s+/g, " ").trim();
      if (line && !parts.some((part) => part.includes(line))) parts.push(line);
    }
    const own = (current as { code?: unknown }).code;
    if (typeof own === "string" && /^[A-Z0-9_]+$/.test(own)) code = own;
    current = (current as { cause?: unknown }).cause;
  }
  // Redacted before it is cut, so a secret across the cut leaves no part behind.
  let text = redact(parts.join(": ") || "unknown error");
  if (code && !text.includes(code)) text += ` (${code})`;
  text = redactAndCut(text, MAX_CHARS);
  if (CERTIFICATE.test(text)) {
    text += `; the certificate of "${host}" could not be verified: if a private CA signs it, ` +
      "give the CA to the runtime (NODE_EXTRA_CA_CERTS on Node and Bun, --cert or DENO_CERT on Deno)";
  }
  return text;
}

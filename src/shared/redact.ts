/**
 * The redactor: every text that leaves the process passes {@linkcode redact},
 * which removes each secret remembered in errors.ts as it is and percent-,
 * form- and JSON-encoded, before it is cut ({@linkcode cutText}).
 *
 * @module
 */

import { knownSecrets, redactor, rememberSecret } from "./errors.ts";

export { rememberSecret };
export { inspectAsJson } from "./errors.ts";

const REDACTED = "[redacted]";

/** The forms in which `secret` may appear in text. */
function formsOf(secret: string): Set<string> {
  return new Set([
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
  ]);
}

/** Every secret known, and the `extra` ones, longest first (a secret inside another goes second). */
function secretsWith(extra: readonly (string | undefined)[]): string[] {
  const all = new Set<string>();
  for (const secret of [...extra, ...knownSecrets]) {
    if (typeof secret === "string" && secret.length >= 4) all.add(secret);
  }
  return [...all].sort((a, b) => b.length - a.length);
}

/** `text` without any secret the process holds, nor the `extra` ones, in any form: each becomes `[redacted]`. */
export function redact(text: string, extra: readonly (string | undefined)[] = []): string {
  let out = String(text);
  for (const secret of secretsWith(extra)) {
    for (const form of formsOf(secret)) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
  }
  return out;
}

/**
 * Removes every secret the process has seen from `text` (client secrets,
 * tokens and URL passwords, as they are or encoded), each replaced by
 * `[redacted]`, as the library's own errors and events are: use it for any
 * text your program shows that may quote a server or a file.
 *
 * @example
 * ```ts
 * import { redactSecrets, rememberUrlSecrets } from "@kognic/auth/config";
 *
 * rememberUrlSecrets("https://user:hunter2-pass@proxy.example.com");
 * console.log(redactSecrets("the proxy said: bad password hunter2-pass"));
 * // the proxy said: bad password [redacted]
 * ```
 */
export function redactSecrets(text: string): string {
  return redact(text);
}

/**
 * Drops a tail that begins a known secret, however short, from a text cut
 * before it could be redacted (a bounded read); redact the text after this.
 */
export function redactTail(text: string): string {
  // The longest such tail of any secret: a shorter one would leave the rest of a start.
  let cut = 0;
  for (const secret of secretsWith([])) {
    for (const form of formsOf(secret)) {
      for (let size = Math.min(form.length - 1, text.length); size > cut; size--) {
        if (text.endsWith(form.slice(0, size))) cut = size;
      }
    }
  }
  return text.slice(0, text.length - cut);
}

/** The number of characters (code points, not UTF-16 units) in `text`. */
export function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * The first `max` characters (code points) of `text`, never splitting a surrogate pair.
 *
 * @example
 * ```ts
 * import { codePointLength, cutText } from "@kognic/auth/config";
 *
 * console.log(cutText("ab\u{1F600}cd", 3), codePointLength("ab\u{1F600}cd")); // "ab😀" 5
 * ```
 */
export function cutText(text: string, max: number): string {
  let at = 0;
  let count = 0;
  for (const char of text) {
    if (count++ === max) return text.slice(0, at);
    at += char.length;
  }
  return text;
}

/** Redacts, then cuts at `max` characters, adding `ellipsis` when it cut: the one way to shorten text. */
export function redactAndCut(text: string, max: number, ellipsis = "..."): string {
  const clean = redact(text);
  const cut = cutText(clean, max);
  return cut.length < clean.length ? cut + ellipsis : cut;
}

/** An error's cause chain as it may be shown: a redacted copy (same prototype) where it holds a secret. */
export function redactCause(cause: unknown, depth = 0): unknown {
  if (typeof cause === "string") return redact(cause);
  if (cause === null || typeof cause !== "object" || depth > 5) return cause;
  const inner = (cause as { cause?: unknown }).cause;
  const innerClean = inner === undefined ? undefined : redactCause(inner, depth + 1);
  const copy = Object.create(Object.getPrototypeOf(cause));
  let dirty = innerClean !== inner;
  for (const key of new Set(["message", "stack", ...Object.keys(cause)])) {
    if (key === "cause") continue;
    let value: unknown;
    try {
      value = (cause as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    let clean = value;
    if (typeof value === "string") clean = redact(value);
    else if (value !== null && typeof value === "object" && !(value instanceof Error)) {
      try {
        const text = JSON.stringify(value);
        if (text !== undefined && redact(text) !== text) clean = REDACTED;
      } catch { /* not JSON: kept as it is */ }
    }
    if (clean !== value) dirty = true;
    Object.defineProperty(copy, key, {
      value: clean,
      writable: true,
      configurable: true,
      enumerable: key !== "message" && key !== "stack",
    });
  }
  if (!dirty) return cause;
  if (inner !== undefined) {
    Object.defineProperty(copy, "cause", { value: innerClean, writable: true, configurable: true });
  }
  return copy;
}

/** A plain value (an event, a JSON document) copied with every string redacted. */
export function redactValue<T>(value: T, depth = 0): T {
  if (typeof value === "string") return redact(value) as T;
  if (value === null || typeof value !== "object" || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1)) as T;
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = redactValue(item, depth + 1);
  return out as T;
}

/**
 * Remembers the password of a URL as a secret ({@linkcode redactSecrets}
 * removes it from any text from then on) and returns the URL without user
 * info (one that does not parse: its text, redacted).
 */
export function rememberUrlSecrets(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redact(String(url));
  }
  if (parsed.password) {
    rememberSecret(parsed.password);
    try {
      rememberSecret(decodeURIComponent(parsed.password));
    } catch { /* not percent-encoded text */ }
  }
  parsed.username = "";
  parsed.password = "";
  return parsed.href;
}

// The core's errors reach the redactor through this hook from now on.
redactor.text = redact;
redactor.value = redactValue;

// Why a request failed, in words: runtimes nest it in `error.cause` under "fetch failed".
const MAX_DEPTH = 5;
const MAX_CHARS = 300;
const CERTIFICATE =
  /CERT|certificate|self[- ]signed|UNABLE_TO_(?:GET|VERIFY)|unknown ?issuer|InvalidCertificate/i;

/**
 * What a fetch threw, its `cause` chain as one redacted line of at most 300
 * characters, most specific last (`fetch failed: connect ECONNREFUSED ...
 * (ECONNREFUSED)`), with a private-CA hint naming `host`.
 */
export function describeCause(error: unknown, host: string): string {
  const parts: string[] = [];
  let code: string | undefined;
  let current: unknown = error;
  for (let depth = 0; depth < MAX_DEPTH && current != null; depth++) {
    const message = current instanceof Error ? current.message : current;
    const line = typeof message === "string" ? message.replace(/\s+/g, " ").trim() : "";
    if (line && !parts.some((part) => part.includes(line))) parts.push(line);
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

/**
 * The one bounded reader of every body or stream from outside: read chunk by
 * chunk and cancelled past the cap. Text to show is redacted before it is cut.
 *
 * @module
 */

import { codePointLength, cutText, redact, redactTail } from "./redact.ts";

/** What {@linkcode readBoundedText} read. */
export interface BoundedText {
  /** The body as UTF-8 text (a leading BOM removed, as `Response.text()` does), at most `limit` bytes of it. */
  text: string;
  /** `false` when the body was longer than `limit` bytes and the rest was not read. */
  complete: boolean;
}

/** What {@linkcode readBoundedBytes} read. */
export interface BoundedBytes {
  /** At most `limit` bytes. */
  bytes: Uint8Array<ArrayBuffer>;
  /** `false` when there was more than `limit` bytes; the rest was not read. */
  complete: boolean;
}

/**
 * Reads at most `limit` bytes of a stream or async iterable (such as
 * `process.stdin`), then stops, cancelling a web stream; says whether that was all.
 *
 * @example
 * ```ts ignore
 * import process from "node:process";
 * import { readBoundedBytes } from "@kognic/auth/config";
 *
 * const { bytes, complete } = await readBoundedBytes(process.stdin, 1024 * 1024);
 * ```
 */
export async function readBoundedBytes(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>,
  limit: number,
): Promise<BoundedBytes> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let complete = true;
  const take = (chunk: Uint8Array | string): boolean => {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    const kept = bytes.subarray(0, limit - size);
    chunks.push(kept);
    size += kept.byteLength;
    complete = kept.byteLength === bytes.byteLength;
    return complete;
  };
  if ("getReader" in source && typeof source.getReader === "function") {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!take(value)) {
          await reader.cancel().catch(() => {});
          break;
        }
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      if (!take(chunk)) break;
    }
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((offset, chunk) => (bytes.set(chunk, offset), offset + chunk.byteLength), 0);
  return { bytes, complete };
}

/**
 * Reads at most `limit` bytes of a response's body as text (a character cut
 * at the limit dropped), then cancels the rest; a body that is no stream is
 * read with `text()`. Says whether that was all of the body.
 *
 * @example
 * ```ts
 * import { readBoundedText } from "@kognic/auth/client";
 *
 * const { text, complete } = await readBoundedText(new Response("a long body"), 6);
 * console.log(text, complete); // "a long" false
 * ```
 */
export async function readBoundedText(response: Response, limit: number): Promise<BoundedText> {
  const body = response.body;
  if (!body || typeof body.getReader !== "function") {
    const text = await response.text();
    return { text, complete: text.length <= limit };
  }
  const { bytes, complete } = await readBoundedBytes(body, limit);
  // A cut in the middle of a character decodes to U+FFFD, which is dropped.
  let text = new TextDecoder().decode(bytes);
  if (!complete) text = text.replace(/\uFFFD$/, "");
  return { text, complete };
}

/** What {@linkcode readShownText} read. */
export interface ShownText {
  /** The text, redacted, at most `maxChars` characters. */
  text: string;
  /** Whether this is all of the body. */
  complete: boolean;
  /** How many characters the body had, or (when the read stopped) at least had. */
  chars: number;
}

/** Bytes read past the characters shown, so that a secret across the cut is seen whole. */
const SECRET_SLACK = 16 * 1024;

/**
 * Reads a response's body to show it: at most `maxChars` code points, read
 * with a bound (`4 * maxChars` bytes and a margin), redacted before it is cut.
 */
export async function readShownText(response: Response, maxChars: number): Promise<ShownText> {
  const read = await readBoundedText(response, maxChars * 4 + SECRET_SLACK);
  let text = read.complete ? read.text : redactTail(read.text);
  text = redact(text);
  const chars = codePointLength(text);
  const shown = cutText(text, maxChars);
  return { text: shown, complete: read.complete && shown.length === text.length, chars };
}

/** {@linkcode readShownText}, by the name the API client's errors read an error's body with. */
export const readBoundedSecretText: typeof readShownText = readShownText;

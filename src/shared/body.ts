/**
 * Reading a body that a server controls, with a cap on its size: the stream
 * is read chunk by chunk and cancelled as soon as it passes the cap, so an
 * endless or huge body costs at most the cap in memory.
 *
 * @module
 */

/** What {@linkcode readBoundedText} read. */
export interface BoundedText {
  /** The body as UTF-8 text (a leading BOM removed, as `Response.text()` does), at most `limit` bytes of it. */
  text: string;
  /** `false` when the body was longer than `limit` bytes and the rest was not read. */
  complete: boolean;
}

/**
 * Reads at most `limit` bytes of a response's body as text, then cancels the
 * rest. A response without a readable `body` stream is read with `text()`.
 */
export async function readBoundedText(response: Response, limit: number): Promise<BoundedText> {
  const body = response.body;
  if (!body || typeof body.getReader !== "function") {
    const text = await response.text();
    return { text, complete: text.length <= limit };
  }
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = limit - size;
      if (value.byteLength > room) {
        text += decoder.decode(value.subarray(0, room));
        await reader.cancel().catch(() => {});
        return { text, complete: false };
      }
      size += value.byteLength;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return { text: text + decoder.decode(), complete: true };
}

// Whether a D-Bus session bus has a Secret Service, asked in the bus's own protocol: a millisecond,
// where loading the native keyring library to hear that nothing answers takes 100.

import type { Socket } from "node:net";
import { withDeadline } from "../shared/deadline.ts";
import { errorCode } from "../shared/files.ts";

/** A Secret Service runs or can be started, none can, no clear answer, or why none was heard. */
export type SecretServiceAnswer = "present" | "absent" | "unknown" | "timeout" | string;

const SECRETS = "org.freedesktop.secrets";
const MAX_READ = 256 * 1024;

/**
 * Asks the bus at `socketPath` (a leading NUL: abstract) whether a Secret Service runs on it or
 * can be started by it, within `timeout` ms. Never throws; the socket is destroyed however it ends.
 */
export async function secretServiceOnBus(
  socketPath: string,
  timeout: number,
): Promise<SecretServiceAnswer> {
  let heard = false;
  const failed = (error: unknown): string => heard ? "unknown" : errorCode(error) ?? "unknown";
  const net = await import("node:net").catch(failed);
  if (typeof net === "string") return net;
  let socket: Socket | undefined;
  try {
    return await withDeadline(timeout, () =>
      new Promise<SecretServiceAnswer>((finish) => {
        try {
          socket = net.createConnection({ path: socketPath });
          talk(socket, finish, () => (heard = true));
          socket.on("error", (error) => finish(failed(error)));
          socket.on("close", () => finish("unknown"));
        } catch (error) {
          finish(failed(error));
        }
      }));
  } catch {
    return heard ? "unknown" : "timeout"; // only the deadline rejects
  } finally {
    socket?.destroy();
  }
}

/** The exchange: SASL EXTERNAL, then `NameHasOwner` and `ListActivatableNames`. */
function talk(
  socket: Socket,
  finish: (answer: SecretServiceAnswer) => void,
  hear: () => void,
): void {
  let buffer = new Uint8Array(0);
  let authenticated = false;
  let hasOwner: boolean | undefined;
  let activatable: boolean | undefined;
  // SASL EXTERNAL: the bus takes the socket's own credentials.
  socket.on("connect", () => socket.write("\0AUTH EXTERNAL\r\n"));
  socket.on("data", (chunk: Uint8Array): void => {
    hear();
    const joined = new Uint8Array(buffer.length + chunk.length);
    joined.set(buffer);
    joined.set(chunk, buffer.length);
    buffer = joined;
    if (buffer.length > MAX_READ) return finish("unknown");
    if (!authenticated) {
      const end = bytesText(buffer).indexOf("\r\n");
      if (end < 0) return;
      const line = bytesText(buffer.subarray(0, end));
      buffer = buffer.subarray(end + 2);
      // The server asks for the (empty) authorization identity.
      if (line === "DATA" || line.startsWith("DATA ")) return void socket.write("DATA\r\n");
      if (!line.startsWith("OK ")) return finish("unknown");
      authenticated = true;
      socket.write("BEGIN\r\n");
      socket.write(methodCall(1, "Hello"));
      socket.write(methodCall(2, "NameHasOwner", SECRETS));
      socket.write(methodCall(3, "ListActivatableNames"));
    }
    for (;;) {
      const message = readMessage(buffer);
      if (message === "incomplete") return;
      if (message === "bad") return finish("unknown");
      buffer = buffer.subarray(message.length);
      if (message.replyTo !== 2 && message.replyTo !== 3) continue;
      if (message.type !== 2) return finish("unknown");
      if (message.replyTo === 2) hasOwner = message.uint32 === 1;
      else activatable = bytesText(message.body).includes(SECRETS + "\0");
      if (hasOwner || activatable) return finish("present");
      if (hasOwner === false && activatable === false) return finish("absent");
    }
  });
}

/** Bytes as text, one character per byte (ASCII unchanged), to search for ASCII. */
function bytesText(bytes: Uint8Array): string {
  return new TextDecoder("latin1").decode(bytes);
}

/** A method call to the bus itself, little-endian, with at most one string argument. */
function methodCall(serial: number, member: string, argument?: string): Uint8Array {
  const out: number[] = [];
  const pad = (to: number): void => {
    while (out.length % to !== 0) out.push(0);
  };
  const u32 = (value: number): void => {
    pad(4);
    out.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  };
  const text = (value: string): void => {
    const bytes = new TextEncoder().encode(value);
    u32(bytes.length);
    out.push(...bytes, 0);
  };
  const signature = (value: string): void =>
    void out.push(value.length, ...new TextEncoder().encode(value), 0);
  const field = (code: number, type: string, value: string): void => {
    pad(8);
    out.push(code);
    signature(type);
    if (type === "g") signature(value);
    else text(value);
  };
  // 'l' (little-endian), METHOD_CALL, no flags, protocol version 1; the lengths are set below.
  out.push(0x6c, 1, 0, 1, 0, 0, 0, 0);
  u32(serial);
  u32(0);
  field(1, "o", "/org/freedesktop/DBus");
  field(2, "s", "org.freedesktop.DBus");
  field(3, "s", member);
  field(6, "s", "org.freedesktop.DBus");
  if (argument !== undefined) field(8, "g", "s");
  const fieldsLength = out.length - 16;
  pad(8);
  const bodyStart = out.length;
  if (argument !== undefined) text(argument);
  const message = new Uint8Array(out);
  const view = new DataView(message.buffer);
  view.setUint32(4, out.length - bodyStart, true);
  view.setUint32(12, fieldsLength, true);
  return message;
}

interface Message {
  /** The whole message's length in bytes. */
  length: number;
  /** 1 call, 2 return, 3 error, 4 signal. */
  type: number;
  /** The serial this answers, when it is a reply. */
  replyTo: number | undefined;
  /** The body's first uint32, when it has one. */
  uint32: number | undefined;
  body: Uint8Array;
}

/** Reads one message from the start of `bytes`. */
function readMessage(bytes: Uint8Array): Message | "incomplete" | "bad" {
  if (bytes.length < 16) return "incomplete";
  const little = bytes[0] === 0x6c;
  if (!little && bytes[0] !== 0x42) return "bad";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = view.getUint32(4, little);
  const fieldsLength = view.getUint32(12, little);
  if (bodyLength > MAX_READ || fieldsLength > MAX_READ) return "bad";
  const bodyStart = align(16 + fieldsLength, 8);
  const length = bodyStart + bodyLength;
  if (bytes.length < length) return "incomplete";
  let replyTo: number | undefined;
  let at = 16;
  const end = 16 + fieldsLength;
  while (at < end) {
    at = align(at, 8);
    if (at >= end) break;
    const code = bytes[at];
    const sigLength = bytes[at + 1];
    const type = String.fromCharCode(...bytes.subarray(at + 2, at + 2 + sigLength));
    at += 2 + sigLength + 1;
    if (type === "u") {
      at = align(at, 4);
      if (code === 5) replyTo = view.getUint32(at, little);
      at += 4;
    } else if (type === "s" || type === "o") {
      at = align(at, 4);
      at += 4 + view.getUint32(at, little) + 1;
    } else if (type === "g") {
      at += 1 + bytes[at] + 1;
    } else {
      return "bad";
    }
  }
  const body = bytes.subarray(bodyStart, length);
  return {
    length,
    type: bytes[1],
    replyTo,
    uint32: bodyLength >= 4 ? view.getUint32(bodyStart, little) : undefined,
    body,
  };
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

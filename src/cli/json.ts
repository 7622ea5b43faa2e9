// A JSON parser and printer that keep what JSON.parse loses, for the `kog`
// command's output: number literals as written (12345678901234567890 stays
// exact, 1.50 stays 1.50) and object keys in document order (JSON.parse moves
// integer-like keys such as "2" to the front). Strict RFC 8259 syntax.

/** A JSON number, kept as the literal text of the document. */
export class JsonNumber {
  /** The number's literal text, such as `1.50` or `12345678901234567890`. */
  readonly text: string;

  /** @param text The literal text. */
  constructor(text: string) {
    this.text = text;
  }
}

/** A parsed JSON value: objects are Maps in document order, numbers their literal text. */
export type JsonValue =
  | null
  | boolean
  | string
  | JsonNumber
  | JsonValue[]
  | Map<string, JsonValue>;

/** Nesting deeper than this is refused, so that a hostile body cannot exhaust the stack. */
const MAX_DEPTH = 1000;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// deno-lint-ignore no-control-regex
const PLAIN_STRING = /[^"\\\u0000-\u001f]*/y;
const WHITESPACE = /[ \t\n\r]*/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/**
 * Parses JSON text. Duplicate keys keep the first key's position and the
 * last value, as JSON.parse does.
 *
 * @throws {SyntaxError} For text that is not JSON, or nesting deeper than 1000.
 */
export function parseJson(text: string): JsonValue {
  let pos = 0;

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${pos}`);
  };
  const skip = (): void => {
    WHITESPACE.lastIndex = pos;
    WHITESPACE.test(text);
    pos = WHITESPACE.lastIndex;
  };
  const expect = (char: string): void => {
    if (text[pos] !== char) fail(`Expected "${char}"`);
    pos++;
  };

  const string = (): string => {
    expect('"');
    let out = "";
    for (;;) {
      PLAIN_STRING.lastIndex = pos;
      PLAIN_STRING.test(text);
      out += text.slice(pos, PLAIN_STRING.lastIndex);
      pos = PLAIN_STRING.lastIndex;
      const char = text[pos];
      if (char === '"') {
        pos++;
        return out;
      }
      if (char !== "\\") fail(char === undefined ? "Unterminated string" : "Control character");
      const escape = text[pos + 1];
      if (escape === "u") {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("Bad unicode escape");
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else if (escape !== undefined && Object.hasOwn(ESCAPES, escape)) {
        out += ESCAPES[escape];
        pos += 2;
      } else {
        fail("Bad escape");
      }
    }
  };

  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail("Nesting too deep");
    skip();
    const char = text[pos];
    if (char === "{") {
      pos++;
      const map = new Map<string, JsonValue>();
      skip();
      if (text[pos] === "}") {
        pos++;
        return map;
      }
      for (;;) {
        skip();
        const key = string();
        skip();
        expect(":");
        map.set(key, value(depth + 1));
        skip();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        expect("}");
        return map;
      }
    }
    if (char === "[") {
      pos++;
      const list: JsonValue[] = [];
      skip();
      if (text[pos] === "]") {
        pos++;
        return list;
      }
      for (;;) {
        list.push(value(depth + 1));
        skip();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        expect("]");
        return list;
      }
    }
    if (char === '"') return string();
    for (const [word, literal] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(text);
    if (!match || match[0] === "") {
      return fail(char === undefined ? "Unexpected end" : "Unexpected token");
    }
    pos = NUMBER.lastIndex;
    return new JsonNumber(match[0]);
  };

  const result = value(0);
  skip();
  if (pos !== text.length) fail("Unexpected text after the JSON value");
  return result;
}

/**
 * Prints a parsed value as JSON: compact without `indent`, else like
 * `JSON.stringify(value, null, indent)`.
 */
export function stringifyJson(value: JsonValue, indent?: number): string {
  const step = indent ? " ".repeat(indent) : "";
  const print = (value: JsonValue, prefix: string): string => {
    if (value === null) return "null";
    if (typeof value === "boolean") return String(value);
    if (typeof value === "string") return quoteJson(value);
    if (value instanceof JsonNumber) return value.text;
    const inner = prefix + step;
    const open = step ? `\n${inner}` : "";
    const close = step ? `\n${prefix}` : "";
    const separator = step ? `,\n${inner}` : ",";
    if (Array.isArray(value)) {
      if (value.length === 0) return "[]";
      return `[${open}${value.map((item) => print(item, inner)).join(separator)}${close}]`;
    }
    if (value.size === 0) return "{}";
    const colon = step ? ": " : ":";
    const entries = [...value].map(([key, item]) =>
      `${quoteJson(key)}${colon}${print(item, inner)}`
    );
    return `{${open}${entries.join(separator)}${close}}`;
  };
  return print(value, "");
}

/**
 * A JSON string literal that a terminal shows as it is: besides what
 * `JSON.stringify` escapes (C0 controls), DEL, the C1 controls and U+2028/9
 * are written as `\uXXXX`. The value read back is the same.
 */
function quoteJson(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

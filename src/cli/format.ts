// The output formats of the `kog` command: pretty JSON, JSON Lines, CSV, TSV
// and a padded markdown table, from a response body.

import { JsonNumber, type JsonValue, parseJson, stringifyJson } from "./json.ts";

/** The values of `kog --format`. */
export const OUTPUT_FORMATS = ["json", "jsonl", "csv", "tsv", "table"] as const;
/** One of {@linkcode OUTPUT_FORMATS}. */
export type OutputFormat = typeof OUTPUT_FORMATS[number];

/** The column that holds list items that are not objects. */
export const VALUE_COLUMN = "value";

/** True for `application/json` and `+json` media types such as `application/problem+json`. */
export function isJsonMediaType(contentType: string | null): boolean {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  return type === "application/json" || /^[a-z0-9.+-]+\/[a-z0-9.+-]*\+json$/.test(type);
}

/**
 * The text `kog` prints for a response body. A JSON body (by its content
 * type, and parseable) is printed in `format`; anything else as it is. The
 * result ends with a newline unless it is empty.
 */
export function formatBody(text: string, contentType: string | null, format: OutputFormat): string {
  let value: JsonValue | undefined;
  if (isJsonMediaType(contentType)) {
    try {
      value = parseJson(text);
    } catch {
      value = undefined;
    }
  }
  if (value === undefined) {
    const shown = visibleText(text);
    return shown === "" || shown.endsWith("\n") ? shown : shown + "\n";
  }
  return formatJson(value, format);
}

/** Prints a parsed JSON value in `format`; see {@linkcode formatBody}. */
export function formatJson(value: JsonValue, format: OutputFormat): string {
  const items = format === "json" ? undefined : listOf(value);
  if (items === undefined) return stringifyJson(value, 2) + "\n";
  if (format === "jsonl") return items.map((item) => stringifyJson(item) + "\n").join("");
  const columns = columnsOf(items);
  if (items.length === 0 || columns.length === 0) return "";
  const rows = items.map((item) => columns.map((column) => cell(item, column)));
  if (format === "table") return table(columns, rows);
  const delimiter = format === "tsv" ? "\t" : ",";
  return [columns, ...rows].map((row) =>
    row.map((field) => quote(visibleText(field), delimiter)).join(delimiter)
  )
    .join("\n") + "\n";
}

/** The list in a body: a top-level array, or the array under an object's only key. */
export function listOf(value: JsonValue): JsonValue[] | undefined {
  if (Array.isArray(value)) return value;
  if (value instanceof Map && value.size === 1) {
    const only = value.values().next().value;
    if (Array.isArray(only)) return only;
  }
  return undefined;
}

/**
 * The union of the items' keys in first-seen order; items that are not
 * objects add the {@linkcode VALUE_COLUMN} column where they first appear.
 */
function columnsOf(items: readonly JsonValue[]): string[] {
  const columns = new Set<string>();
  for (const item of items) {
    if (item instanceof Map) { for (const key of item.keys()) columns.add(key); }
    else columns.add(VALUE_COLUMN);
  }
  return [...columns];
}

/** One cell: empty for a missing key or null, JSON for objects and arrays. */
function cell(item: JsonValue, column: string): string {
  let value: JsonValue | undefined;
  if (item instanceof Map) value = item.get(column);
  else value = column === VALUE_COLUMN ? item : undefined;
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (value instanceof JsonNumber) return value.text;
  return stringifyJson(value);
}

/** RFC 4180 quoting: a field with the delimiter, a quote, CR or LF is quoted, quotes doubled. */
function quote(field: string, delimiter: string): string {
  if (!field.includes(delimiter) && !/["\r\n]/.test(field)) return field;
  return `"${field.replaceAll('"', '""')}"`;
}

/** A markdown table, each column padded to its widest cell. */
function table(columns: readonly string[], rows: readonly string[][]): string {
  // A cell is one line: pipes are escaped, line breaks written as \n.
  const escape = (text: string): string =>
    visible(text.replaceAll("|", "\\|").replace(/\r\n|\n|\r/g, "\\n"));
  const header = columns.map(escape);
  const body = rows.map((row) => row.map(escape));
  const widths = header.map(width);
  for (const row of body) {
    row.forEach((text, i) => (widths[i] = Math.max(widths[i], width(text))));
  }
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((text, i) => text + " ".repeat(widths[i] - width(text))).join(" | ")} |\n`;
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n`;
  return line(header) + rule + body.map(line).join("");
}

/** The text's width in code points (wide and combining characters are not measured). */
function width(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * Text from a server made safe for a terminal: control characters (C0, DEL,
 * C1) and U+2028/9, which could move the cursor, retitle the window or write
 * the clipboard, are shown as `\xNN` (or `\uNNNN`), except those in `keep`.
 */
export function visible(text: string, keep = ""): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (char) => {
      if (keep.includes(char)) return char;
      const code = char.charCodeAt(0);
      return code > 0xff
        ? `\\u${code.toString(16).padStart(4, "0")}`
        : `\\x${code.toString(16).padStart(2, "0")}`;
    },
  );
}

/**
 * {@linkcode visible} for text that keeps its lines: tabs, line feeds and
 * CRLF line ends stay; a lone CR, which could overwrite what a line showed, does not.
 */
function visibleText(text: string): string {
  return visible(text.replace(/\r(?!\n)/g, "\\x0d"), "\t\n\r");
}

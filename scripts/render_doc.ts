/**
 * Turns a document's figures, kept as JSON beside it (`docs/benchmarks.json`,
 * `docs/reliability.json`), into the Markdown document. `deno task bench` and `deno task reliability`
 * write the JSON and then call {@linkcode writeDocument}; the test command
 * runs this script with `--check`, which fails when a committed document is
 * not what its committed JSON renders to, so the two cannot drift.
 *
 * ```sh
 * deno run -A scripts/render_doc.ts docs/benchmarks.json   # writes docs/benchmarks.md
 * deno run -A scripts/render_doc.ts --check                # every docs/*.json against its documents
 * ```
 *
 * The Markdown is written unwrapped and then formatted with `deno fmt`, as
 * `deno fmt --check` expects every file in the repository to be.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** One block of a document, in reading order. */
export type Block =
  | { h: number; text: string }
  | { p: string }
  | { list: string[] }
  | { code: string; lang: string }
  | { table: string[]; rows: string[][] };

/** A document: its blocks. */
export interface Doc {
  blocks: Block[];
}

/** A table cell's text, with the characters that would break the table escaped. */
export function cell(value: unknown): string {
  return String(value ?? "").replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** The Markdown of a document, before `deno fmt` wraps and aligns it. */
export function renderMarkdown(doc: Doc): string {
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  const text = doc.blocks.map((block): string => {
    if ("h" in block) return `${"#".repeat(block.h)} ${block.text}`;
    if ("p" in block) return block.p;
    if ("list" in block) return block.list.map((item) => `- ${item}`).join("\n");
    if ("code" in block) return "```" + block.lang + "\n" + block.code + "\n```";
    const { table, rows } = block;
    return [line(table), line(table.map(() => "---")), ...rows.map(line)].join("\n");
  });
  return text.join("\n\n") + "\n";
}

/** Formats Markdown as `deno fmt` does in this repository. */
function formatMarkdown(markdown: string): string {
  const result = spawnSync(process.execPath, ["fmt", "--ext=md", "-"], {
    cwd: ROOT,
    input: markdown,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`deno fmt failed: ${result.stderr}`);
  return result.stdout;
}

/** The files a document's JSON renders to, by path, formatted. */
export function renderFiles(jsonPath: string): Map<string, string> {
  const doc = JSON.parse(readFileSync(jsonPath, "utf8")) as Doc;
  const base = jsonPath.replace(/\.json$/, "");
  return new Map([[`${base}.md`, formatMarkdown(renderMarkdown(doc))]]);
}

/**
 * Writes a document's JSON (as `JSON.stringify` with two spaces, which `deno
 * fmt` keeps as it is) and renders its Markdown beside it.
 *
 * @returns The paths written.
 */
export function writeDocument(jsonPath: string, doc: Doc): string[] {
  writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + "\n");
  const files = renderFiles(jsonPath);
  for (const [path, text] of files) writeFileSync(path, text);
  return [jsonPath, ...files.keys()];
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args[0] === "--check") {
    const docs = join(ROOT, "docs");
    const jsons = readdirSync(docs).filter((name) => name.endsWith(".json")).sort();
    let passed = 0;
    let failed = 0;
    for (const name of jsons) {
      for (const [path, text] of renderFiles(join(docs, name))) {
        const committed = existsSync(path) ? readFileSync(path, "utf8") : undefined;
        if (committed === text) passed++;
        else {
          failed++;
          console.log(
            `FAIL ${relative(ROOT, path)} is not what docs/${name} renders to ` +
              `(deno run -A scripts/render_doc.ts docs/${name})`,
          );
        }
      }
    }
    console.log(`Checked the documents of ${jsons.length} JSON files in docs/.`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed || jsons.length === 0 ? 1 : 0;
  } else if (args.length) {
    for (const path of args) {
      for (const [file, text] of renderFiles(path)) {
        writeFileSync(file, text);
        console.log(`Wrote ${relative(process.cwd(), file)} from ${basename(path)}`);
      }
    }
  } else {
    console.error("Usage: render_doc.ts --check | render_doc.ts docs/<name>.json...");
    process.exitCode = 2;
  }
}

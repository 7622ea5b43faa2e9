/**
 * Turns a document's figures, kept as JSON beside it (`docs/benchmarks.json`,
 * `docs/reliability.json`), into the Markdown document and, when the JSON has
 * a chart, an SVG bar chart. `deno task bench` and `deno task reliability`
 * write the JSON and then call {@linkcode writeDocument}; the test command
 * runs this script with `--check`, which fails when a committed document is
 * not what its committed JSON renders to, so the two cannot drift.
 *
 * ```sh
 * deno run -A scripts/render_doc.ts docs/benchmarks.json   # writes docs/benchmarks.md and .svg
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

/** One bar of the chart: a client's value for each series, `null` when not measured. */
export interface ChartBar {
  name: string;
  /** Drawn in the highlighted colours. */
  ours?: boolean;
  values: (number | null)[];
}

/** A horizontal bar chart, one panel per runtime, a pair of bars per client. */
export interface Chart {
  title: string;
  note: string;
  /** The series' names, printed after each value (`GET`, `POST`). */
  series: string[];
  unit: string;
  panels: { label: string; bars: ChartBar[] }[];
}

/** A document: its blocks and an optional chart, written beside it as `<name>.svg`. */
export interface Doc {
  blocks: Block[];
  chart?: Chart;
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

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The chart as SVG: each panel's bars scaled to its largest value. */
export function renderSvg(chart: Chart): string {
  const width = 820;
  const labelWidth = 200;
  const barArea = width - labelWidth - 105;
  const colours = [["#1d4ed8", "#60a5fa"], ["#6b7280", "#d1d5db"]];
  const parts: string[] = [];
  let y = 66;
  for (const panel of chart.panels) {
    const max = Math.max(1e-9, ...panel.bars.flatMap((bar) => bar.values.map((v) => v ?? 0)));
    parts.push(`<text x="10" y="${y}" class="panel">${escapeXml(panel.label)}</text>`);
    y += 10;
    for (const bar of panel.bars) {
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 16}" class="label${bar.ours ? " ours" : ""}">${
          escapeXml(bar.name)
        }</text>`,
      );
      bar.values.forEach((value, i) => {
        const barY = y + 3 + i * 10;
        if (value === null) {
          parts.push(`<text x="${labelWidth}" y="${barY + 8}" class="value">n/a</text>`);
          return;
        }
        const w = Math.max(1, (Math.max(value, 0) / max) * barArea);
        const fill = colours[bar.ours ? 0 : 1][i % 2];
        parts.push(
          `<rect x="${labelWidth}" y="${barY}" width="${w.toFixed(1)}" height="9" fill="${fill}"/>`,
          `<text x="${+(labelWidth + w + 5).toFixed(1)}" y="${barY + 8}" class="value">${
            value.toFixed(2)
          } ${chart.unit} ${chart.series[i]}</text>`,
        );
      });
      y += 26;
    }
    y += 24;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">
<style>
.title { font-size: 15px; font-weight: 600; fill: #111827; }
.note { font-size: 11px; fill: #4b5563; }
.panel { font-size: 13px; font-weight: 600; fill: #111827; }
.label { font-size: 12px; fill: #374151; text-anchor: end; }
.label.ours { font-weight: 700; fill: #1d4ed8; }
.value { font-size: 10px; fill: #374151; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="20" class="title">${escapeXml(chart.title)}</text>
<text x="10" y="36" class="note">${escapeXml(chart.note)}</text>
${parts.join("\n")}
</svg>
`;
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
  const files = new Map([[`${base}.md`, formatMarkdown(renderMarkdown(doc))]]);
  if (doc.chart) files.set(`${base}.svg`, renderSvg(doc.chart));
  return files;
}

/**
 * Writes a document's JSON (as `JSON.stringify` with two spaces, which `deno
 * fmt` keeps as it is) and renders its Markdown and chart beside it.
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

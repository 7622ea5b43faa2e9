/**
 * Checks README.md and the documents of docs/ (those written by hand, not
 * rendered from a JSON beside them) as a reader meets them:
 *
 * - every table renders: each row has as many cells as its header (a `|`
 *   escaped as `\|` is text, not a cell border; one inside backticks is a
 *   border, as GitHub renders it), and the second line is the delimiter row;
 * - every code block says its language, one of {@linkcode LANGUAGES}, and says
 *   where it is checked: `ts` blocks are type-checked on Deno
 *   (`deno check --doc-only README.md`, so `ignore` is refused on them);
 *   `js` blocks are run on Node.js 20, 22 and 24 against the npm build by the
 *   packaging test (`js ignore` only keeps Deno's type check from resolving
 *   the other clients a recipe imports); `sh` and `json` are not run;
 * - no code block uses `using` declarations, a SyntaxError on Node.js 20 and
 *   22 (the packaging test also parses the `ts` blocks, types stripped, on
 *   every Node.js version);
 * - every relative link leads to a file of the repository, and a link to a
 *   heading (`#anchor`, in the same document or another Markdown file) to a
 *   heading that is there, named as GitHub names it.
 *
 * ```sh
 * deno run --allow-read scripts/check_readme.ts [README.md docs/cli.md ...]
 * ```
 *
 * Closes with one line `N passed, N failed`: one check per table, per code
 * block and per document's links.
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";

/** The repository's root. */
const ROOT = join(dirname(new URL(import.meta.url).pathname), "..");

/**
 * The documents a reader meets, as paths from the repository's root:
 * README.md, then each `docs/*.md` that is not rendered from a JSON beside
 * it (those are checked by `scripts/render_doc.ts --check`).
 */
export function documents(root: string = ROOT): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .filter((name) => !existsSync(join(root, "docs", name.replace(/\.md$/, ".json"))))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

/** The languages a README code block may have. */
export const LANGUAGES: readonly string[] = ["sh", "ts", "js", "json", "text"];

/** A fenced code block of a Markdown file. */
export interface CodeBlock {
  /** The 1-based line of the opening fence. */
  line: number;
  /** The language, the info string's first word ("" when none). */
  language: string;
  /** The info string's other words, such as "ignore". */
  attributes: string[];
  /** The block's text, with a final newline. */
  code: string;
}

/** A table of a Markdown file, as cells per row. */
export interface Table {
  /** The 1-based line of the header row. */
  line: number;
  /** Each row's cells, trimmed, the header first and the delimiter row second. */
  rows: string[][];
}

/** The fenced code blocks of a Markdown text. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [language = "", ...attributes] = open[2].trim().split(/\s+/).filter(Boolean);
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].startsWith(open[1])) body.push(lines[j++]);
    blocks.push({ line: i + 1, language, attributes, code: body.join("\n") + "\n" });
    i = j;
  }
  return blocks;
}

/**
 * The cells of one table row, as GitHub splits it: at every `|` not escaped
 * as `\|`, inside code spans too (GFM splits cells before it reads code
 * spans, so a pipe in backticks needs its backslash as well); the outer
 * borders dropped.
 */
export function tableCells(row: string): string[] {
  const cells = row.trim().split(/(?<!\\)\|/).map((cell) => cell.trim());
  if (row.trim().startsWith("|")) cells.shift();
  if (/(?<!\\)\|$/.test(row.trim())) cells.pop();
  return cells;
}

/** The tables of a Markdown text (lines starting with `|`, outside code blocks). */
export function tables(markdown: string): Table[] {
  const found: Table[] = [];
  let inCode: string | undefined;
  let current: Table | undefined;
  markdown.split("\n").forEach((text, index) => {
    const fence = /^(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence && (inCode === undefined || fence.startsWith(inCode))) {
      inCode = inCode === undefined ? fence : undefined;
      current = undefined;
      return;
    }
    if (inCode !== undefined) return;
    if (text.trimStart().startsWith("|")) {
      if (!current) found.push(current = { line: index + 1, rows: [] });
      current.rows.push(tableCells(text));
    } else {
      current = undefined;
    }
  });
  return found;
}

/** What is wrong with a table, or undefined. */
export function tableProblem(table: Table): string | undefined {
  const [header, delimiter, ...rows] = table.rows;
  if (!delimiter || !delimiter.every((cell) => /^:?-+:?$/.test(cell))) {
    return `the table at line ${table.line} has no delimiter row (| --- |) under its header`;
  }
  const lines = [delimiter, ...rows];
  for (const [i, row] of lines.entries()) {
    if (row.length !== header.length) {
      return `line ${table.line + 1 + i} has ${row.length} cells where the header at line ` +
        `${table.line} has ${header.length}: ${row.join(" | ").slice(0, 120)}`;
    }
  }
  return undefined;
}

/** What is wrong with a code block, or undefined. */
export function codeBlockProblem(block: CodeBlock): string | undefined {
  const where = `the code block at line ${block.line}`;
  if (!LANGUAGES.includes(block.language)) {
    return `${where} has language "${block.language}", not one of ${LANGUAGES.join(", ")}`;
  }
  if (block.language === "ts" && block.attributes.includes("ignore")) {
    return `${where} is "ts ignore": TypeScript blocks must type-check`;
  }
  if (
    (block.language === "ts" || block.language === "js") && /\busing\s+\w+\s*=/.test(block.code)
  ) {
    return `${where} declares with "using", a SyntaxError on Node.js 20 and 22`;
  }
  return undefined;
}

/**
 * The anchor GitHub gives a heading: lower-case, punctuation other than `-`
 * and `_` dropped, spaces as `-`.
 */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors of a Markdown text's headings (outside code blocks), a repeat suffixed `-1`, `-2`. */
export function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let inCode: string | undefined;
  for (const text of markdown.split("\n")) {
    const fence = /^(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence && (inCode === undefined || fence.startsWith(inCode))) {
      inCode = inCode === undefined ? fence : undefined;
      continue;
    }
    const heading = inCode === undefined ? /^#{1,6}\s+(.*)$/.exec(text)?.[1] : undefined;
    if (heading === undefined) continue;
    const base = headingAnchor(heading);
    let anchor = base;
    for (let n = 1; found.has(anchor); n++) anchor = `${base}-${n}`;
    found.add(anchor);
  }
  return found;
}

/** The link targets of a Markdown text, outside code blocks and code spans. */
export function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  let inCode: string | undefined;
  for (const text of markdown.split("\n")) {
    const fence = /^(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence && (inCode === undefined || fence.startsWith(inCode))) {
      inCode = inCode === undefined ? fence : undefined;
      continue;
    }
    if (inCode !== undefined) continue;
    const prose = text.replace(/`[^`]*`/g, "");
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) targets.push(match[1]);
  }
  return targets;
}

/**
 * What is wrong with the relative links of a document, or undefined.
 *
 * @param path The document's path from `root`.
 * @param markdown Its text.
 * @param root The repository's root.
 * @param own The document's text for its own anchors, when it is not the file at `path`.
 */
export function linkProblems(
  path: string,
  markdown: string,
  root: string = ROOT,
  own?: string,
): string | undefined {
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [file, anchor] = target.split("#", 2);
    const resolved = file === "" ? join(root, path) : join(root, dirname(path), file);
    if (!existsSync(resolved)) {
      problems.push(`${target}: no file ${relative(root, resolved)}`);
      continue;
    }
    if (anchor === undefined || !statSync(resolved).isFile() || !resolved.endsWith(".md")) continue;
    const text = file === "" && own !== undefined ? own : readFileSync(resolved, "utf8");
    if (!anchors(text).has(anchor)) {
      problems.push(
        `${target}: no heading with the anchor "${anchor}" in ${relative(root, resolved)}`,
      );
    }
  }
  return problems.length ? problems.join("; ") : undefined;
}

/** The blocks the packaging test runs on Node.js: every `js` block. */
export function nodeBlocks(markdown: string): CodeBlock[] {
  return codeBlocks(markdown).filter((block) => block.language === "js");
}

if (import.meta.main) {
  const paths = process.argv.length > 2 ? process.argv.slice(2) : documents();
  let passed = 0;
  let failed = 0;
  const report = (name: string, problem: string | undefined): void => {
    if (problem) {
      failed++;
      console.log(`FAIL ${name}: ${problem}`);
    } else {
      passed++;
      console.log(`ok   ${name}`);
    }
  };
  // The checker itself, on tables it must refuse and accept.
  const selfTests: [string, string, boolean][] = [
    [
      "a row run into the table below is refused",
      "| a | b |\n| - | - |\n| 1 | 2 |\n\n| x | y | more\ntext | z |\n",
      false,
    ],
    ["a row with a cell too many is refused", "| a | b |\n| - | - |\n| 1 | 2 | 3 |\n", false],
    ["a header without a delimiter row is refused", "| a | b |\n| 1 | 2 |\n", false],
    [
      "escaped pipes are text, in code spans too",
      "| a | b |\n| - | - |\n| `x\\|y` | \\| |\n",
      true,
    ],
    [
      "a bare pipe in a code span splits the cell, as on GitHub",
      "| a | b |\n| - | - |\n| `x|y` | z |\n",
      false,
    ],
  ];
  for (const [name, sample, good] of selfTests) {
    const problems = tables(sample).map(tableProblem).filter(Boolean);
    report(
      `the checker: ${name}`,
      (problems.length === 0) === good ? undefined : `got ${problems}`,
    );
  }
  // The link check, on links it must refuse and accept.
  const linkSelfTests: [string, string, boolean][] = [
    [
      "a link to a heading that is there is accepted",
      "# Some `code`: here\n[a](#some-code-here)\n",
      true,
    ],
    ["a link to a heading that is not there is refused", "# Yes\n[a](#no)\n", false],
    ["a link to a missing file is refused", "[a](no-such-file.md)\n", false],
    ["a link in a code span is not a link", "`[a](no-such-file.md)`\n", true],
  ];
  for (const [name, sample, good] of linkSelfTests) {
    const problem = linkProblems("README.md", sample, ROOT, sample);
    report(`the checker: ${name}`, (problem === undefined) === good ? undefined : `got ${problem}`);
  }
  for (const path of paths) {
    const markdown = readFileSync(join(ROOT, path), "utf8");
    for (const table of tables(markdown)) {
      report(
        `${path}: table at line ${table.line}, ${table.rows[0].length} columns, ${
          Math.max(0, table.rows.length - 2)
        } rows`,
        tableProblem(table),
      );
    }
    for (const block of codeBlocks(markdown)) {
      report(
        `${path}: ${[block.language, ...block.attributes].join(" ")} block at line ${block.line}`,
        codeBlockProblem(block),
      );
    }
    report(
      `${path}: ${linkTargets(markdown).length} links lead to files and headings that exist`,
      linkProblems(path, markdown),
    );
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

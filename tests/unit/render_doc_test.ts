// scripts/render_doc.ts, which turns the figures the benchmark and the reliability run write as
// JSON into their Markdown documents.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cell, renderMarkdown } from "../../scripts/render_doc.ts";

describe("renderMarkdown() of scripts/render_doc.ts", () => {
  it("writes headings, paragraphs, lists, code and tables in the order of the blocks", () => {
    const markdown = renderMarkdown({
      blocks: [
        { h: 1, text: "Figures" },
        { p: "Two rows below." },
        { code: "deno task bench", lang: "sh" },
        { list: ["first", "second"] },
        { h: 2, text: "Table" },
        { table: ["Name", "Value"], rows: [["a", "1"], ["b", "2"]] },
      ],
    });
    assert.equal(
      markdown,
      "# Figures\n\nTwo rows below.\n\n```sh\ndeno task bench\n```\n\n- first\n- second\n\n" +
        "## Table\n\n| Name | Value |\n| --- | --- |\n| a | 1 |\n| b | 2 |\n",
    );
  });

  it("writes every row of a table, however many a run reports", () => {
    const rows = Array.from({ length: 250 }, (_, i) => [`fault ${i}`, i % 7 ? "yes" : "**no**"]);
    const lines = renderMarkdown({ blocks: [{ table: ["Fault", "Passed"], rows }] })
      .trimEnd().split("\n");
    assert.equal(lines.length, 2 + rows.length);
    assert.equal(lines.at(-1), "| fault 249 | yes |");
    assert.equal(lines[2 + 7], "| fault 7 | **no** |");
  });

  it("escapes the characters that would break a table cell", () => {
    assert.equal(cell("a|b\\c\r\nd"), "a\\|b\\\\c d");
    assert.equal(cell(undefined), "");
    assert.equal(cell(42), "42");
  });
});

// scripts/render_doc.ts, which turns the figures the benchmark and the reliability run write as
// JSON into their Markdown documents and the benchmark's chart.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cell, type Chart, renderMarkdown, renderSvg } from "../../scripts/render_doc.ts";

describe("renderMarkdown() and renderSvg() of scripts/render_doc.ts", () => {
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

  it("draws each panel's bars against its largest value, n/a for a figure not measured", () => {
    const chart: Chart = {
      title: "Overhead <µs> & more",
      note: "Shorter is better.",
      series: ["GET", "POST"],
      unit: "µs",
      panels: [
        {
          label: "Deno",
          bars: [
            { name: "ours", ours: true, values: [1, 2] },
            { name: "peer", values: [4, null] },
          ],
        },
        { label: "Node.js", bars: [{ name: "ours", ours: true, values: [0.5, 0.25] }] },
      ],
    };
    const svg = renderSvg(chart);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
    assert.ok(svg.includes("Overhead &lt;µs&gt; &amp; more"));
    const widths = [
      ...svg.matchAll(/<rect x="200" y="\d+" width="([\d.]+)" height="9" fill="(#[0-9a-f]+)"/g),
    ]
      .map(([, width, fill]) => [Number(width), fill]);
    assert.deepEqual(widths, [
      [128.8, "#1d4ed8"],
      [257.5, "#60a5fa"],
      [515, "#6b7280"],
      [515, "#1d4ed8"],
      [257.5, "#60a5fa"],
    ]);
    assert.ok(svg.includes(">n/a</text>"));
    assert.ok(svg.includes(">4.00 µs GET</text>"));
    assert.ok(svg.includes(">0.25 µs POST</text>"));
    assert.equal([...svg.matchAll(/class="label ours"/g)].length, 2);
    assert.equal([...svg.matchAll(/class="panel"/g)].length, 2);
  });
});

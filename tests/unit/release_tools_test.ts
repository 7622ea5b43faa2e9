// The release tooling's rules: the version module generated from deno.json (scripts/version.ts),
// a version's notes taken from CHANGELOG.md and the tag checked against deno.json
// (scripts/release_notes.ts), and actions pinned by commit SHA (scripts/lint_workflows.ts).

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkVersionModule, denoJsonVersion, versionModule } from "../../scripts/version.ts";
import { checkTag, releaseNotes } from "../../scripts/release_notes.ts";
import { unpinnedActions } from "../../scripts/lint_workflows.ts";
import { unexpectedPublishWarning } from "../../scripts/checks.ts";

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A scratch repository root with a deno.json of `version` and, when given, a version module. */
function scratchRoot(version: unknown, module?: string): string {
  const root = mkdtempSync(join(tmpdir(), "kognic-auth-release-tools-"));
  roots.push(root);
  writeFileSync(join(root, "deno.json"), JSON.stringify({ name: "@kognic/auth", version }));
  if (module !== undefined) {
    mkdirSync(join(root, "src", "shared"), { recursive: true });
    writeFileSync(join(root, "src", "shared", "version.ts"), module);
  }
  return root;
}

describe("the version module generated from deno.json", () => {
  it("is current when it is what scripts/version.ts generates from deno.json", () => {
    const root = scratchRoot("1.2.3", versionModule("1.2.3"));
    assert.equal(checkVersionModule(root), undefined);
    assert.equal(denoJsonVersion(root), "1.2.3");
  });

  it("declares VERSION as a string, so the npm build may stamp another version", () => {
    assert.match(versionModule("1.2.3"), /^export const VERSION: string = "1\.2\.3";$/m);
    assert.match(versionModule("1.2.3", false), /^export const VERSION = "1\.2\.3";$/m);
    assert.match(versionModule("1.2.3"), /do not edit/);
  });

  const stale: [string, string | undefined, RegExp][] = [
    ["another version", versionModule("1.2.2"), /says "1\.2\.2" and deno\.json says "1\.2\.3"/],
    [
      "a hand-written module with the same version",
      'export const VERSION = "1.2.3";\n',
      /not in the form scripts\/version\.ts generates/,
    ],
    ["no VERSION at all", "export {};\n", /says no version and deno\.json says "1\.2\.3"/],
    ["no module", undefined, /is missing: run `deno task version`/],
  ];
  for (const [what, module, message] of stale) {
    it(`is reported, with the command that fixes it, for ${what}`, () => {
      const problem = checkVersionModule(scratchRoot("1.2.3", module));
      assert.match(problem ?? "", message);
      if (module !== undefined) assert.match(problem ?? "", /deno task version/);
    });
  }

  for (const version of ["1.2", "v1.2.3", "", 1, null]) {
    it(`refuses deno.json's version ${JSON.stringify(version)}, naming the file`, () => {
      const root = scratchRoot(version);
      assert.throws(
        () => denoJsonVersion(root),
        (error: unknown) =>
          error instanceof RangeError && error.message.includes(join(root, "deno.json")) &&
          error.message.includes("not a semantic version"),
      );
    });
  }
});

const CHANGELOG = `# Changelog

Intro text.

## [Unreleased]

### Fixed

- Something not yet released.

## [1.0.0-rc.1] - 2026-12-07

### Added

- The first candidate.

## [0.9.0] - 2026-11-01

- Older things.

## [0.8.0]

[Unreleased]: https://example.com/compare/v1.0.0-rc.1...HEAD
[1.0.0-rc.1]: https://example.com/v1.0.0-rc.1
`;

describe("releaseNotes() of scripts/release_notes.ts", () => {
  it("takes a version's section, up to the next version", () => {
    assert.equal(releaseNotes(CHANGELOG, "1.0.0-rc.1"), "### Added\n\n- The first candidate.");
    assert.equal(releaseNotes(CHANGELOG, "0.9.0"), "- Older things.");
  });

  it("stops at the link definitions at the end", () => {
    const changelog = "## [2.0.0] - 2027-01-01\n\n- Last.\n\n[2.0.0]: https://example.com\n";
    assert.equal(releaseNotes(changelog, "2.0.0"), "- Last.");
  });

  it("refuses a version without a section, and reads the dots of a version literally", () => {
    assert.throws(() => releaseNotes(CHANGELOG, "1.0.1"), /no "## \[1\.0\.1\] - YYYY-MM-DD"/);
    assert.throws(() => releaseNotes(CHANGELOG, "0x9.0"), /no "## \[0x9\.0\]/);
    assert.throws(() => releaseNotes(CHANGELOG.replace("0.9.0", "0a9b0"), "0.9.0"), /no "/);
  });

  it("refuses an empty section", () => {
    assert.throws(() => releaseNotes(CHANGELOG, "0.8.0"), /section for 0\.8\.0 is empty/);
  });
});

describe("checkTag() of scripts/release_notes.ts", () => {
  it("takes v followed by the version", () => {
    checkTag("v0.1.0", "0.1.0");
    checkTag("v1.0.0-rc.1", "1.0.0-rc.1");
  });
  for (const tag of ["0.1.0", "v0.1.1", "v0.1.0-rc.1", "release-0.1.0", "v0.1.0 "]) {
    it(`refuses the tag ${JSON.stringify(tag)} for 0.1.0, naming both`, () => {
      assert.throws(() => checkTag(tag, "0.1.0"), (error: unknown) => {
        const message = error instanceof Error ? error.message : "";
        return message.includes(JSON.stringify(tag)) && message.includes('"v0.1.0"');
      });
    });
  }
});

describe("unpinnedActions() of scripts/lint_workflows.ts", () => {
  const sha = "08c6903cd8c0fde910a37f88322edcfb5dd907a8";
  const pinned = [
    `      - uses: actions/checkout@${sha} # v5.0.0`,
    `        uses: actions/setup-node@${sha} # v5`,
    `      - uses: github/codeql-action/init@${sha} #v3.1.2`,
    "      - uses: ./.github/actions/local",
    "      - uses: docker://alpine:3.20",
    "      - run: echo uses: actions/checkout@v5",
  ];
  for (const line of pinned) {
    it(`accepts ${line.trim()}`, () => assert.deepEqual(unpinnedActions(line), []));
  }
  const unpinned = [
    "      - uses: actions/checkout@v5",
    `      - uses: actions/checkout@${sha}`,
    `      - uses: actions/checkout@${sha.slice(0, 7)} # v5.0.0`,
    `      - uses: actions/checkout@${sha.toUpperCase()} # v5.0.0`,
    `      - uses: actions/checkout@${sha} # main`,
    "      - uses: actions/checkout@main # v5.0.0",
  ];
  for (const line of unpinned) {
    it(`refuses ${line.trim()}, naming its line`, () => {
      const source = `name: x\non: push\n${line}\n`;
      assert.deepEqual(unpinnedActions(source), [`line 3: ${line.trim()}`]);
    });
  }
});

describe("unexpectedPublishWarning()", () => {
  const peer = (line: number): string =>
    `warning[unanalyzable-dynamic-import]: unable to analyze dynamic import\n` +
    `  --> /repo/src/shared/optional_peer.ts:${line}:25\n   |\n` +
    `${line} |     return await import(bare);\n   |   ^^^^ the unanalyzable dynamic import\n`;
  const cases: [string, string, boolean][] = [
    [
      "a clean run",
      "Checking for slow types in the public API...\nSuccess Dry run complete\n",
      false,
    ],
    ["only the optional packages' run-time specifiers", peer(38) + peer(40) + "Success\n", false],
    [
      "the same warning from another file",
      peer(38).replace("src/shared/optional_peer.ts", "src/cli/kog.ts"),
      true,
    ],
    ["another kind of warning beside them", peer(38) + "warning[missing-explicit-type]: x\n", true],
    ["a warning in other words", "Warning: excluded a file\n", true],
  ];
  for (const [name, output, expected] of cases) {
    it(`says ${expected ? "yes" : "no"} for ${name}`, () => {
      assert.equal(unexpectedPublishWarning(output), expected);
    });
  }
});

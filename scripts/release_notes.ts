/**
 * The release notes of one version: its section of CHANGELOG.md (Keep a
 * Changelog: `## [1.2.3] - 2026-12-07`, or `## [Unreleased]` before the
 * release), printed on stdout for `gh release create --notes-file`.
 *
 * ```sh
 * deno run --allow-read scripts/release_notes.ts            # deno.json's version
 * deno run --allow-read scripts/release_notes.ts v0.1.0     # a tag: must be "v" + deno.json's version
 * ```
 *
 * Exits 1, saying why, when the tag is not `v` followed by deno.json's
 * version, when src/shared/version.ts is not generated from that version, or
 * when CHANGELOG.md has no non-empty section for it. The release workflow
 * runs it before anything is published.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { checkVersionModule, denoJsonVersion } from "./version.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Escapes a string for use inside a regular expression. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The body of `version`'s section in a Keep a Changelog document: the lines
 * after its `## [version]` heading up to the next `## ` heading or the link
 * definitions at the end, trimmed. Throws when there is no such section or it
 * is empty.
 */
export function releaseNotes(changelog: string, version: string): string {
  const heading = new RegExp(
    `^## \\[${escapeRegExp(version)}\\](?:\\s+-\\s+\\d{4}-\\d{2}-\\d{2})?\\s*$`,
    "m",
  );
  const match = heading.exec(changelog);
  if (!match) {
    throw new Error(`CHANGELOG.md has no "## [${version}] - YYYY-MM-DD" section`);
  }
  const rest = changelog.slice(match.index + match[0].length);
  const end = rest.search(/^(?:## |\[[^\]]+\]:\s)/m);
  const body = (end === -1 ? rest : rest.slice(0, end)).trim();
  if (!body) throw new Error(`CHANGELOG.md's section for ${version} is empty`);
  return body;
}

/** Throws unless `tag` is `v` followed by `version`. */
export function checkTag(tag: string, version: string): void {
  if (tag !== `v${version}`) {
    throw new Error(`The tag "${tag}" is not "v${version}", the version in deno.json`);
  }
}

if (import.meta.main) {
  try {
    const version = denoJsonVersion();
    const tag = process.argv[2];
    if (tag !== undefined) checkTag(tag, version);
    const problem = checkVersionModule();
    if (problem) throw new Error(problem);
    const changelog = readFileSync(join(ROOT, "CHANGELOG.md"), "utf8");
    console.log(releaseNotes(changelog, version));
  } catch (error) {
    console.error(`release_notes: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}

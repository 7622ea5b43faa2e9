// The building blocks the commands take from the entry points, tested by
// their public names: the commands are a client of the public API, so
// whatever they use is exported, documented and tested here.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { userAgent, VERSION } from "../../client.ts";

describe("@kognic/auth/client building blocks", () => {
  it("VERSION is deno.json's version and the one userAgent() sends", () => {
    const denoJson = JSON.parse(
      readFileSync(new URL("../../deno.json", import.meta.url), "utf8"),
    ) as { version: string };
    assert.equal(VERSION, denoJson.version);
    assert.match(userAgent(), new RegExp(`^kognic-auth/${VERSION.replaceAll(".", "\\.")}( |$)`));
  });
});

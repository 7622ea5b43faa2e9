// Kept equal to "version" in deno.json; tests/version_test.ts checks it.
/** The package version. */
export const VERSION = "0.1.0";

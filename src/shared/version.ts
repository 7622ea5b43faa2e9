// Kept equal to "version" in deno.json; the tests check it.
/** The package version. */
export const VERSION = "0.1.0";

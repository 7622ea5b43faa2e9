// Generated from deno.json's "version" by scripts/version.ts (deno task version); do not edit.
/** The package version. */
export const VERSION: string = "0.1.0";

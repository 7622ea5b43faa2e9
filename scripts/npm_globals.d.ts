// Globals that Deno's types have and Node 20's (@types/node 20) lack, for the
// npm build's type check only: nothing here is emitted or published.

interface ImportMeta {
  /**
   * Whether this module is the program's entry point: set by Deno, Bun and
   * Node >= 24.2; undefined (so falsy) on Node 20 and 22. Declared as Deno
   * declares it, so that `deno check scripts/` accepts this file too.
   */
  main: boolean;
}

/**
 * The optional peer dependency behind the system keyring, imported lazily by
 * src/credentials/keyring_binding.ts, which checks the module's shape itself: the build compiles
 * without it installed.
 */
declare module "@napi-rs/keyring";

// The library as the commands use it: the package's entry points, as any
// user imports them. They are loaded once, when a command starts to run
// (`loadLibrary()`), not when a command's module is imported, so that the
// modules of src/cli/ import nothing of the library statically (types
// aside): `--version` and `--help` need none of it, and a command loads
// what the entry points load statically, whose own heavy parts stay lazy.

import type * as Core from "../../mod.ts";
import type * as Config from "../../config.ts";
import type * as Telemetry from "../../telemetry.ts";

/** The entry points the commands use, loaded. */
export interface Library {
  core: typeof Core;
  config: typeof Config;
  telemetry: typeof Telemetry;
}

let loaded: Library | undefined;
let loading: Promise<Library> | undefined;

/** Loads `@kognic/auth`, `@kognic/auth/config` and `@kognic/auth/telemetry` once. */
export async function loadLibrary(): Promise<void> {
  loading ??= Promise.all([
    import("../../mod.ts"),
    import("../../config.ts"),
    import("../../telemetry.ts"),
  ]).then(([core, config, telemetry]) => (loaded = { core, config, telemetry }));
  await loading;
}

function library(): Library {
  if (!loaded) throw new Error("The commands used the library before loadLibrary()");
  return loaded;
}

/** `@kognic/auth`, once {@linkcode loadLibrary} has loaded it. */
export function coreApi(): typeof Core {
  return library().core;
}

/** `@kognic/auth/config`, once {@linkcode loadLibrary} has loaded it. */
export function configApi(): typeof Config {
  return library().config;
}

/** `@kognic/auth/telemetry`, once {@linkcode loadLibrary} has loaded it. */
export function telemetryApi(): typeof Telemetry {
  return library().telemetry;
}

/** The library when {@linkcode loadLibrary} has loaded it, else `undefined`. */
export function loadedLibrary(): Library | undefined {
  return loaded;
}

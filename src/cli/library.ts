// The library as the commands use it: the package's entry points, as any
// user imports them. They are loaded once, when a command starts to run
// (`loadLibrary()`), not when a command's module is imported, so that the
// modules of src/cli/ import nothing of the library statically (types
// aside): `--version` and `--help` need none of it, and a command loads
// what the entry points load statically, whose own heavy parts stay lazy.
// `@kognic/auth/telemetry` (the events described for -v) is loaded only for
// a run that shows them: a warm `kognic-auth get-access-token` without -v
// does not load it.

import type * as Core from "../../mod.ts";
import type * as Config from "../../config.ts";
import type * as Telemetry from "../../telemetry.ts";

/** The entry points the commands use, loaded. */
export interface Library {
  core: typeof Core;
  config: typeof Config;
  /** Loaded by {@linkcode loadTelemetry}, or by {@linkcode loadLibrary} unless told not to. */
  telemetry?: typeof Telemetry;
}

let loaded: Library | undefined;
let loading: Promise<Library> | undefined;
let telemetryLoading: Promise<void> | undefined;

/**
 * Loads `@kognic/auth` and `@kognic/auth/config` once, and
 * `@kognic/auth/telemetry` too unless `telemetry` is false (a command that
 * calls {@linkcode loadTelemetry} itself when -v asks for event lines).
 */
export async function loadLibrary(options: { telemetry?: boolean } = {}): Promise<void> {
  loading ??= Promise.all([import("../../mod.ts"), import("../../config.ts")])
    .then(([core, config]) => (loaded = { core, config }));
  await Promise.all([loading, options.telemetry === false ? undefined : loadTelemetry()]);
}

/** Loads `@kognic/auth/telemetry` once, after (or with) the rest of the library. */
export async function loadTelemetry(): Promise<void> {
  telemetryLoading ??= Promise.all([
    loading ?? Promise.reject(new Error("loadTelemetry() before loadLibrary()")),
    import("../../telemetry.ts"),
  ]).then(([library, telemetry]) => {
    library.telemetry = telemetry;
  });
  await telemetryLoading;
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

/** `@kognic/auth/telemetry`, once {@linkcode loadLibrary} or {@linkcode loadTelemetry} has loaded it. */
export function telemetryApi(): typeof Telemetry {
  const telemetry = library().telemetry;
  if (!telemetry) throw new Error("The commands used the telemetry before loadTelemetry()");
  return telemetry;
}

/** The library when {@linkcode loadLibrary} has loaded it, else `undefined`. */
export function loadedLibrary(): Library | undefined {
  return loaded;
}

// One place that makes the Deno and Node inspectors show an object's redacted
// JSON form, so that console.log never prints a secret held in a #private field.

/**
 * Installs Deno's and Node's custom-inspect hooks on a class's prototype: both
 * print `Name {...toJSON()}`.
 */
export function inspectAsJson(target: { prototype: { toJSON(): unknown } }, name: string): void {
  for (const key of ["Deno.customInspect", "nodejs.util.inspect.custom"]) {
    Object.defineProperty(target.prototype, Symbol.for(key), {
      value(this: { toJSON(): unknown }): string {
        return `${name} ${JSON.stringify(this.toJSON())}`;
      },
    });
  }
}

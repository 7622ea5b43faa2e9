/**
 * File helpers shared by the layers that read files on Deno, Node and Bun.
 *
 * @module
 */

/** The `code` of a Node-style system error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Whether `error` says a file does not exist (or a parent is not a directory). */
export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOENT" || code === "ENOTDIR" || (error as Error | null)?.name === "NotFound";
}

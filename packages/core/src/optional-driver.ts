import { AssuredError } from "./errors.js";

function isMissingModule(error: unknown, driver: string): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_MODULE_NOT_FOUND") return false;
  return typeof message === "string" && message.includes(`'${driver}'`);
}

/**
 * Runs `load` (the `require` or import of an optional peer driver such as `better-sqlite3`) and
 * returns the module. If the driver itself is not installed, throws `INVALID_ARGUMENT` naming
 * the package to install; any other failure is rethrown as it is.
 *
 * @example const Database = loadDriver("better-sqlite3", "@assured/store-sqlite", () => require("better-sqlite3"));
 */
export function loadDriver<T>(driver: string, user: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!isMissingModule(error, driver)) throw error;
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${user} needs the "${driver}" package, which is not installed: run \`npm install ${driver}\` (or pnpm add / yarn add) next to ${user}.`,
      { cause: error },
    );
  }
}

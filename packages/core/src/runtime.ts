/** Whether this runs on Node (not a browser bundle, whose `process` and `Buffer` may be polyfills). */
export const isNode =
  typeof process === "object" &&
  typeof (process as { versions?: { node?: unknown } }).versions?.node === "string";

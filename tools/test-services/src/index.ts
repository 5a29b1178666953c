export * from "./chromium.js";
export * from "./cut-proxy.js";
export * from "./ferretdb.js";
export * from "./free-port.js";
export * from "./postgres.js";
export * from "./process.js";
export * from "./redis.js";
export * from "./restartable.js";

import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { AssuredError } from "../src/errors.js";
import { loadDriver } from "../src/optional-driver.js";

const require = createRequire(import.meta.url);

describe("loading an optional driver", () => {
  it("turns a missing driver into INVALID_ARGUMENT saying which package to install", () => {
    const missing = "assured-driver-that-is-not-installed";
    let thrown: unknown;
    try {
      loadDriver(missing, "@assured/store-x", () => require(missing));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AssuredError);
    expect(thrown).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining(`run \`npm install ${missing}\``),
    });
    expect((thrown as AssuredError).message).toContain('@assured/store-x needs the "');
    expect((thrown as Error).cause).toMatchObject({ code: "MODULE_NOT_FOUND" });
  });

  it("says the same for a failed ESM import (ERR_MODULE_NOT_FOUND)", async () => {
    const missing = "assured-esm-driver-that-is-not-installed";
    const failure = await import(/* @vite-ignore */ missing).catch((error: unknown) => error);
    expect(() =>
      loadDriver(missing, "@assured/store-x", () => {
        throw failure;
      }),
    ).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("returns the module when it loads, and rethrows other failures unchanged", () => {
    expect(loadDriver("node:path", "@assured/store-x", () => require("node:path"))).toBe(
      require("node:path"),
    );
    const other = Object.assign(new Error("Cannot find module 'bindings'"), {
      code: "MODULE_NOT_FOUND",
    });
    expect(() =>
      loadDriver("better-sqlite3", "@assured/store-x", () => {
        throw other;
      }),
    ).toThrow(other);
    const broken = new Error("native binding failed");
    expect(() =>
      loadDriver("better-sqlite3", "@assured/store-x", () => {
        throw broken;
      }),
    ).toThrow(broken);
  });
});

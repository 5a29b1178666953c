import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@assured/source"] },
  ssr: { resolve: { conditions: ["@assured/source"] } },
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globalSetup: ["./test/global-setup.ts"],
    // One FerretDB serves every file; files in parallel would starve the 50-instance cases.
    fileParallelism: false,
  },
});

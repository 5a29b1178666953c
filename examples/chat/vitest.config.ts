import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@assured/source"] },
  ssr: { resolve: { conditions: ["@assured/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // The two end-to-end files each run servers and (one) a browser: run them one at a time.
    fileParallelism: false,
  },
});

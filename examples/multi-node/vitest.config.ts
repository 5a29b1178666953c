import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@assured/source"] },
  ssr: { resolve: { conditions: ["@assured/source"] } },
  test: { include: ["test/**/*.test.ts", "src/**/*.test.ts"], testTimeout: 30_000 },
});

import { defineConfig } from "vitest/config";

// Unit tests of the bench's pure logic (targets, chart, selection); the bench itself is `pnpm bench`.
export default defineConfig({
  resolve: { conditions: ["@assured/source"] },
  ssr: { resolve: { conditions: ["@assured/source"] } },
  test: { include: ["test/**/*.test.ts"] },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Separate processes: tests call setns(), which must never leak between files.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ["test/**/*.test.ts", "conformance/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    setupFiles: ["test/setup-each.ts"],
    reporters: ["default"],
  },
});

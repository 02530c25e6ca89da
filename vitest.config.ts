import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores on CI: parallel files fight over CPU and make timing-sensitive
    // tests (budgets, tarpits) flaky, so keep a small pool.
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // No worker cap: vitest's default (one worker per available core). Tests wait on
    // events and observable state rather than on time, so they pass with every core busy
    // (issue 11: five runs in a row beside a second `npm test` on two cores).
  },
});

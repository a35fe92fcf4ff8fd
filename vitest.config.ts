import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests spawn their own worker threads; two files at a time keeps a 2-core box honest.
    maxWorkers: 2,
    pool: 'forks',
  },
});

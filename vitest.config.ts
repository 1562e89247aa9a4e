import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['apps/*/src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'test/src/**/*.test.ts', 'test/doubles/**/*.test.ts'],
    globalSetup: ['test/src/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each build their own namespace (tenant, queue prefix), so they may run in parallel;
    // two forks keep a 2-core machine responsive.
    pool: 'forks',
    maxWorkers: 2,
  },
});

import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// This file lives in .config/; the project root is one level up.
const root = fileURLToPath(new URL('..', import.meta.url));

// SWC compiles the TypeScript so that Nest's decorator metadata is emitted (esbuild does not).
const plugins = [swc.vite({ module: { type: 'es6' } })];

export default defineConfig({
  root,
  test: {
    projects: [
      {
        plugins,
        root,
        test: {
          name: 'unit',
          include: ['lib/**/*.spec.ts'],
          environment: 'node',
        },
      },
      {
        plugins,
        root,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e-spec.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // Database-backed suites share real servers; run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});

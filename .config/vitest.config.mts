import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// This file lives in .config/; the project root is one level up.
const root = fileURLToPath(new URL('..', import.meta.url));

// Vite 8 compiles TypeScript with Oxc, which honours tsconfig's experimentalDecorators and
// emitDecoratorMetadata: Nest's injection by type works without an SWC plugin.
export default defineConfig({
  root,
  test: {
    projects: [
      {
        root,
        test: {
          name: 'unit',
          include: ['lib/**/*.spec.ts'],
          environment: 'node',
        },
      },
      {
        root,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e-spec.ts'],
          environment: 'node',
          // Scans every log line of each file for tokens, session ids, sids and subs (off with
          // OIDC_LOGOUT_LOG_SCAN=0, to compare timings or chase something else).
          setupFiles:
            process.env.OIDC_LOGOUT_LOG_SCAN === '0' ? [] : ['test/fixtures/log-secrets/setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // Database-backed suites share real servers; run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});

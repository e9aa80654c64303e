import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The documentation checks of CI (.ci/check-doc-links.mjs, .ci/check-doc-snippets.mjs), run as CI
 * runs them, on Markdown written for the purpose: what they must accept and what they must refuse.
 */

const root = join(__dirname, '..', '..');
const fixtures = 'build/doc-check-fixtures';

function run(script: string, files: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, '.ci', script), ...files],
      { cwd: root, timeout: 110_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

function write(name: string, lines: string[]): string {
  writeFileSync(join(root, fixtures, name), `${lines.join('\n')}\n`);
  return `${fixtures}/${name}`;
}

const fence = '```';

describe('The documentation checks', () => {
  beforeAll(() => mkdirSync(join(root, fixtures), { recursive: true }));
  afterAll(() => rmSync(join(root, fixtures), { recursive: true, force: true }));

  it('resolve anchors by GitHub heading slugs, and report broken links with file and line', async () => {
    write('other.md', ['# Other', '', '## Twice', '', '## Twice']);
    const page = write('page.md', [
      '# Page',
      '',
      '## `exp_missing` (Keycloak <= 23.0.3, Ory Hydra 2.2)',
      '',
      '[ok](#exp_missing-keycloak--2303-ory-hydra-22) [ok](other.md#twice-1) [ok](other.md)',
      '[ok](https://example.com/x#y) `[not a link](#in-code)`',
      '[bad](#exp_missing) [bad](missing.md) [bad](other.md#twice-2)',
      '',
      `${fence}md`,
      '[not a link](#in-a-fence)',
      fence,
    ]);

    const { code, output } = await run('check-doc-links.mjs', [page]);

    expect(code).toBe(1);
    const broken = output.split('\n').filter((line) => line.startsWith(page));
    expect(broken).toEqual([
      `${page}:7: #exp_missing: no heading #exp_missing in ${page}`,
      `${page}:7: missing.md: ${fixtures}/missing.md does not exist`,
      `${page}:7: other.md#twice-2: no heading #twice-2 in ${fixtures}/other.md`,
    ]);
  });

  it('compile each TypeScript block as written, and refuse the boolean widening of two combined snippets', async () => {
    writeFileSync(join(root, fixtures, 'example.ts'), 'export const answer = 42;\n');
    const page = write('snippets.md', [
      '# Snippets',
      '',
      `${fence}ts`,
      "import { OidcLogoutModule } from 'nest-oidc-logout';",
      '',
      "const google = { registrationId: 'g', issuer: 'https://accounts.google.com', clientId: 'c',",
      '  frontChannel: false };',
      'OidcLogoutModule.forRoot({ clients: [google] });',
      fence,
      '',
      `${fence}ts`,
      "import { OidcLogoutModule, type OidcClientRegistration } from 'nest-oidc-logout';",
      '',
      "const google: OidcClientRegistration = { registrationId: 'g', issuer: 'https://a.b', clientId: 'c',",
      '  frontChannel: false };',
      fence,
      '',
      `${fence}ts`,
      '// continues',
      'OidcLogoutModule.forRoot({ clients: [google] });',
      fence,
      '',
      `${fence}ts`,
      '// src/parts.ts',
      'export const part = 1;',
      fence,
      '',
      `${fence}typescript`,
      '// src/total.ts',
      "import { part } from './parts';",
      'const total: number = part + 1;',
      fence,
      '',
      `<!-- embed: ${fixtures}/example.ts -->`,
      '',
      `${fence}ts`,
      'export const answer = 41;',
      fence,
    ]);

    const { code, output } = await run('check-doc-snippets.mjs', [page]);

    expect(code).toBe(1);
    const problems = output.split('\n').filter((line) => line.startsWith(page));
    expect(problems, output).toHaveLength(2);
    expect(problems[0]).toMatch(
      new RegExp(`^${page}:36: the block differs from ${fixtures}/example.ts`),
    );
    expect(problems[1]).toMatch(new RegExp(`^${page}:8: TS2322: `));
    expect(problems[1]).toContain('frontChannel: boolean');
    expect(output).toContain("Type 'boolean' is not assignable to type 'false");
  }, 120_000);
});

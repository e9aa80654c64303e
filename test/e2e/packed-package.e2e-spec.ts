import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestKeySet } from '../fixtures/keys';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { signLogoutToken, tamperSignature } from '../fixtures/tokens';

/**
 * What a fresh application does with the package: `npm pack` (its `prepack` builds), the tarball
 * extracted into an app folder that links only the packages such an app has, and a tiny Nest app
 * (no TypeScript, no test runner) booted from it as CommonJS (`require`) and as ESM (`import`),
 * answering the back-channel logout endpoint. Without `typeorm` resolvable from the app, the root
 * entry and `nest-oidc-logout/passport` must load and the default in-memory store must serve; with
 * `typeorm` (SQLite), `nest-oidc-logout/typeorm` provides the entities and migrations. Works
 * offline: every package comes from this repository's node_modules.
 */
const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');
/** Time for one app to boot and answer, or for one type check (a shared 2-core machine is slow). */
const APP_TIMEOUT = 120_000;
const TYPE_CHECK_TIMEOUT = 240_000;
const CLIENT_ID = 'fresh-app';
/** What an app without a database installs next to the package (and the package's dependency). */
const APP_PACKAGES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  'reflect-metadata',
  'rxjs',
  'jose',
];
const TYPEORM_PACKAGES = ['typeorm', 'better-sqlite3'];
/** Only for the type checks: an app's TypeScript setup. */
const TYPES_PACKAGES = ['@types/node'];

/** The app, after its imports: options from the environment, one line with its port when up. */
const APP_BODY = `
async function main() {
  const clients = [{ registrationId: 'op', issuer: process.env.ISSUER, clientId: '${CLIENT_ID}' }];
  let store = {};
  if (process.env.STORE === 'typeorm') {
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: process.env.SQLITE_FILE,
      entities: subpaths.typeorm.OIDC_LOGOUT_ENTITIES,
      migrations: subpaths.typeorm.OIDC_LOGOUT_MIGRATIONS,
      migrationsRun: true,
    });
    await dataSource.initialize();
    store = { dataSource };
  }
  for (const [entry, names] of Object.entries(expectedExports)) {
    for (const name of names) {
      if (typeof subpaths[entry][name] !== 'function') throw new Error(entry + ' lacks ' + name);
    }
  }
  class AppModule {}
  Module({ imports: [OidcLogoutModule.forRoot({ clients, ...store })] })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  console.log('LISTENING ' + app.getHttpServer().address().port);
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

const EXPECTED_EXPORTS = `{
  root: ['OidcLogoutModule', 'LogoutService', 'OidcSessionGuard', 'InMemoryOidcSessionRepository'],
  passport: ['createOidcLoginStrategyProvider', 'OidcLoginGuard'],
  redis: ['RedisOidcSessionRepository', 'RedisOidcLogoutEventStore'],
  ...(process.env.STORE === 'typeorm' ? { typeorm: ['TypeOrmOidcSessionRepository'] } : {}),
}`;

const CJS_APP = `'use strict';
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { OidcLogoutModule } = require('nest-oidc-logout');
const subpaths = {
  root: require('nest-oidc-logout'),
  passport: require('nest-oidc-logout/passport'),
  redis: require('nest-oidc-logout/redis'),
};
let DataSource;
if (process.env.STORE === 'typeorm') {
  subpaths.typeorm = require('nest-oidc-logout/typeorm');
  ({ DataSource } = require('typeorm'));
}
const expectedExports = ${EXPECTED_EXPORTS};
${APP_BODY}`;

const ESM_APP = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OidcLogoutModule, LogoutService, OidcSessionGuard, InMemoryOidcSessionRepository } from 'nest-oidc-logout';
import { createOidcLoginStrategyProvider, OidcLoginGuard } from 'nest-oidc-logout/passport';
import { RedisOidcSessionRepository, RedisOidcLogoutEventStore } from 'nest-oidc-logout/redis';
const subpaths = {
  root: { OidcLogoutModule, LogoutService, OidcSessionGuard, InMemoryOidcSessionRepository },
  passport: { createOidcLoginStrategyProvider, OidcLoginGuard },
  redis: { RedisOidcSessionRepository, RedisOidcLogoutEventStore },
};
let DataSource;
if (process.env.STORE === 'typeorm') {
  const { TypeOrmOidcSessionRepository, OIDC_LOGOUT_ENTITIES, OIDC_LOGOUT_MIGRATIONS } = await import('nest-oidc-logout/typeorm');
  subpaths.typeorm = { TypeOrmOidcSessionRepository, OIDC_LOGOUT_ENTITIES, OIDC_LOGOUT_MIGRATIONS };
  ({ DataSource } = await import('typeorm'));
}
const expectedExports = ${EXPECTED_EXPORTS};
${APP_BODY}`;

/** A TypeScript app of the entries it is given, as an app writes it. */
const TS_APP: Record<string, string> = {
  root: `import { OidcLogoutModule, type OidcLogoutModuleOptions } from 'nest-oidc-logout';
const options: OidcLogoutModuleOptions = { clients: [{ registrationId: 'op', issuer: 'https://op.example', clientId: 'app' }] };
export const oidc = OidcLogoutModule.forRoot(options);
`,
  passport: `import { createOidcLoginStrategyProvider, type OidcLoginUser } from 'nest-oidc-logout/passport';
export const login = createOidcLoginStrategyProvider;
export type User = OidcLoginUser;
`,
  redis: `import { RedisOidcSessionRepository, type RedisClientLike } from 'nest-oidc-logout/redis';
declare const client: RedisClientLike;
export const store = RedisOidcSessionRepository.with(client, { keyPrefix: 'app' });
`,
  typeorm: `import { OIDC_LOGOUT_ENTITIES, TypeOrmOidcSessionRepository } from 'nest-oidc-logout/typeorm';
export const entities = [...OIDC_LOGOUT_ENTITIES];
export const store = TypeOrmOidcSessionRepository;
`,
};

/** Type-checks an app of `entries` in `dir` with the compiler of this repository. */
async function typeCheck(
  dir: string,
  entries: readonly string[],
  options: { moduleResolution: 'node10' | 'nodenext'; skipLibCheck: boolean },
): Promise<void> {
  const file = join(dir, `app-${options.moduleResolution}.ts`);
  await writeFile(file, entries.map((entry) => TS_APP[entry]).join(''));
  const module = options.moduleResolution === 'node10' ? 'commonjs' : 'nodenext';
  const args = [
    join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    ...[
      '--noEmit',
      '--strict',
      '--target',
      'ES2022',
      '--types',
      'node',
      '--ignoreDeprecations',
      '6.0',
    ],
    ...['--module', module, '--moduleResolution', options.moduleResolution],
    ...['--skipLibCheck', String(options.skipLibCheck), file],
  ];
  await run(process.execPath, args, { cwd: dir }).catch((error: Error & { stdout?: string }) => {
    const output = error.stdout || error.message;
    throw new Error(`tsc ${module}/${options.moduleResolution}:\n${output}`);
  });
}

let work: string;
let tarball: string;
let op: FakeOp;
const apps: ChildProcess[] = [];

/** An app folder: the extracted tarball and links to the given packages of this repository. */
async function appFolder(name: string, packages: readonly string[]): Promise<string> {
  const dir = join(work, name);
  const installed = join(dir, 'node_modules', 'nest-oidc-logout');
  await mkdir(installed, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, private: true }));
  await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  for (const pkg of packages) {
    const link = join(dir, 'node_modules', pkg);
    await mkdir(join(link, '..'), { recursive: true });
    await symlink(join(ROOT, 'node_modules', pkg), link, 'dir');
  }
  await writeFile(join(dir, 'app.cjs'), CJS_APP);
  await writeFile(join(dir, 'app.mjs'), ESM_APP);
  return dir;
}

/** Starts `file` of `dir` with Node, resolves with its URL once it listens. */
function startApp(dir: string, file: string, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [file], {
    cwd: dir,
    env: { PATH: process.env.PATH, ISSUER: op.issuer, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  apps.push(child);
  let output = '';
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${output}`)), 90_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const port = /LISTENING (\d+)/.exec(output)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolveUrl(`http://127.0.0.1:${port}`);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code}:\n${output}`));
    });
  });
}

/** The back-channel logout of one valid token (200) and of a tampered one (400). */
async function expectBackChannelLogout(url: string): Promise<void> {
  const post = (token: string): Promise<Response> =>
    fetch(`${url}/logout/connect/back-channel/op`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `logout_token=${encodeURIComponent(token)}`,
    });
  const token = await signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID });
  expect((await post(token)).status).toBe(200);
  expect((await post(tamperSignature(token))).status).toBe(400);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oidc-logout-packed-'));
  // What a fresh clone does: `npm pack` builds first (prepack).
  await run('npm', ['pack', '--silent', '--pack-destination', work], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const packed = (await readdir(work)).filter((file) => file.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = join(work, packed[0]!);
  op = await startFakeOp({ keys: await createTestKeySet() });
}, 300_000);

afterAll(async () => {
  for (const app of apps) app.kill();
  await op?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package in a fresh app', () => {
  it('ships the compiled entries and their declarations, no source maps and no specs', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').filter(Boolean);
    for (const entry of ['index', 'typeorm', 'passport', 'redis', 'terminus']) {
      expect(files).toContain(`package/dist/${entry}.js`);
      expect(files).toContain(`package/dist/${entry}.d.ts`);
    }
    expect(
      files.filter((file) => /\.map$|\.spec\.|\.ts$/.test(file) && !file.endsWith('.d.ts')),
    ).toEqual([]);
  });

  describe('without typeorm: the root entry and the passport entry, the in-memory store', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await appFolder('app-without-typeorm', [...APP_PACKAGES, ...TYPES_PACKAGES]);
    });

    it('cannot resolve typeorm nor passport from the app or the package', () => {
      for (const from of [dir, join(dir, 'node_modules', 'nest-oidc-logout')]) {
        const appRequire = createRequire(join(from, 'package.json'));
        for (const name of ['typeorm', '@nestjs/typeorm', 'passport', '@nestjs/passport']) {
          expect(() => appRequire.resolve(name), `${name} from ${from}`).toThrow();
        }
      }
    });

    it(
      'boots as CommonJS (require) and answers a back-channel logout',
      async () => {
        await expectBackChannelLogout(await startApp(dir, 'app.cjs'));
      },
      APP_TIMEOUT,
    );

    it(
      'boots as ESM (import) and answers a back-channel logout',
      async () => {
        await expectBackChannelLogout(await startApp(dir, 'app.mjs'));
      },
      APP_TIMEOUT,
    );

    it(
      'type-checks an app of the root, passport and redis entries (skipLibCheck, as Nest sets it, and without: their declarations need no typeorm, passport or Redis client types)',
      async () => {
        for (const moduleResolution of ['node10', 'nodenext'] as const) {
          for (const skipLibCheck of [true, false]) {
            await typeCheck(dir, ['root', 'passport', 'redis'], { moduleResolution, skipLibCheck });
          }
        }
      },
      TYPE_CHECK_TIMEOUT,
    );
  });

  describe('with typeorm through nest-oidc-logout/typeorm (SQLite)', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await appFolder('app-with-typeorm', [
        ...APP_PACKAGES,
        ...TYPEORM_PACKAGES,
        ...TYPES_PACKAGES,
      ]);
    });

    it(
      'type-checks an app of the three entries, declarations included (node10 and nodenext)',
      async () => {
        for (const moduleResolution of ['node10', 'nodenext'] as const) {
          await typeCheck(dir, ['root', 'passport', 'typeorm'], {
            moduleResolution,
            skipLibCheck: false,
          });
        }
      },
      TYPE_CHECK_TIMEOUT,
    );

    for (const file of ['app.cjs', 'app.mjs']) {
      it(
        `boots ${file}, runs the migrations and answers a back-channel logout`,
        async () => {
          const database = join(dir, `${file}.sqlite`);
          const url = await startApp(dir, file, { STORE: 'typeorm', SQLITE_FILE: database });
          await expectBackChannelLogout(url);
          const db = new DataSource({ type: 'better-sqlite3', database, readonly: true });
          await db.initialize();
          try {
            const rows: Array<{ name: string }> = await db.query(
              "select name from sqlite_master where type = 'table'",
            );
            expect(rows.map((row) => row.name)).toEqual(
              expect.arrayContaining(['oidc_sessions', 'migrations']),
            );
          } finally {
            await db.destroy();
          }
        },
        APP_TIMEOUT,
      );
    }
  });
});

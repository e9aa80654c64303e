import { inspect } from 'node:util';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  OidcLogoutOptionsError,
  OidcSessionRepositoryError,
} from '../../lib/errors/oidc-logout.error';
import type { OidcSessionInfo } from '../../lib/interfaces/oidc-session-info.interface';
import { InMemoryOidcSessionRepository } from '../../lib/repositories/in-memory-oidc-session.repository';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import {
  CreateOidcSessionsTable1763700000000,
  OIDC_LOGOUT_MIGRATIONS,
} from '../../lib/repositories/typeorm/create-oidc-sessions-table.migration';
import { TypeOrmOidcSessionRepository } from '../../lib/repositories/typeorm/typeorm-oidc-session.repository';
import {
  announceDatabase,
  createTestDataSource,
  DATABASE_KINDS,
  destroyTestDataSource,
} from '../fixtures/databases';
import { describeOidcSessionRepositoryContract } from '../repository/oidc-session-repository.contract';

describeOidcSessionRepositoryContract('in-memory', () =>
  Promise.resolve({
    repository: new InMemoryOidcSessionRepository(),
    close: () => Promise.resolve(),
  }),
);

describeOidcSessionRepositoryContract('in-memory with an injected clock', () => {
  const now = () => 1_763_700_000_000;
  return Promise.resolve({
    repository: new InMemoryOidcSessionRepository({ now, maxEntries: 500 }),
    close: () => Promise.resolve(),
    now,
  });
});

function sampleSession(overrides: Partial<OidcSessionInfo> = {}): OidcSessionInfo {
  return {
    clientSessionId: hashSessionId(`s-${Math.random()}`),
    registrationId: 'main',
    issuer: 'https://op.example.com',
    clientId: 'app',
    sid: 'secret-sid-value',
    sub: 'secret-sub-value',
    idToken: 'secret.id.token',
    expiresAt: new Date(Date.now() + 3_600_000),
    createdAt: new Date(),
    ...overrides,
  };
}

/** Each repository method called once, for the fail-closed checks. */
function everyMethod(repository: TypeOrmOidcSessionRepository, info: OidcSessionInfo) {
  return {
    save: () => repository.save(info),
    findByClientSessionId: () => repository.findByClientSessionId(info.clientSessionId),
    removeByClientSessionId: () => repository.removeByClientSessionId(info.clientSessionId),
    removeByLogoutToken: () =>
      repository.removeByLogoutToken({
        issuer: info.issuer,
        clientId: info.clientId,
        sid: info.sid!,
      }),
    removeExpired: () => repository.removeExpired(new Date()),
  };
}

async function expectFailsClosed(
  repository: TypeOrmOidcSessionRepository,
  info: OidcSessionInfo,
): Promise<void> {
  for (const [method, call] of Object.entries(everyMethod(repository, info))) {
    const error: unknown = await call().then(
      (value) => {
        throw new Error(`${method} resolved with ${JSON.stringify(value)} instead of rejecting`);
      },
      (reason: unknown) => reason,
    );
    expect(error, method).toBeInstanceOf(OidcSessionRepositoryError);
    const { message, code } = error as OidcSessionRepositoryError;
    expect(code).toBe('ERR_REPOSITORY_UNAVAILABLE');
    for (const secret of [info.clientSessionId, info.sid!, info.sub, info.idToken]) {
      expect(message, method).not.toContain(secret);
    }
  }
}

interface TableShape {
  columns: Record<string, unknown>[];
  indices: { name: string | undefined; columns: string[] }[];
  primary: string[];
}

async function tableShape(dataSource: DataSource): Promise<TableShape> {
  const queryRunner = dataSource.createQueryRunner();
  try {
    const table = await queryRunner.getTable('oidc_sessions');
    if (!table) throw new Error('oidc_sessions does not exist');
    return {
      columns: table.columns
        .map((c) => ({
          name: c.name,
          type: c.type,
          length: c.length,
          isNullable: c.isNullable,
          isPrimary: c.isPrimary,
          default: c.default as unknown,
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      indices: table.indices
        .map((i) => ({ name: i.name, columns: [...i.columnNames] }))
        .sort((a, b) => String(a.name).localeCompare(String(b.name))),
      primary: table.primaryColumns.map((c) => c.name),
    };
  } finally {
    await queryRunner.release();
  }
}

for (const kind of DATABASE_KINDS) {
  const enabled = announceDatabase(kind, 'OidcSessionRepository e2e');

  describe.skipIf(!enabled)(`TypeOrmOidcSessionRepository on ${kind}`, () => {
    describeOidcSessionRepositoryContract(
      `TypeORM ${kind}, schema from OIDC_LOGOUT_MIGRATIONS (synchronize: false)`,
      async () => {
        const dataSource = await createTestDataSource(kind, { migrations: true });
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        return { repository, close: () => destroyTestDataSource(dataSource) };
      },
    );

    describe(`schema and lifecycle on ${kind}`, () => {
      const opened: DataSource[] = [];
      async function open(...args: Parameters<typeof createTestDataSource>): Promise<DataSource> {
        const dataSource = await createTestDataSource(...args);
        opened.push(dataSource);
        return dataSource;
      }

      afterEach(async () => {
        for (const dataSource of opened.splice(0).reverse()) {
          await destroyTestDataSource(dataSource);
        }
      });

      it('the migration creates exactly the entity schema: TypeORM sees no difference', async () => {
        const dataSource = await open(kind, { migrations: true });
        const diff = await dataSource.driver.createSchemaBuilder().log();
        expect(diff.upQueries.map((q) => q.query)).toEqual([]);
        const shape = await tableShape(dataSource);
        expect(shape.primary).toEqual(['client_session_id']);
        expect(shape.indices.map((i) => i.name)).toEqual([
          'IDX_oidc_sessions_expires_at',
          'IDX_oidc_sessions_issuer_sid',
          'IDX_oidc_sessions_issuer_sub',
        ]);
        expect(shape.indices.map((i) => i.columns)).toEqual([
          ['expires_at'],
          ['issuer', 'sid'],
          ['issuer', 'sub'],
        ]);
      });

      it('synchronize and the migration produce the same table', async () => {
        const migrated = await tableShape(await open(kind, { migrations: true }));
        await destroyTestDataSource(opened.pop()!);
        const synchronized = await tableShape(await open(kind, { synchronize: true }));
        expect(synchronized).toEqual(migrated);
        expect(migrated.columns.map((c) => [c.name, c.isNullable])).toEqual([
          ['client_id', false],
          ['client_session_id', false],
          ['created_at', false],
          ['expires_at', false],
          ['id_token', false],
          ['issuer', false],
          ['registration_id', false],
          ['sid', true],
          ['sub', false],
        ]);
      });

      it('OIDC_LOGOUT_MIGRATIONS is the named migration; down drops the table, up recreates it', async () => {
        expect(OIDC_LOGOUT_MIGRATIONS).toEqual([CreateOidcSessionsTable1763700000000]);
        expect(new CreateOidcSessionsTable1763700000000().name).toBe(
          'CreateOidcSessionsTable1763700000000',
        );
        const dataSource = await open(kind, { migrations: true });
        const queryRunner = dataSource.createQueryRunner();
        try {
          expect(await queryRunner.hasTable('oidc_sessions')).toBe(true);
          await dataSource.undoLastMigration();
          expect(await queryRunner.hasTable('oidc_sessions')).toBe(false);
          expect(await dataSource.runMigrations()).toHaveLength(1);
          expect(await queryRunner.hasTable('oidc_sessions')).toBe(true);
        } finally {
          await queryRunner.release();
        }
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        const info = sampleSession();
        await repository.save(info);
        expect(await repository.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
      });

      it('the migration is a no-op on a table synchronize created already', async () => {
        const dataSource = await open(kind, { synchronize: true });
        expect(await dataSource.runMigrations()).toHaveLength(1);
        const diff = await dataSource.driver.createSchemaBuilder().log();
        expect(diff.upQueries).toEqual([]);
      });

      it('works on a synchronized schema too, storing instants as epoch milliseconds', async () => {
        const dataSource = await open(kind, { synchronize: true });
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        const withSid = sampleSession({ expiresAt: new Date(4_102_444_800_123) });
        const { sid: _sid, ...withoutSid } = sampleSession();
        await repository.save(withSid);
        await repository.save(withoutSid);
        const rows: { client_session_id: string; sid: string | null; expires_at: unknown }[] =
          await dataSource.query(
            `SELECT client_session_id, sid, expires_at FROM oidc_sessions ORDER BY expires_at`,
          );
        expect(rows.map((r) => [r.client_session_id, r.sid, Number(r.expires_at)])).toEqual([
          [withoutSid.clientSessionId, null, withoutSid.expiresAt.getTime()],
          [withSid.clientSessionId, withSid.sid, 4_102_444_800_123],
        ]);
        expect(await repository.findByClientSessionId(withSid.clientSessionId)).toStrictEqual(
          withSid,
        );
      });

      it('holds values up to the column limits and rejects longer ones without storing them', async () => {
        const dataSource = await open(kind, { migrations: true });
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        const longest = sampleSession({
          issuer: `https://op.example.com/${'i'.repeat(512 - 23)}`,
          sid: '🔑'.repeat(255),
          sub: 'ü'.repeat(255),
          registrationId: 'r'.repeat(255),
          clientId: 'c'.repeat(255),
          idToken: 'x'.repeat(60_000),
        });
        expect(longest.issuer).toHaveLength(512);
        await repository.save(longest);
        expect(await repository.findByClientSessionId(longest.clientSessionId)).toStrictEqual(
          longest,
        );
        expect(
          await repository.removeByLogoutToken({
            issuer: longest.issuer,
            clientId: longest.clientId,
            sid: longest.sid!,
          }),
        ).toStrictEqual([longest]);
        for (const overrides of [
          { sid: 's'.repeat(256) },
          { sub: '😀'.repeat(256) },
          { issuer: `https://op.example.com/${'i'.repeat(512)}` },
          { clientSessionId: 'k'.repeat(65) },
          { idToken: 'x'.repeat(65_536) },
        ]) {
          const info = sampleSession(overrides);
          const error: unknown = await repository.save(info).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(OidcSessionRepositoryError);
          expect((error as Error).message).toMatch(/is longer than \d+ (characters|bytes)/);
          expect(await repository.findByClientSessionId(info.clientSessionId)).toBeUndefined();
        }
        const count: { n: unknown }[] = await dataSource.query(
          'SELECT COUNT(*) AS n FROM oidc_sessions',
        );
        expect(Number(count[0]?.n)).toBe(0);
      });

      it('two DataSources on the same database share revocations (two app instances)', async () => {
        const first = await open(kind, { migrations: true });
        const second = new DataSource(first.options);
        const instanceA = new TypeOrmOidcSessionRepository(first);
        const instanceB = new TypeOrmOidcSessionRepository(second);
        try {
          await instanceA.init();
          await instanceB.init(); // initializes `second`
          expect(second.isInitialized).toBe(true);
          const info = sampleSession();
          await instanceA.save(info);
          expect(await instanceB.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
          expect(
            await instanceB.removeByLogoutToken({
              issuer: info.issuer,
              clientId: info.clientId,
              sub: info.sub,
            }),
          ).toStrictEqual([info]);
          expect(await instanceA.findByClientSessionId(info.clientSessionId)).toBeUndefined();
        } finally {
          if (second.isInitialized) await second.destroy();
        }
      });

      it('init() is idempotent, also when called concurrently', async () => {
        const first = await open(kind, { migrations: true });
        const second = new DataSource(first.options);
        const repository = new TypeOrmOidcSessionRepository(second);
        try {
          await Promise.all([repository.init(), repository.init(), repository.init()]);
          await repository.init();
          expect(second.isInitialized).toBe(true);
        } finally {
          if (second.isInitialized) await second.destroy();
        }
      });

      it('init() on a DataSource without OidcSessionEntity throws a clear OidcLogoutOptionsError', async () => {
        const dataSource = await open(kind, { entities: [], synchronize: false });
        const error: unknown = await new TypeOrmOidcSessionRepository(dataSource)
          .init()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OidcLogoutOptionsError);
        expect((error as OidcLogoutOptionsError).code).toBe('ERR_INVALID_OPTIONS');
        expect((error as Error).message).toMatch(
          /add OidcSessionEntity to the DataSource's `entities`/,
        );
        expect((error as Error).message).toMatch(/autoLoadEntities/);
      });

      it('init() without the oidc_sessions table throws a clear OidcLogoutOptionsError', async () => {
        const dataSource = await open(kind, { synchronize: false, migrations: false });
        const error: unknown = await new TypeOrmOidcSessionRepository(dataSource)
          .init()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OidcLogoutOptionsError);
        expect((error as Error).message).toMatch(/OIDC_LOGOUT_MIGRATIONS/);
      });

      it('fails closed before its DataSource is initialized', async () => {
        const dataSource = await open(kind, { migrations: true });
        const repository = new TypeOrmOidcSessionRepository(new DataSource(dataSource.options));
        await expectFailsClosed(repository, sampleSession());
      });

      it('fails closed on a destroyed DataSource: every method rejects, none says "absent"', async () => {
        const dataSource = await open(kind, { migrations: true });
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        const info = sampleSession();
        await repository.save(info);
        await dataSource.destroy();
        await expectFailsClosed(repository, info);
      });

      it('wraps database errors in OidcSessionRepositoryError without leaking ids or tokens', async () => {
        const dataSource = await open(kind, { migrations: true });
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        const info = sampleSession();
        await repository.save(info);
        await dataSource.query(`DROP TABLE ${dataSource.driver.escape('oidc_sessions')}`);
        await expectFailsClosed(repository, info);
        const error = (await repository.save(info).catch((e: unknown) => e)) as Error;
        expect(error.message).toMatch(/^OIDC session repository could not save the session \(/);
        expect(error.cause).toBeInstanceOf(Error);
        // The cause is often logged whole: it must not quote the values written either.
        const logged = inspect(error, { depth: 10 });
        expect(logged).not.toContain(info.idToken);
        expect(logged).not.toContain(info.clientSessionId);
      });
    });
  });
}

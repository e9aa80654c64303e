import { inspect } from 'node:util';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  OidcLogoutOptionsError,
  OidcSessionRepositoryError,
} from '../../lib/errors/oidc-logout.error';
import type { OidcSessionInfo } from '../../lib/interfaces/oidc-session-info.interface';
import { InMemoryOidcSessionRepository } from '../../lib/repositories/in-memory-oidc-session.repository';
import { OidcSessionRepository } from '../../lib/repositories/oidc-session.repository';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import { CreateOidcLogoutEventsTable1763800000000 } from '../../lib/repositories/typeorm/create-oidc-logout-events-table.migration';
import {
  CreateOidcSessionsTable1763700000000,
  OIDC_LOGOUT_MIGRATIONS,
} from '../../lib/repositories/typeorm/create-oidc-sessions-table.migration';
import { OidcLogoutEventEntity } from '../../lib/repositories/typeorm/oidc-logout-event.entity';
import { SidDigestsAndBinaryKeys1764000000000 } from '../../lib/repositories/typeorm/sid-digests-and-binary-keys.migration';
import { OidcSessionEntity } from '../../lib/repositories/typeorm/oidc-session.entity';
import { TypeOrmOidcSessionRepository } from '../../lib/repositories/typeorm/typeorm-oidc-session.repository';
import {
  announceDatabase,
  createTestDataSource,
  DATABASE_KINDS,
  destroyTestDataSource,
} from '../fixtures/databases';
import { InMemoryOidcLogoutEventStore } from '../../lib/logout-events/in-memory-oidc-logout-event.store';
import { TypeOrmOidcLogoutEventStore } from '../../lib/logout-events/typeorm/typeorm-oidc-logout-event.store';
import { expireEntries, logoutEventCalls } from '../repository/logout-event-calls';
import {
  describeOidcLogoutEventStoreContract,
  describeOidcSessionRepositoryContract,
} from '../repository/oidc-session-repository.contract';

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

describeOidcLogoutEventStoreContract('in-memory', () =>
  Promise.resolve({ store: new InMemoryOidcLogoutEventStore(), close: () => Promise.resolve() }),
);

describeOidcLogoutEventStoreContract('in-memory with an injected clock', () => {
  const now = () => 1_763_700_000_000;
  return Promise.resolve({
    store: new InMemoryOidcLogoutEventStore({ now, maxEntries: 5_000 }),
    close: () => Promise.resolve(),
    now,
  });
});

/** The portable writes (a locking transaction), used for drivers without an upsert. */
class GenericUpsertEventStore extends TypeOrmOidcLogoutEventStore {
  protected override upsertDialect() {
    return 'generic' as const;
  }
}

/** Both TypeORM stores on one DataSource, initialized. */
async function typeOrmStores(dataSource: DataSource) {
  const repository = new TypeOrmOidcSessionRepository(dataSource);
  const store = new TypeOrmOidcLogoutEventStore(dataSource);
  await repository.init();
  await store.init();
  return { repository, store, events: logoutEventCalls(store) };
}

const EVENT_KEY = 'test:event-key';

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

/** Each method of both stores called once, for the fail-closed checks. */
function everyMethod(
  repository: TypeOrmOidcSessionRepository,
  store: TypeOrmOidcLogoutEventStore,
  info: OidcSessionInfo,
) {
  return {
    save: () => repository.save(info),
    findByClientSessionId: () => repository.findByClientSessionId(info.clientSessionId),
    existsByClientSessionId: () => repository.existsByClientSessionId(info.clientSessionId),
    removeByClientSessionId: () => repository.removeByClientSessionId(info.clientSessionId),
    removeByLogoutToken: () =>
      repository.removeByLogoutToken({
        issuer: info.issuer,
        clientId: info.clientId,
        sid: info.sid!,
      }),
    expireEntries: () => expireEntries(repository, new Date()),
    begin: () =>
      store.begin({
        claim: { key: EVENT_KEY, expiresAt: new Date(Date.now() + 60_000) },
        tombstone: {
          key: EVENT_KEY,
          issuedAt: 1_763_700_000,
          expiresAt: new Date(Date.now() + 60_000),
        },
      }),
    complete: () => store.complete(EVENT_KEY),
    findTombstones: () => store.findTombstones([EVENT_KEY]),
    expireEvents: () => expireEntries(store, new Date()),
  };
}

async function expectFailsClosed(
  repository: TypeOrmOidcSessionRepository,
  store: TypeOrmOidcLogoutEventStore,
  info: OidcSessionInfo,
): Promise<void> {
  const methods = everyMethod(repository, store, info);
  expect(Object.keys(methods).sort()).toEqual(
    [
      ...publicMethodsOf(OidcSessionRepository.prototype),
      'save',
      'begin',
      'complete',
      'findTombstones',
      'expireEntries',
      'expireEvents',
    ].sort(),
  );
  for (const [method, call] of Object.entries(methods)) {
    const error: unknown = await call().then(
      (value) => {
        throw new Error(`${method} resolved with ${JSON.stringify(value)} instead of rejecting`);
      },
      (reason: unknown) => reason,
    );
    expect(error, method).toBeInstanceOf(OidcSessionRepositoryError);
    const { message, code } = error as OidcSessionRepositoryError;
    expect(code).toBe('ERR_REPOSITORY_UNAVAILABLE');
    for (const secret of [info.clientSessionId, info.sid!, info.sub, info.idToken, EVENT_KEY]) {
      expect(message, method).not.toContain(secret);
    }
  }
}

/** The methods of the contract, so that a new one cannot be missed by the fail-closed checks. */
function publicMethodsOf(prototype: object): string[] {
  const abstract = ['findByClientSessionId', 'removeByClientSessionId', 'removeByLogoutToken'];
  const concrete = Object.getOwnPropertyNames(prototype).filter((name) => name !== 'constructor');
  return [...new Set([...abstract, ...concrete])];
}

interface TableShape {
  columns: Record<string, unknown>[];
  indices: { name: string | undefined; columns: string[] }[];
  primary: string[];
}

async function tableShape(dataSource: DataSource, name = 'oidc_sessions'): Promise<TableShape> {
  const queryRunner = dataSource.createQueryRunner();
  try {
    const table = await queryRunner.getTable(name);
    if (!table) throw new Error(`${name} does not exist`);
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

    describeOidcLogoutEventStoreContract(
      `TypeORM ${kind}, schema from OIDC_LOGOUT_MIGRATIONS (synchronize: false)`,
      async () => {
        const dataSource = await createTestDataSource(kind, { migrations: true });
        const store = new TypeOrmOidcLogoutEventStore(dataSource);
        await store.init();
        return { store, close: () => destroyTestDataSource(dataSource) };
      },
    );

    describeOidcLogoutEventStoreContract(
      `TypeORM ${kind}, portable writes (drivers without an upsert)`,
      async () => {
        const dataSource = await createTestDataSource(kind, { synchronize: true });
        const store = new GenericUpsertEventStore(dataSource);
        await store.init();
        return { store, close: () => destroyTestDataSource(dataSource) };
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

      it('oidc_logout_events: the migration and synchronize make the same table, as specified', async () => {
        const migrated = await tableShape(
          await open(kind, { migrations: true }),
          'oidc_logout_events',
        );
        await destroyTestDataSource(opened.pop()!);
        const synchronized = await tableShape(
          await open(kind, { synchronize: true }),
          'oidc_logout_events',
        );
        expect(synchronized).toEqual(migrated);
        expect(migrated.primary).toEqual(['event_key']);
        expect(migrated.indices).toEqual([
          { name: 'IDX_oidc_logout_events_expires_at', columns: ['expires_at'] },
        ]);
        expect(
          migrated.columns.map((c) => [
            c.name,
            c.type === 'character varying' ? 'varchar' : c.type, // PostgreSQL's name
            c.length,
            c.isNullable,
            c.isPrimary,
          ]),
        ).toEqual([
          ['event_key', 'varchar', '128', false, true],
          ['expires_at', 'bigint', '', false, false],
          ['issued_at', 'bigint', '', true, false],
          ['kind', 'varchar', '16', false, false],
        ]);
      });

      it('stores logout events as hashed keys, their kind and numbers', async () => {
        const dataSource = await open(kind, { migrations: true });
        const { store } = await typeOrmStores(dataSource);
        const claimUntil = 4_102_444_800_123;
        // One statement writes both rows.
        expect(
          await store.begin({
            claim: { key: 'bcl:Secret-Jti', expiresAt: new Date(claimUntil) },
            tombstone: {
              key: 'sid:Secret-Sid',
              issuedAt: 1_763_700_000,
              expiresAt: new Date(claimUntil + 1),
            },
          }),
        ).toBe('apply');
        const rows: { event_key: string; kind: string; issued_at: unknown; expires_at: unknown }[] =
          await dataSource.query(
            'SELECT event_key, kind, issued_at, expires_at FROM oidc_logout_events ORDER BY expires_at',
          );
        expect(
          rows.map((r) => [
            r.kind,
            r.issued_at === null ? null : Number(r.issued_at),
            Number(r.expires_at),
          ]),
        ).toEqual([
          ['claim', null, claimUntil],
          ['tombstone', 1_763_700_000, claimUntil + 1],
        ]);
        for (const row of rows) expect(row.event_key).toMatch(/^[0-9a-f]{64}$/);
        const entity = await dataSource.getRepository(OidcLogoutEventEntity).find();
        expect(entity.map((e) => typeof e.expiresAt)).toEqual(['number', 'number']);
        // Completed: the same row, its kind 'applied' (the key stays in the claims' namespace).
        await store.complete('bcl:Secret-Jti');
        const after: { event_key: string; kind: string }[] = await dataSource.query(
          'SELECT event_key, kind FROM oidc_logout_events ORDER BY expires_at',
        );
        expect(after).toEqual([
          { event_key: rows[0]?.event_key, kind: 'applied' },
          { event_key: rows[1]?.event_key, kind: 'tombstone' },
        ]);
      });

      it('findTombstones([]) asks nothing of the database', async () => {
        const dataSource = await open(kind, { migrations: true });
        const { store } = await typeOrmStores(dataSource);
        const createQueryRunner = vi.spyOn(dataSource, 'createQueryRunner');
        try {
          expect(await store.findTombstones([])).toEqual(new Map());
          expect(createQueryRunner).not.toHaveBeenCalled();
          await store.findTombstones(['x']);
          expect(createQueryRunner).toHaveBeenCalled();
        } finally {
          createQueryRunner.mockRestore();
        }
      });

      it('OIDC_LOGOUT_MIGRATIONS are the named migrations, oldest first; each down drops its table (the third changes nothing)', async () => {
        expect(OIDC_LOGOUT_MIGRATIONS).toEqual([
          CreateOidcSessionsTable1763700000000,
          CreateOidcLogoutEventsTable1763800000000,
          SidDigestsAndBinaryKeys1764000000000,
        ]);
        expect(OIDC_LOGOUT_MIGRATIONS.map((Migration) => new Migration().name)).toEqual([
          'CreateOidcSessionsTable1763700000000',
          'CreateOidcLogoutEventsTable1763800000000',
          'SidDigestsAndBinaryKeys1764000000000',
        ]);
        const dataSource = await open(kind, { migrations: true });
        const queryRunner = dataSource.createQueryRunner();
        const tables = async () => [
          await queryRunner.hasTable('oidc_sessions'),
          await queryRunner.hasTable('oidc_logout_events'),
        ];
        try {
          expect(await tables()).toEqual([true, true]);
          await dataSource.undoLastMigration();
          expect(await tables()).toEqual([true, true]);
          await dataSource.undoLastMigration();
          expect(await tables()).toEqual([true, false]);
          await dataSource.undoLastMigration();
          expect(await tables()).toEqual([false, false]);
          expect(await dataSource.runMigrations()).toHaveLength(3);
          expect(await tables()).toEqual([true, true]);
        } finally {
          await queryRunner.release();
        }
        const repository = new TypeOrmOidcSessionRepository(dataSource);
        await repository.init();
        const info = sampleSession();
        await repository.save(info);
        expect(await repository.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
      });

      it('the migrations are no-ops on tables synchronize created already', async () => {
        const dataSource = await open(kind, { synchronize: true });
        expect(await dataSource.runMigrations()).toHaveLength(3);
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

      it('two DataSources on the same database share claims and tombstones: claimed until completed by either, then a replay for both', async () => {
        const first = await open(kind, { migrations: true });
        const second = new DataSource(first.options);
        const storeA = new TypeOrmOidcLogoutEventStore(first);
        const storeB = new TypeOrmOidcLogoutEventStore(second);
        const instanceA = logoutEventCalls(storeA);
        const instanceB = logoutEventCalls(storeB);
        try {
          await storeA.init();
          await storeB.init();
          const until = new Date(Date.now() + 60_000);
          const results = await Promise.all(
            Array.from({ length: 40 }, (_, i) =>
              (i % 2 ? instanceA : instanceB).claimLogoutEvent('bcl:shared-jti', until),
            ),
          );
          // Not applied yet: each of them applies it (idempotent).
          expect(results).toEqual(results.map(() => true));
          await instanceB.completeLogoutEvent('bcl:shared-jti');
          const replays = await Promise.all(
            Array.from({ length: 40 }, (_, i) =>
              (i % 2 ? instanceA : instanceB).claimLogoutEvent('bcl:shared-jti', until),
            ),
          );
          expect(replays).toEqual(replays.map(() => false));
          await Promise.all([
            instanceA.saveLogoutTombstone('sid:shared', 100, until),
            instanceB.saveLogoutTombstone('sid:shared', 300, until),
            instanceA.saveLogoutTombstone('sid:shared', 200, until),
          ]);
          expect(await instanceB.findLogoutTombstones(['sid:shared'])).toEqual(
            new Map([['sid:shared', 300]]),
          );
          expect(await instanceA.removeExpired(new Date(until.getTime()))).toBe(2);
          expect(await instanceB.findLogoutTombstones(['sid:shared'])).toEqual(new Map());
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

      it('init() on a DataSource without the entities throws a clear OidcLogoutOptionsError', async () => {
        const dataSource = await open(kind, { entities: [], synchronize: false });
        const error: unknown = await new TypeOrmOidcSessionRepository(dataSource)
          .init()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OidcLogoutOptionsError);
        expect((error as OidcLogoutOptionsError).code).toBe('ERR_INVALID_OPTIONS');
        expect((error as Error).message).toMatch(
          /does not know OidcSessionEntity: add OIDC_LOGOUT_ENTITIES \(OidcSessionEntity and OidcLogoutEventEntity\) to the DataSource's `entities`/,
        );
        expect((error as Error).message).toMatch(/autoLoadEntities/);
      });

      it('the event store on a DataSource that lists only OidcSessionEntity names the missing entity', async () => {
        const dataSource = await open(kind, { entities: [OidcSessionEntity] });
        await new TypeOrmOidcSessionRepository(dataSource).init();
        const error: unknown = await new TypeOrmOidcLogoutEventStore(dataSource)
          .init()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OidcLogoutOptionsError);
        expect((error as Error).message).toMatch(/does not know OidcLogoutEventEntity: /);
        expect((error as Error).message).toMatch(/OIDC_LOGOUT_ENTITIES/);
      });

      it('a database migrated before the events table existed: init() says so, the new migration alone fixes it', async () => {
        const old = await open(kind, { synchronize: false, migrations: true });
        // As if only the first migration had ever existed.
        await old.undoLastMigration();
        await old.undoLastMigration();
        const queryRunner = old.createQueryRunner();
        try {
          expect(await queryRunner.hasTable('oidc_sessions')).toBe(true);
          expect(await queryRunner.hasTable('oidc_logout_events')).toBe(false);
        } finally {
          await queryRunner.release();
        }
        // The session repository needs only its own table; the event store says what is missing.
        const repository = new TypeOrmOidcSessionRepository(old);
        await repository.init();
        const store = new TypeOrmOidcLogoutEventStore(old);
        const error: unknown = await store.init().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OidcLogoutOptionsError);
        expect((error as Error).message).toMatch(
          /The table 'oidc_logout_events' of OidcLogoutEventEntity does not exist: run OIDC_LOGOUT_MIGRATIONS/,
        );
        const ran = await old.runMigrations();
        expect(ran.map((migration) => migration.name)).toEqual([
          'CreateOidcLogoutEventsTable1763800000000',
          'SidDigestsAndBinaryKeys1764000000000',
        ]);
        await store.init();
        const info = sampleSession();
        await repository.save(info);
        expect(
          await logoutEventCalls(store).claimLogoutEvent(EVENT_KEY, new Date(Date.now() + 60_000)),
        ).toBe(true);
        expect(await repository.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
      });

      it('init() without the tables throws a clear OidcLogoutOptionsError', async () => {
        const dataSource = await open(kind, { synchronize: false, migrations: false });
        const error: unknown = await new TypeOrmOidcSessionRepository(dataSource)
          .init()
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OidcLogoutOptionsError);
        expect((error as Error).message).toMatch(/OIDC_LOGOUT_MIGRATIONS/);
      });

      it('fails closed before its DataSource is initialized', async () => {
        const dataSource = await open(kind, { migrations: true });
        const idle = new DataSource(dataSource.options);
        await expectFailsClosed(
          new TypeOrmOidcSessionRepository(idle),
          new TypeOrmOidcLogoutEventStore(idle),
          sampleSession(),
        );
      });

      it('fails closed on a destroyed DataSource: every method rejects, none says "absent"', async () => {
        const dataSource = await open(kind, { migrations: true });
        const { repository, store } = await typeOrmStores(dataSource);
        const info = sampleSession();
        await repository.save(info);
        await dataSource.destroy();
        await expectFailsClosed(repository, store, info);
      });

      it('wraps database errors in OidcSessionRepositoryError without leaking ids or tokens', async () => {
        const dataSource = await open(kind, { migrations: true });
        const { repository, store } = await typeOrmStores(dataSource);
        const info = sampleSession();
        await repository.save(info);
        for (const table of ['oidc_sessions', 'oidc_logout_events']) {
          await dataSource.query(`DROP TABLE ${dataSource.driver.escape(table)}`);
        }
        await expectFailsClosed(repository, store, info);
        const error = (await repository.save(info).catch((e: unknown) => e)) as Error;
        expect(error.message).toMatch(/^OIDC session repository could not save the session \(/);
        expect(error.cause).toBeInstanceOf(Error);
        // The cause is often logged whole: it must not quote the values written either.
        const logged = inspect(error, { depth: 10 });
        expect(logged).not.toContain(info.idToken);
        expect(logged).not.toContain(info.clientSessionId);
      });

      it('logout-event methods fail closed when their table is gone, without leaking keys', async () => {
        const dataSource = await open(kind, { migrations: true });
        const { store } = await typeOrmStores(dataSource);
        const key = 'bcl:secret-jti-value';
        await dataSource.query(`DROP TABLE ${dataSource.driver.escape('oidc_logout_events')}`);
        const until = new Date(Date.now() + 60_000);
        const calls = {
          'record a logout event': () =>
            store.begin({
              claim: { key, expiresAt: until },
              tombstone: { key, issuedAt: 1, expiresAt: until },
            }),
          'complete a logout event': () => store.complete(key),
          'look up logout tombstones': () => store.findTombstones([key]),
          'remove expired logout events': () => expireEntries(store, new Date()),
        };
        for (const [operation, call] of Object.entries(calls)) {
          const error = (await call().then(
            (value) => new Error(`resolved ${JSON.stringify(value)}`),
            (reason: unknown) => reason,
          )) as Error;
          expect(error, operation).toBeInstanceOf(OidcSessionRepositoryError);
          expect(error.message).toMatch(
            new RegExp(`^OIDC logout-event store could not ${operation} \\(`),
          );
          expect(error.cause).toBeInstanceOf(Error);
          expect(inspect(error, { depth: 10 })).not.toContain('secret-jti-value');
        }
        // The generic upsert fails closed too.
        const generic = new GenericUpsertEventStore(dataSource);
        await expect(
          generic.begin({ tombstone: { key, issuedAt: 1, expiresAt: until } }),
        ).rejects.toBeInstanceOf(OidcSessionRepositoryError);
      });
    });
  });
}

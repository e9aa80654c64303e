/**
 * MariaDB with a database created in `latin1` and `sql_mode=''` (no strict mode: a character the
 * column cannot hold is stored as `?` without an error): the library's key columns are utf8mb4 with
 * a binary collation whatever the database's defaults, whether the tables come from `synchronize`
 * (the entities) or from `OIDC_LOGOUT_MIGRATIONS`. Sids and subs outside latin1 are logged out;
 * case and trailing-space variants of a sid or a sub are not taken for one another. A table left in
 * latin1 (only the earlier migrations ran) is refused at startup.
 */
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OIDC_LOGOUT_ENTITIES,
  OIDC_LOGOUT_MIGRATIONS,
  TypeOrmOidcSessionRepository,
} from '../../lib/typeorm';
import { OidcLogoutOptionsError } from '../../lib';
import { announceDatabase, databaseUrl, testNamespace } from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import {
  getFrontChannel,
  loginAt,
  postLogoutToken,
  privateStatus,
} from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const MIGRATIONS_TABLE = 'oidc_logout_test_migrations';
/** Outside latin1: accents it has not, CJK, an emoji (4 bytes in UTF-8). */
const WIDE = 'ŝïđ-日本語-🙂';

const enabled = announceDatabase('mariadb', 'MariaDB key columns e2e');
const database = `${testNamespace()}_latin1`;

/** A DataSource on the latin1 database, on one connection whose `sql_mode` is empty. */
async function latin1DataSource(): Promise<DataSource> {
  // The URL's database wins over `database`: name it in the URL.
  const url = new URL(databaseUrl('mariadb'));
  url.pathname = `/${database}`;
  const dataSource = new DataSource({
    type: 'mariadb',
    url: url.toString(),
    charset: 'utf8mb4',
    entities: OIDC_LOGOUT_ENTITIES,
    migrations: OIDC_LOGOUT_MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    logging: false,
    // One connection, so that the session's sql_mode applies to every statement.
    extra: { connectionLimit: 1 },
  });
  await dataSource.initialize();
  await dataSource.query("SET SESSION sql_mode = ''");
  const [state] = await dataSource.query<{ db: string; charset: string; mode: string }[]>(
    'SELECT DATABASE() AS db, @@character_set_database AS charset, @@SESSION.sql_mode AS mode',
  );
  expect(state).toEqual({ db: database, charset: 'latin1', mode: '' });
  for (const table of ['oidc_sessions', 'oidc_logout_events', MIGRATIONS_TABLE]) {
    await dataSource.query(`DROP TABLE IF EXISTS \`${table}\``);
  }
  return dataSource;
}

describe.skipIf(!enabled)('MariaDB: key columns in a latin1 database with sql_mode=""', () => {
  let keys: TestKeySet;
  let op: FakeOp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    const admin = new DataSource({ type: 'mariadb', url: databaseUrl('mariadb') });
    await admin.initialize();
    try {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.query(
        `CREATE DATABASE \`${database}\` CHARACTER SET latin1 COLLATE latin1_swedish_ci`,
      );
    } finally {
      await admin.destroy();
    }
  });

  afterAll(async () => {
    const admin = new DataSource({ type: 'mariadb', url: databaseUrl('mariadb') });
    await admin.initialize();
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``).finally(() => admin.destroy());
    await op?.close();
  });

  for (const schema of ['synchronize', 'migrations'] as const) {
    describe(`tables created by ${schema}`, () => {
      let dataSource: DataSource;
      let app: TestApp;

      beforeAll(async () => {
        dataSource = await latin1DataSource();
        if (schema === 'synchronize') await dataSource.synchronize();
        else await dataSource.runMigrations({ transaction: 'each' });
        const clients = [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }];
        app = await startTestApp({ oidc: { clients, dataSource } });
      });

      afterAll(async () => {
        await app?.close();
        if (dataSource?.isInitialized) await dataSource.destroy();
      });

      const login = async (sub: string, sid: string) =>
        loginAt(app.url, await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid }));
      /** A logout token naming exactly what is given (the fixture's defaults removed). */
      const logout = async ({ sub, sid }: { sub?: string; sid?: string }) =>
        postLogoutToken(
          app.url,
          REGISTRATION,
          await signLogoutToken(keys, {
            issuer: op.issuer,
            clientId: CLIENT_ID,
            claims: { sub, sid },
          }),
        );
      const count = async (where: string, value: string): Promise<number> => {
        const rows: { n: number | string }[] = await dataSource.query(
          `SELECT COUNT(*) AS n FROM oidc_sessions WHERE BINARY ${where} = BINARY ?`,
          [value],
        );
        return Number(rows[0]?.n);
      };

      it('the key columns are utf8mb4 with a binary collation', async () => {
        const rows: { table: string; column: string; charset: string; collation: string }[] =
          await dataSource.query(
            'SELECT TABLE_NAME AS `table`, COLUMN_NAME AS `column`, CHARACTER_SET_NAME AS charset, ' +
              'COLLATION_NAME AS collation FROM information_schema.COLUMNS ' +
              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('oidc_sessions', 'oidc_logout_events') " +
              'AND CHARACTER_SET_NAME IS NOT NULL ORDER BY TABLE_NAME, COLUMN_NAME',
          );
        expect(rows.length).toBe(9);
        for (const row of rows) {
          expect([row.table, row.column, row.charset, row.collation]).toEqual([
            row.table,
            row.column,
            'utf8mb4',
            'utf8mb4_bin',
          ]);
        }
      });

      it('a sid outside latin1 is stored intact and its front-channel logout ends its session', async () => {
        const sid = `${WIDE}-${randomUUID()}`;
        const hana = await login(`hana-${randomUUID()}`, sid);
        const other = await login(`hana-${randomUUID()}`, `${WIDE}-${randomUUID()}`);
        expect(await privateStatus(app.url, hana)).toBe(200);
        expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, sid)).toBe(200);
        expect(await privateStatus(app.url, hana)).toBe(401);
        expect(await privateStatus(app.url, other)).toBe(200);
      });

      it('a sub outside latin1 is stored intact and its sub logout ends its sessions only', async () => {
        const sub = `${WIDE}-${randomUUID()}`;
        const one = await login(sub, randomUUID());
        const lookalike = await login(`${WIDE}-${randomUUID()}`, randomUUID());
        expect(await count('sub', sub)).toBe(1);
        expect((await logout({ sub })).status).toBe(200);
        expect(await privateStatus(app.url, one)).toBe(401);
        expect(await privateStatus(app.url, lookalike)).toBe(200);
        expect(await count('sub', sub)).toBe(0);
      });

      it('a sub logout of "abc" ends neither "ABC" nor "abc "', async () => {
        const base = `abc-${randomUUID()}`;
        const exact = await login(base, randomUUID());
        const upper = await login(base.toUpperCase(), randomUUID());
        const padded = await login(`${base} `, randomUUID());
        expect((await logout({ sub: base })).status).toBe(200);
        expect(await privateStatus(app.url, exact)).toBe(401);
        expect(await privateStatus(app.url, upper)).toBe(200);
        expect(await privateStatus(app.url, padded)).toBe(200);
        expect(await count('sub', base.toUpperCase())).toBe(1);
        expect(await count('sub', `${base} `)).toBe(1);
      });

      it('a sid logout of "abc" ends neither "ABC" nor "abc " (front channel and back channel)', async () => {
        const base = `abc-${randomUUID()}`;
        const sub = `ivan-${randomUUID()}`;
        const exact = await login(sub, base);
        const upper = await login(sub, base.toUpperCase());
        const padded = await login(sub, `${base} `);
        expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, base)).toBe(200);
        expect(await privateStatus(app.url, exact)).toBe(401);
        expect(await privateStatus(app.url, upper)).toBe(200);
        expect(await privateStatus(app.url, padded)).toBe(200);
        expect((await logout({ sid: base.toUpperCase() })).status).toBe(200);
        expect(await privateStatus(app.url, upper)).toBe(401);
        expect(await privateStatus(app.url, padded)).toBe(200);
      });
    });
  }

  it('a latin1 table (only the earlier migrations ran) is refused at startup, naming the fix', async () => {
    const dataSource = await latin1DataSource();
    try {
      const runner = dataSource.createQueryRunner();
      try {
        for (const Migration of OIDC_LOGOUT_MIGRATIONS.slice(0, 2)) {
          await new Migration().up(runner);
        }
      } finally {
        await runner.release();
      }
      const repository = new TypeOrmOidcSessionRepository(dataSource);
      const failure = await repository.init().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(OidcLogoutOptionsError);
      expect((failure as Error).message).toMatch(/utf8mb4/);
      expect((failure as Error).message).toMatch(/OIDC_LOGOUT_MIGRATIONS/);
    } finally {
      await dataSource.destroy();
    }
  });
});

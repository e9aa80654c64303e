import { hashSid } from '../../lib/repositories/session-id-hash';
/**
 * The database can be read but not written (a replica after a failover, PostgreSQL's
 * `default_transaction_read_only`, MySQL/MariaDB's read-only transactions): a logout that reaches
 * one instance cannot be recorded. No instance may then let a session through: the guard of every
 * instance answers 503 until the store takes writes again, and the kept logout is applied then.
 *
 * Two app instances, each on a single-connection DataSource of the real server, are made read-only
 * at their own sessions (`SET SESSION ...`): nothing changes on the server for anybody else, and it
 * is undone at the end of the test.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcSessionEntity } from '../../lib/typeorm';
import { PENDING_LOGOUT_MAX_RETRY_MS } from '../../lib/logout-events/pending-logouts.options';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';
import type { ServerDatabaseKind } from '../fixtures/database-proxy';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const KINDS: ServerDatabaseKind[] = ['postgres', 'mariadb'];

const READ_ONLY: Record<ServerDatabaseKind, { on: string; off: string }> = {
  postgres: {
    on: 'SET SESSION default_transaction_read_only = on',
    off: 'SET SESSION default_transaction_read_only = off',
  },
  mariadb: { on: 'SET SESSION TRANSACTION READ ONLY', off: 'SET SESSION TRANSACTION READ WRITE' },
};

/** A TypeORM logger that counts the statements sent (one round trip each). */
class CountingLogger implements TypeOrmLogger {
  statements = 0;
  logQuery(): void {
    this.statements++;
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** `GET /private`: status and JSON body. */
async function getPrivate(url: string, cookie: string) {
  const response = await fetch(`${url}/private`, {
    headers: { cookie, accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json() };
}

const UNAVAILABLE = {
  statusCode: 503,
  error: 'Service Unavailable',
  message: 'The session store is unavailable; try again later',
};

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'read-only store e2e'))(
    `a ${kind} store that refuses writes`,
    () => {
      let keys: TestKeySet;
      let op: FakeOp;
      let direct: DataSource;
      const instances: { dataSource: DataSource; logger: CountingLogger; app: TestApp }[] = [];

      beforeAll(async () => {
        keys = await createTestKeySet();
        op = await startFakeOp({ keys });
        direct = await createTestDataSource(kind);
        const clients = [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }];
        for (let i = 0; i < 2; i++) {
          const template = await createTestDataSource(kind, { initialize: false });
          const logger = new CountingLogger();
          // One connection: a `SET SESSION` on it holds for every statement of the instance.
          const dataSource = new DataSource({
            ...template.options,
            poolSize: 1,
            logging: ['query'],
            logger,
          } as DataSourceOptions);
          await dataSource.initialize();
          const app = await startTestApp({ oidc: { clients, dataSource } });
          instances.push({ dataSource, logger, app });
        }
      });

      afterAll(async () => {
        for (const { dataSource, app } of instances) {
          if (dataSource.isInitialized) await dataSource.query(READ_ONLY[kind].off);
          await app.close();
          if (dataSource.isInitialized) await dataSource.destroy();
        }
        if (direct) await destroyTestDataSource(direct);
        await op?.close();
      });

      const login = async (app: TestApp, sub: string, sid: string) =>
        loginAt(app.url, await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid }));
      const records = (where: { sid?: string; sub?: string }) =>
        direct
          .getRepository(OidcSessionEntity)
          // The store keeps the sid's digest.
          .countBy({ ...where, ...(where.sid === undefined ? {} : { sid: hashSid(where.sid) }) });

      it('every instance answers 503 (never 200) while a logout cannot be recorded; the kept logout is applied once writes are back', async () => {
        const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]];
        const sub = `alice-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        // One OP session, logged in at both instances; Bob at instance B only.
        const aliceA = await login(a.app, sub, sid);
        const aliceB = await login(b.app, sub, sid);
        const bob = await login(b.app, `bob-${randomUUID()}`, `sid-${randomUUID()}`);
        expect((await getPrivate(a.app.url, aliceA)).status).toBe(200);
        expect((await getPrivate(b.app.url, aliceB)).status).toBe(200);
        // The guard's lookup is one statement, one round trip, with or without the probe.
        const before = b.logger.statements;
        expect((await getPrivate(b.app.url, bob)).status).toBe(200);
        expect(b.logger.statements - before).toBe(1);

        for (const { dataSource } of instances) await dataSource.query(READ_ONLY[kind].on);
        try {
          const token = await signLogoutToken(keys, {
            issuer: op.issuer,
            clientId: CLIENT_ID,
            sub,
            sid,
          });
          const kept = await postLogoutToken(a.app.url, REGISTRATION, token);
          expect(kept.status).toBe(400);
          expect(kept.body).toEqual({
            error: 'invalid_request',
            error_description:
              'the session store is unavailable; the logout was not applied yet, it is kept and applied when the store is back',
          });
          expect(a.app.logoutService.pendingLogouts.count).toBe(1);

          // The other instance has no idea of the logout: it must not let Alice through.
          const counted = b.logger.statements;
          const other = await getPrivate(b.app.url, aliceB);
          expect(other).toEqual({ status: 503, body: UNAVAILABLE });
          expect(b.logger.statements - counted).toBe(1);
          expect(await getPrivate(a.app.url, aliceA)).toEqual({ status: 503, body: UNAVAILABLE });
          // Nobody passes while the store is read-only, and nothing was removed.
          expect(await getPrivate(b.app.url, bob)).toEqual({ status: 503, body: UNAVAILABLE });
          await sleep(1_200); // a few retries fail meanwhile
          expect((await getPrivate(b.app.url, aliceB)).status).toBe(503);
          expect(await records({ sid })).toBe(2);
        } finally {
          for (const { dataSource } of instances) await dataSource.query(READ_ONLY[kind].off);
        }

        // Writable again: instance A applies the kept logout on its own (its retry timer, at most
        // PENDING_LOGOUT_MAX_RETRY_MS later); B refuses Alice from then.
        const started = performance.now();
        for (;;) {
          const { status } = await getPrivate(b.app.url, aliceB);
          if (status === 401) break;
          if (performance.now() - started > 5_000) throw new Error('the logout was not applied');
          await sleep(50);
        }
        const window = performance.now() - started;
        expect(window).toBeLessThan(PENDING_LOGOUT_MAX_RETRY_MS + 1_000);
        expect(await records({ sid })).toBe(0);
        expect(a.app.logoutService.pendingLogouts.count).toBe(0);
        expect((await getPrivate(a.app.url, aliceA)).status).toBe(401);
        expect((await getPrivate(b.app.url, bob)).status).toBe(200);
      }, 30_000);
    },
  );
}

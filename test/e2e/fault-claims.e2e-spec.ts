/**
 * A logout token's replay claim must never outlive a logout that was not applied. The database goes
 * away (a real TCP proxy between the apps and the real PostgreSQL / MariaDB server is cut) after the
 * claim was written but before the sessions were removed: a row lock held by another transaction
 * keeps the removal waiting until the cut. Once the database is back, the instance's own retry and
 * the OP's re-delivery (to any instance) must both end the session: never "replayed". The same when
 * the calls went through PostgreSQL's batch statements, and for two deliveries of one token at once:
 * nothing is answered "applied" before its removal committed.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  OidcSessionEntity,
  TypeOrmOidcLogoutEventStore,
  TypeOrmOidcSessionRepository,
} from '../../lib/typeorm';
import { PENDING_LOGOUT_MAX_RETRY_MS } from '../../lib/logout-events/pending-logouts.options';
import {
  proxiedDataSource,
  startDatabaseProxy,
  type ServerDatabaseKind,
} from '../fixtures/database-proxy';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import type { TcpProxy } from '../fixtures/tcp-proxy';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { KEPT_ANSWER as KEPT } from '../fixtures/back-channel-answers';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const KINDS: ServerDatabaseKind[] = ['postgres', 'mariadb'];

/** Polls `check` every 20 ms until it holds; rejects after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = performance.now();
  for (;;) {
    if (await check()) return;
    if (performance.now() - started > timeoutMs) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'logout-claim fault e2e'))(
    `a claim never outlives a failed logout (${kind})`,
    () => {
      let keys: TestKeySet;
      let op: FakeOp;
      let direct: DataSource;
      let proxy: TcpProxy;
      const proxied: DataSource[] = [];
      const apps: TestApp[] = [];
      let appB: TestApp;
      const clients = () => [
        { registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID },
      ];

      /** An app on its own DataSource through the proxy; batching as given (PostgreSQL only). */
      async function startApp(batching?: { maxConcurrent: number; maxSize: number }) {
        const dataSource = await proxiedDataSource(kind, proxy);
        proxied.push(dataSource);
        const repository = new TypeOrmOidcSessionRepository(
          dataSource,
          batching ? { batching } : {},
        );
        await repository.init();
        // The logout events on the same DataSource, as the module's default would put them.
        const events = new TypeOrmOidcLogoutEventStore(dataSource, batching ? { batching } : {});
        await events.init();
        const app = await startTestApp({
          oidc: { clients: clients(), sessionRepository: repository, logoutEventStore: events },
        });
        apps.push(app);
        return app;
      }

      beforeAll(async () => {
        keys = await createTestKeySet();
        op = await startFakeOp({ keys });
        direct = await createTestDataSource(kind);
        proxy = await startDatabaseProxy(kind);
        appB = await startApp();
      });

      afterEach(() => proxy?.restore());

      afterAll(async () => {
        proxy?.restore();
        for (const app of apps) await app.close();
        for (const dataSource of proxied) if (dataSource.isInitialized) await dataSource.destroy();
        await proxy?.close();
        if (direct) await destroyTestDataSource(direct);
        await op?.close();
      });

      const idToken = (sub: string, sid: string) =>
        signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
      const logoutToken = (sub: string, sid: string) =>
        signLogoutToken(keys, { issuer: op.issuer, clientId: CLIENT_ID, sub, sid });
      const records = (sub: string) => direct.getRepository(OidcSessionEntity).countBy({ sub });
      const placeholders = (count: number, from = 1) =>
        Array.from({ length: count }, (_, i) => (kind === 'postgres' ? `$${from + i}` : '?')).join(
          ', ',
        );
      const eventCount = async () => {
        const [row] = await direct.query<{ n: string | number }[]>(
          'SELECT COUNT(*) AS n FROM oidc_logout_events',
        );
        return Number(row?.n);
      };

      /**
       * Another transaction locks the sessions of `subs` (`SELECT ... FOR UPDATE`): a logout's
       * removal of them waits until `release()`. With `{ killWaiters: true }`, `release()` first
       * ends the server connections still waiting for the lock, as a database restart would: a
       * PostgreSQL backend or a MariaDB connection whose client went away would otherwise run its
       * `DELETE` once the lock is free (autocommit), and a logout that was lost could not be told
       * from one that went through.
       */
      async function lockSessions(
        subs: string[],
      ): Promise<(options?: { killWaiters?: boolean }) => Promise<void>> {
        const runner = direct.createQueryRunner();
        await runner.connect();
        await runner.startTransaction('READ COMMITTED');
        await runner.query(
          `SELECT client_session_id FROM oidc_sessions WHERE issuer = ${placeholders(1)} ` +
            `AND sub IN (${placeholders(subs.length, 2)}) FOR UPDATE`,
          [op.issuer, ...subs],
        );
        let released = false;
        return async ({ killWaiters = false } = {}) => {
          if (released) return;
          released = true;
          if (killWaiters && kind === 'postgres') {
            await runner.query(
              'SELECT pg_terminate_backend(pid) FROM pg_stat_activity ' +
                'WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))',
            );
          } else if (killWaiters) {
            // InnoDB: the connections whose transaction waits for a lock this one holds.
            const waiters: { id: number | string }[] = await runner.query(
              'SELECT r.trx_mysql_thread_id AS id FROM information_schema.INNODB_LOCK_WAITS w ' +
                'JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id ' +
                'JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id ' +
                'WHERE b.trx_mysql_thread_id = CONNECTION_ID()',
            );
            for (const { id } of waiters) await runner.query(`KILL ${Number(id)}`);
          }
          await runner.rollbackTransaction();
          await runner.release();
        };
      }

      /** One OP session logged in at every app of `at`: the session cookie at each. */
      async function loginEverywhere(at: TestApp[], sub: string, sid: string) {
        const cookies: string[] = [];
        for (const app of at) cookies.push(await loginAt(app.url, await idToken(sub, sid)));
        return cookies;
      }

      /**
       * Posts `tokens` to `app` while the sessions they name are locked, waits until each wrote its
       * claim and tombstone and is waiting for the lock, then cuts the database: every one is
       * answered 400 "kept". Leaves the database cut and the lock released.
       */
      async function cutDuringRemoval(app: TestApp, subs: string[], tokens: string[]) {
        const release = await lockSessions(subs);
        try {
          const before = await eventCount();
          const answers = tokens.map((token) => postLogoutToken(app.url, REGISTRATION, token));
          // A claim and a tombstone per token, written before the removal that waits for the lock.
          await until(async () => (await eventCount()) >= before + 2 * tokens.length, 5_000);
          await sleep(300);
          proxy.cut();
          for (const answer of await Promise.all(answers)) {
            expect(answer.status).toBe(400);
            expect(answer.body).toEqual(KEPT);
          }
        } finally {
          await release({ killWaiters: true });
        }
        // Nothing was removed: the removal's transaction died with its connection.
        for (const sub of subs) expect(await records(sub)).toBe(2);
      }

      it('the instance that kept the logout applies it once the database is back: never taken for a replay', async () => {
        const appA = await startApp();
        const sub = `alice-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        const [, aliceB] = await loginEverywhere([appA, appB], sub, sid);
        await cutDuringRemoval(appA, [sub], [await logoutToken(sub, sid)]);

        proxy.restore();
        await until(async () => (await records(sub)) === 0, PENDING_LOGOUT_MAX_RETRY_MS + 4_000);
        expect(await privateStatus(appB.url, aliceB as string)).toBe(401);
      });

      it("the OP's re-delivery to another instance applies it when the keeping instance is gone: 200 only once the session is removed", async () => {
        const appA = await startApp();
        const sub = `bob-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        const [, bobB] = await loginEverywhere([appA, appB], sub, sid);
        const token = await logoutToken(sub, sid);
        await cutDuringRemoval(appA, [sub], [token]);
        // The keeping instance stops (its kept logout is lost with it) while the database is down.
        await appA.close();
        apps.splice(apps.indexOf(appA), 1);

        proxy.restore();
        // Not applied anywhere yet.
        expect(await privateStatus(appB.url, bobB as string)).toBe(200);
        const redelivered = await postLogoutToken(appB.url, REGISTRATION, token);
        expect(redelivered.status).toBe(200);
        expect(await records(sub)).toBe(0);
        expect(await privateStatus(appB.url, bobB as string)).toBe(401);
        // Now applied: a further delivery is a replay, still 200.
        expect((await postLogoutToken(appB.url, REGISTRATION, token)).status).toBe(200);
      });

      it('two deliveries of one token at once: neither is answered before the removal committed, both end the session', async () => {
        const appA = await startApp();
        const sub = `carol-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        const [carolA, carolB] = await loginEverywhere([appA, appB], sub, sid);
        const token = await logoutToken(sub, sid);
        const release = await lockSessions([sub]);
        const answeredWith: number[] = [];
        let deliveries: Promise<{ status: number; body: unknown }>[];
        try {
          deliveries = [appA, appB].map((app) =>
            postLogoutToken(app.url, REGISTRATION, token).then(async (answer) => {
              // What the store held when this delivery was answered.
              answeredWith.push(await records(sub));
              return answer;
            }),
          );
          await sleep(1_500);
          // The removal waits for the lock: no delivery may be answered yet.
          expect(answeredWith).toEqual([]);
          expect(await records(sub)).toBe(2);
        } finally {
          await release();
        }
        for (const answer of await Promise.all(deliveries)) {
          expect(answer.status).toBe(200);
          expect(answer.body).toBeUndefined();
        }
        expect(answeredWith).toEqual([0, 0]);
        expect(await privateStatus(appA.url, carolA as string)).toBe(401);
        expect(await privateStatus(appB.url, carolB as string)).toBe(401);
      });

      it.skipIf(kind !== 'postgres')(
        'logouts that went through batch statements, failed and were rerun call by call: all applied once the database is back',
        async () => {
          // One statement at a time per kind: concurrent calls share the next batch statement.
          const appA = await startApp({ maxConcurrent: 1, maxSize: 100 });
          const users = Array.from({ length: 5 }, () => ({
            sub: `dave-${randomUUID()}`,
            sid: `sid-${randomUUID()}`,
          }));
          const cookiesB: string[] = [];
          for (const { sub, sid } of users) {
            cookiesB.push((await loginEverywhere([appA, appB], sub, sid))[1] as string);
          }
          const tokens = await Promise.all(users.map(({ sub, sid }) => logoutToken(sub, sid)));
          await cutDuringRemoval(
            appA,
            users.map((user) => user.sub),
            tokens,
          );

          proxy.restore();
          for (const { sub } of users) {
            await until(
              async () => (await records(sub)) === 0,
              PENDING_LOGOUT_MAX_RETRY_MS + 4_000,
            );
          }
          for (const cookie of cookiesB) expect(await privateStatus(appB.url, cookie)).toBe(401);
        },
      );
    },
  );
}

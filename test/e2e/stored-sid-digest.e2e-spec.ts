/**
 * The OP session id (`sid`) is stored as a digest on every store: a leaked `oidc_sessions` table (or
 * a custom store's data) gives no sid that a front-channel request could use. Logouts by sid on the
 * back channel and the front channel, tombstones and sub logouts still work; a row an earlier
 * version stored with its sid in clear is converted (by the migration, or when the repository
 * starts) and still ends.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSid } from '../../lib/repositories/session-id-hash';
import { OIDC_LOGOUT_MIGRATIONS, TypeOrmOidcSessionRepository } from '../../lib/typeorm';
import type { OidcLogoutCriteria, OidcRevocationEvent, OidcSessionInfo } from '../../lib';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
  type DatabaseKind,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { RecordingRepository } from '../fixtures/recording-repository';
import {
  getFrontChannel,
  loginAt,
  postLogoutToken,
  privateStatus,
  tryLoginAt,
} from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';

/** A user's own store: every sid it is given is recorded. */
class SidSpyRepository extends RecordingRepository {
  readonly sidsSeen: string[] = [];
  override save(info: OidcSessionInfo): Promise<void> {
    if (info.sid !== undefined) this.sidsSeen.push(info.sid);
    return super.save(info);
  }
  override removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    if (criteria.sid !== undefined) this.sidsSeen.push(criteria.sid);
    return super.removeByLogoutToken(criteria);
  }
}

type StoreKind = 'custom' | DatabaseKind;
const STORES: StoreKind[] = ['custom', 'sqlite', 'postgres', 'mariadb'];

for (const store of STORES) {
  const enabled = store === 'custom' || announceDatabase(store, 'stored sid digest e2e');
  describe.skipIf(!enabled)(`the sid is stored as a digest (${store})`, () => {
    let keys: TestKeySet;
    let op: FakeOp;
    let dataSource: DataSource | undefined;
    let spy: SidSpyRepository | undefined;
    let app: TestApp;
    const events: OidcRevocationEvent[] = [];

    beforeAll(async () => {
      keys = await createTestKeySet();
      op = await startFakeOp({ keys });
      const clients = [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }];
      const onRevocation = (event: OidcRevocationEvent) => void events.push(event);
      if (store === 'custom') {
        spy = new SidSpyRepository();
        app = await startTestApp({ oidc: { clients, sessionRepository: spy, onRevocation } });
      } else {
        dataSource = await createTestDataSource(store);
        app = await startTestApp({ oidc: { clients, dataSource, onRevocation } });
      }
    });

    afterAll(async () => {
      await app?.close();
      if (dataSource) await destroyTestDataSource(dataSource);
      await op?.close();
    });

    const idToken = (sub: string, sid: string) =>
      signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
    /** A logout token naming exactly what is given (the fixture's defaults removed). */
    const logoutToken = ({ sub, sid }: { sub?: string; sid?: string }) =>
      signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        claims: { sub, sid },
      });

    /** Every stored row of `oidc_sessions`, as the database gives it. */
    async function rawRows(): Promise<Record<string, unknown>[]> {
      if (!dataSource) return [];
      return dataSource.query(`SELECT * FROM ${dataSource.driver.escape('oidc_sessions')}`);
    }

    it('no store sees a sid in clear; the raw table holds its digest only', async () => {
      const sid = `sid-${randomUUID()}`;
      const sub = `alice-${randomUUID()}`;
      const alice = await loginAt(app.url, await idToken(sub, sid));
      expect(await privateStatus(app.url, alice)).toBe(200);

      if (spy) {
        expect(spy.sidsSeen).toContain(hashSid(sid));
        expect(spy.sidsSeen).not.toContain(sid);
      }
      const rows = await rawRows();
      if (dataSource) {
        const row = rows.find((r) => r.sub === sub);
        expect(row?.sid).toBe(hashSid(sid));
        expect(hashSid(sid)).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
        // No column carries the sid as text (the ID token carries it inside its signed payload).
        for (const [column, value] of Object.entries(row ?? {})) {
          expect(String(value), column).not.toContain(sid);
        }
        for (const r of rows) expect(String(r.sid)).toMatch(/^sha256:/);
      }

      // And a logout by that sid still ends the session.
      expect(
        (await postLogoutToken(app.url, REGISTRATION, await logoutToken({ sid }))).status,
      ).toBe(200);
      expect(await privateStatus(app.url, alice)).toBe(401);
    });

    it('back channel by sid: ends that OP session only; listeners get the digest in sessions and the token sid on the event', async () => {
      const sub = `bob-${randomUUID()}`;
      const sid = `sid-${randomUUID()}`;
      const other = `sid-${randomUUID()}`;
      const bob = await loginAt(app.url, await idToken(sub, sid));
      const bobElsewhere = await loginAt(app.url, await idToken(sub, other));
      events.length = 0;
      const answer = await postLogoutToken(app.url, REGISTRATION, await logoutToken({ sid, sub }));
      expect(answer.status).toBe(200);
      expect(await privateStatus(app.url, bob)).toBe(401);
      expect(await privateStatus(app.url, bobElsewhere)).toBe(200);
      expect(events).toHaveLength(1);
      expect(events[0]?.sid).toBe(sid);
      expect(events[0]?.sessions.map((s) => s.sid)).toEqual([hashSid(sid)]);
    });

    it('front channel by iss and sid: ends that OP session; a digest sent as the sid ends nothing', async () => {
      const sid = `sid-${randomUUID()}`;
      const carol = await loginAt(app.url, await idToken(`carol-${randomUUID()}`, sid));
      // Someone holding the leaked table sends what it stores: nothing is revoked.
      expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, hashSid(sid))).toBe(200);
      expect(await privateStatus(app.url, carol)).toBe(200);
      if (dataSource) expect((await rawRows()).some((r) => r.sid === hashSid(sid))).toBe(true);

      expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, sid)).toBe(200);
      expect(await privateStatus(app.url, carol)).toBe(401);
      if (dataSource) expect((await rawRows()).some((r) => r.sid === hashSid(sid))).toBe(false);
    });

    it('a logout that arrives before its login (tombstone) still refuses that login', async () => {
      const sid = `sid-${randomUUID()}`;
      const sub = `dave-${randomUUID()}`;
      const early = await postLogoutToken(app.url, REGISTRATION, await logoutToken({ sid }));
      expect(early.status).toBe(200);
      const login = await tryLoginAt(app.url, await idToken(sub, sid));
      expect(login.status).toBe(400);
      expect(login.body).toEqual({ code: 'ERR_SESSION_ENDED' });
      expect(await privateStatus(app.url, login.cookie as string)).toBe(401);
      // Another OP session of that user is not concerned.
      const again = await loginAt(app.url, await idToken(sub, `sid-${randomUUID()}`));
      expect(await privateStatus(app.url, again)).toBe(200);
    });

    it('a sub-only logout still ends every session of that user', async () => {
      const sub = `erin-${randomUUID()}`;
      const one = await loginAt(app.url, await idToken(sub, `sid-${randomUUID()}`));
      const two = await loginAt(app.url, await idToken(sub, `sid-${randomUUID()}`));
      const stranger = await loginAt(app.url, await idToken(`frank-${randomUUID()}`, 'x'));
      expect(
        (await postLogoutToken(app.url, REGISTRATION, await logoutToken({ sub }))).status,
      ).toBe(200);
      expect(await privateStatus(app.url, one)).toBe(401);
      expect(await privateStatus(app.url, two)).toBe(401);
      expect(await privateStatus(app.url, stranger)).toBe(200);
    });

    it.skipIf(store === 'custom')(
      'a row an earlier version stored with its sid in clear is converted when the repository starts, and its logout ends it',
      async () => {
        const ds = dataSource as DataSource;
        const sid = `sid-${randomUUID()}`;
        const gina = await loginAt(app.url, await idToken(`gina-${randomUUID()}`, sid));
        // What an earlier version left in the table.
        const table = ds.driver.escape('oidc_sessions');
        const column = ds.driver.escape('sid');
        await ds.query(
          `UPDATE ${table} SET ${column} = ${ds.driver.createParameter('p0', 0)} WHERE ${column} = ${ds.driver.createParameter('p1', 1)}`,
          [sid, hashSid(sid)],
        );
        expect((await rawRows()).some((r) => r.sid === sid)).toBe(true);
        const restarted = new TypeOrmOidcSessionRepository(ds);
        await restarted.init();
        expect((await rawRows()).some((r) => r.sid === sid)).toBe(false);
        expect((await rawRows()).some((r) => r.sid === hashSid(sid))).toBe(true);
        expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, sid)).toBe(200);
        expect(await privateStatus(app.url, gina)).toBe(401);
      },
    );
  });
}

for (const kind of ['sqlite', 'postgres', 'mariadb'] as const) {
  describe.skipIf(!announceDatabase(kind, 'sid digest migration e2e'))(
    `the migration hashes the sids stored in clear (${kind})`,
    () => {
      let dataSource: DataSource;

      beforeAll(async () => {
        dataSource = await createTestDataSource(kind, { synchronize: false, migrations: false });
      });
      afterAll(async () => {
        if (dataSource) await destroyTestDataSource(dataSource);
      });

      it('runs after the earlier migrations: clear sids become digests, NULL stays NULL; running it twice changes nothing', async () => {
        const runner = dataSource.createQueryRunner();
        try {
          const [createSessions, createEvents, ...later] = OIDC_LOGOUT_MIGRATIONS.map(
            (Migration) => new Migration(),
          );
          expect(later.length).toBeGreaterThan(0);
          await createSessions!.up(runner);
          await createEvents!.up(runner);
          const table = dataSource.driver.escape('oidc_sessions');
          const p = (i: number) => dataSource.driver.createParameter(`p${i}`, i);
          const insert = (id: string, sid: string | null) =>
            runner.query(
              `INSERT INTO ${table} (client_session_id, registration_id, issuer, client_id, sid, sub, id_token, expires_at, created_at) ` +
                `VALUES (${[0, 1, 2, 3, 4, 5, 6, 7, 8].map(p).join(', ')})`,
              [
                id,
                'main',
                'https://op',
                'app',
                sid,
                'user',
                'x.y.z',
                Date.now() + 60_000,
                Date.now(),
              ],
            );
          // Three chunks of the conversion; in one transaction, as TypeORM runs migrations.
          const many = Array.from({ length: 1_001 }, (_, i) => `sid-${i}-${randomUUID()}`);
          await runner.startTransaction();
          for (const [i, sid] of many.entries()) await insert(`id-${i}`, sid);
          await insert('no-sid', null);
          for (const migration of later) await migration.up(runner);
          await runner.commitTransaction();
          const rows: { client_session_id: string; sid: string | null }[] = await runner.query(
            `SELECT client_session_id, sid FROM ${table}`,
          );
          const byId = new Map(rows.map((r) => [r.client_session_id, r.sid]));
          for (const [i, sid] of many.entries()) expect(byId.get(`id-${i}`)).toBe(hashSid(sid));
          expect(byId.get('no-sid')).toBeNull();
          for (const migration of later) await migration.up(runner);
          const again: { client_session_id: string; sid: string | null }[] = await runner.query(
            `SELECT client_session_id, sid FROM ${table}`,
          );
          expect(new Map(again.map((r) => [r.client_session_id, r.sid]))).toEqual(byId);
        } finally {
          if (runner.isTransactionActive) await runner.rollbackTransaction();
          await runner.release();
        }
      }, 120_000);
    },
  );
}

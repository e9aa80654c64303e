/**
 * The database goes away (a real TCP proxy between the apps and the real PostgreSQL / MariaDB
 * server is cut: every connection reset, new ones refused) while logout tokens and logins arrive,
 * then comes back. Two app instances share it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OidcSessionInfo } from '../../lib';
import { hashSid } from '../../lib/repositories/session-id-hash';
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
import { loginAt, postLogoutToken, privateStatus, tryLoginAt } from '../fixtures/session-client';
import type { TcpProxy } from '../fixtures/tcp-proxy';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { KEPT_ANSWER } from '../fixtures/back-channel-answers';
import { until } from '../fixtures/until';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const KINDS: ServerDatabaseKind[] = ['postgres', 'mariadb'];

/** The TypeORM repository, with a switch that cuts the database right after a login is saved. */
class CuttableRepository extends TypeOrmOidcSessionRepository {
  cutAfterSave?: TcpProxy;

  override async save(info: OidcSessionInfo): Promise<void> {
    await super.save(info);
    // recordLogin saves, then looks for tombstones: the database dies in between.
    this.cutAfterSave?.cut();
    this.cutAfterSave = undefined;
  }
}

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'database-fault e2e'))(
    `the ${kind} server goes away and comes back`,
    () => {
      let keys: TestKeySet;
      let op: FakeOp;
      let direct: DataSource;
      let proxy: TcpProxy;
      const proxied: DataSource[] = [];
      let repositoryA: CuttableRepository;
      let appA: TestApp;
      let appB: TestApp;

      beforeAll(async () => {
        keys = await createTestKeySet();
        op = await startFakeOp({ keys });
        direct = await createTestDataSource(kind);
        proxy = await startDatabaseProxy(kind);
        proxied.push(await proxiedDataSource(kind, proxy), await proxiedDataSource(kind, proxy));
        const clients = [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }];
        repositoryA = new CuttableRepository(proxied[0] as DataSource);
        await repositoryA.init();
        // Instance A's logout events on the same (proxied) database, as the module's default would.
        const eventsA = new TypeOrmOidcLogoutEventStore(proxied[0] as DataSource);
        await eventsA.init();
        appA = await startTestApp({
          oidc: { clients, sessionRepository: repositoryA, logoutEventStore: eventsA },
        });
        appB = await startTestApp({ oidc: { clients, dataSource: proxied[1] } });
      });

      afterAll(async () => {
        proxy?.restore();
        await appA?.close();
        await appB?.close();
        for (const dataSource of proxied) if (dataSource.isInitialized) await dataSource.destroy();
        await proxy?.close();
        if (direct) await destroyTestDataSource(direct);
        await op?.close();
      });

      const idToken = (sub: string, sid: string) =>
        signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
      const logoutToken = (sub: string, sid: string) =>
        signLogoutToken(keys, { issuer: op.issuer, clientId: CLIENT_ID, sub, sid });
      /** Stored rows of an OP session (its sid is stored as a digest) or of a user. */
      const records = ({ sid, sub }: { sid?: string; sub?: string }) =>
        direct.getRepository(OidcSessionEntity).countBy({
          ...(sid === undefined ? {} : { sid: hashSid(sid) }),
          ...(sub === undefined ? {} : { sub }),
        });

      it('a logout token while the database is down: 400 and kept, fail closed meanwhile, applied once it is back, nothing lost', async () => {
        const sub = `alice-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        const alice = await loginAt(appA.url, await idToken(sub, sid));
        const bob = await loginAt(appA.url, await idToken(`bob-${randomUUID()}`, randomUUID()));
        const token = await logoutToken(sub, sid);

        proxy.cut();
        expect(await privateStatus(appA.url, alice)).toBe(503);
        expect(await privateStatus(appA.url, bob)).toBe(503);
        const kept = await postLogoutToken(appA.url, REGISTRATION, token);
        expect(kept.status).toBe(400);
        expect(kept.body).toEqual(KEPT_ANSWER);
        expect(kept.ms).toBeLessThan(5_000);
        // The OP tries again while the database is still down: the same logout, kept once.
        expect((await postLogoutToken(appA.url, REGISTRATION, token)).status).toBe(400);
        // Several retries fail meanwhile; the guard keeps failing closed.
        await sleep(1_500);
        expect(await privateStatus(appA.url, alice)).toBe(503);
        expect(await records({ sid })).toBe(1);

        proxy.restore();
        // The very first request after the database is back: never a pass.
        expect(await privateStatus(appA.url, alice)).not.toBe(200);
        await until(async () => (await privateStatus(appA.url, alice)) === 401, 5_000);
        expect(await privateStatus(appA.url, bob)).toBe(200);
        // Applied to the store (every instance reads it), without a restart and without the OP.
        await until(
          async () => (await records({ sid })) === 0,
          PENDING_LOGOUT_MAX_RETRY_MS + 2_000,
        );
        // The OP's next delivery of the same token is recognised as applied.
        expect((await postLogoutToken(appA.url, REGISTRATION, token)).status).toBe(200);
        expect((await postLogoutToken(appB.url, REGISTRATION, token)).status).toBe(200);
        // The app recovered: a new login passes.
        const carol = await loginAt(appA.url, await idToken(`carol-${randomUUID()}`, randomUUID()));
        expect(await privateStatus(appA.url, carol)).toBe(200);
      });

      it('another instance refuses the session once the keeping instance has applied the logout, within the retry bound of the database coming back', async () => {
        const sub = `dave-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        // One OP session, logged in at both instances.
        await loginAt(appA.url, await idToken(sub, sid));
        const daveB = await loginAt(appB.url, await idToken(sub, sid));
        proxy.cut();
        expect(
          (await postLogoutToken(appA.url, REGISTRATION, await logoutToken(sub, sid))).status,
        ).toBe(400);
        await sleep(2_000);
        proxy.restore();
        // Only instance B is asked: instance A applies its kept logout on its own (timer).
        const statuses: number[] = [];
        const window = await until(async () => {
          const status = await privateStatus(appB.url, daveB);
          statuses.push(status);
          return status === 401;
        }, PENDING_LOGOUT_MAX_RETRY_MS + 2_000);
        expect(window).toBeLessThan(PENDING_LOGOUT_MAX_RETRY_MS + 1_000);
        console.warn(
          `[${kind}] other-instance window after the database came back: ${Math.round(window)} ms ` +
            `(statuses ${statuses.join(',')})`,
        );
        expect(await records({ sid })).toBe(0);
      });

      it('a login while the database is down fails with ERR_REPOSITORY_UNAVAILABLE and leaves nothing that passes', async () => {
        const sid = `sid-${randomUUID()}`;
        proxy.cut();
        const login = await tryLoginAt(appA.url, await idToken(`erin-${randomUUID()}`, sid));
        expect(login.status).toBe(400);
        expect(login.body).toEqual({ code: 'ERR_REPOSITORY_UNAVAILABLE' });
        expect(login.cookie).toBeDefined();
        expect(await privateStatus(appA.url, login.cookie as string)).toBe(503);
        proxy.restore();
        await until(
          async () => (await privateStatus(appA.url, login.cookie as string)) === 401,
          5_000,
        );
        expect(await records({ sid })).toBe(0);
      });

      it('the database dies between saving a login and checking it: the login fails, the half-recorded record never passes and is removed when the database is back', async () => {
        const sid = `sid-${randomUUID()}`;
        repositoryA.cutAfterSave = proxy;
        const login = await tryLoginAt(appA.url, await idToken(`frank-${randomUUID()}`, sid));
        const cookie = login.cookie;
        expect(proxy.isCut).toBe(true);
        expect(login.status).toBe(400);
        expect(login.body).toEqual({ code: 'ERR_REPOSITORY_UNAVAILABLE' });
        expect(await records({ sid })).toBe(1); // saved, not checked: half-recorded
        expect(await privateStatus(appA.url, cookie as string)).toBe(503);
        proxy.restore();
        expect(await privateStatus(appA.url, cookie as string)).not.toBe(200);
        await until(async () => (await privateStatus(appA.url, cookie as string)) === 401, 5_000);
        await until(
          async () => (await records({ sid })) === 0,
          PENDING_LOGOUT_MAX_RETRY_MS + 2_000,
        );
        // The same browser logs in again later: this login is not undone by the old removal.
        const again = await loginAt(appA.url, await idToken(`frank-${randomUUID()}`, randomUUID()));
        expect(await privateStatus(appA.url, again)).toBe(200);
      });
    },
  );
}

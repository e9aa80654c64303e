/**
 * The app restarts (a real process stopped with SIGTERM, or killed with SIGKILL, and a new one
 * started on the same database and session store): recorded logins, revocations and the memory of
 * logout tokens already applied all live in the database, so nothing is forgotten.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcLogoutEventEntity, OidcSessionEntity } from '../../lib/typeorm';
import {
  startAppInstance,
  type AppInstance,
  type AppInstanceConfig,
} from '../fixtures/app-instances';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
  type DatabaseKind,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import { nowSeconds, signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const KINDS: DatabaseKind[] = ['sqlite', 'postgres', 'mariadb'];

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'app-restart e2e'))(`an app restart on ${kind}`, () => {
    let keys: TestKeySet;
    let op: FakeOp;
    let dataSource: DataSource;
    let sessionDirectory: string;
    let config: AppInstanceConfig;
    let current: AppInstance | undefined;

    beforeAll(async () => {
      keys = await createTestKeySet();
      op = await startFakeOp({ keys });
      dataSource = await createTestDataSource(kind);
      sessionDirectory = mkdtempSync(join(tmpdir(), 'oidc-logout-sessions-'));
      config = {
        database: kind,
        sqliteFile: kind === 'sqlite' ? String(dataSource.options.database) : undefined,
        registrationId: REGISTRATION,
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sessionDirectory,
        sessionSecret: 'restart-secret',
      };
    });

    afterAll(async () => {
      await current?.stop();
      if (dataSource) await destroyTestDataSource(dataSource);
      await op?.close();
      if (sessionDirectory) rmSync(sessionDirectory, { recursive: true, force: true });
    });

    const login = async (sub: string, sid: string, iat?: number) =>
      loginAt(
        (current as AppInstance).url,
        await signIdToken(keys, {
          iss: op.issuer,
          aud: CLIENT_ID,
          sub,
          sid,
          ...(iat ? { iat } : {}),
        }),
      );

    it('sessions, revocations and applied logout tokens survive a graceful restart and a crash', async () => {
      current = await startAppInstance(config);
      const url = () => (current as AppInstance).url;

      const alice = await login(`alice-${randomUUID()}`, `sid-${randomUUID()}`);
      const bobSid = `sid-${randomUUID()}`;
      const bobSub = `bob-${randomUUID()}`;
      const bob = await login(bobSub, bobSid);
      const carolSub = `carol-${randomUUID()}`;
      const carol = await login(carolSub, `sid-${randomUUID()}`);
      for (const cookie of [alice, bob, carol])
        expect(await privateStatus(url(), cookie)).toBe(200);

      // Bob's OP session ends (sid); every session of Carol ends (sub only), a few seconds ago.
      const bobToken = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sid: bobSid,
        sub: bobSub,
      });
      const carolToken = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sub: carolSub,
        claims: { sid: undefined, iat: nowSeconds() - 5 },
      });
      expect((await postLogoutToken(url(), REGISTRATION, bobToken)).status).toBe(200);
      expect((await postLogoutToken(url(), REGISTRATION, carolToken)).status).toBe(200);
      // Not asked through the guard before the restart: their sessions stay in the session store,
      // so only the database can tell after the restart that they ended.
      const sessions = dataSource.getRepository(OidcSessionEntity);
      expect(await sessions.countBy({ sid: bobSid })).toBe(0);
      expect(await sessions.countBy({ sub: carolSub })).toBe(0);
      expect(await dataSource.getRepository(OidcLogoutEventEntity).count()).toBeGreaterThanOrEqual(
        4,
      ); // two claims (jti), two tombstones

      for (const restart of ['SIGTERM', 'SIGKILL'] as const) {
        const before = current;
        await (restart === 'SIGTERM' ? before.stop() : before.kill());
        current = await startAppInstance(config);
        expect(current.pid).not.toBe(before.pid);

        // The session cookie from before still passes; the revoked ones still fail.
        expect(await privateStatus(url(), alice)).toBe(200);
        expect(await privateStatus(url(), bob)).toBe(401);
        expect(await privateStatus(url(), carol)).toBe(401);

        // Carol logs in again (an ID token issued after her logout): a live session.
        const carolAgain = await login(carolSub, `sid-${randomUUID()}`, nowSeconds());
        expect(await privateStatus(url(), carolAgain)).toBe(200);
        // The OP delivers both logout tokens again: recognised as applied, not run again (a rerun
        // of Carol's sub-only logout would end her new session).
        expect((await postLogoutToken(url(), REGISTRATION, bobToken)).status).toBe(200);
        expect((await postLogoutToken(url(), REGISTRATION, carolToken)).status).toBe(200);
        expect(await privateStatus(url(), carolAgain)).toBe(200);
        expect(await privateStatus(url(), alice)).toBe(200);
      }
    }, 60_000);
  });
}

/**
 * The app restarts (a real process stopped with SIGTERM, or killed with SIGKILL, and a new one
 * started on the same database and session store): recorded logins, revocations and the memory of
 * logout tokens already applied all live in the database, so nothing is forgotten.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcLogoutEventEntity } from '../../lib/typeorm';
import { announceDatabase, type DatabaseKind } from '../fixtures/databases';
import { createInstanceGroup, type InstanceGroup } from '../fixtures/instance-group';
import { privateStatus } from '../fixtures/session-client';
import { nowSeconds } from '../fixtures/tokens';

const KINDS: DatabaseKind[] = ['sqlite', 'postgres', 'mariadb'];

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'app-restart e2e'))(`an app restart on ${kind}`, () => {
    let group: InstanceGroup;

    beforeAll(async () => {
      group = await createInstanceGroup(kind);
    });

    afterAll(() => group?.close());

    it('sessions, revocations and applied logout tokens survive a graceful restart and a crash', async () => {
      let current = await group.start();

      const alice = await group.logIn(current, { sub: `alice-${randomUUID()}` });
      const bobSid = `sid-${randomUUID()}`;
      const bobSub = `bob-${randomUUID()}`;
      const bob = await group.logIn(current, { sub: bobSub, sid: bobSid });
      const carolSub = `carol-${randomUUID()}`;
      const carol = await group.logIn(current, { sub: carolSub });
      for (const cookie of [alice, bob, carol])
        expect(await privateStatus(current.url, cookie)).toBe(200);

      // Bob's OP session ends (sid); every session of Carol ends (sub only), a few seconds ago.
      const bobToken = await group.logoutToken({ sid: bobSid, sub: bobSub });
      const carolToken = await group.logoutToken({
        sub: carolSub,
        claims: { sid: undefined, iat: nowSeconds() - 5 },
      });
      expect((await group.backChannel(current, bobToken)).status).toBe(200);
      expect((await group.backChannel(current, carolToken)).status).toBe(200);
      // Not asked through the guard before the restart: their sessions stay in the session store,
      // so only the database can tell after the restart that they ended.
      expect(await group.records({ sid: bobSid })).toBe(0);
      expect(await group.records({ sub: carolSub })).toBe(0);
      const events = group.dataSource.getRepository(OidcLogoutEventEntity);
      expect(await events.count()).toBeGreaterThanOrEqual(4); // two claims (jti), two tombstones

      for (const restart of ['SIGTERM', 'SIGKILL'] as const) {
        const before = current;
        current = await group.restart(before, restart);
        expect(current.pid).not.toBe(before.pid);

        // The session cookie from before still passes; the revoked ones still fail.
        expect(await privateStatus(current.url, alice)).toBe(200);
        expect(await privateStatus(current.url, bob)).toBe(401);
        expect(await privateStatus(current.url, carol)).toBe(401);

        // Carol logs in again (an ID token issued after her logout): a live session.
        const carolAgain = await group.logIn(current, { sub: carolSub, iat: nowSeconds() });
        expect(await privateStatus(current.url, carolAgain)).toBe(200);
        // The OP delivers both logout tokens again: recognised as applied, not run again (a rerun
        // of Carol's sub-only logout would end her new session).
        expect((await group.backChannel(current, bobToken)).status).toBe(200);
        expect((await group.backChannel(current, carolToken)).status).toBe(200);
        expect(await privateStatus(current.url, carolAgain)).toBe(200);
        expect(await privateStatus(current.url, alice)).toBe(200);
      }
    }, 60_000);
  });
}

/**
 * An app instance (a real process) stops while the database is away (a real TCP proxy cut) and a
 * verified logout is kept pending: without a journal the loss is logged whatever way the process
 * ends (SIGTERM with no shutdown hooks included); with `pendingLogoutJournal` the restarted instance
 * applies the logout once the database is back, after SIGTERM as after SIGKILL.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppInstance } from '../fixtures/app-instances';
import {
  proxiedDatabaseUrl,
  startDatabaseProxy,
  type ServerDatabaseKind,
} from '../fixtures/database-proxy';
import { announceDatabase } from '../fixtures/databases';
import { createInstanceGroup, type InstanceGroup } from '../fixtures/instance-group';
import { privateStatus } from '../fixtures/session-client';
import type { TcpProxy } from '../fixtures/tcp-proxy';
import { KEPT_ANSWER as KEPT } from '../fixtures/back-channel-answers';

const KINDS: ServerDatabaseKind[] = ['postgres', 'mariadb'];

/** The log output without its colours. */
const plain = (output: string) =>
  output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');

/** Polls `check` every 50 ms until it holds; rejects after `timeoutMs`. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'pending-logout restart e2e'))(
    `an instance stops with a logout pending (${kind})`,
    () => {
      let proxy: TcpProxy;
      let group: InstanceGroup;

      beforeAll(async () => {
        proxy = await startDatabaseProxy(kind);
        // The instances reach the database through the proxy; the test's own connection does not.
        group = await createInstanceGroup(kind, { databaseUrl: proxiedDatabaseUrl(kind, proxy) });
      });

      // A failed test must not leave the database away for the next one.
      afterEach(() => proxy?.restore());

      afterAll(async () => {
        proxy?.restore();
        await group?.close();
        await proxy?.close();
      });

      /** Alice and Bob log in; the database goes away; Alice's logout arrives and is kept. */
      const keepLogout = async (instance: AppInstance) => {
        const sub = `alice-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        const alice = await group.logIn(instance, { sub, sid });
        const bob = await group.logIn(instance, { sub: `bob-${randomUUID()}` });
        const token = await group.logoutToken({ sub, sid });
        proxy.cut();
        const kept = await group.backChannel(instance, token);
        expect(kept.status).toBe(400);
        expect(kept.body).toEqual(KEPT);
        expect(await privateStatus(instance.url, alice)).toBe(503);
        return { alice, bob, sid, token };
      };

      it('without a journal and without shutdown hooks, SIGTERM logs the loss and ends the process by the signal', async () => {
        const instance = await group.start({ shutdownHooks: false });
        const { sid } = await keepLogout(instance);
        await instance.stop();
        expect(instance.exit()).toEqual({ code: null, signal: 'SIGTERM' });
        const output = plain(instance.output());
        expect(output).toContain('oidc_pending_logout_lost');
        expect(output).toMatch(/reason: 'SIGTERM'/);
        // Never an id in the log.
        expect(output).not.toContain(sid);
        proxy.restore();
        // The logout was lost: the record is still there (the OP must deliver it again).
        expect(await group.records({ sid })).toBe(1);
      }, 30_000);

      it('without a journal, with shutdown hooks, SIGTERM logs the loss at shutdown', async () => {
        const instance = await group.start();
        const { sid } = await keepLogout(instance);
        await instance.stop();
        expect(plain(instance.output())).toMatch(/oidc_pending_logout_lost',\s+reason: 'shutdown'/);
        proxy.restore();
        expect(await group.records({ sid })).toBe(1);
      }, 30_000);

      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        it(`with pendingLogoutJournal, the instance restarted after ${signal} applies the kept logout once the database is back`, async () => {
          const journal = join(group.directory, `pending-${signal}.journal`);
          const config = { pendingLogoutJournal: journal, shutdownHooks: signal === 'SIGTERM' };
          const first = await group.start(config);
          const { alice, bob, sid, token } = await keepLogout(first);
          // Written before the 400, readable by the app's user only, without the token.
          expect(existsSync(journal)).toBe(true);
          expect(statSync(journal).mode & 0o777).toBe(0o600);
          const text = readFileSync(journal, 'utf8');
          expect(text).not.toContain(token);
          expect(text).not.toContain(token.split('.')[2] as string);
          await (signal === 'SIGTERM' ? first.stop() : first.kill());
          if (signal === 'SIGTERM') {
            expect(first.output()).toContain('oidc_pending_logout_journaled');
            expect(first.output()).not.toContain('oidc_pending_logout_lost');
          }

          proxy.restore();
          // Nothing else applies it: the record is still in the database.
          expect(await group.records({ sid })).toBe(1);
          const second = await group.start(config);
          await until(async () => (await group.records({ sid })) === 0, 5_000);
          expect(await privateStatus(second.url, alice)).toBe(401);
          // Not revoked: Bob's session.
          expect(await privateStatus(second.url, bob)).toBe(200);
          // Applied: the journal no longer holds it; the OP's re-delivery is recognised.
          await until(() => readFileSync(journal, 'utf8') === '', 5_000);
          expect((await group.backChannel(second, token)).status).toBe(200);
          await second.stop();
        }, 40_000);
      }
    },
  );
}

import { hashSid } from '../../lib/repositories/session-id-hash';
/**
 * An app instance (a real process) stops while the database is away (a real TCP proxy cut) and a
 * verified logout is kept pending: without a journal the loss is logged whatever way the process
 * ends (SIGTERM with no shutdown hooks included); with `pendingLogoutJournal` the restarted instance
 * applies the logout once the database is back, after SIGTERM as after SIGKILL.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OidcSessionEntity } from '../../lib/typeorm';
import {
  startAppInstance,
  type AppInstance,
  type AppInstanceConfig,
} from '../fixtures/app-instances';
import {
  proxiedDatabaseUrl,
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
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const KINDS: ServerDatabaseKind[] = ['postgres', 'mariadb'];
const KEPT = {
  error: 'invalid_request',
  error_description:
    'the session store is unavailable; the logout was not applied yet, it is kept and applied when the store is back',
};

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
      let keys: TestKeySet;
      let op: FakeOp;
      let direct: DataSource;
      let proxy: TcpProxy;
      let directory: string;
      let base: AppInstanceConfig;
      const started: AppInstance[] = [];

      beforeAll(async () => {
        keys = await createTestKeySet();
        op = await startFakeOp({ keys });
        direct = await createTestDataSource(kind);
        proxy = await startDatabaseProxy(kind);
        directory = mkdtempSync(join(tmpdir(), 'oidc-logout-pending-'));
        base = {
          database: kind,
          databaseUrl: proxiedDatabaseUrl(kind, proxy),
          registrationId: REGISTRATION,
          issuer: op.issuer,
          clientId: CLIENT_ID,
          sessionDirectory: join(directory, 'sessions'),
          sessionSecret: 'pending-secret',
        };
      });

      // A failed test must not leave the database away for the next one.
      afterEach(() => proxy?.restore());

      afterAll(async () => {
        proxy?.restore();
        for (const instance of started) await instance.kill();
        await proxy?.close();
        if (direct) await destroyTestDataSource(direct);
        await op?.close();
        if (directory) rmSync(directory, { recursive: true, force: true });
      });

      const start = async (config: Partial<AppInstanceConfig> = {}) => {
        const instance = await startAppInstance({ ...base, ...config });
        started.push(instance);
        return instance;
      };
      const login = async (instance: AppInstance, sub: string, sid: string) =>
        loginAt(
          instance.url,
          await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid }),
        );
      const records = (where: { sid?: string }) =>
        direct
          .getRepository(OidcSessionEntity)
          // The store keeps the sid's digest.
          .countBy({ ...where, ...(where.sid === undefined ? {} : { sid: hashSid(where.sid) }) });

      /** Alice and Bob log in; the database goes away; Alice's logout arrives and is kept. */
      const keepLogout = async (instance: AppInstance) => {
        const sub = `alice-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        const alice = await login(instance, sub, sid);
        const bob = await login(instance, `bob-${randomUUID()}`, `sid-${randomUUID()}`);
        const token = await signLogoutToken(keys, {
          issuer: op.issuer,
          clientId: CLIENT_ID,
          sub,
          sid,
        });
        proxy.cut();
        const kept = await postLogoutToken(instance.url, REGISTRATION, token);
        expect(kept.status).toBe(400);
        expect(kept.body).toEqual(KEPT);
        expect(await privateStatus(instance.url, alice)).toBe(503);
        return { alice, bob, sid, token };
      };

      it('without a journal and without shutdown hooks, SIGTERM logs the loss and ends the process by the signal', async () => {
        const instance = await start({ shutdownHooks: false });
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
        expect(await records({ sid })).toBe(1);
      }, 30_000);

      it('without a journal, with shutdown hooks, SIGTERM logs the loss at shutdown', async () => {
        const instance = await start();
        const { sid } = await keepLogout(instance);
        await instance.stop();
        expect(plain(instance.output())).toMatch(/oidc_pending_logout_lost',\s+reason: 'shutdown'/);
        proxy.restore();
        expect(await records({ sid })).toBe(1);
      }, 30_000);

      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        it(`with pendingLogoutJournal, the instance restarted after ${signal} applies the kept logout once the database is back`, async () => {
          const journal = join(directory, `pending-${signal}.journal`);
          const config = { pendingLogoutJournal: journal, shutdownHooks: signal === 'SIGTERM' };
          const first = await start(config);
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
          expect(await records({ sid })).toBe(1);
          const second = await start(config);
          await until(async () => (await records({ sid })) === 0, 5_000);
          expect(await privateStatus(second.url, alice)).toBe(401);
          // Not revoked: Bob's session.
          expect(await privateStatus(second.url, bob)).toBe(200);
          // Applied: the journal no longer holds it; the OP's re-delivery is recognised.
          await until(() => readFileSync(journal, 'utf8') === '', 5_000);
          expect((await postLogoutToken(second.url, REGISTRATION, token)).status).toBe(200);
          await second.stop();
        }, 40_000);
      }
    },
  );
}

/**
 * Several app instances behind a load balancer: real Node processes (one Nest app each, see
 * `app-instances.ts`) sharing one database and one session store. A logout delivered to one
 * instance, on any channel, makes every other instance refuse the session on its very next
 * request: the guard reads the shared repository on every request (there is no guard cache, so
 * the window is zero by construction; each check below is the first request after the logout's
 * answer, never a poll).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSid } from '../../lib/repositories/session-id-hash';
import { OidcSessionEntity } from '../../lib/typeorm';
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
import {
  getFrontChannel,
  loginAt,
  postLogoutToken,
  postRpLogout,
  privateStatus,
} from '../fixtures/session-client';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const KINDS: DatabaseKind[] = ['sqlite', 'postgres', 'mariadb'];

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'many-instances e2e'))(
    `two app processes sharing ${kind}`,
    () => {
      let keys: TestKeySet;
      let op: FakeOp;
      let dataSource: DataSource;
      let sessionDirectory: string;
      let instances: AppInstance[] = [];

      beforeAll(async () => {
        keys = await createTestKeySet();
        op = await startFakeOp({ keys });
        dataSource = await createTestDataSource(kind);
        sessionDirectory = mkdtempSync(join(tmpdir(), 'oidc-logout-sessions-'));
        const config: AppInstanceConfig = {
          database: kind,
          sqliteFile: kind === 'sqlite' ? String(dataSource.options.database) : undefined,
          registrationId: REGISTRATION,
          issuer: op.issuer,
          clientId: CLIENT_ID,
          sessionDirectory,
          sessionSecret: 'many-instances-secret',
        };
        instances = await Promise.all([startAppInstance(config), startAppInstance(config)]);
      }, 60_000);

      afterAll(async () => {
        await Promise.all(instances.map((instance) => instance.stop()));
        if (dataSource) await destroyTestDataSource(dataSource);
        await op?.close();
        if (sessionDirectory) rmSync(sessionDirectory, { recursive: true, force: true });
      });

      /** Instance `i` and the other one. */
      const pair = (i: number): [AppInstance, AppInstance] => {
        const [a, b] = instances as [AppInstance, AppInstance];
        return i % 2 === 0 ? [a, b] : [b, a];
      };

      const idToken = (sub: string, sid: string) =>
        signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });

      /** Logs in through `via`; the session passes on both instances. */
      async function loggedIn(via: AppInstance, sub: string, sid: string): Promise<string> {
        const cookie = await loginAt(via.url, await idToken(sub, sid));
        for (const instance of instances)
          expect(await privateStatus(instance.url, cookie)).toBe(200);
        return cookie;
      }

      /** Stored rows of an OP session (its sid is stored as a digest) or of a user. */
      const recordsOf = ({ sid, sub }: { sid?: string; sub?: string }) =>
        dataSource.getRepository(OidcSessionEntity).countBy({
          ...(sid === undefined ? {} : { sid: hashSid(sid) }),
          ...(sub === undefined ? {} : { sub }),
        });

      it('back-channel logout on one instance: the other refuses the session on its very next request', async () => {
        for (let i = 0; i < 6; i++) {
          const [delivered, other] = pair(i);
          const sub = `user-${randomUUID()}`;
          const sid = `sid-${randomUUID()}`;
          // Logged in through the instance that will not get the logout.
          const cookie = await loggedIn(other, sub, sid);
          const token = await signLogoutToken(keys, {
            issuer: op.issuer,
            clientId: CLIENT_ID,
            sid,
            sub,
          });
          expect((await postLogoutToken(delivered.url, REGISTRATION, token)).status).toBe(200);
          expect(await privateStatus(other.url, cookie)).toBe(401);
          expect(await privateStatus(delivered.url, cookie)).toBe(401);
          // The same token replayed to the other instance is recognised there too.
          expect((await postLogoutToken(other.url, REGISTRATION, token)).status).toBe(200);
        }
      });

      it('a sub-only logout ends the sessions of that user logged in through either instance', async () => {
        const [a, b] = pair(0);
        const sub = `user-${randomUUID()}`;
        const viaA = await loggedIn(a, sub, `sid-${randomUUID()}`);
        const viaB = await loggedIn(b, sub, `sid-${randomUUID()}`);
        const bystander = await loggedIn(b, `user-${randomUUID()}`, `sid-${randomUUID()}`);
        const token = await signLogoutToken(keys, {
          issuer: op.issuer,
          clientId: CLIENT_ID,
          sub,
          claims: { sid: undefined },
        });
        expect((await postLogoutToken(a.url, REGISTRATION, token)).status).toBe(200);
        expect(await privateStatus(b.url, viaA)).toBe(401);
        expect(await privateStatus(b.url, viaB)).toBe(401);
        expect(await privateStatus(b.url, bystander)).toBe(200);
        expect(await recordsOf({ sub })).toBe(0);
      });

      it('front-channel logout on one instance: the other refuses the session on its very next request', async () => {
        for (let i = 0; i < 4; i++) {
          const [delivered, other] = pair(i);
          const sid = `sid-${randomUUID()}`;
          const cookie = await loggedIn(other, `user-${randomUUID()}`, sid);
          // The OP's iframe, without the app's cookie (third-party cookies blocked).
          expect(await getFrontChannel(delivered.url, REGISTRATION, op.issuer, sid)).toBe(200);
          expect(await privateStatus(other.url, cookie)).toBe(401);
          expect(await recordsOf({ sid })).toBe(0);
        }
      });

      it('RP-initiated logout on one instance: the other refuses the session on its very next request', async () => {
        for (let i = 0; i < 4; i++) {
          const [delivered, other] = pair(i);
          const sid = `sid-${randomUUID()}`;
          const cookie = await loggedIn(other, `user-${randomUUID()}`, sid);
          const logout = await postRpLogout(delivered.url, cookie);
          expect(logout.status).toBe(302);
          expect(logout.location).toMatch(new RegExp(`^${op.endSessionEndpoint}\\?`));
          expect(await privateStatus(other.url, cookie)).toBe(401);
          // Not only the shared session store: the login record is gone for every instance.
          expect(await recordsOf({ sid })).toBe(0);
        }
      });
    },
  );
}

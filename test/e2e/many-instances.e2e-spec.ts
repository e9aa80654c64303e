/**
 * Several app instances behind a load balancer: real Node processes (one Nest app each, see
 * `app-instances.ts`) sharing one database and one session store. A logout delivered to one
 * instance, on any channel, makes every other instance refuse the session on its very next
 * request: the guard reads the shared repository on every request (there is no guard cache, so
 * the window is zero by construction; each check below is the first request after the logout's
 * answer, never a poll).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppInstance } from '../fixtures/app-instances';
import { announceDatabase } from '../fixtures/databases';
import {
  createInstanceGroup,
  type GroupStore,
  type InstanceGroup,
} from '../fixtures/instance-group';
import { announceRedis } from '../fixtures/redis';
import { postRpLogout, privateStatus } from '../fixtures/session-client';

const KINDS: GroupStore[] = ['sqlite', 'postgres', 'mariadb', 'redis'];

/** Whether the suite runs on `kind` (a visible notice when it does not). */
function enabled(kind: GroupStore): boolean {
  return kind === 'redis'
    ? announceRedis('many-instances e2e on Redis')
    : announceDatabase(kind, 'many-instances e2e');
}

for (const kind of KINDS) {
  describe.skipIf(!enabled(kind))(`two app processes sharing ${kind}`, () => {
    let group: InstanceGroup;
    let instances: AppInstance[] = [];

    beforeAll(async () => {
      group = await createInstanceGroup(kind);
      instances = await Promise.all([group.start(), group.start()]);
    }, 60_000);

    afterAll(() => group?.close());

    /** Instance `i` and the other one. */
    const pair = (i: number): [AppInstance, AppInstance] => {
      const [a, b] = instances as [AppInstance, AppInstance];
      return i % 2 === 0 ? [a, b] : [b, a];
    };

    /** Logs in through `via`; the session passes on both instances. */
    async function loggedIn(via: AppInstance, sub: string, sid: string): Promise<string> {
      const cookie = await group.logIn(via, { sub, sid });
      for (const instance of instances) expect(await privateStatus(instance.url, cookie)).toBe(200);
      // In the shared store itself, where the checks after the logout find it gone.
      expect(await group.records({ sid, sub })).toBe(1);
      return cookie;
    }

    it('back-channel logout on one instance: the other refuses the session on its very next request', async () => {
      for (let i = 0; i < 6; i++) {
        const [delivered, other] = pair(i);
        const sub = `user-${randomUUID()}`;
        const sid = `sid-${randomUUID()}`;
        // Logged in through the instance that will not get the logout.
        const cookie = await loggedIn(other, sub, sid);
        const token = await group.logoutToken({ sid, sub });
        expect((await group.backChannel(delivered, token)).status).toBe(200);
        expect(await privateStatus(other.url, cookie)).toBe(401);
        expect(await privateStatus(delivered.url, cookie)).toBe(401);
        // The same token replayed to the other instance is recognised there too.
        expect((await group.backChannel(other, token)).status).toBe(200);
      }
    });

    it('a sub-only logout ends the sessions of that user logged in through either instance', async () => {
      const [a, b] = pair(0);
      const sub = `user-${randomUUID()}`;
      const viaA = await loggedIn(a, sub, `sid-${randomUUID()}`);
      const viaB = await loggedIn(b, sub, `sid-${randomUUID()}`);
      const bystander = await loggedIn(b, `user-${randomUUID()}`, `sid-${randomUUID()}`);
      const token = await group.logoutToken({ sub, claims: { sid: undefined } });
      expect((await group.backChannel(a, token)).status).toBe(200);
      expect(await privateStatus(b.url, viaA)).toBe(401);
      expect(await privateStatus(b.url, viaB)).toBe(401);
      expect(await privateStatus(b.url, bystander)).toBe(200);
      expect(await group.records({ sub })).toBe(0);
    });

    it('front-channel logout on one instance: the other refuses the session on its very next request', async () => {
      for (let i = 0; i < 4; i++) {
        const [delivered, other] = pair(i);
        const sid = `sid-${randomUUID()}`;
        const cookie = await loggedIn(other, `user-${randomUUID()}`, sid);
        // The OP's iframe, without the app's cookie (third-party cookies blocked).
        expect(await group.frontChannel(delivered, sid)).toBe(200);
        expect(await privateStatus(other.url, cookie)).toBe(401);
        expect(await group.records({ sid })).toBe(0);
      }
    });

    it('RP-initiated logout on one instance: the other refuses the session on its very next request', async () => {
      for (let i = 0; i < 4; i++) {
        const [delivered, other] = pair(i);
        const sid = `sid-${randomUUID()}`;
        const cookie = await loggedIn(other, `user-${randomUUID()}`, sid);
        const logout = await postRpLogout(delivered.url, cookie);
        expect(logout.status).toBe(302);
        expect(logout.location).toMatch(new RegExp(`^${group.op.endSessionEndpoint}\\?`));
        expect(await privateStatus(other.url, cookie)).toBe(401);
        // Not only the shared session store: the login record is gone for every instance.
        expect(await group.records({ sid })).toBe(0);
      }
    });
  });
}

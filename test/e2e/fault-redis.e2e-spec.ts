/**
 * Redis goes away (a real TCP proxy between the apps and the real Redis is cut: every connection
 * reset, new ones refused) while logout tokens and logins arrive, then comes back. Two app instances
 * share it, one on ioredis and one on node-redis, as the apps' own clients: what the library
 * promises on the SQL stores holds on Redis too.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import IORedis from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSid } from '../../lib/repositories/session-id-hash';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../../lib/redis';
import { PENDING_LOGOUT_MAX_RETRY_MS } from '../../lib/logout-events/pending-logouts.options';
import { KEPT_ANSWER } from '../fixtures/back-channel-answers';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { announceRedis, openRedis, redisUrl, type TestRedis } from '../fixtures/redis';
import { loginAt, postLogoutToken, privateStatus, tryLoginAt } from '../fixtures/session-client';
import { startTcpProxy, type TcpProxy } from '../fixtures/tcp-proxy';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { until } from '../fixtures/until';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';

describe.skipIf(!announceRedis('Redis-fault e2e'))('Redis goes away and comes back', () => {
  let keys: TestKeySet;
  let op: FakeOp;
  let direct: TestRedis;
  let proxy: TcpProxy;
  let ioredis: IORedis;
  let nodeRedis: ReturnType<typeof createClient>;
  let appA: TestApp;
  let appB: TestApp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    direct = await openRedis('ioredis');
    const server = new URL(redisUrl());
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 6379) });
    const proxied = `redis://127.0.0.1:${proxy.port}`;
    ioredis = new IORedis(proxied, { maxRetriesPerRequest: 1 });
    ioredis.on('error', () => undefined);
    nodeRedis = createClient({ url: proxied });
    nodeRedis.on('error', () => undefined);
    await nodeRedis.connect();
    const clients = [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }];
    const stores = (client: IORedis | typeof nodeRedis) => ({
      sessionRepository: RedisOidcSessionRepository.with(client, { keyPrefix: direct.keyPrefix }),
      logoutEventStore: RedisOidcLogoutEventStore.with(client, { keyPrefix: direct.keyPrefix }),
    });
    appA = await startTestApp({ oidc: { clients, ...stores(ioredis) } });
    appB = await startTestApp({ oidc: { clients, ...stores(nodeRedis) } });
  });

  afterAll(async () => {
    proxy?.restore();
    await appA?.close();
    await appB?.close();
    ioredis?.disconnect();
    nodeRedis?.destroy();
    await proxy?.close();
    await direct?.close();
    await op?.close();
  });

  const idToken = (sub: string, sid: string) =>
    signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
  const logoutToken = (sub: string, sid: string) =>
    signLogoutToken(keys, { issuer: op.issuer, clientId: CLIENT_ID, sub, sid });
  /** Login records of an OP session in Redis, read past the proxy. */
  async function records(sid: string): Promise<number> {
    let count = 0;
    for (const key of await direct.keys()) {
      if (!key.includes('}:r:')) continue;
      const [stored] = await direct.hmget(key, ['sid']);
      if (stored === hashSid(sid)) count++;
    }
    return count;
  }

  it('a logout token while Redis is down: 400 and kept, fail closed meanwhile, applied once it is back, nothing lost', async () => {
    const sub = `alice-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const alice = await loginAt(appA.url, await idToken(sub, sid));
    const bob = await loginAt(appA.url, await idToken(`bob-${randomUUID()}`, randomUUID()));
    const token = await logoutToken(sub, sid);
    expect(await records(sid)).toBe(1);

    proxy.cut();
    expect(await privateStatus(appA.url, alice)).toBe(503);
    expect(await privateStatus(appA.url, bob)).toBe(503);
    const kept = await postLogoutToken(appA.url, REGISTRATION, token);
    expect(kept.status).toBe(400);
    expect(kept.body).toEqual(KEPT_ANSWER);
    expect(kept.ms).toBeLessThan(5_000);
    expect((await postLogoutToken(appA.url, REGISTRATION, token)).status).toBe(400);
    await sleep(1_500);
    expect(await privateStatus(appA.url, alice)).toBe(503);
    expect(await records(sid)).toBe(1);

    proxy.restore();
    expect(await privateStatus(appA.url, alice)).not.toBe(200);
    await until(async () => (await privateStatus(appA.url, alice)) === 401, 5_000);
    expect(await privateStatus(appA.url, bob)).toBe(200);
    await until(async () => (await records(sid)) === 0, PENDING_LOGOUT_MAX_RETRY_MS + 2_000);
    // The OP's next delivery, to either instance (the other client), is a replay.
    expect((await postLogoutToken(appA.url, REGISTRATION, token)).status).toBe(200);
    expect((await postLogoutToken(appB.url, REGISTRATION, token)).status).toBe(200);
    // Both recovered: a new login passes (each test app has a session store of its own).
    for (const app of [appA, appB]) {
      const carol = await loginAt(app.url, await idToken(`carol-${randomUUID()}`, randomUUID()));
      expect(await privateStatus(app.url, carol)).toBe(200);
    }
  });

  it('a login while Redis is down fails with ERR_REPOSITORY_UNAVAILABLE and leaves nothing that passes', async () => {
    for (const app of [appA, appB]) {
      const sid = `sid-${randomUUID()}`;
      proxy.cut();
      const login = await tryLoginAt(app.url, await idToken(`erin-${randomUUID()}`, sid));
      expect(login.status).toBe(400);
      expect(login.body).toEqual({ code: 'ERR_REPOSITORY_UNAVAILABLE' });
      expect(login.cookie).toBeDefined();
      expect(await privateStatus(app.url, login.cookie as string)).toBe(503);
      proxy.restore();
      // A write the client queued while the connection was down may land now: it never passes.
      for (let i = 0; i < 10; i++) {
        expect(await privateStatus(app.url, login.cookie as string)).not.toBe(200);
        await sleep(100);
      }
      await until(
        async () => (await privateStatus(app.url, login.cookie as string)) === 401,
        5_000,
      );
      await until(async () => (await records(sid)) === 0, PENDING_LOGOUT_MAX_RETRY_MS + 2_000);
    }
  });
});

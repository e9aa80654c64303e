/**
 * A client that puts a prefix before every key it is given, without saying so in a string
 * `options.keyPrefix` (ioredis with a Buffer prefix, or a wrapper of the app's around its client):
 * the scripts take the names they build (a record from an index member, an entry from an expiry
 * index) from the keys they are given, so a logout and the cleanup still find every record.
 */
import IORedis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OidcSessionInfo } from '../../lib';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../../lib/redis';
import { EXPIRE_ENTRIES } from '../../lib/logout-events/oidc-logout-event.store';
import { announceRedis, redisUrl } from '../fixtures/redis';

const enabled = announceRedis('Redis hidden client prefix e2e');
const HOUR = 3_600_000;
const ISS = 'https://op.example.com';

type Expiring = { [EXPIRE_ENTRIES](now: Date): Promise<number> };

const CLIENTS = [
  ['ioredis with a Buffer keyPrefix', (raw: IORedis) => raw],
  [
    'a wrapper of ioredis (keyPrefix) that shows only call',
    (raw: IORedis) => ({
      call: raw.call.bind(raw),
    }),
  ],
] as const;

describe.skipIf(!enabled).each(CLIENTS)('Redis stores on %s', (_name, wrap) => {
  let raw: IORedis;
  let keyPrefix: string;
  const clientPrefix = `hidden-${randomUUID().slice(0, 8)}:`;

  beforeEach(async () => {
    keyPrefix = `oidc-test-${process.pid}-${randomUUID().slice(0, 8)}`;
    raw = new IORedis(redisUrl(), {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      keyPrefix: wrap === CLIENTS[0][1] ? (Buffer.from(clientPrefix) as never) : clientPrefix,
    });
    await raw.connect();
  });

  afterEach(async () => {
    const keys = await raw.keys(`${clientPrefix}{${keyPrefix}}:*`);
    if (keys.length > 0) await raw.del(...keys.map((key) => key.slice(clientPrefix.length)));
    raw.disconnect();
  });

  const session = (id: string, expiresAt: Date): OidcSessionInfo => ({
    clientSessionId: id,
    registrationId: 'main',
    issuer: ISS,
    clientId: 'app',
    sid: `sid-${id}`,
    sub: `sub-${id}`,
    idToken: 'id-token',
    createdAt: new Date(),
    expiresAt,
  });

  it('a logout by sid and by sub remove the records, and the event store finds its tombstone', async () => {
    const client = wrap(raw);
    const repository = RedisOidcSessionRepository.with(client, { keyPrefix });
    const events = RedisOidcLogoutEventStore.with(client, { keyPrefix });
    const later = new Date(Date.now() + HOUR);
    for (const id of ['a', 'b']) await repository.save(session(id, later));
    expect(await raw.exists(`{${keyPrefix}}:r:a`)).toBe(1);

    const bySid = await repository.removeByLogoutToken({
      issuer: ISS,
      clientId: 'app',
      sid: 'sid-a',
    });
    expect(bySid.map((s) => s.clientSessionId)).toEqual(['a']);
    expect(await repository.existsByClientSessionId('a')).toBe(false);

    const bySub = await repository.removeByLogoutToken({
      issuer: ISS,
      clientId: 'app',
      sub: 'sub-b',
    });
    expect(bySub.map((s) => s.clientSessionId)).toEqual(['b']);
    expect(await repository.existsByClientSessionId('b')).toBe(false);
    expect(await raw.keys(`${clientPrefix}{${keyPrefix}}:r:*`)).toEqual([]);
    // The event store is on the same client: its keys are under the same hidden prefix.
    await events.begin({ tombstone: { key: 't', issuedAt: 1, expiresAt: later } });
    expect(await events.findTombstones(['t'])).toEqual(new Map([['t', 1]]));
  });

  it('the cleanup deletes expired records and expired logout events', async () => {
    const client = wrap(raw);
    const repository = RedisOidcSessionRepository.with(client, { keyPrefix });
    const events = RedisOidcLogoutEventStore.with(client, { keyPrefix });
    const soon = new Date(Date.now() + 1000);
    await repository.save(session('c', soon));
    await events.begin({ claim: { key: 'k', expiresAt: soon } });
    const afterwards = new Date(Date.now() + 2000);
    expect(await (repository as unknown as Expiring)[EXPIRE_ENTRIES](afterwards)).toBe(1);
    expect(await (events as unknown as Expiring)[EXPIRE_ENTRIES](afterwards)).toBe(1);
    expect(await raw.keys(`${clientPrefix}{${keyPrefix}}:[re]:*`)).toEqual([]);
  });
});

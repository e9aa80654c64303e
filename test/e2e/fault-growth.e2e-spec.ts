/**
 * Ten hours of traffic in a few seconds: the clock is faked (`Date` only, so that the database
 * drivers' sockets and timers stay real) and moved on by the cleanup interval at every step, while
 * logins, back-channel logouts and replays keep coming through the library's services and the
 * cleanup service runs as its timer would. The store holds only what is still live: expired login
 * records, replay claims (`jti`) and tombstones are deleted, and the row counts stay under a bound
 * set by the traffic per TTL, never by the length of the run.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BackChannelLogoutService,
  InMemoryOidcSessionRepository,
  LogoutService,
  type OidcLogoutModuleOptions,
} from '../../lib';
import { OidcLogoutEventEntity, OidcSessionEntity } from '../../lib/typeorm';
import { LOGOUT_TOMBSTONE_TTL_SECONDS } from '../../lib/oidc-logout.constants';
import { OidcSessionCleanupService } from '../../lib/services/oidc-session-cleanup.service';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
  type DatabaseKind,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { announceRedis, openRedis, type TestRedis } from '../fixtures/redis';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../../lib/redis';
import { LOGOUT_TOKEN_TTL_SECONDS, signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
const SESSION_TTL_SECONDS = 3_600;
const STEP_SECONDS = 300; // the default cleanup interval
const HOURS = 10;
const STEPS = (HOURS * 3_600) / STEP_SECONDS;
const LOGINS_PER_STEP = 4;
const LOGOUTS_PER_STEP = 2;
/** Records live one TTL: at most the logins of the steps it spans (plus the current one). */
const MAX_LIVE_SESSIONS = LOGINS_PER_STEP * (SESSION_TTL_SECONDS / STEP_SECONDS + 1);
/**
 * Each logout leaves a claim (until its token's `exp` + tolerance, or a minute) and a tombstone
 * (LOGOUT_TOMBSTONE_TTL_SECONDS): at most the logouts of the steps the longer one spans.
 */
const MAX_LIVE_EVENTS =
  2 *
  LOGOUTS_PER_STEP *
  (Math.ceil(Math.max(LOGOUT_TOMBSTONE_TTL_SECONDS, LOGOUT_TOKEN_TTL_SECONDS + 30) / STEP_SECONDS) +
    1);

/** The users the traffic logs in (`user-<step % 7>-<i>`): at most one sub index key each. */
const USERS = 7 * LOGINS_PER_STEP;

type Kind = DatabaseKind | 'memory' | 'redis';
const KINDS: Kind[] = ['memory', 'sqlite', 'postgres', 'mariadb', 'redis'];

for (const kind of KINDS) {
  const enabled =
    kind === 'memory' ||
    (kind === 'redis'
      ? announceRedis('bounded-growth e2e on Redis')
      : announceDatabase(kind, 'bounded-growth e2e'));
  describe.skipIf(!enabled)(`${HOURS} simulated hours on ${kind}`, () => {
    let keys: TestKeySet;
    let op: FakeOp;
    let dataSource: DataSource | undefined;
    let memory: InMemoryOidcSessionRepository | undefined;
    let redis: TestRedis | undefined;
    let app: TestApp;

    beforeAll(async () => {
      keys = await createTestKeySet();
      op = await startFakeOp({ keys });
      if (kind === 'redis') redis = await openRedis('ioredis');
      else if (kind !== 'memory') dataSource = await createTestDataSource(kind);
    });

    afterEach(() => {
      vi.useRealTimers();
    });

    afterAll(async () => {
      vi.useRealTimers();
      await app?.close();
      if (dataSource) await destroyTestDataSource(dataSource);
      await redis?.close();
      await op?.close();
    });

    it('deletes expired records, claims and tombstones; the store stays bounded while traffic goes on', async () => {
      // Only Date is faked: sockets, timers and the database drivers run in real time.
      vi.useFakeTimers({ toFake: ['Date'], now: new Date('2030-01-01T00:00:00Z') });
      // Created under the fake clock: the in-memory repository reads `Date.now` as it was then.
      if (kind === 'memory') memory = new InMemoryOidcSessionRepository();
      const oidc: OidcLogoutModuleOptions = {
        clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }],
        sessionTtlSeconds: SESSION_TTL_SECONDS,
        cleanupIntervalSeconds: STEP_SECONDS,
        ...(memory ? { sessionRepository: memory } : redis ? redisStores(redis) : { dataSource }),
      };
      app = await startTestApp({ oidc });
      const logoutService = app.app.get(LogoutService);
      const backChannel = app.app.get(BackChannelLogoutService);
      const cleanup = app.app.get(OidcSessionCleanupService, { strict: false });

      const counts = async () => {
        if (memory) return { sessions: memory.size, events: undefined };
        if (redis) return redisCounts(redis);
        const source = dataSource as DataSource;
        return {
          sessions: await source.getRepository(OidcSessionEntity).count(),
          events: await source.getRepository(OidcLogoutEventEntity).count(),
        };
      };
      const expiredLeft = async (now: number) => {
        if (memory) return 0;
        if (redis) return (await redisCounts(redis, now)).expired;
        const source = dataSource as DataSource;
        const sessions = await source
          .getRepository(OidcSessionEntity)
          .createQueryBuilder('s')
          .where('s.expiresAt <= :now', { now })
          .getCount();
        const events = await source
          .getRepository(OidcLogoutEventEntity)
          .createQueryBuilder('e')
          .where('e.expiresAt <= :now', { now })
          .getCount();
        return sessions + events;
      };

      /** Live sessions by sid, oldest first. */
      const live: Array<{ sid: string; sub: string; clientSessionId: string }> = [];
      let totalLogins = 0;
      let totalLogouts = 0;
      let totalDeleted = 0;
      let peak = { sessions: 0, events: 0 };
      let peakKeys = 0;

      for (let step = 1; step <= STEPS; step++) {
        vi.setSystemTime(Date.now() + STEP_SECONDS * 1_000);
        const now = Date.now();

        for (let i = 0; i < LOGINS_PER_STEP; i++) {
          const sid = `sid-${randomUUID()}`;
          const sub = `user-${step % 7}-${i}`;
          const sessionID = randomUUID();
          const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
          await logoutService.recordLogin({ sessionID }, idToken);
          live.push({ sid, sub, clientSessionId: sessionID });
          totalLogins++;
        }
        // Logouts of sessions logged in a few steps ago (some already expired), one replayed.
        for (let i = 0; i < LOGOUTS_PER_STEP; i++) {
          const target = live.splice(Math.floor(live.length / 2), 1)[0];
          if (!target) continue;
          const token = await signLogoutToken(keys, {
            issuer: op.issuer,
            clientId: CLIENT_ID,
            sid: target.sid,
            sub: target.sub,
          });
          const result = await backChannel.handleLogoutToken(REGISTRATION, token);
          expect(result.replayed).toBe(false);
          if (i === 0) {
            // The claim is completed after the answer: once it is, a re-delivery is a replay (a
            // re-delivery before that applies the logout again, which changes nothing).
            expect(
              await replayedOnceCompleted(() => backChannel.handleLogoutToken(REGISTRATION, token)),
            ).toBe(true);
          }
          expect(await logoutService.isActive(target.clientSessionId)).toBe(false);
          totalLogouts++;
        }
        // Sessions past their TTL are no longer live, whether or not the cleanup ran yet.
        while (live.length > MAX_LIVE_SESSIONS) live.shift();

        totalDeleted += await cleanup.cleanup(new Date(now));
        expect(await expiredLeft(now)).toBe(0);
        const { sessions, events } = await counts();
        expect(sessions).toBeLessThanOrEqual(MAX_LIVE_SESSIONS);
        if (events !== undefined) expect(events).toBeLessThanOrEqual(MAX_LIVE_EVENTS);
        if (redis) {
          // Every key: records, their sid and sub index sets, events, and the two expiry indexes.
          const all = (await redis.keys()).length;
          expect(all).toBeLessThanOrEqual(2 * MAX_LIVE_SESSIONS + USERS + MAX_LIVE_EVENTS + 2);
          peakKeys = Math.max(peakKeys, all);
        }
        peak = {
          sessions: Math.max(peak.sessions, sessions),
          events: Math.max(peak.events, events ?? 0),
        };
      }

      // A live session of the last step still passes: the cleanup removes only what expired.
      const last = live.at(-1);
      expect(last && (await logoutService.isActive(last.clientSessionId))).toBe(true);

      // Traffic stops; one TTL later the store is empty.
      vi.setSystemTime(Date.now() + (SESSION_TTL_SECONDS + STEP_SECONDS) * 1_000);
      totalDeleted += await cleanup.cleanup(new Date(Date.now()));
      const after = await counts();
      expect(after.sessions).toBe(0);
      if (after.events !== undefined) expect(after.events).toBe(0);
      // Nothing left behind in Redis: no index entry, no expiry index.
      if (redis) expect(await redis.keys()).toEqual([]);
      expect(totalLogins).toBe(STEPS * LOGINS_PER_STEP);
      console.warn(
        `[${kind}] ${HOURS} h simulated: ${totalLogins} logins, ${totalLogouts} logouts ` +
          `(+${STEPS} replays), ${totalDeleted} expired rows deleted; peak ${peak.sessions} ` +
          `sessions (bound ${MAX_LIVE_SESSIONS})` +
          (memory ? '' : `, ${peak.events} logout events (bound ${MAX_LIVE_EVENTS})`) +
          (redis ? `, peak ${peakKeys} Redis keys` : ''),
      );
    }, 60_000);
  });
}

/** Delivers a token again until it is answered as a replay (its claim completed), for 5 s at most. */
async function replayedOnceCompleted(
  deliver: () => Promise<{ replayed: boolean }>,
): Promise<boolean> {
  // Real time: this suite fakes Date.
  const deadline = performance.now() + 5_000;
  for (;;) {
    if ((await deliver()).replayed) return true;
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The module's stores in Redis, under the test's prefix. */
function redisStores(redis: TestRedis): Partial<OidcLogoutModuleOptions> {
  const options = { keyPrefix: redis.keyPrefix };
  return {
    sessionRepository: RedisOidcSessionRepository.with(redis.client, options),
    logoutEventStore: RedisOidcLogoutEventStore.with(redis.client, options),
  };
}

/** Login records and logout events in Redis, and how many of them expired at `now`. */
async function redisCounts(
  redis: TestRedis,
  now = Number.NEGATIVE_INFINITY,
): Promise<{ sessions: number; events: number; expired: number }> {
  const counts = { sessions: 0, events: 0, expired: 0 };
  for (const key of await redis.keys()) {
    const record = key.includes('}:r:');
    if (!record && !key.includes('}:e:')) continue;
    if (record) counts.sessions++;
    else counts.events++;
    const [expires] = await redis.hmget(key, ['exp']);
    if (Number(expires) <= now) counts.expired++;
  }
  return counts;
}

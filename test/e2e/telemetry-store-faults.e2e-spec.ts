/**
 * The metrics of a session store outage, with the real OpenTelemetry SDK: a real PostgreSQL server
 * behind a TCP proxy that the test cuts (every connection reset, as a stopped server's port). The
 * guard counts `store_unavailable`, each channel's logout `failed` with `repository_unavailable`, the
 * failing store calls carry their error code, and the pending-logouts gauge goes up while the store
 * is down and back to 0 once the kept logout is applied.
 */
import { randomUUID } from 'node:crypto';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PENDING_LOGOUT_MAX_RETRY_MS } from '../../lib/logout-events/pending-logouts.options';
import { KEPT_ANSWER } from '../fixtures/back-channel-answers';
import { proxiedDataSource, startDatabaseProxy } from '../fixtures/database-proxy';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
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
import type { TcpProxy } from '../fixtures/tcp-proxy';
import {
  attributeValues,
  expectNoIdentifiers,
  guardSeries,
  installMetrics,
  METRICS,
  requestSeries,
  revokedSeries,
  series,
  sessionIdOfCookie,
  storeSeries,
  uninstallMetrics,
  verificationSeries,
  type MetricsProbe,
} from '../fixtures/telemetry';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { until } from '../fixtures/until';

const REGISTRATION = 'main';
const CLIENT_ID = 'app';
const UNAVAILABLE = 'ERR_REPOSITORY_UNAVAILABLE';
const PENDING = METRICS.pending;
const failed = (channel: string, registration?: string) =>
  requestSeries(channel, 'failed', registration, 'repository_unavailable');

describe.skipIf(!announceDatabase('postgres', 'telemetry store-fault e2e'))(
  'metrics while the PostgreSQL session store is down',
  () => {
    let keys: TestKeySet;
    let op: FakeOp;
    let direct: DataSource;
    let proxy: TcpProxy;
    let proxied: DataSource;
    let app: TestApp;
    let meterProvider: MeterProvider | undefined;
    let probe: MetricsProbe;
    const secrets: string[] = [];

    beforeAll(async () => {
      ({ probe, provider: meterProvider } = installMetrics());
      keys = await createTestKeySet();
      op = await startFakeOp({ keys });
      direct = await createTestDataSource('postgres');
      proxy = await startDatabaseProxy('postgres');
      proxied = await proxiedDataSource('postgres', proxy);
      app = await startTestApp({
        oidc: {
          clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }],
          dataSource: proxied,
        },
        // The outage is logged as errors: expected here.
        logger: false,
      });
    });

    afterEach(() => proxy?.restore());

    afterAll(async () => {
      await app?.close();
      if (proxied?.isInitialized) await proxied.destroy();
      await proxy?.close();
      if (direct) await destroyTestDataSource(direct);
      await op?.close();
      await uninstallMetrics(meterProvider);
    });

    async function login() {
      const sub = `user-${randomUUID()}`;
      const sid = randomUUID();
      const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
      const cookie = await loginAt(app.url, idToken);
      secrets.push(sub, sid, idToken, sessionIdOfCookie(cookie));
      return { cookie, sub, sid };
    }

    it('the guard: store_unavailable with its error code, and the failing call timed as failed', async () => {
      const user = await login();
      await probe.mark();
      expect(await privateStatus(app.url, user.cookie)).toBe(200);
      // The TypeORM repository answers existence with a query of its own.
      expect(await probe.changes()).toEqual({
        ...guardSeries('active'),
        [storeSeries('sessions', 'existsByClientSessionId')]: 1,
      });
      proxy.cut();
      await probe.mark();
      expect(await privateStatus(app.url, user.cookie)).toBe(503);
      expect(await probe.changes()).toEqual({
        ...guardSeries('store_unavailable', 1, UNAVAILABLE),
        [storeSeries('sessions', 'existsByClientSessionId', UNAVAILABLE)]: 1,
      });
    });

    it('a back-channel logout: failed, repository_unavailable; kept (gauge 1), applied once the store is back (gauge 0)', async () => {
      const user = await login();
      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sub: user.sub,
        sid: user.sid,
      });
      secrets.push(token);
      expect(await probe.gauge(PENDING)).toEqual({ [series(PENDING)]: 0 });
      proxy.cut();
      await probe.mark();
      const kept = await postLogoutToken(app.url, REGISTRATION, token);
      expect(kept.status).toBe(400);
      expect(kept.body).toEqual(KEPT_ANSWER);
      expect(await probe.changes([METRICS.store])).toEqual({
        [failed('back-channel', REGISTRATION)]: 1,
        [verificationSeries(REGISTRATION)]: 1,
      });
      expect(await probe.gauge(PENDING)).toEqual({ [series(PENDING)]: 1 });

      await probe.mark();
      proxy.restore();
      await until(
        async () => (await probe.gauge(PENDING))[series(PENDING)] === 0,
        PENDING_LOGOUT_MAX_RETRY_MS + 5_000,
      );
      // Applied in the background: sessions revoked, no request counted.
      const revoked = revokedSeries('back-channel', REGISTRATION);
      await until(async () => (await probe.changes([METRICS.store]))[revoked] === 1, 5_000);
      expect(await probe.changes([METRICS.store])).toEqual({ [revoked]: 1 });
      expect(await privateStatus(app.url, user.cookie)).toBe(401);
    });

    it('a front-channel and an RP-initiated logout: failed, repository_unavailable', async () => {
      const user = await login();
      proxy.cut();
      await probe.mark();
      expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, user.sid)).toBe(503);
      expect((await postRpLogout(app.url, user.cookie)).status).toBe(503);
      expect(await probe.changes([METRICS.store])).toEqual({
        [failed('front-channel', REGISTRATION)]: 1,
        // Its session could not be read: no registration to name.
        [failed('rp-initiated')]: 1,
      });
    });

    it('no attribute carries a token, a session id, a sid or a sub', async () => {
      expectNoIdentifiers(attributeValues(await probe.points()), secrets);
    });
  },
);

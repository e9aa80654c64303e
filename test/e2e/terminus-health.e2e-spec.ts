/**
 * The Terminus health indicator (`nest-oidc-logout/terminus`) in a real Nest app whose health
 * module imports TerminusModule and OidcLogoutHealthModule and answers `GET /health` with
 * `HealthCheckService.check([() => indicator.check()])`: real PostgreSQL stores (through a TCP
 * proxy that can cut the database away), fake OPs on real HTTP. Healthy: 200. The database down,
 * the OP's discovery or JWKS down, too many pending logouts: 503, naming the part. A store that
 * hangs: the check still answers within its bound.
 */
import { randomUUID } from 'node:crypto';
import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OidcSessionInfo } from '../../lib';
import {
  OidcLogoutHealthIndicator,
  OidcLogoutHealthModule,
  type OidcLogoutHealthOptions,
} from '../../lib/terminus';
import { TypeOrmOidcLogoutEventStore, TypeOrmOidcSessionRepository } from '../../lib/typeorm';
import { KEPT_ANSWER } from '../fixtures/back-channel-answers';
import { proxiedDataSource, startDatabaseProxy } from '../fixtures/database-proxy';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loseAnswers } from '../fixtures/lost-answers';
import { loginAt, postLogoutToken } from '../fixtures/session-client';
import type { TcpProxy } from '../fixtures/tcp-proxy';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { until } from '../fixtures/until';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';

/** The options of the next checks (each test sets its own; reset after each). */
let healthOptions: OidcLogoutHealthOptions = {};

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly oidcLogout: OidcLogoutHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.oidcLogout.check('oidc_logout', healthOptions)]);
  }
}

/** The app's health module: it imports no OidcLogoutModule, the indicator finds the app's. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false }), OidcLogoutHealthModule],
  controllers: [HealthController],
})
class HealthModule {}

/** The TypeORM session store, with a switch that makes its lookups hang (until switched off). */
class HangingRepository extends TypeOrmOidcSessionRepository {
  private hung: Array<() => void> = [];
  hang = false;

  override findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    if (!this.hang) return super.findByClientSessionId(id);
    return new Promise((resolve) => this.hung.push(() => resolve(undefined)));
  }

  release(): void {
    this.hang = false;
    for (const resume of this.hung.splice(0)) resume();
  }
}

interface HealthAnswer {
  status: number;
  ms: number;
  body: {
    status: string;
    info?: Record<string, HealthPart>;
    error?: Record<string, HealthPart>;
    details: Record<string, HealthPart>;
  };
  text: string;
}
interface HealthPart {
  status: string;
  stores?: Record<string, { status: string; error?: string }>;
  providers?: Record<
    string,
    {
      status: string;
      discovery: { status: string; reason?: string; error?: string };
      jwks: { status: string; reason?: string; error?: string };
    }
  >;
  pendingLogouts?: { status: string; count: number; maxCount: number };
}

async function getHealth(url: string): Promise<HealthAnswer> {
  const started = performance.now();
  const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  return {
    status: response.status,
    ms: performance.now() - started,
    body: JSON.parse(text) as HealthAnswer['body'],
    text,
  };
}

/** The indicator's part of the answer. */
const part = (answer: HealthAnswer): HealthPart => answer.body.details['oidc_logout']!;

describe.skipIf(!announceDatabase('postgres', 'Terminus health e2e'))(
  'the Terminus health indicator',
  () => {
    let keys: TestKeySet;
    let op: FakeOp;
    let direct: DataSource;
    let proxy: TcpProxy;
    let proxied: DataSource;
    let repository: HangingRepository;
    let app: TestApp;

    beforeAll(async () => {
      keys = await createTestKeySet();
      op = await startFakeOp({ keys });
      direct = await createTestDataSource('postgres');
      proxy = await startDatabaseProxy('postgres');
      proxied = await proxiedDataSource('postgres', proxy);
      await proxied.initialize();
      repository = new HangingRepository(proxied);
      await repository.init();
      const events = new TypeOrmOidcLogoutEventStore(proxied);
      await events.init();
      app = await startTestApp({
        oidc: {
          clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }],
          sessionRepository: repository,
          logoutEventStore: events,
        },
        imports: [HealthModule],
      });
    });

    afterEach(async () => {
      healthOptions = {};
      proxy?.restore();
      repository?.release();
      vi.restoreAllMocks();
      // Every test leaves the app as it found it: nothing pending.
      if (app) {
        await until(() => Promise.resolve(app.logoutService.pendingLogouts.count === 0), 10_000);
      }
    });

    afterAll(async () => {
      await app?.close();
      if (proxied?.isInitialized) await proxied.destroy();
      await proxy?.close();
      if (direct) await destroyTestDataSource(direct);
      await op?.close();
    });

    it('healthy: 200, status ok, every part up, and no id of any session in the answer', async () => {
      const sub = `alice-${randomUUID()}`;
      const sid = `sid-${randomUUID()}`;
      const cookie = await loginAt(
        app.url,
        await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid }),
      );
      const answer = await getHealth(app.url);
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('ok');
      expect(part(answer)).toMatchObject({
        status: 'up',
        stores: { sessions: { status: 'up' }, logoutEvents: { status: 'up' } },
        providers: {
          [REGISTRATION]: { status: 'up', discovery: { status: 'up' }, jwks: { status: 'up' } },
        },
        pendingLogouts: { status: 'up', count: 0, maxCount: 100 },
      });
      const sessionId = decodeURIComponent(cookie).match(/s:([^.]+)/)?.[1];
      expect(sessionId).toBeTruthy();
      for (const secret of [sub, sid, sessionId!]) expect(answer.text).not.toContain(secret);

      // Everything fresh: the next check asks the OP nothing.
      op.resetRequests();
      expect((await getHealth(app.url)).status).toBe(200);
      expect([op.count('discovery'), op.count('jwks')]).toEqual([0, 0]);
    });

    it('the database down: 503, both stores reported down; 200 again once it is back', async () => {
      expect((await getHealth(app.url)).status).toBe(200);
      proxy.cut();
      const answer = await getHealth(app.url);
      expect(answer.status).toBe(503);
      expect(answer.body.status).toBe('error');
      expect(answer.body.error?.['oidc_logout']).toMatchObject({
        status: 'down',
        stores: { sessions: { status: 'down' }, logoutEvents: { status: 'down' } },
        providers: { [REGISTRATION]: { status: 'up' } },
      });
      expect(part(answer).stores?.['sessions']?.error).toMatch(
        /^(ERR_REPOSITORY_UNAVAILABLE|timeout)$/,
      );

      proxy.restore();
      await until(async () => (await getHealth(app.url)).status === 200, 10_000);
    });

    it('a store that hangs: the check answers 503 within its timeout, the store timed out', async () => {
      healthOptions = { timeoutMs: 300 };
      repository.hang = true;
      const answer = await getHealth(app.url);
      expect(answer.status).toBe(503);
      expect(answer.ms).toBeLessThan(2_000);
      expect(part(answer).stores).toMatchObject({
        sessions: { status: 'down', error: 'timeout' },
        logoutEvents: { status: 'up' },
      });
      repository.release();
      expect((await getHealth(app.url)).status).toBe(200);
    });

    it('pending logouts above the threshold: 503 with the stores up; 200 once they are applied', async () => {
      healthOptions = { maxPendingLogouts: 0 };
      expect((await getHealth(app.url)).status).toBe(200);
      // Writes run, and their answers are lost: the logout is verified and kept, pending.
      loseAnswers(proxied, (sql) => /\b(INSERT|UPDATE|DELETE)\b/i.test(sql));
      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sid: `sid-${randomUUID()}`,
      });
      const kept = await postLogoutToken(app.url, REGISTRATION, token);
      expect(kept.body).toEqual(KEPT_ANSWER);
      expect(app.logoutService.pendingLogouts.count).toBe(1);

      const answer = await getHealth(app.url);
      expect(answer.status).toBe(503);
      expect(part(answer)).toMatchObject({
        status: 'down',
        stores: { sessions: { status: 'up' }, logoutEvents: { status: 'up' } },
        pendingLogouts: { status: 'down', count: 1, maxCount: 0 },
      });
      // Within the threshold, the same backlog is healthy.
      healthOptions = { maxPendingLogouts: 1 };
      expect((await getHealth(app.url)).status).toBe(200);

      healthOptions = { maxPendingLogouts: 0 };
      vi.restoreAllMocks();
      await until(async () => (await getHealth(app.url)).status === 200, 10_000);
    });
  },
);

describe.skipIf(!announceDatabase('postgres', 'Terminus health e2e'))(
  'the Terminus health indicator, the OP down',
  () => {
    let op: FakeOp;
    let direct: DataSource;
    let app: TestApp;

    beforeAll(async () => {
      // Down from the start: neither discovery nor the JWKS was ever fetched.
      op = await startFakeOp({ failDiscovery: true, failJwks: true });
      direct = await createTestDataSource('postgres');
      app = await startTestApp({
        oidc: {
          clients: [{ registrationId: 'op-down', issuer: op.issuer, clientId: CLIENT_ID }],
          dataSource: direct,
        },
        imports: [HealthModule],
      });
    });

    afterAll(async () => {
      await app?.close();
      if (direct) await destroyTestDataSource(direct);
      await op?.close();
    });

    it('discovery down, then the JWKS down: 503 naming the registration; 200 once both are back', async () => {
      const discoveryDown = await getHealth(app.url);
      expect(discoveryDown.status).toBe(503);
      expect(discoveryDown.body.error?.['oidc_logout']).toMatchObject({
        status: 'down',
        stores: { sessions: { status: 'up' }, logoutEvents: { status: 'up' } },
        providers: {
          'op-down': {
            status: 'down',
            discovery: { status: 'down', reason: 'failing', error: 'ERR_DISCOVERY_FAILED' },
            jwks: { status: 'down', reason: 'not_fetched' },
          },
        },
      });

      // Discovery is back (retried a few seconds after the failure); the JWKS still answers 500.
      op.controls.failDiscovery = false;
      await until(
        async () =>
          part(await getHealth(app.url)).providers?.['op-down']?.discovery.status === 'up',
        15_000,
      );
      const jwksDown = await getHealth(app.url);
      expect(jwksDown.status).toBe(503);
      expect(part(jwksDown).providers?.['op-down']).toMatchObject({
        status: 'down',
        discovery: { status: 'up' },
        jwks: { status: 'down', reason: 'failing' },
      });

      op.controls.failJwks = false;
      await until(async () => (await getHealth(app.url)).status === 200, 15_000);
      expect(part(await getHealth(app.url)).providers?.['op-down']?.jwks.status).toBe('up');
    });
  },
);

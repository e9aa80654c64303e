import { generateKeyPair, SignJWT } from 'jose';
import { inMemoryEvents } from '../../test/repository/logout-event-calls';
import { afterEach, describe, expect, it } from 'vitest';
import { validateOidcLogoutOptions } from '../options/validate-oidc-logout-options';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { InMemoryOidcSessionRepository } from '../repositories/in-memory-oidc-session.repository';
import { LogoutService } from './logout.service';
import type { OidcDiscoveryService } from './oidc-discovery.service';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

const ISSUER = 'https://op.example.com';
const DAY = 86_400_000;
const services: LogoutService[] = [];

/** A LogoutService whose OP keys are a local ES256 pair, and a signer of its ID tokens. */
async function setup(sessionTtlSeconds: number) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const options = validateOidcLogoutOptions({
    clients: [{ registrationId: 'main', issuer: ISSUER, clientId: 'app' }],
    sessionTtlSeconds,
  });
  const discovery = {
    getTokenExpectations: () =>
      Promise.resolve({
        issuer: ISSUER,
        clientId: 'app',
        algorithms: ['ES256'],
        keys: () => Promise.resolve(publicKey),
        clockToleranceSeconds: 30,
      }),
  } as unknown as OidcDiscoveryService;
  const repository = new CheckedSessionRepository(new InMemoryOidcSessionRepository(), {
    timeoutMs: options.storeTimeoutMs,
  });
  const service = new LogoutService(
    options,
    repository,
    discovery,
    inMemoryEvents(),
    new OidcTelemetry([]),
  );
  services.push(service);
  const idToken = (sub: string, sid: string) =>
    new SignJWT({ sid })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(ISSUER)
      .setAudience('app')
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  return { service, idToken };
}

/** When the pending entries of `service` are dropped unapplied (epoch ms). */
function keptUntil(service: LogoutService): number[] {
  const { queue } = (
    service as unknown as {
      deferred: { queue: { entries: Map<string, { keepUntil: number }> } };
    }
  ).deferred;
  return [...queue.entries.values()].map((entry) => entry.keepUntil);
}

describe('LogoutService: a pending logout outlives every session it can end', () => {
  afterEach(() => {
    for (const service of services.splice(0)) service.onApplicationShutdown();
  });

  it('is kept as long as the longest login record this instance wrote (a session cookie longer than sessionTtlSeconds)', async () => {
    const { service, idToken } = await setup(3_600);
    const request = { session: { id: 'session-1', cookie: { maxAge: 30 * DAY } } };
    const info = await service.recordLogin(request, await idToken('alice', 'sid-alice'));
    expect(info.expiresAt.getTime() - info.createdAt.getTime()).toBe(30 * DAY);
    const before = Date.now();
    const kept = service.deferLogout(service.getRegistration('main'), {
      channel: 'back-channel',
      sid: 'sid-alice',
      jti: 'jti-1',
    });
    expect(kept).toBe(true);
    const [until] = keptUntil(service);
    // Dropped unapplied before the record expires, the logout would be lost: the record would pass.
    expect(until).toBeGreaterThanOrEqual(before + 30 * DAY);
  });

  it('is kept sessionTtlSeconds when no login record lives longer', async () => {
    const { service } = await setup(3_600);
    const before = Date.now();
    service.deferLogout(service.getRegistration('main'), {
      channel: 'back-channel',
      sid: 'sid-bob',
      jti: 'jti-2',
    });
    const [until] = keptUntil(service);
    expect(until).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(until).toBeLessThan(before + 3_600_000 + 60_000);
  });
});

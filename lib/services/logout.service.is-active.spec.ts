import { afterEach, describe, expect, it } from 'vitest';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import { validateOidcLogoutOptions } from '../options/validate-oidc-logout-options';
import { InMemoryOidcSessionRepository } from '../repositories/in-memory-oidc-session.repository';
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import {
  OidcLogoutEventStore,
  type OidcLogoutEventOutcome,
} from '../logout-events/oidc-logout-event.store';
import { EXISTS_NOW, OidcSessionRepository } from '../repositories/oidc-session.repository';
import { hashSessionId, hashSid } from '../repositories/session-id-hash';
import { IS_ACTIVE_NOW, LogoutService } from './logout.service';
import type { OidcDiscoveryService } from './oidc-discovery.service';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

const ISSUER = 'https://op.example.com';
const T0 = 1_763_700_000_000;
const HOUR = 3_600_000;

/** Sessions in memory, but logouts cannot be recorded (the store is down for writes): they stay pending. */
class ReadOnlyRepository extends OidcSessionRepository {
  readonly sessions = new InMemoryOidcSessionRepository({ now: () => T0 });
  /** When set, existsByClientSessionId answers with this promise instead. */
  answer: Promise<boolean> | undefined;

  save(session: OidcSessionInfo): Promise<void> {
    return this.sessions.save(session);
  }
  override existsByClientSessionId(id: string): Promise<boolean> {
    return this.answer ?? this.sessions.existsByClientSessionId(id);
  }
  findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    return this.sessions.findByClientSessionId(id);
  }
  removeByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    return this.sessions.removeByClientSessionId(id);
  }
  removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    return this.sessions.removeByLogoutToken(criteria);
  }
}

/** Logouts cannot be recorded: every write of the event store fails. */
class DownEventStore extends OidcLogoutEventStore {
  begin(): Promise<OidcLogoutEventOutcome> {
    return Promise.reject(new Error('store down'));
  }
  complete(): Promise<void> {
    return Promise.reject(new Error('store down'));
  }
  findTombstones(): Promise<Map<string, number>> {
    return Promise.reject(new Error('store down'));
  }
}

const services: LogoutService[] = [];

function setup<R extends OidcSessionRepository>(repository: R) {
  const options = validateOidcLogoutOptions({
    clients: [{ registrationId: 'main', issuer: ISSUER, clientId: 'app' }],
  });
  const checked = new CheckedSessionRepository(repository, {
    timeoutMs: options.storeTimeoutMs,
    now: () => T0,
  });
  const events = new CheckedLogoutEventStore(new DownEventStore(), {
    timeoutMs: options.storeTimeoutMs,
  });
  const service = new LogoutService(
    options,
    checked,
    {} as OidcDiscoveryService,
    events,
    new OidcTelemetry([]),
  );
  services.push(service);
  return { repository, service };
}

function info(sessionId: string, overrides: Partial<OidcSessionInfo> = {}): OidcSessionInfo {
  return {
    clientSessionId: hashSessionId(sessionId),
    registrationId: 'main',
    issuer: ISSUER,
    clientId: 'app',
    sid: hashSid(`sid-${sessionId}`),
    sub: `sub-${sessionId}`,
    idToken: 'header.payload.signature',
    createdAt: new Date(T0),
    expiresAt: new Date(T0 + HOUR),
    ...overrides,
  };
}

/** Keeps a verified logout of `sid` pending, as the back channel does when the store is down. */
function deferLogoutOf(service: LogoutService, sid: string, jti: string): void {
  const kept = service.deferLogout(service.getRegistration('main'), {
    channel: 'back-channel',
    sid,
    jti,
  });
  expect(kept).toBe(true);
}

describe('LogoutService.isActive', () => {
  afterEach(() => {
    for (const service of services.splice(0)) service.onApplicationShutdown();
  });

  it('answers the guard with a boolean, at once, when the repository does (in memory); isActive with a promise', async () => {
    let now = T0;
    const { repository, service } = setup(new InMemoryOidcSessionRepository({ now: () => now }));
    await repository.save(info('alice'));
    expect(service[IS_ACTIVE_NOW]('alice')).toBe(true);
    expect(service[IS_ACTIVE_NOW]('bob')).toBe(false);
    const active = service.isActive('alice');
    expect(active).toBeInstanceOf(Promise);
    expect(await active).toBe(true);
    now = T0 + HOUR;
    expect(service[IS_ACTIVE_NOW]('alice')).toBe(false);
  });

  it('answers with a promise when the repository does', async () => {
    const { repository, service } = setup(new ReadOnlyRepository());
    await repository.save(info('alice'));
    repository.answer = Promise.resolve(true);
    const result = service[IS_ACTIVE_NOW]('alice');
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(true);
  });

  it('a repository that throws gives a rejected promise with a store error, not a throw', async () => {
    const failure = new Error('connection lost');
    const repository = new InMemoryOidcSessionRepository();
    (repository as unknown as Record<typeof EXISTS_NOW, () => boolean>)[EXISTS_NOW] = () => {
      throw failure;
    };
    const { service } = setup(repository);
    let result: boolean | Promise<boolean> | undefined;
    expect(() => (result = service[IS_ACTIVE_NOW]('alice'))).not.toThrow();
    await expect(result).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
      cause: failure,
    });
  });

  it('refuses a recorded session that a pending logout names, as findSession does', async () => {
    const { repository, service } = setup(new ReadOnlyRepository());
    await repository.save(info('alice'));
    await repository.save(info('bob'));
    deferLogoutOf(service, 'sid-alice', 'jti-1');
    expect(await service.isActive('alice')).toBe(false);
    expect(await service.isActive('bob')).toBe(true);
    expect(await service.findSession('alice')).toBeUndefined();
    expect(repository.sessions.size).toBe(2);
  });

  it('a logout deferred while the store was answering is taken into account', async () => {
    const { repository, service } = setup(new ReadOnlyRepository());
    await repository.save(info('alice'));
    await repository.save(info('bob'));
    let answer!: (exists: boolean) => void;
    repository.answer = new Promise((resolve) => (answer = resolve));
    const alice = service[IS_ACTIVE_NOW]('alice');
    const bob = service[IS_ACTIVE_NOW]('bob');
    deferLogoutOf(service, 'sid-alice', 'jti-1');
    repository.answer = undefined;
    answer(true);
    expect(await alice).toBe(false);
    expect(await bob).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import { InMemoryOidcLogoutEventStore } from '../logout-events/in-memory-oidc-logout-event.store';
import { assertLogoutEventKey } from '../logout-events/oidc-logout-event.store';
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { InMemoryOidcSessionRepository } from '../repositories/in-memory-oidc-session.repository';
import { PROBE_EVENT_KEY, PROBE_SESSION_ID, probeStores } from './store-probe';

const never = (): Promise<never> => new Promise<never>(() => undefined);

describe('probeStores', () => {
  it('looks up ids shaped as the ones stores see (a session id digest, a tombstone key)', () => {
    expect(PROBE_SESSION_ID).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(PROBE_EVENT_KEY).toMatch(/^sid:[A-Za-z0-9_-]{43}$/);
    expect(() => assertLogoutEventKey(PROBE_EVENT_KEY)).not.toThrow();
  });

  it('is up for stores that answer, through the checked stores, asking nothing else', async () => {
    const asked: string[] = [];
    const sessions = new CheckedSessionRepository(new InMemoryOidcSessionRepository(), {
      timeoutMs: 1_000,
    });
    const events = new CheckedLogoutEventStore(new InMemoryOidcLogoutEventStore(), {
      timeoutMs: 1_000,
    });
    const health = await probeStores(
      {
        findByClientSessionId: (id) => (
          asked.push(`session ${id}`),
          sessions.findByClientSessionId(id)
        ),
      },
      {
        findTombstones: (keys) => (
          asked.push(`tombstones ${keys.join()}`),
          events.findTombstones(keys)
        ),
      },
      500,
    );
    expect(health.sessions).toMatchObject({ status: 'up' });
    expect(health.logoutEvents).toMatchObject({ status: 'up' });
    expect(asked).toEqual([`session ${PROBE_SESSION_ID}`, `tombstones ${PROBE_EVENT_KEY}`]);
  });

  it('is down with the error code for a store that fails, and says nothing of its message', async () => {
    const health = await probeStores(
      {
        findByClientSessionId: () =>
          Promise.reject(
            new OidcSessionRepositoryError('connection refused for session abc123', new Error()),
          ),
      },
      {
        findTombstones: () => {
          throw new TypeError('sync throw with sub alice');
        },
      },
      500,
    );
    expect(health.sessions).toMatchObject({ status: 'down', error: 'ERR_REPOSITORY_UNAVAILABLE' });
    expect(health.logoutEvents).toMatchObject({ status: 'down', error: 'TypeError' });
    expect(JSON.stringify(health)).not.toMatch(/abc123|alice/);
  });

  it('is down with a timeout for a store that hangs, after about timeoutMs', async () => {
    const started = Date.now();
    const health = await probeStores(
      { findByClientSessionId: never },
      { findTombstones: () => Promise.resolve(new Map()) },
      100,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(health.sessions).toMatchObject({ status: 'down', error: 'timeout' });
    expect(health.sessions.durationMs).toBeGreaterThanOrEqual(90);
    expect(health.logoutEvents.status).toBe('up');
  });
});

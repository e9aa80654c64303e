import { sidTombstoneKey } from '../logout-events/logout-event-keys';
import { hashSessionId } from '../repositories/session-id-hash';
import { errorType } from '../errors/error-type';
import type { OidcStoreHealth } from './oidc-logout-health.details';
import { within } from './within';

/** What the probe is not: an issuer no OP has (not a URL), so no record can carry these keys. */
const PROBE = 'nest-oidc-logout:health-probe';

/**
 * The session id the session-store probe looks up: a digest as every id the store sees, of a
 * value no session id is. @internal
 */
export const PROBE_SESSION_ID = hashSessionId(`\u0000${PROBE}`);

/** The tombstone key the logout-event-store probe looks up, of an issuer no OP has. @internal */
export const PROBE_EVENT_KEY = sidTombstoneKey(PROBE, PROBE, PROBE);

/** The store calls the probes make (the checked stores: every call bounded by `storeTimeoutMs`). @internal */
export interface ProbedStores {
  findByClientSessionId(clientSessionId: string): PromiseLike<unknown>;
  findTombstones(keys: readonly string[]): PromiseLike<unknown>;
}

/**
 * A cheap read of each store, of an id that cannot exist, waited for at most `timeoutMs`: up when
 * it answers in time, whatever it answers.
 *
 * @internal
 */
export async function probeStores(
  sessions: Pick<ProbedStores, 'findByClientSessionId'>,
  events: Pick<ProbedStores, 'findTombstones'>,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<{ sessions: OidcStoreHealth; logoutEvents: OidcStoreHealth }> {
  const [sessionsHealth, logoutEvents] = await Promise.all([
    probe(() => sessions.findByClientSessionId(PROBE_SESSION_ID), timeoutMs, now),
    probe(() => events.findTombstones([PROBE_EVENT_KEY]), timeoutMs, now),
  ]);
  return { sessions: sessionsHealth, logoutEvents };
}

async function probe(
  call: () => PromiseLike<unknown>,
  timeoutMs: number,
  now: () => number,
): Promise<OidcStoreHealth> {
  const startedAt = now();
  let answer;
  try {
    answer = await within(call(), timeoutMs);
  } catch (error) {
    answer = { outcome: 'error' as const, error };
  }
  const durationMs = Math.max(0, Math.round(now() - startedAt));
  if (answer.outcome === 'value') return { status: 'up', durationMs };
  const error = answer.outcome === 'timeout' ? 'timeout' : errorType(answer.error);
  return { status: 'down', durationMs, error };
}

import type { Attributes, Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';
import { ATTRIBUTE, DURATION_BUCKETS, METRIC, type GuardResult } from './telemetry-names';

/** The library's instruments, made from one meter. @internal */
export interface Instruments {
  logoutRequests: Counter;
  sessionsRevoked: Counter;
  guardDecisions: Counter;
  guardDuration: Histogram;
  tokenVerification: Histogram;
  storeOperation: Histogram;
  opFetches: Counter;
  pendingLogouts: ObservableGauge;
}

/** The attributes of each guard result, made once: the guard runs on every request. */
export const GUARD_ATTRIBUTES: Record<GuardResult, Attributes> = {
  active: { [ATTRIBUTE.result]: 'active' },
  revoked: { [ATTRIBUTE.result]: 'revoked' },
  unknown: { [ATTRIBUTE.result]: 'unknown' },
  store_unavailable: {
    [ATTRIBUTE.result]: 'store_unavailable',
    [ATTRIBUTE.errorType]: 'ERR_REPOSITORY_UNAVAILABLE',
  },
};

/** Makes the instruments of {@link METRIC} from `meter`. @internal */
export function createInstruments(meter: Meter): Instruments {
  const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
  return {
    logoutRequests: meter.createCounter(METRIC.logoutRequests, {
      description: 'Logout requests received (back-channel, front-channel, RP-initiated)',
      unit: '{request}',
    }),
    sessionsRevoked: meter.createCounter(METRIC.sessionsRevoked, {
      description: 'Application sessions revoked, by the channel of the logout',
      unit: '{session}',
    }),
    guardDecisions: meter.createCounter(METRIC.guardDecisions, {
      description: 'Decisions of OidcSessionGuard',
      unit: '{request}',
    }),
    guardDuration: meter.createHistogram(METRIC.guardDuration, {
      description: 'Time OidcSessionGuard took to decide',
      unit: 's',
      advice,
    }),
    tokenVerification: meter.createHistogram(METRIC.tokenVerificationDuration, {
      description: 'Time to verify a logout token (keys, signature, claims)',
      unit: 's',
      advice,
    }),
    storeOperation: meter.createHistogram(METRIC.storeOperationDuration, {
      description: 'Time of one call of a store (session repository, logout-event store)',
      unit: 's',
      advice,
    }),
    opFetches: meter.createCounter(METRIC.opFetches, {
      description: "Fetches of an OP's discovery document or JWKS",
      unit: '{fetch}',
    }),
    pendingLogouts: meter.createObservableGauge(METRIC.pendingLogouts, {
      description: 'Verified logouts kept by this instance until the store takes them',
      unit: '{logout}',
    }),
  };
}

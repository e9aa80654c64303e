/**
 * The names of the library's metrics, spans and attributes: OpenTelemetry's conventions
 * (dot-separated, lowercase, units in UCUM, `error.type` for why something failed). Documented, one
 * table, in docs/observability.md; a test ties that table to these names.
 *
 * No attribute ever carries a token, a session id, a `sid` or a `sub`: only the stable codes and
 * the registration ids of the options.
 *
 * @internal
 */

/** The instrumentation scope: the meter's and the tracer's name. */
export const INSTRUMENTATION_SCOPE = 'nest-oidc-logout';

export const METRIC = {
  /** Counter: logout requests (back-channel, front-channel, RP-initiated) by result. */
  logoutRequests: 'oidc_logout.logout.requests',
  /** Counter: sessions revoked, by channel. */
  sessionsRevoked: 'oidc_logout.sessions.revoked',
  /** Counter: the guard's decisions, by result. */
  guardDecisions: 'oidc_logout.guard.decisions',
  /** Histogram (s): the time the guard adds to a request, by result. */
  guardDuration: 'oidc_logout.guard.duration',
  /** Histogram (s): a logout token's verification (signature and claims), by outcome. */
  tokenVerificationDuration: 'oidc_logout.token.verification.duration',
  /** Histogram (s): one call of a store (session repository, logout-event store). */
  storeOperationDuration: 'oidc_logout.store.operation.duration',
  /** Counter: fetches of an OP's discovery document and JWKS, by result. */
  opFetches: 'oidc_logout.op.fetches',
  /** Gauge: verified logouts this instance keeps until the store takes them. */
  pendingLogouts: 'oidc_logout.pending_logouts',
} as const;

export const ATTRIBUTE = {
  /** `back-channel`, `front-channel`, `rp-initiated`, `api`. */
  channel: 'oidc_logout.channel',
  /** A registration id of the options (never one a caller made up). */
  registration: 'oidc_logout.registration',
  /** What happened: see the values below. */
  result: 'oidc_logout.result',
  /** Why it did not succeed: a refusal reason or an error code (OpenTelemetry's own name). */
  errorType: 'error.type',
  /** `sessions` or `logout_events`. */
  store: 'oidc_logout.store',
  /** The store method called (`findByClientSessionId`, `removeByLogoutToken`, ...). */
  operation: 'oidc_logout.store.operation',
  /** `discovery` or `jwks`. */
  document: 'oidc_logout.op.document',
} as const;

/** The `oidc_logout.result` of a logout request. */
export type LogoutRequestResult = 'applied' | 'replayed' | 'refused' | 'failed';

/** The `oidc_logout.result` of a guard decision. */
export type GuardResult = 'active' | 'revoked' | 'unknown' | 'store_unavailable';

/** The `oidc_logout.result` of a fetch from the OP, and of a token verification. */
export type FetchResult = 'ok' | 'failed';

/** The span names (`oidc_logout <what>`); their attributes are those above. */
export const SPAN = {
  backChannel: 'oidc_logout back-channel',
  frontChannel: 'oidc_logout front-channel',
  rpInitiated: 'oidc_logout rp-initiated',
  store: 'oidc_logout store',
  opFetch: 'oidc_logout fetch',
} as const;

/** Histogram buckets for durations in seconds: 50 µs to 10 s. */
export const DURATION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5, 10,
];

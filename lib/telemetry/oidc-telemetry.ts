import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableCallback,
  ObservableGauge,
  Span,
  Tracer,
} from '@opentelemetry/api';
import type { FactoryProvider } from '@nestjs/common';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { openTelemetryApi, type OpenTelemetryApi } from './otel-api';
import {
  ATTRIBUTE,
  DURATION_BUCKETS,
  INSTRUMENTATION_SCOPE,
  METRIC,
  type FetchResult,
  type GuardResult,
  type LogoutRequestResult,
} from './telemetry-names';

interface Instruments {
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
const GUARD_ATTRIBUTES: Record<GuardResult, Attributes> = {
  active: { [ATTRIBUTE.result]: 'active' },
  revoked: { [ATTRIBUTE.result]: 'revoked' },
  unknown: { [ATTRIBUTE.result]: 'unknown' },
  store_unavailable: {
    [ATTRIBUTE.result]: 'store_unavailable',
    [ATTRIBUTE.errorType]: 'ERR_REPOSITORY_UNAVAILABLE',
  },
};

/**
 * The pending-logout counts of every app of the process that is not closed: the gauge is the
 * process's (it has no attribute to tell apps apart), so each app's callback observes their sum,
 * and two apps in one process (the sample's) report both their queues.
 */
const PENDING_SOURCES = new Set<() => number>();

/**
 * The library's metrics and spans, through `@opentelemetry/api` only: without an SDK installed (or
 * without the package) every instrument is a no-op and `metricsOn` is `false`, so that the hot
 * paths skip even reading the clock. Names: `telemetry-names.ts`, documented in
 * docs/observability.md.
 *
 * One per application (the module provides it): the registrations it may name are that app's.
 * The meter is taken from the global provider when the module is built, and again at bootstrap if
 * none was installed by then; spans use the global tracer whenever one is installed.
 *
 * @internal
 */
export class OidcTelemetry {
  /** Whether an SDK records the metrics (the instruments are not the no-op ones). */
  metricsOn = false;
  private api: OpenTelemetryApi | undefined;
  private instruments: Instruments | undefined;
  private tracer: Tracer | undefined;
  private readonly registrations: ReadonlySet<string>;
  private pendingCount: (() => number) | undefined;
  private readonly observePending: ObservableCallback = (result) => {
    if (PENDING_SOURCES.size === 0) return;
    let sum = 0;
    for (const count of PENDING_SOURCES) sum += count();
    result.observe(sum);
  };

  constructor(registrationIds: Iterable<string>) {
    this.registrations = new Set(registrationIds);
    this.api = openTelemetryApi();
    this.tracer = this.api?.trace.getTracer(INSTRUMENTATION_SCOPE);
    this.attachMeter();
  }

  /** Takes the global meter again, if none was installed when the module was built. */
  onApplicationBootstrap(): void {
    if (!this.metricsOn) this.attachMeter();
  }

  /** A source of the pending-logouts gauge: this app's queue (the gauge sums every app's). */
  observePendingLogouts(count: () => number): void {
    if (this.pendingCount) PENDING_SOURCES.delete(this.pendingCount);
    this.pendingCount = count;
    PENDING_SOURCES.add(count);
  }

  /** Stops observing (the app is closing): a closed app reports nothing. */
  onModuleDestroy(): void {
    this.instruments?.pendingLogouts.removeCallback(this.observePending);
    if (this.pendingCount) PENDING_SOURCES.delete(this.pendingCount);
    this.pendingCount = undefined;
  }

  /** A registration id fit for an attribute: one of the options', else `undefined`. */
  registration(id: string | undefined): string | undefined {
    return id !== undefined && this.registrations.has(id) ? id : undefined;
  }

  /**
   * One logout request answered: counted, and its outcome set on the request's span. `errorType`
   * is the refusal reason or error code (a stable code, never a value from the request).
   */
  logoutRequest(
    channel: 'back-channel' | 'front-channel' | 'rp-initiated',
    registrationId: string | undefined,
    result: LogoutRequestResult,
    errorType?: string,
  ): void {
    const attributes: Attributes = { [ATTRIBUTE.channel]: channel, [ATTRIBUTE.result]: result };
    const registration = this.registration(registrationId);
    if (registration !== undefined) attributes[ATTRIBUTE.registration] = registration;
    if (errorType !== undefined) attributes[ATTRIBUTE.errorType] = errorType;
    this.instruments?.logoutRequests.add(1, attributes);
    const span = this.activeSpan();
    if (span) {
      span.setAttributes(attributes);
      if (result === 'failed') span.setStatus({ code: 2 /* SpanStatusCode.ERROR */ });
    }
  }

  /** Sessions revoked by one logout, whatever its channel. */
  sessionsRevoked(channel: string, registrationId: string, count: number): void {
    if (count === 0 || !this.instruments) return;
    const attributes: Attributes = { [ATTRIBUTE.channel]: channel };
    const registration = this.registration(registrationId);
    if (registration !== undefined) attributes[ATTRIBUTE.registration] = registration;
    this.instruments.sessionsRevoked.add(count, attributes);
  }

  /** A guard decision; `startedAt` from {@link now} (only read when {@link metricsOn}). */
  guardDecision(result: GuardResult, startedAt: number): void {
    const instruments = this.instruments;
    if (!instruments || !this.metricsOn) return;
    const attributes = GUARD_ATTRIBUTES[result];
    instruments.guardDecisions.add(1, attributes);
    instruments.guardDuration.record((performance.now() - startedAt) / 1000, attributes);
  }

  /** A logout token's verification took `seconds`; `errorType` is the refusal's reason. */
  tokenVerified(registrationId: string, startedAt: number, errorType?: string): void {
    if (!this.instruments || !this.metricsOn) return;
    const attributes: Attributes = {
      [ATTRIBUTE.result]: errorType === undefined ? 'ok' : 'failed',
    };
    const registration = this.registration(registrationId);
    if (registration !== undefined) attributes[ATTRIBUTE.registration] = registration;
    if (errorType !== undefined) attributes[ATTRIBUTE.errorType] = errorType;
    this.instruments.tokenVerification.record((performance.now() - startedAt) / 1000, attributes);
  }

  /** One call of a store took from `startedAt` to now; `errorType` when it failed. */
  storeOperation(
    store: 'sessions' | 'logout_events',
    operation: string,
    startedAt: number,
    errorType?: string,
  ): void {
    if (!this.instruments || !this.metricsOn) return;
    const attributes: Attributes = { [ATTRIBUTE.store]: store, [ATTRIBUTE.operation]: operation };
    if (errorType !== undefined) attributes[ATTRIBUTE.errorType] = errorType;
    this.instruments.storeOperation.record((performance.now() - startedAt) / 1000, attributes);
  }

  /** A fetch of an OP document ended; `errorType` when it failed. */
  opFetch(
    document: 'discovery' | 'jwks',
    registrationId: string,
    result: FetchResult,
    errorType?: string,
  ): void {
    if (!this.instruments) return;
    const attributes: Attributes = { [ATTRIBUTE.document]: document, [ATTRIBUTE.result]: result };
    const registration = this.registration(registrationId);
    if (registration !== undefined) attributes[ATTRIBUTE.registration] = registration;
    if (errorType !== undefined) attributes[ATTRIBUTE.errorType] = errorType;
    this.instruments.opFetches.add(1, attributes);
  }

  /** The clock of durations: `performance.now()` when metrics are recorded, else 0 (unread). */
  now(): number {
    return this.metricsOn ? performance.now() : 0;
  }

  /**
   * Runs `work` in a span of its own, made the active one (so that the store's and the OP's spans
   * are its children); ended when `work` settles. Without a tracer, just runs `work`.
   */
  inSpan<T>(name: string, registrationId: string | undefined, work: () => Promise<T>): Promise<T> {
    const tracer = this.tracer;
    if (!tracer) return work();
    const attributes: Attributes = {};
    const registration = this.registration(registrationId);
    if (registration !== undefined) attributes[ATTRIBUTE.registration] = registration;
    return tracer.startActiveSpan(name, { attributes }, (span) => work().finally(() => span.end()));
  }

  /**
   * A child span of the active one, when a recording span is active (a store call or a fetch made
   * during a traced request); `undefined` otherwise: no span is started for untraced work.
   */
  childSpan(name: string, attributes: Attributes): Span | undefined {
    const parent = this.activeSpan();
    if (!parent?.isRecording() || !this.tracer) return undefined;
    return this.tracer.startSpan(name, { attributes });
  }

  /** Ends a {@link childSpan}, marking it failed with `errorType` when given. */
  endChildSpan(span: Span | undefined, errorType?: string): void {
    if (!span) return;
    if (errorType !== undefined) {
      span.setAttribute(ATTRIBUTE.errorType, errorType);
      span.setStatus({ code: 2 /* SpanStatusCode.ERROR */ });
    }
    span.end();
  }

  private activeSpan(): Span | undefined {
    return this.api?.trace.getActiveSpan();
  }

  private attachMeter(): void {
    const api = this.api;
    if (!api) return;
    const meter: Meter = api.metrics.getMeter(INSTRUMENTATION_SCOPE);
    this.metricsOn = meter !== api.createNoopMeter();
    if (!this.metricsOn && this.instruments) return;
    this.instruments?.pendingLogouts.removeCallback(this.observePending);
    this.instruments = createInstruments(meter);
    this.instruments.pendingLogouts.addCallback(this.observePending);
  }
}

function createInstruments(meter: Meter): Instruments {
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

/** The provider of the app's {@link OidcTelemetry}. @internal */
export const oidcTelemetryProvider: FactoryProvider<OidcTelemetry> = {
  provide: OidcTelemetry,
  inject: [OIDC_LOGOUT_RESOLVED_OPTIONS],
  useFactory: (options: ResolvedOidcLogoutOptions) =>
    new OidcTelemetry(options.clients.map((client) => client.registrationId)),
};

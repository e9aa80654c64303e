import type { Attributes, Meter, ObservableCallback, Span, Tracer } from '@opentelemetry/api';
import { Logger } from '@nestjs/common';
import type { FactoryProvider } from '@nestjs/common';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { openTelemetryApi, type OpenTelemetryApi } from './otel-api';
import { createInstruments, GUARD_ATTRIBUTES, type Instruments } from './telemetry-instruments';
import {
  ATTRIBUTE,
  INSTRUMENTATION_SCOPE,
  type FetchResult,
  type GuardResult,
  type LogoutRequestResult,
} from './telemetry-names';

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
  private readonly logger = new Logger('OidcLogout');
  private api: OpenTelemetryApi | undefined;
  private instruments: Instruments | undefined;
  private tracer: Tracer | undefined;
  private readonly registrations: ReadonlySet<string>;
  private pendingCount: (() => number) | undefined;
  /** Whether a failure of the SDK was logged already (once per app). */
  private sdkFailed = false;
  private readonly observePending: ObservableCallback = (result) => {
    if (PENDING_SOURCES.size === 0) return;
    let sum = 0;
    for (const count of PENDING_SOURCES) sum += count();
    result.observe(sum);
  };

  constructor(registrationIds: Iterable<string>) {
    this.registrations = new Set(registrationIds);
    this.api = openTelemetryApi();
    try {
      this.tracer = this.api?.trace.getTracer(INSTRUMENTATION_SCOPE);
      this.attachMeter();
    } catch (error) {
      this.failed(error);
    }
  }

  /** Takes the global meter again, if none was installed when the module was built. */
  onApplicationBootstrap(): void {
    if (this.metricsOn) return;
    try {
      this.attachMeter();
    } catch (error) {
      this.failed(error);
    }
  }

  /** A source of the pending-logouts gauge: this app's queue (the gauge sums every app's). */
  observePendingLogouts(count: () => number): void {
    if (this.pendingCount) PENDING_SOURCES.delete(this.pendingCount);
    this.pendingCount = count;
    PENDING_SOURCES.add(count);
  }

  /** Stops observing (the app is closing): a closed app reports nothing. */
  onModuleDestroy(): void {
    if (this.pendingCount) PENDING_SOURCES.delete(this.pendingCount);
    this.pendingCount = undefined;
    try {
      this.instruments?.pendingLogouts.removeCallback(this.observePending);
    } catch (error) {
      this.failed(error);
    }
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
    if (!this.api) return;
    try {
      const attributes: Attributes = { [ATTRIBUTE.channel]: channel, [ATTRIBUTE.result]: result };
      this.addRegistration(attributes, registrationId);
      this.addErrorType(attributes, errorType);
      this.instruments?.logoutRequests.add(1, attributes);
      const span = this.activeSpan();
      if (span?.isRecording()) {
        span.setAttributes(attributes);
        if (result === 'failed') span.setStatus({ code: 2 /* SpanStatusCode.ERROR */ });
      }
    } catch (error) {
      this.failed(error);
    }
  }

  /** Sessions revoked by one logout, whatever its channel. */
  sessionsRevoked(channel: string, registrationId: string, count: number): void {
    if (count === 0 || !this.instruments || !this.metricsOn) return;
    try {
      const attributes: Attributes = { [ATTRIBUTE.channel]: channel };
      this.addRegistration(attributes, registrationId);
      this.instruments.sessionsRevoked.add(count, attributes);
    } catch (error) {
      this.failed(error);
    }
  }

  /** A guard decision; `startedAt` from {@link now} (only read when {@link metricsOn}). */
  guardDecision(result: GuardResult, startedAt: number): void {
    const instruments = this.instruments;
    if (!instruments || !this.metricsOn) return;
    try {
      const attributes = GUARD_ATTRIBUTES[result];
      instruments.guardDecisions.add(1, attributes);
      instruments.guardDuration.record((performance.now() - startedAt) / 1000, attributes);
    } catch (error) {
      this.failed(error);
    }
  }

  /** A logout token's verification ended; `errorType` is the refusal's reason. */
  tokenVerified(registrationId: string, startedAt: number, errorType?: string): void {
    if (!this.instruments || !this.metricsOn) return;
    try {
      const attributes: Attributes = {
        [ATTRIBUTE.result]: errorType === undefined ? 'ok' : 'failed',
      };
      this.addRegistration(attributes, registrationId);
      this.addErrorType(attributes, errorType);
      const seconds = (performance.now() - startedAt) / 1000;
      this.instruments.tokenVerification.record(seconds, attributes);
    } catch (error) {
      this.failed(error);
    }
  }

  /** One call of a store took from `startedAt` to now; `errorType` when it failed. */
  storeOperation(
    store: 'sessions' | 'logout_events',
    operation: string,
    startedAt: number,
    errorType?: string,
  ): void {
    if (!this.instruments || !this.metricsOn) return;
    try {
      const attributes: Attributes = { [ATTRIBUTE.store]: store, [ATTRIBUTE.operation]: operation };
      this.addErrorType(attributes, errorType);
      const seconds = (performance.now() - startedAt) / 1000;
      this.instruments.storeOperation.record(seconds, attributes);
    } catch (error) {
      this.failed(error);
    }
  }

  /** A fetch of an OP document ended; `errorType` when it failed. */
  opFetch(
    document: 'discovery' | 'jwks',
    registrationId: string,
    result: FetchResult,
    errorType?: string,
  ): void {
    if (!this.instruments || !this.metricsOn) return;
    try {
      const attributes: Attributes = {
        [ATTRIBUTE.document]: document,
        [ATTRIBUTE.result]: result,
      };
      this.addRegistration(attributes, registrationId);
      this.addErrorType(attributes, errorType);
      this.instruments.opFetches.add(1, attributes);
    } catch (error) {
      this.failed(error);
    }
  }

  /** The clock of durations: `performance.now()` when metrics are recorded, else 0 (unread). */
  now(): number {
    return this.metricsOn ? performance.now() : 0;
  }

  /**
   * Runs `work` in a span of its own, made the active one (so that the store's and the OP's spans
   * are its children); ended when `work` settles. Without a tracer, just runs `work`; a tracer
   * that throws changes nothing but the span (`work` runs once, whatever happens).
   */
  inSpan<T>(name: string, registrationId: string | undefined, work: () => Promise<T>): Promise<T> {
    const tracer = this.tracer;
    if (!tracer) return work();
    let running: Promise<T> | undefined;
    try {
      const attributes: Attributes = {};
      this.addRegistration(attributes, registrationId);
      return tracer.startActiveSpan(name, { attributes }, (span) => {
        running = work();
        return running.finally(() => this.endSpan(span));
      });
    } catch (error) {
      this.failed(error);
      return running ?? work();
    }
  }

  /**
   * A child span of the active one, when a recording span is active (a store call or a fetch made
   * during a traced request); `undefined` otherwise: no span is started (and `attributes` is not
   * called) for untraced work.
   */
  childSpan(name: string, attributes: () => Attributes): Span | undefined {
    const tracer = this.tracer;
    if (!tracer) return undefined;
    try {
      if (!this.activeSpan()?.isRecording()) return undefined;
      return tracer.startSpan(name, { attributes: attributes() });
    } catch (error) {
      this.failed(error);
      return undefined;
    }
  }

  /** Ends a {@link childSpan}, marking it failed with `errorType` when given. */
  endChildSpan(span: Span | undefined, errorType?: string): void {
    if (!span) return;
    try {
      if (errorType !== undefined) {
        span.setAttribute(ATTRIBUTE.errorType, safeErrorType(errorType));
        span.setStatus({ code: 2 /* SpanStatusCode.ERROR */ });
      }
    } catch (error) {
      this.failed(error);
    }
    this.endSpan(span);
  }

  private endSpan(span: Span): void {
    try {
      span.end();
    } catch (error) {
      this.failed(error);
    }
  }

  private activeSpan(): Span | undefined {
    return this.api?.trace.getActiveSpan();
  }

  private addRegistration(attributes: Attributes, registrationId: string | undefined): void {
    const registration = this.registration(registrationId);
    if (registration !== undefined) attributes[ATTRIBUTE.registration] = registration;
  }

  private addErrorType(attributes: Attributes, errorType: string | undefined): void {
    if (errorType !== undefined) attributes[ATTRIBUTE.errorType] = safeErrorType(errorType);
  }

  /**
   * The OpenTelemetry SDK (or a processor or exporter of the app) threw: the library's work goes on
   * as if nothing were recorded (a metric must never change a logout or a guard decision), and
   * the first failure is logged.
   */
  private failed(error: unknown): void {
    if (this.sdkFailed) return;
    this.sdkFailed = true;
    const name = error instanceof Error ? error.name : typeof error;
    this.logger.error(
      `The OpenTelemetry SDK threw (${name}) while the library recorded a metric or a span; ` +
        'the logout or guard decision was not affected, the metrics and spans may be incomplete',
    );
  }

  private attachMeter(): void {
    const api = this.api;
    if (!api) return;
    const meter: Meter = api.metrics.getMeter(INSTRUMENTATION_SCOPE);
    const on = meter !== api.createNoopMeter();
    if (!on && this.instruments) return;
    this.instruments?.pendingLogouts.removeCallback(this.observePending);
    this.instruments = createInstruments(meter);
    this.instruments.pendingLogouts.addCallback(this.observePending);
    this.metricsOn = on;
  }
}

/**
 * An `error.type` fit for an attribute: the library's codes and reasons, or an error's class name
 * (a user's store may throw anything); anything else is `other` (a bounded set of values).
 */
function safeErrorType(value: string): string {
  return /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/.test(value) ? value : 'other';
}

/** The provider of the app's {@link OidcTelemetry}. @internal */
export const oidcTelemetryProvider: FactoryProvider<OidcTelemetry> = {
  provide: OidcTelemetry,
  inject: [OIDC_LOGOUT_RESOLVED_OPTIONS],
  useFactory: (options: ResolvedOidcLogoutOptions) =>
    new OidcTelemetry(options.clients.map((client) => client.registrationId)),
};

import { context, metrics, trace, type Meter, type MeterProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OidcTelemetry } from './oidc-telemetry';

/** A meter provider whose every instrument throws on use: a broken SDK or reader. */
function throwingMeterProvider(): MeterProvider {
  const broken = () => {
    throw new Error('sdk broken');
  };
  const instrument = { add: broken, record: broken, addCallback: () => undefined };
  const meter = {
    createCounter: () => instrument,
    createHistogram: () => instrument,
    createObservableGauge: () => ({ ...instrument, removeCallback: broken }),
  } as unknown as Meter;
  return { getMeter: () => meter };
}

/** A real tracer provider with a span processor of the app that throws at every start and end. */
function throwingTracerProvider(): BasicTracerProvider {
  const processor: SpanProcessor = {
    onStart: () => {
      throw new Error('processor broken');
    },
    onEnd: () => {
      throw new Error('processor broken');
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  return new BasicTracerProvider({ spanProcessors: [processor] });
}

afterEach(() => {
  metrics.disable();
  trace.disable();
  context.disable();
  vi.restoreAllMocks();
});

describe('OidcTelemetry with an SDK that throws', () => {
  it('never throws out of a metric, and logs the failure once', () => {
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    metrics.setGlobalMeterProvider(throwingMeterProvider());
    const telemetry = new OidcTelemetry(['main']);
    expect(telemetry.metricsOn).toBe(true);
    expect(() => {
      telemetry.guardDecision('active', telemetry.now());
      telemetry.logoutRequest('back-channel', 'main', 'applied');
      telemetry.sessionsRevoked('back-channel', 'main', 1);
      telemetry.tokenVerified('main', telemetry.now(), 'expired');
      telemetry.storeOperation('sessions', 'findByClientSessionId', telemetry.now());
      telemetry.opFetch('jwks', 'main', 'failed', 'ERR_JWKS_TIMEOUT');
      telemetry.onModuleDestroy();
    }).not.toThrow();
    expect(logged).toHaveBeenCalledTimes(1);
  });

  it('runs the work of a span exactly once, and answers what it answered', async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(throwingTracerProvider());
    const telemetry = new OidcTelemetry(['main']);
    let runs = 0;
    const answer = await telemetry.inSpan('oidc_logout back-channel', 'main', () => {
      runs += 1;
      const child = telemetry.childSpan('oidc_logout store', () => ({}));
      telemetry.endChildSpan(child, 'ERR_REPOSITORY_UNAVAILABLE');
      telemetry.logoutRequest('back-channel', 'main', 'failed', 'repository_unavailable');
      return Promise.resolve('answered');
    });
    expect(answer).toBe('answered');
    expect(runs).toBe(1);
  });

  it('passes the rejection of the work through, once', async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    trace.setGlobalTracerProvider(throwingTracerProvider());
    const telemetry = new OidcTelemetry(['main']);
    let runs = 0;
    const work = () => {
      runs += 1;
      return Promise.reject(new Error('store down'));
    };
    await expect(telemetry.inSpan('oidc_logout front-channel', 'main', work)).rejects.toThrow(
      'store down',
    );
    expect(runs).toBe(1);
  });
});

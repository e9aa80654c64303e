import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { OidcTelemetry } from './oidc-telemetry';
import { ATTRIBUTE, METRIC } from './telemetry-names';

/** A global MeterProvider whose readings are collected on demand. */
function installSdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  return {
    async read(name: string): Promise<MetricData | undefined> {
      const { resourceMetrics } = await reader.collect();
      const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
      return all.find((metric) => metric.descriptor.name === name);
    },
  };
}

function points(metric: MetricData | undefined): DataPoint<unknown>[] {
  return metric?.dataPoints ?? [];
}

afterEach(() => {
  metrics.disable();
});

describe('OidcTelemetry without an SDK', () => {
  it('records nothing and never reads the clock', () => {
    const telemetry = new OidcTelemetry(['main']);
    expect(telemetry.metricsOn).toBe(false);
    expect(telemetry.now()).toBe(0);
    expect(() => {
      telemetry.guardDecision('active', 0);
      telemetry.logoutRequest('back-channel', 'main', 'applied');
      telemetry.sessionsRevoked('back-channel', 'main', 2);
    }).not.toThrow();
  });

  it('takes the meter at bootstrap when the SDK was installed after the module was built', async () => {
    const telemetry = new OidcTelemetry(['main']);
    const sdk = installSdk();
    telemetry.onApplicationBootstrap();
    expect(telemetry.metricsOn).toBe(true);
    telemetry.sessionsRevoked('api', 'main', 3);
    expect(points(await sdk.read(METRIC.sessionsRevoked)).map((p) => p.value)).toEqual([3]);
  });
});

describe('OidcTelemetry with an SDK', () => {
  it('names only the registrations of the options', async () => {
    const sdk = installSdk();
    const telemetry = new OidcTelemetry(['main']);
    telemetry.logoutRequest('back-channel', 'main', 'refused', 'expired');
    telemetry.logoutRequest('back-channel', 'made-up-by-a-caller', 'refused', 'method');
    const recorded = points(await sdk.read(METRIC.logoutRequests)).map((p) => p.attributes);
    expect(recorded).toEqual([
      {
        [ATTRIBUTE.channel]: 'back-channel',
        [ATTRIBUTE.result]: 'refused',
        [ATTRIBUTE.registration]: 'main',
        [ATTRIBUTE.errorType]: 'expired',
      },
      {
        [ATTRIBUTE.channel]: 'back-channel',
        [ATTRIBUTE.result]: 'refused',
        [ATTRIBUTE.errorType]: 'method',
      },
    ]);
  });

  it('counts the guard decisions and records their time by result', async () => {
    const sdk = installSdk();
    const telemetry = new OidcTelemetry(['main']);
    const startedAt = telemetry.now();
    expect(startedAt).toBeGreaterThan(0);
    telemetry.guardDecision('active', startedAt);
    telemetry.guardDecision('active', startedAt);
    telemetry.guardDecision('store_unavailable', startedAt);
    const decisions = points(await sdk.read(METRIC.guardDecisions));
    expect(decisions.map((p) => [p.attributes[ATTRIBUTE.result], p.value])).toEqual([
      ['active', 2],
      ['store_unavailable', 1],
    ]);
    const durations = points(await sdk.read(METRIC.guardDuration));
    expect(durations.map((p) => (p.value as { count: number }).count)).toEqual([2, 1]);
  });

  it('does not count a revocation that ended no session', async () => {
    const sdk = installSdk();
    const telemetry = new OidcTelemetry(['main']);
    telemetry.sessionsRevoked('front-channel', 'main', 0);
    expect(points(await sdk.read(METRIC.sessionsRevoked))).toEqual([]);
  });

  it("observes the app's pending logouts until the app closes", async () => {
    const sdk = installSdk();
    const telemetry = new OidcTelemetry(['main']);
    let pending = 4;
    telemetry.observePendingLogouts(() => pending);
    expect(points(await sdk.read(METRIC.pendingLogouts)).map((p) => p.value)).toEqual([4]);
    pending = 0;
    expect(points(await sdk.read(METRIC.pendingLogouts)).map((p) => p.value)).toEqual([0]);
    telemetry.onModuleDestroy();
    pending = 9;
    const after = points(await sdk.read(METRIC.pendingLogouts)).map((p) => p.value);
    expect(after).not.toContain(9);
  });

  it('reports the pending logouts of every open app of the process, summed', async () => {
    const sdk = installSdk();
    const portal = new OidcTelemetry(['main']);
    const games = new OidcTelemetry(['main']);
    portal.observePendingLogouts(() => 2);
    games.observePendingLogouts(() => 5);
    expect(points(await sdk.read(METRIC.pendingLogouts)).map((p) => p.value)).toEqual([7]);
    portal.onModuleDestroy();
    expect(points(await sdk.read(METRIC.pendingLogouts)).map((p) => p.value)).toEqual([5]);
    games.onModuleDestroy();
  });
});

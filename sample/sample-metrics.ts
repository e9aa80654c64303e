import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createServer } from 'node:http';
import { listenOn } from './ports';

/** The metrics page's path, Prometheus's usual one. */
export const METRICS_PATH = '/metrics';

/** The OpenTelemetry SDK of the sample, serving every meter's figures to Prometheus. */
export interface SampleMetrics {
  /** The metrics page, e.g. `http://localhost:3003/metrics`. */
  readonly url: string;
  /** Stops serving, shuts the SDK down and uninstalls it (the process may start another). */
  close(): Promise<void>;
}

/**
 * Installs OpenTelemetry's metrics SDK as the process's global meter provider, its one reader a
 * `PrometheusExporter`, and serves that reader's page at `http://<publicHost>:<port>/metrics`.
 * Must run before the apps are created: the library takes its meter when `OidcLogoutModule` is
 * built. Both apps run in this process and report to this one provider (their figures add up).
 */
export async function startSampleMetrics(
  port: number,
  host: string,
  publicHost: string,
): Promise<SampleMetrics> {
  // The exporter's own server is not started: the sample's reports a taken port like the others.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  if (!metrics.setGlobalMeterProvider(provider)) {
    await provider.shutdown();
    throw new Error('An OpenTelemetry meter provider is already installed in this process.');
  }
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === METRICS_PATH) {
      exporter.getMetricsRequestHandler(request, response);
      return;
    }
    response.statusCode = 404;
    response.end(`Not found: the metrics are at ${METRICS_PATH}\n`);
  });
  let listening;
  try {
    listening = await listenOn(server, port, host, 'the metrics (METRICS_PORT)');
  } catch (error) {
    metrics.disable();
    await provider.shutdown();
    throw error;
  }
  const served = listening;
  return {
    url: `http://${publicHost}:${served.port}${METRICS_PATH}`,
    async close() {
      await served.close();
      metrics.disable();
      await provider.shutdown();
    },
  };
}

import type * as OtelApi from '@opentelemetry/api';

/** `@opentelemetry/api`, the optional peer dependency. @internal */
export type OpenTelemetryApi = typeof OtelApi;

let loaded: OpenTelemetryApi | null | undefined;

/**
 * `@opentelemetry/api` when the application has it installed, else `undefined` (then the library
 * records nothing and costs nothing). Loaded once, on first use.
 *
 * @internal
 */
export function openTelemetryApi(): OpenTelemetryApi | undefined {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy: optional peer
      loaded = require('@opentelemetry/api') as OpenTelemetryApi;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

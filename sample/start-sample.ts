import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SampleAppSettings } from './apps/sample-app.settings';
import { REGISTRATION_ID } from './apps/sample-app.settings';
import { startSampleApp, type SampleApp } from './apps/start-sample-app';
import type { DevOp } from './op/dev-op';
import { reservePort } from './ports';
import { startSampleMetrics } from './sample-metrics';

/** A client of an external OP (Keycloak, ...), registered there by hand. */
export interface SampleClientCredentials {
  clientId: string;
  clientSecret: string;
  /**
   * The OP has the app's front-channel logout URL (`/logout/connect/front-channel/sso`, session
   * required): the app accepts front-channel logouts too. Default false (back channel only).
   */
  frontChannel?: boolean;
}

/** An OP the sample uses instead of starting its own. */
export interface ExternalOp {
  issuer: string;
  portal: SampleClientCredentials;
  games: SampleClientCredentials;
  /** Accept logout tokens without `exp` (Keycloak up to 23.0.3). */
  legacyLogoutTokens?: boolean;
}

/** Options of {@link startSample}. */
export interface SampleOptions {
  /**
   * Defaults 3000 (OP), 3001 (Portal), 3002 (Games), 3003 (the Prometheus metrics page); 0 picks a
   * free port.
   */
  ports?: { op?: number; portal?: number; games?: number; metrics?: number };
  /** Where the apps keep their SQLite files. */
  dataDir: string;
  /** The embedded OP's issuer. Default `http://localhost:<OP port>`. */
  issuer?: string;
  /** Use this OP; no embedded OP is started. */
  externalOp?: ExternalOp;
  /** The address the servers listen on. Default 127.0.0.1. */
  listenHost?: string;
  /** Where the apps print the logouts they receive. Default `console.log`. */
  log?: (line: string) => void;
}

/** The OP and the two apps, running. */
export interface RunningSample {
  readonly issuer: string;
  /** False with an external OP. */
  readonly embeddedOp: boolean;
  readonly portal: SampleApp;
  readonly games: SampleApp;
  /** Both apps' metrics (the library's `oidc_logout_*`), in Prometheus's text format. */
  readonly metrics: { readonly url: string };
  /** Stops the apps, then the OP, then the metrics; ends their open connections. */
  close(): Promise<void>;
}

/** The hostname in the URLs the browser is sent to. */
const PUBLIC_HOST = 'localhost';

/**
 * Starts what `npm start` starts: OpenTelemetry's metrics SDK with its Prometheus page, the embedded
 * OP (unless `externalOp`), then Portal and Games. On a
 * failure, whatever had started is stopped again before the error is rethrown; a taken port is a
 * `PortInUseError`.
 */
export async function startSample(options: SampleOptions): Promise<RunningSample> {
  const host = options.listenHost ?? '127.0.0.1';
  const external = options.externalOp;
  const taken = new Set<number>();
  const port = async (wanted: number, what: string) => {
    for (;;) {
      const chosen = await reservePort(wanted, host, what);
      if (wanted !== 0 || !taken.has(chosen)) {
        taken.add(chosen);
        return chosen;
      }
    }
  };
  const opPort = external ? undefined : await port(options.ports?.op ?? 3000, 'the OP (OP_PORT)');
  const portalPort = await port(options.ports?.portal ?? 3001, 'Portal (PORTAL_PORT)');
  const gamesPort = await port(options.ports?.games ?? 3002, 'Games (GAMES_PORT)');
  const metricsPort = await port(options.ports?.metrics ?? 3003, 'the metrics (METRICS_PORT)');
  const portalUrl = `http://${PUBLIC_HOST}:${portalPort}`;
  const gamesUrl = `http://${PUBLIC_HOST}:${gamesPort}`;
  const issuer = external?.issuer ?? options.issuer ?? `http://${PUBLIC_HOST}:${opPort}`;
  // The embedded OP's clients get secrets made up at every start: nothing to configure or leak.
  const portalClient = external?.portal ?? { clientId: 'portal', clientSecret: secret() };
  const gamesClient = external?.games ?? { clientId: 'games', clientSecret: secret() };
  mkdirSync(options.dataDir, { recursive: true });

  const running: Array<{ close(): Promise<void> }> = [];
  const close = async () => {
    for (const server of running.splice(0).reverse()) await server.close();
  };
  try {
    // First: the library takes its meter when each app's OidcLogoutModule is built.
    const metrics = await startSampleMetrics(metricsPort, host, PUBLIC_HOST);
    running.push(metrics);
    if (opPort !== undefined) {
      // Loaded only when it is used: an external OP needs no oidc-provider.
      const { startDevOp } = await import('./op/dev-op.js');
      const op: DevOp = await startDevOp({
        issuer,
        port: opPort,
        host,
        clients: [
          devOpClient('Portal', portalClient, portalUrl),
          devOpClient('Games', gamesClient, gamesUrl),
        ],
      });
      running.push(op);
    }
    const common = {
      issuer,
      legacyLogoutTokens: external?.legacyLogoutTokens ?? false,
      // One app's front-channel URL takes a sid the OP may have given both apps: hide them in both.
      hideSids: Boolean(portalClient.frontChannel || gamesClient.frontChannel),
      log: options.log ?? ((line: string) => console.log(line)),
    };
    const portalSettings: SampleAppSettings = {
      ...common,
      ...portalClient,
      frontChannel: portalClient.frontChannel ?? false,
      name: 'Portal',
      url: portalUrl,
      color: '#1f5fbf',
      databaseFile: join(options.dataDir, 'portal.sqlite'),
      otherApp: { name: 'Games', url: gamesUrl },
    };
    const portal = await startSampleApp(portalSettings, portalPort, host);
    running.push(portal);
    const games = await startSampleApp(
      {
        ...portalSettings,
        ...gamesClient,
        frontChannel: gamesClient.frontChannel ?? false,
        name: 'Games',
        url: gamesUrl,
        color: '#7b2fbf',
        databaseFile: join(options.dataDir, 'games.sqlite'),
        otherApp: { name: 'Portal', url: portalUrl },
      },
      gamesPort,
      host,
    );
    running.push(games);
    return {
      issuer,
      embeddedOp: opPort !== undefined,
      portal,
      games,
      metrics: { url: metrics.url },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function secret(): string {
  return randomBytes(24).toString('base64url');
}

/** The embedded OP's registration of an app, with the library's default routes. */
function devOpClient(name: string, client: SampleClientCredentials, appUrl: string) {
  return {
    ...client,
    name,
    redirectUri: `${appUrl}/login/callback`,
    postLogoutRedirectUri: `${appUrl}/logout/callback`,
    backChannelLogoutUri: `${appUrl}/logout/connect/back-channel/${REGISTRATION_ID}`,
  };
}

import { join } from 'node:path';
import type { SampleOptions } from './start-sample';

/** A wrong environment variable; the message is one line that says what to set. */
export class SampleConfigError extends Error {
  override name = 'SampleConfigError';
}

const EXTERNAL_CLIENT_VARS = [
  'PORTAL_CLIENT_ID',
  'PORTAL_CLIENT_SECRET',
  'GAMES_CLIENT_ID',
  'GAMES_CLIENT_SECRET',
] as const;

/** Which apps the external OP has registered for front-channel logout. */
const FRONT_CHANNEL_VARS = ['PORTAL_FRONT_CHANNEL', 'GAMES_FRONT_CHANNEL'] as const;

/**
 * The sample's options from environment variables (see sample/README.md): OP_PORT, PORTAL_PORT,
 * GAMES_PORT, METRICS_PORT, OIDC_ISSUER, LISTEN_HOST, SAMPLE_DATA_DIR, and for an external OP the four
 * PORTAL_/GAMES_CLIENT_ID/SECRET variables (with OIDC_ISSUER), OIDC_LEGACY_LOGOUT_TOKENS and
 * PORTAL_/GAMES_FRONT_CHANNEL.
 */
export function sampleOptionsFromEnv(env: NodeJS.ProcessEnv): SampleOptions {
  const issuer = env.OIDC_ISSUER?.trim() || undefined;
  if (issuer !== undefined && !isHttpUrl(issuer)) {
    throw new SampleConfigError(`OIDC_ISSUER must be an http(s) URL, got "${issuer}"`);
  }
  const given = EXTERNAL_CLIENT_VARS.filter((name) => env[name]?.trim());
  const frontChannel = FRONT_CHANNEL_VARS.filter((name) => flag(env, name));
  if (given.length === 0 && frontChannel.length > 0) {
    throw new SampleConfigError(
      `${frontChannel.join(' and ')} ${frontChannel.length === 1 ? 'needs' : 'need'} an external OP ` +
        '(the embedded OP sends back-channel logouts only)',
    );
  }
  let externalOp: SampleOptions['externalOp'];
  if (given.length > 0) {
    const missing: string[] = EXTERNAL_CLIENT_VARS.filter((name) => !given.includes(name));
    if (issuer === undefined) missing.unshift('OIDC_ISSUER');
    if (missing.length > 0) {
      throw new SampleConfigError(
        `For an external OP set OIDC_ISSUER and all of ${EXTERNAL_CLIENT_VARS.join(', ')}; missing: ${missing.join(', ')}`,
      );
    }
    externalOp = {
      issuer: issuer as string,
      portal: {
        clientId: value(env, 'PORTAL_CLIENT_ID'),
        clientSecret: value(env, 'PORTAL_CLIENT_SECRET'),
        frontChannel: flag(env, 'PORTAL_FRONT_CHANNEL'),
      },
      games: {
        clientId: value(env, 'GAMES_CLIENT_ID'),
        clientSecret: value(env, 'GAMES_CLIENT_SECRET'),
        frontChannel: flag(env, 'GAMES_FRONT_CHANNEL'),
      },
      legacyLogoutTokens: flag(env, 'OIDC_LEGACY_LOGOUT_TOKENS'),
    };
  }
  return {
    ports: {
      op: port(env, 'OP_PORT', 3000),
      portal: port(env, 'PORTAL_PORT', 3001),
      games: port(env, 'GAMES_PORT', 3002),
      metrics: port(env, 'METRICS_PORT', 3003),
    },
    dataDir: env.SAMPLE_DATA_DIR?.trim() || join(process.cwd(), 'build', 'sample-data'),
    issuer,
    externalOp,
    listenHost: env.LISTEN_HOST?.trim() || '127.0.0.1',
  };
}

function value(env: NodeJS.ProcessEnv, name: string): string {
  return (env[name] ?? '').trim();
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const parsed = Number(raw);
  if (!/^\d+$/.test(raw) || parsed > 65535) {
    throw new SampleConfigError(`${name} must be a port number (0-65535), got "${raw}"`);
  }
  return parsed;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no'].includes(raw)) return false;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  throw new SampleConfigError(`${name} must be true or false, got "${raw}"`);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

import { describe, expect, it } from 'vitest';
import { SampleConfigError, sampleOptionsFromEnv } from '../../sample/sample-env';

/** The sample's environment variables (sample/README.md), as `npm start` reads them. */

const EXTERNAL = {
  OIDC_ISSUER: 'https://sso.example.com/api/oidc',
  PORTAL_CLIENT_ID: 'portal',
  PORTAL_CLIENT_SECRET: 'portal-secret',
  GAMES_CLIENT_ID: 'games',
  GAMES_CLIENT_SECRET: 'games-secret',
};

describe('the sample from environment variables', () => {
  it('an external OP: back channel only unless PORTAL_/GAMES_FRONT_CHANNEL say otherwise', () => {
    const plain = sampleOptionsFromEnv(EXTERNAL);
    expect(plain.externalOp?.portal).toEqual({
      clientId: 'portal',
      clientSecret: 'portal-secret',
      frontChannel: false,
    });
    expect(plain.externalOp?.games.frontChannel).toBe(false);

    const games = sampleOptionsFromEnv({ ...EXTERNAL, GAMES_FRONT_CHANNEL: 'true' });
    expect(games.externalOp?.portal.frontChannel).toBe(false);
    expect(games.externalOp?.games.frontChannel).toBe(true);

    const portal = sampleOptionsFromEnv({ ...EXTERNAL, PORTAL_FRONT_CHANNEL: 'yes' });
    expect(portal.externalOp?.portal.frontChannel).toBe(true);
    expect(portal.externalOp?.games.frontChannel).toBe(false);
  });

  it('a front-channel flag without an external OP, or not a boolean: one line that says what to set', () => {
    expect(() => sampleOptionsFromEnv({ GAMES_FRONT_CHANNEL: 'true' })).toThrow(
      new SampleConfigError(
        'GAMES_FRONT_CHANNEL needs an external OP (the embedded OP sends back-channel logouts only)',
      ),
    );
    expect(() =>
      sampleOptionsFromEnv({ PORTAL_FRONT_CHANNEL: '1', GAMES_FRONT_CHANNEL: '1' }),
    ).toThrow('PORTAL_FRONT_CHANNEL and GAMES_FRONT_CHANNEL need an external OP');
    expect(() => sampleOptionsFromEnv({ ...EXTERNAL, PORTAL_FRONT_CHANNEL: 'on' })).toThrow(
      new SampleConfigError('PORTAL_FRONT_CHANNEL must be true or false, got "on"'),
    );
    // Off is fine without an external OP.
    expect(sampleOptionsFromEnv({ GAMES_FRONT_CHANNEL: 'false' }).externalOp).toBeUndefined();
  });

  it('the metrics page: port 3003 unless METRICS_PORT says otherwise (0: a free one)', () => {
    expect(sampleOptionsFromEnv({}).ports?.metrics).toBe(3003);
    expect(sampleOptionsFromEnv({ METRICS_PORT: '9464' }).ports?.metrics).toBe(9464);
    expect(sampleOptionsFromEnv({ METRICS_PORT: '0' }).ports?.metrics).toBe(0);
    expect(() => sampleOptionsFromEnv({ METRICS_PORT: 'ninety' })).toThrow(
      new SampleConfigError('METRICS_PORT must be a port number (0-65535), got "ninety"'),
    );
  });
});

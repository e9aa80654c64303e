import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveOidcLoginStrategyOptions } from './oidc-login.options';

const valid = {
  registrationId: 'main',
  callbackURL: 'https://app.example/login/callback',
  authorizationEndpoint: 'https://op.example/auth',
  tokenEndpoint: 'https://op.example/token',
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('login options: the transport rule (https in production, no credentials)', () => {
  it.each(['callbackURL', 'authorizationEndpoint', 'tokenEndpoint'] as const)(
    'in production, refuses a plain http %s unless its host is loopback',
    (key) => {
      vi.stubEnv('NODE_ENV', 'production');
      expect(() =>
        resolveOidcLoginStrategyOptions({ ...valid, [key]: 'http://app.example/x' }),
      ).toThrow(`${key}: must use https when NODE_ENV is "production"`);
      for (const host of ['localhost:3000', '127.0.0.1:3000', '[::1]:3000']) {
        expect(() =>
          resolveOidcLoginStrategyOptions({ ...valid, [key]: `http://${host}/x` }),
        ).not.toThrow();
      }
      vi.stubEnv('NODE_ENV', 'development');
      expect(() =>
        resolveOidcLoginStrategyOptions({ ...valid, [key]: 'http://app.example/x' }),
      ).not.toThrow();
    },
  );

  it.each(['callbackURL', 'authorizationEndpoint', 'tokenEndpoint'] as const)(
    'refuses user:password@ in %s in every environment, without printing it',
    (key) => {
      for (const env of ['production', 'development']) {
        vi.stubEnv('NODE_ENV', env);
        let message = '';
        try {
          resolveOidcLoginStrategyOptions({ ...valid, [key]: 'https://user:s3cret@app.example/x' });
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).toContain(`${key}: must not contain credentials (user:password@)`);
        expect(message).not.toContain('s3cret');
      }
    },
  );
});

import { describe, expect, it } from 'vitest';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import {
  resolveOidcLoginStrategyOptions,
  type OidcLoginStrategyOptions,
} from './oidc-login.options';

const valid: OidcLoginStrategyOptions = {
  registrationId: 'main',
  callbackURL: 'https://app.example/login/callback',
};

function problemsOf(options: unknown): string {
  try {
    resolveOidcLoginStrategyOptions(options as OidcLoginStrategyOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(OidcLogoutOptionsError);
    return (error as Error).message;
  }
  throw new Error('expected the options to be refused');
}

describe('resolveOidcLoginStrategyOptions', () => {
  it('applies the defaults: strategy name per registration, PKCE on, no extra scope', () => {
    expect(resolveOidcLoginStrategyOptions(valid)).toEqual({
      registrationId: 'main',
      name: 'oidc:main',
      callbackURL: 'https://app.example/login/callback',
      scope: [],
      pkce: true,
      tokenEndpointAuthMethod: undefined,
      authorizationEndpoint: undefined,
      tokenEndpoint: undefined,
      validate: undefined,
    });
  });

  it('takes scopes as a string or an array, without openid (always sent) and duplicates', () => {
    expect(
      resolveOidcLoginStrategyOptions({ ...valid, scope: 'openid profile  email' }).scope,
    ).toEqual(['profile', 'email']);
    expect(
      resolveOidcLoginStrategyOptions({ ...valid, scope: ['email', 'openid', 'email'] }).scope,
    ).toEqual(['email']);
  });

  it('lists every problem at once', () => {
    const message = problemsOf({
      registrationId: '',
      name: '',
      callbackURL: '/login/callback',
      scope: ['profile email'],
      pkce: 'yes',
      tokenEndpointAuthMethod: 'private_key_jwt',
      tokenEndpoint: 'https://op.example/token#x',
      validate: 'no',
      callbackUrl: 'typo',
    });
    const lines = message.split('\n');
    expect(lines[0]).toBe('createOidcLoginStrategyProvider options are invalid:');
    for (const expected of [
      '  - callbackUrl: is not a known option (did you mean "callbackURL"?). Fix: rename it to "callbackURL".',
      '  - registrationId: must be',
      '  - name: must be',
      '  - callbackURL: must be the absolute',
      '  - tokenEndpoint: must be an absolute',
      '  - scope: must be scope tokens',
      '  - pkce: must be a boolean (got "yes")',
      '  - tokenEndpointAuthMethod: must be one of',
      '  - validate: must be a function',
    ]) {
      expect(lines.some((line) => line.startsWith(expected))).toBe(true);
    }
    // Every problem says how to fix it, like the module's option errors.
    expect(lines.slice(1)).toHaveLength(9);
    for (const line of lines.slice(1)) expect(line).toMatch(/\. Fix: .+\.$/);
  });

  it('refuses a public client without PKCE', () => {
    expect(problemsOf({ ...valid, tokenEndpointAuthMethod: 'none', pkce: false })).toContain(
      'needs pkce',
    );
  });

  it('refuses options that are not an object, with the fix', () => {
    expect(problemsOf('main')).toContain('  - options: must be an object (got "main"). Fix: ');
  });

  it('never prints the value of an unknown option (a misspelled secret)', () => {
    const message = problemsOf({ ...valid, clientSecert: 's3cret' });
    expect(message).toContain('clientSecert: is not a known option');
    expect(message).not.toContain('s3cret');
  });
});

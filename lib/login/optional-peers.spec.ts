import { describe, expect, it } from 'vitest';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import { loadOptionalPeer } from './optional-peers';

describe('the login strategy without its optional peer dependencies', () => {
  it('names the missing package and how to fix it', () => {
    let error: unknown;
    try {
      loadOptionalPeer('nest-oidc-logout-no-such-package', 'createOidcLoginStrategyProvider');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(OidcLogoutOptionsError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^createOidcLoginStrategyProvider needs the package "nest-oidc-logout-no-such-package", which is not installed \(.*\)\. Fix: npm install @nestjs\/passport passport passport-openidconnect/,
    );
    expect(message.split('\n')).toHaveLength(1);
  });
});

import type * as NestPassport from '@nestjs/passport';
import type OpenIdConnect from 'passport-openidconnect';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';

/**
 * The login strategy's optional peer dependencies, loaded when the login is used, never when the
 * library is: an application without passport can still `require('nest-oidc-logout')`.
 *
 * @internal
 */

const INSTALL =
  'npm install @nestjs/passport passport passport-openidconnect (optional peer dependencies of ' +
  'nest-oidc-logout, needed by createOidcLoginStrategyProvider and OidcLoginGuard), or remove the ' +
  'login strategy and guard to log users in your own way (then call LogoutService.recordLogin)';

/** `require(name)`, or an error that says how to install it. @internal */
export function loadOptionalPeer<T>(name: string, what: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy: optional peer
    return require(name) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
      const missing = String((error as Error).message).split('\n')[0];
      throw new OidcLogoutOptionsError(
        `${what} needs the package "${name}", which is not installed (${missing}). Fix: ${INSTALL}`,
      );
    }
    throw error;
  }
}

/** `@nestjs/passport` (`PassportStrategy`, `AuthGuard`). @internal */
export function loadNestPassport(what: string): typeof NestPassport {
  return loadOptionalPeer<typeof NestPassport>('@nestjs/passport', what);
}

/** `passport-openidconnect` 0.1 (its `Strategy`). @internal */
export function loadOpenIdConnect(what: string): typeof OpenIdConnect {
  return loadOptionalPeer<typeof OpenIdConnect>('passport-openidconnect', what);
}

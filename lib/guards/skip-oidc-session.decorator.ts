import { SetMetadata } from '@nestjs/common';
import { SKIP_OIDC_SESSION_KEY } from '../oidc-logout.constants';

/**
 * Exempts a route (or a whole controller) from {@link OidcSessionGuard}, typically the login routes
 * and public pages when the guard is global.
 *
 * @publicApi
 */
export const SkipOidcSession = (skip = true): MethodDecorator & ClassDecorator =>
  SetMetadata(SKIP_OIDC_SESSION_KEY, skip);

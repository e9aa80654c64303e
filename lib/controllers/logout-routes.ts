import { RequestMethod, type NestMiddleware, type Type } from '@nestjs/common';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';

/**
 * One endpoint of the module. Endpoints are bound as route handlers (Nest middleware on an exact
 * path) in `OidcLogoutModule.configure`, so that their paths can come from `forRootAsync` options,
 * and so that the app's global guards (such as `OidcSessionGuard` as `APP_GUARD`) and interceptors,
 * which know nothing of the OP's requests, do not stand in their way.
 *
 * @internal
 */
export interface LogoutRoute {
  path: string;
  method: RequestMethod;
  handler: Type<NestMiddleware>;
}

/** Every endpoint of the module, at the configured paths. @internal */
export function logoutRoutes(_options: ResolvedOidcLogoutOptions): LogoutRoute[] {
  return [];
}

import { RequestMethod, type NestMiddleware, type Type } from '@nestjs/common';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import { BackChannelLogoutHandler } from './back-channel-logout.handler';
import { FrontChannelLogoutHandler } from './front-channel-logout.handler';
import { LogoutCallbackHandler } from './logout-callback.handler';
import { RpInitiatedLogoutHandler } from './rp-initiated-logout.handler';

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
export function logoutRoutes(options: ResolvedOidcLogoutOptions): LogoutRoute[] {
  return [
    {
      // Every method: GET shows a logout button, POST logs out, others get 405.
      path: options.routes.logout,
      method: RequestMethod.ALL,
      handler: RpInitiatedLogoutHandler,
    },
    {
      path: options.routes.logoutCallback,
      method: RequestMethod.ALL,
      handler: LogoutCallbackHandler,
    },
    {
      // Every method, so that a wrong one gets the spec's 400 rather than the app's 404.
      path: `${options.routes.backChannel}/:registrationId`,
      method: RequestMethod.ALL,
      handler: BackChannelLogoutHandler,
    },
    {
      // Every method, so that only GET acts; HEAD changes nothing, any other method gets 405.
      path: `${options.routes.frontChannel}/:registrationId`,
      method: RequestMethod.ALL,
      handler: FrontChannelLogoutHandler,
    },
  ];
}

import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { SessionRequest } from '../services/request-session';
import { SessionIdFollower } from './session-id-follower';

/**
 * Bound by `OidcLogoutModule` on every route: makes the request's session follow session id changes
 * (see {@link SessionIdFollower}), so that a login record survives `req.session.regenerate()`, by
 * passport at login or by the application later.
 *
 * @internal
 */
@Injectable()
export class SessionIdFollowerMiddleware implements NestMiddleware {
  constructor(private readonly follower: SessionIdFollower) {}

  use(request: SessionRequest, _response: unknown, next: (error?: unknown) => void): void {
    this.follower.follow(request);
    next();
  }
}

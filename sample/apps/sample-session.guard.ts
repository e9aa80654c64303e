import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { OidcSessionGuard, type SessionRequest } from '../../lib';

/** Where a browser whose login has ended is sent. */
export const SIGNED_OUT_PATH = '/signed-out';

type GuardedRequest = SessionRequest & {
  headers: Record<string, string | string[] | undefined>;
  user?: unknown;
};
type GuardedResponse = { header?: (name: string, value: string) => unknown };

/**
 * `OidcSessionGuard`, applied to every route of the app (`APP_GUARD`; public routes carry
 * `@SkipOidcSession()`), with one change through its protected hooks: a browser that was logged in
 * and whose session has since ended (a logout in the other app, or at the OP) lands on the
 * signed-out page, which shows the logout it received. A browser that never logged in goes to
 * `loginUrl` (`/login`), so that single sign-on happens without a click.
 */
@Injectable()
export class SampleSessionGuard extends OidcSessionGuard {
  protected override rejectSession(request: GuardedRequest, response: GuardedResponse): never {
    if (request.user !== undefined && this.prefersHtml(request)) {
      response.header?.('Location', SIGNED_OUT_PATH);
      throw new HttpException({ statusCode: HttpStatus.FOUND }, HttpStatus.FOUND);
    }
    return super.rejectSession(request, response);
  }
}

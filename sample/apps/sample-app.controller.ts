import { Controller, Get, Header, Inject, Req, Res, UseGuards, type Type } from '@nestjs/common';
import type { Request, Response } from 'express';
import { OidcLoginGuard, type OidcLoginUser } from '../../lib/passport';
import { SkipOidcSession } from '../../lib';
import { LogoutEventLog } from './logout-event-log';
import { SAMPLE_APP_SETTINGS, type SampleAppSettings } from './sample-app.settings';
import { homePage, signedOutPage } from './sample-pages';

/**
 * The pages of one sample app. A function, because the login guard is per passport strategy, and
 * passport keeps strategies process-wide: Portal and Games, in one process, need one each.
 */
export function createSampleAppController(strategyName: string): Type<unknown> {
  const LoginGuard = OidcLoginGuard(strategyName);

  @Controller()
  class SampleAppController {
    constructor(
      @Inject(SAMPLE_APP_SETTINGS) private readonly settings: SampleAppSettings,
      private readonly events: LogoutEventLog,
    ) {}

    /** Private (the global guard): who is logged in, the OP session, the logouts received. */
    @Get()
    @Header('Content-Type', 'text/html; charset=utf-8')
    @Header('Cache-Control', 'no-store')
    home(@Req() request: Request): string {
      return homePage(this.settings, request.user as OidcLoginUser | undefined, this.events.list());
    }

    /** Private, as JSON: a 401 once the session has ended (`curl` it). */
    @Get('me')
    @Header('Cache-Control', 'no-store')
    me(@Req() request: Request): { app: string; user: unknown } {
      const user = request.user as OidcLoginUser | undefined;
      // With front-channel logout on, the sid stays private (see shownSid).
      if (user && this.settings.hideSids)
        return { app: this.settings.name, user: { ...user, sid: undefined } };
      return { app: this.settings.name, user };
    }

    @Get('signed-out')
    @SkipOidcSession()
    @Header('Content-Type', 'text/html; charset=utf-8')
    @Header('Cache-Control', 'no-store')
    signedOut(): string {
      return signedOutPage(this.settings, this.events.list());
    }

    /** Redirects to the OP (passport-openidconnect, with state, nonce and PKCE). */
    @Get('login')
    @SkipOidcSession()
    @UseGuards(LoginGuard)
    login(): void {}

    /** The OP's answer: the ID token is verified and the login recorded, then home. */
    @Get('login/callback')
    @SkipOidcSession()
    @UseGuards(LoginGuard)
    callback(@Res() response: Response): void {
      response.redirect('/');
    }
  }
  return SampleAppController;
}

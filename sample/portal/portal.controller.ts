import { Controller, Get, Header, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { LogoutService, OidcSessionGuard, SkipOidcSession } from '../../lib';

/** The sample app's pages: a public home page and a page only a live OIDC session may see. */
@Controller()
export class PortalController {
  constructor(private readonly logoutService: LogoutService) {}

  @Get()
  @SkipOidcSession()
  @Header('Content-Type', 'text/html; charset=utf-8')
  async home(@Req() request: Request): Promise<string> {
    const active = await this.logoutService.isActive(request.sessionID);
    return `<!doctype html><title>Portal</title><h1>Portal</h1>
<p>OIDC session: ${active ? 'active' : 'none'}</p>
<p><a href="/profile">Profile (guarded by OidcSessionGuard)</a></p>`;
  }

  @Get('profile')
  @UseGuards(OidcSessionGuard)
  profile(@Req() request: Request): { sessionActive: true; sessionId: string } {
    return { sessionActive: true, sessionId: request.sessionID.slice(0, 4) + '…' };
  }
}

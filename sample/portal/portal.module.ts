import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { OIDC_LOGOUT_ENTITIES, OidcLogoutModule } from '../../lib';
import { PortalController } from './portal.controller';

/** Settings of one sample app. */
export interface PortalSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  appUrl: string;
  databaseFile: string;
}

/** A Nest app using the library with SQLite through TypeORM (a local file, no server). */
@Module({})
export class PortalModule {
  static register(settings: PortalSettings) {
    return {
      module: PortalModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: settings.databaseFile,
          entities: [...OIDC_LOGOUT_ENTITIES],
          synchronize: true,
        }),
        OidcLogoutModule.forRoot({
          clients: [
            {
              registrationId: 'dev-op',
              issuer: settings.issuer,
              clientId: settings.clientId,
              clientSecret: settings.clientSecret,
              postLogoutRedirectUri: `${settings.appUrl}/logout/callback`,
            },
          ],
          loginUrl: '/',
        }),
      ],
      controllers: [PortalController],
    };
  }
}

import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportSerializer } from '@nestjs/passport';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { createOidcLoginStrategyProvider, type OidcLoginUser } from '../../lib/passport';
import { OIDC_LOGOUT_ENTITIES } from '../../lib/typeorm';
import { OidcLogoutModule } from '../../lib';
import { LogoutEventLog } from './logout-event-log';
import { createSampleAppController } from './sample-app.controller';
import {
  REGISTRATION_ID,
  SAMPLE_APP_SETTINGS,
  type SampleAppSettings,
} from './sample-app.settings';
import { SampleSessionGuard, SIGNED_OUT_PATH } from './sample-session.guard';

/** Keeps passport's user (an `OidcLoginUser`: registrationId, issuer, sub, sid) in the session. */
@Injectable()
class SessionSerializer extends PassportSerializer {
  serializeUser(user: OidcLoginUser, done: (error: unknown, payload?: unknown) => void): void {
    done(null, user);
  }
  deserializeUser(payload: unknown, done: (error: unknown, user?: unknown) => void): void {
    done(null, payload);
  }
}

/**
 * One sample app (Portal or Games, from its settings): SQLite through TypeORM, the library with one
 * OP registration, login with passport-openidconnect, `OidcSessionGuard` on every page but the
 * public ones, RP-initiated logout at POST /logout, back-channel logout at
 * POST /logout/connect/back-channel/sso, and front-channel logout at
 * GET /logout/connect/front-channel/sso when the settings ask for it.
 */
@Module({})
export class SampleAppModule {
  static register(settings: SampleAppSettings): DynamicModule {
    const key = settings.name.toLowerCase();
    const strategyName = `oidc:${key}`;
    const dataSourceName = `${key}-db`;
    return {
      module: SampleAppModule,
      imports: [
        TypeOrmModule.forRoot({
          // Named: TypeORM data source names are process-wide, and both apps run in one process.
          name: dataSourceName,
          type: 'better-sqlite3',
          database: settings.databaseFile,
          entities: [...OIDC_LOGOUT_ENTITIES],
          // A sample: the tables are created at startup. Apps use OIDC_LOGOUT_MIGRATIONS instead.
          synchronize: true,
        }),
        OidcLogoutModule.forRootAsync({
          inject: [getDataSourceToken(dataSourceName)],
          useFactory: (dataSource: DataSource) => ({
            clients: [
              {
                registrationId: REGISTRATION_ID,
                issuer: settings.issuer,
                clientId: settings.clientId,
                clientSecret: settings.clientSecret,
                postLogoutRedirectUri: `${settings.url}/logout/callback`,
                backChannel: { sessionRequired: true },
                // Off unless the external OP has the app's front-channel URL (GAMES_FRONT_CHANNEL).
                frontChannel: settings.frontChannel ? { sessionRequired: true } : false,
                legacyLogoutTokens: settings.legacyLogoutTokens,
              },
            ],
            loginUrl: '/login',
            postLogoutLandingUrl: SIGNED_OUT_PATH,
            // The session records go to the app's own SQLite file.
            dataSource,
          }),
        }),
      ],
      controllers: [createSampleAppController(strategyName)],
      providers: [
        { provide: SAMPLE_APP_SETTINGS, useValue: settings },
        { provide: APP_GUARD, useClass: SampleSessionGuard },
        SessionSerializer,
        LogoutEventLog,
        createOidcLoginStrategyProvider({
          registrationId: REGISTRATION_ID,
          name: strategyName,
          callbackURL: `${settings.url}/login/callback`,
        }),
      ],
    };
  }
}

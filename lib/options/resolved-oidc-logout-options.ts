import type { OidcLogoutEventStore } from '../logout-events/oidc-logout-event.store';
import type { Type } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type {
  OidcBackChannelOptions,
  OidcClientRegistration,
  OidcFrontChannelOptions,
  OidcLogoutRoutes,
} from '../interfaces/oidc-logout-module-options.interface';
import type { OidcRevocationEvent } from '../interfaces/oidc-revocation-event.interface';
import type { OidcRpLogoutMethod } from '../interfaces/rp-initiated-logout.interface';
import type { OidcSessionRepository } from '../repositories/oidc-session.repository';
import type { TypeOrmOidcSessionRepositoryOptions } from '../repositories/typeorm/typeorm-oidc-session-repository.options';

/** A registration after validation, with every default applied. @internal */
export interface ResolvedClientRegistration extends Omit<
  OidcClientRegistration,
  'backChannel' | 'frontChannel' | 'legacyLogoutTokens' | 'discovery' | 'algorithms'
> {
  backChannel: Required<OidcBackChannelOptions> | false;
  frontChannel: Required<OidcFrontChannelOptions> | false;
  legacyLogoutTokens: boolean;
  discovery: boolean;
  /** Explicit allow-list from the options; `undefined` means "from discovery, else RS256". */
  algorithms?: readonly string[];
}

/** The module options after validation, with every default applied. @internal */
export interface ResolvedOidcLogoutOptions {
  clients: readonly ResolvedClientRegistration[];
  routes: Readonly<Required<OidcLogoutRoutes>>;
  postLogoutLandingUrl: string;
  loginUrl?: string;
  rpLogoutMethod: OidcRpLogoutMethod;
  sessionRepository?: Type<OidcSessionRepository> | OidcSessionRepository;
  logoutEventStore?: Type<OidcLogoutEventStore> | OidcLogoutEventStore;
  dataSource?: DataSource;
  typeOrmRepository?: TypeOrmOidcSessionRepositoryOptions;
  clockToleranceSeconds: number;
  legacyLogoutTokens: boolean;
  sessionTtlSeconds: number;
  inMemoryMaxEntries: number;
  cleanupIntervalSeconds: number;
  httpTimeoutMs: number;
  /**
   * `NODE_ENV` was `production` when the options were validated: every URL discovered at run time
   * (`jwks_uri`, `end_session_endpoint`, the token and authorization endpoints) must then be https,
   * loopback hosts excepted, as the configured ones are.
   */
  requireHttps: boolean;
  storeTimeoutMs: number;
  /** Absolute path of the pending-logout journal; absent: pending logouts are kept in memory only. */
  pendingLogoutJournal?: string;
  onRevocation?: (event: OidcRevocationEvent) => void | Promise<void>;
}

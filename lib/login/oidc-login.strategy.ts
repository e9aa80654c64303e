import type { FactoryProvider, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { StrategyOptions } from 'passport-openidconnect';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import { describeRegistrations } from '../errors/unknown-registration';
import { DEFAULT_HTTP_TIMEOUT_MS } from '../oidc-logout.constants';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import { LogoutService } from '../services/logout.service';
import { OidcDiscoveryService } from '../services/oidc-discovery.service';
import type { SessionRequest } from '../services/request-session';
import { OidcLoginFlow } from './oidc-login.flow';
import {
  LOGIN_OPTIONS_HEADER,
  resolveOidcLoginStrategyOptions,
  type OidcLoginStrategyAsyncOptions,
  type OidcLoginStrategyOptions,
  type OidcLoginStrategyOptionsFactory,
  type ResolvedOidcLoginStrategyOptions,
} from './oidc-login.options';
import { loadNestPassport, loadOpenIdConnect } from './optional-peers';
import type { PerRequestStrategy } from './per-request-strategy';

/**
 * passport-openidconnect calls the verify callback with the raw ID token only when the callback
 * declares enough parameters: with `passReqToCallback`, 6 are `(req, iss, profile, context, idToken,
 * done)`. @nestjs/passport wraps `validate` in a callback of arity 0 unless told otherwise, which
 * would pass `(iss, profile, done)` only.
 */
const VERIFY_ARITY = 6;

/**
 * Stands for the endpoints in the constructor (which requires them): the real ones are set per
 * request, from discovery. A reserved `.invalid` name (RFC 6761), so it can never be reached.
 */
const DISCOVERED_PER_REQUEST = 'https://discovered-per-login.invalid/';

/**
 * A Nest provider that registers, with passport, an OpenID Connect login strategy for one
 * `OidcLogoutModule` registration, built on `@nestjs/passport` and `passport-openidconnect` (optional
 * peer dependencies, loaded only when the provider is created). Use it with {@link OidcLoginGuard} on
 * the login and callback routes.
 *
 * What it adds to passport-openidconnect 0.1.2:
 * - the ID token's signature is verified (passport-openidconnect only decodes it) and the login is
 *   recorded for the session by `LogoutService.recordLogin`, which reads `sid` from the verified
 *   token; if recording fails, so does the login: no user gets in with an unverified token;
 * - `nonce` always on; `state`, nonce and the PKCE verifier kept in the session, single use (taken
 *   once per process even by concurrent callbacks), for 10 minutes, up to 5 pending logins (tabs) per
 *   session, which survive another tab's login;
 * - the callback's `iss` parameter checked (RFC 9207), and required when the OP announces it;
 * - the token response read up to 256 KiB, its ID token's shape checked before passport reads it;
 * - PKCE S256 on every login (unless `pkce: false`, or the OP announces `code_challenge_methods_supported`
 *   without S256);
 * - the code exchange with `client_secret_basic` (default), `client_secret_post` or `none`;
 * - the OP's endpoints from its discovery document, fetched at the first login and cached: the
 *   strategy is created at startup without waiting for the OP, and an OP that is down only fails the
 *   logins attempted meanwhile (503 from the guard, `ERR_DISCOVERY_FAILED` logged).
 *
 * Passport regenerates the session at login (session fixation defence); the login record follows the
 * new session id (`OidcLogoutModule` binds a middleware on every route for that, and `OidcLoginGuard`
 * makes sure of it). Only that regenerate carries it: a later `req.session.regenerate()`, passport's
 * `req.logout()` or `req.session.destroy()` removes the record.
 *
 * The module must be visible where the provider is declared: `OidcLogoutModule.forRoot({ ..., isGlobal:
 * true })`, or the provider in the module that imports it. The application registers a passport
 * serializer (`PassportSerializer` or `passport.serializeUser`) for the user, an {@link OidcLoginUser}
 * unless `validate` maps it.
 *
 * For options from `ConfigService` or another provider, see
 * {@link createOidcLoginStrategyProviderAsync}.
 *
 * @throws OidcLogoutOptionsError at once for invalid options; at startup for an unknown registration
 *   or a missing optional peer dependency. Each problem comes with its fix.
 * @publicApi
 */
export function createOidcLoginStrategyProvider(
  options: OidcLoginStrategyOptions,
): FactoryProvider {
  const resolved = resolveOidcLoginStrategyOptions(options);
  return {
    provide: `nest-oidc-logout:login-strategy:${resolved.name}`,
    inject: [LogoutService, OidcDiscoveryService, OIDC_LOGOUT_RESOLVED_OPTIONS],
    useFactory: (
      logoutService: LogoutService,
      discovery: OidcDiscoveryService,
      moduleOptions: ResolvedOidcLogoutOptions,
    ) => buildLoginStrategy(resolved, logoutService, discovery, moduleOptions),
  };
}

/**
 * {@link createOidcLoginStrategyProvider} with its options from a factory, a class or an existing
 * provider, like `OidcLogoutModule.forRootAsync`: e.g. from `ConfigService`,
 *
 * ```ts
 * createOidcLoginStrategyProviderAsync({
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({
 *     registrationId: 'keycloak',
 *     callbackURL: config.getOrThrow('LOGIN_CALLBACK_URL'),
 *   }),
 * })
 * ```
 *
 * A provider carries no `imports`: the module that declares it imports what `inject` names (or that
 * module is global, like `ConfigModule.forRoot({ isGlobal: true })`). The options are checked when
 * the factory has run, at startup, with the same errors as the synchronous form. `OidcLoginGuard`
 * needs the strategy name when the controller is defined: keep `registrationId` (or `name`) fixed,
 * or give the guard the name your configuration yields.
 *
 * @throws OidcLogoutOptionsError at once unless exactly one of `useFactory`, `useClass` and
 *   `useExisting` is given; at startup for invalid options, an unknown registration or a missing
 *   optional peer dependency.
 * @publicApi
 */
export function createOidcLoginStrategyProviderAsync(
  options: OidcLoginStrategyAsyncOptions,
): FactoryProvider {
  const source = optionsSource(options);
  const own = [LogoutService, OidcDiscoveryService, OIDC_LOGOUT_RESOLVED_OPTIONS];
  return {
    // Nobody injects the strategy (passport keeps it by name): a token of its own per call.
    provide: Symbol('nest-oidc-logout:login-strategy'),
    inject: [...source.inject, ...own],
    useFactory: async (...args: unknown[]) => {
      const given = await source.load(args.slice(0, source.inject.length));
      const [logoutService, discovery, moduleOptions] = args.slice(source.inject.length) as [
        LogoutService,
        OidcDiscoveryService,
        ResolvedOidcLogoutOptions,
      ];
      const resolved = resolveOidcLoginStrategyOptions(given);
      return buildLoginStrategy(resolved, logoutService, discovery, moduleOptions);
    },
  };
}

/** The strategy of checked options, for the registration they name. */
function buildLoginStrategy(
  resolved: ResolvedOidcLoginStrategyOptions,
  logoutService: LogoutService,
  discovery: OidcDiscoveryService,
  moduleOptions: ResolvedOidcLogoutOptions,
): object {
  const flow = new OidcLoginFlow(
    resolved,
    registrationFor(resolved, moduleOptions),
    logoutService,
    discovery,
    moduleOptions.httpTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
  );
  return createOidcLoginStrategy(resolved, flow);
}

/** The module's registration the login names. @throws OidcLogoutOptionsError listing those that exist. */
function registrationFor(
  resolved: ResolvedOidcLoginStrategyOptions,
  moduleOptions: ResolvedOidcLogoutOptions,
): ResolvedClientRegistration {
  const { clients } = moduleOptions;
  const registration = clients.find((c) => c.registrationId === resolved.registrationId);
  if (registration) return registration;
  const id = JSON.stringify(resolved.registrationId.slice(0, 64));
  throw new OidcLogoutOptionsError(
    `${LOGIN_OPTIONS_HEADER}\n  - registrationId: no client registration ${id} (${describeRegistrations(clients)}). Fix: use one of them, or add a client with registrationId ${id} to OidcLogoutModule's clients.`,
  );
}

/** What the async options inject, and how they make the strategy's options of the injected values. */
function optionsSource(options: OidcLoginStrategyAsyncOptions): {
  inject: NonNullable<FactoryProvider['inject']>;
  load: (args: unknown[]) => OidcLoginStrategyOptions | Promise<OidcLoginStrategyOptions>;
} {
  const { useFactory, useClass, useExisting } = options ?? {};
  const given = [useFactory, useClass, useExisting].filter((value) => value !== undefined);
  if (given.length !== 1 || (useFactory !== undefined && typeof useFactory !== 'function')) {
    throw new OidcLogoutOptionsError(
      `${LOGIN_OPTIONS_HEADER}\n  - useFactory, useClass, useExisting: exactly one is needed (got ${given.length}). Fix: pass { inject: [ConfigService], useFactory: (config) => ({ registrationId, callbackURL }) }, or a class with createOidcLoginStrategyOptions() as useClass or useExisting.`,
    );
  }
  if (useFactory !== undefined) {
    return { inject: options.inject ?? [], load: (args) => useFactory(...(args as never[])) };
  }
  if (useExisting !== undefined) {
    return {
      inject: [useExisting],
      load: ([factory]) =>
        (factory as OidcLoginStrategyOptionsFactory).createOidcLoginStrategyOptions(),
    };
  }
  const type = useClass as Type<OidcLoginStrategyOptionsFactory>;
  return {
    inject: [ModuleRef],
    load: async ([moduleRef]) =>
      (await (moduleRef as ModuleRef).create(type)).createOidcLoginStrategyOptions(),
  };
}

/** The passport strategy (a `PassportStrategy` of passport-openidconnect's). @internal */
function createOidcLoginStrategy(
  options: ResolvedOidcLoginStrategyOptions,
  flow: OidcLoginFlow,
): object {
  const what = 'createOidcLoginStrategyProvider';
  const { PassportStrategy } = loadNestPassport(what);
  const { Strategy } = loadOpenIdConnect(what);
  const strategyOptions = strategyOptionsFor(options, flow.registration);

  class OidcLoginStrategy extends PassportStrategy(Strategy, options.name, VERIFY_ARITY) {
    constructor() {
      super(strategyOptions);
    }

    validate(
      request: SessionRequest,
      _issuer: unknown,
      _profile: unknown,
      _context: unknown,
      idToken: unknown,
    ): Promise<unknown> {
      return flow.completeLogin(request, idToken);
    }

    /**
     * Runs passport-openidconnect's `authenticate` on an object of this request (`this` is already
     * passport's per-request strategy, with its `success`/`fail`/`redirect`/`error`), once the OP's
     * endpoints are known.
     */
    override authenticate(
      ...args: Parameters<InstanceType<typeof Strategy>['authenticate']>
    ): void {
      const [request] = args;
      flow.endpoints().then(
        (endpoints) => {
          try {
            const refusal = flow.authorizationResponseRefusal(request, endpoints);
            if (refusal !== undefined) {
              this.fail({ message: refusal }, 401);
              return;
            }
            const perRequest = Object.create(this) as this & PerRequestStrategy;
            flow.prepare(perRequest, request, endpoints);
            super.authenticate.apply(perRequest, args);
          } catch (error) {
            this.error(asError(error));
          }
        },
        (error: unknown) => this.error(asError(error)),
      );
    }
  }

  return new OidcLoginStrategy();
}

/**
 * passport-openidconnect's constructor options: the registration's client, the nonce on, the raw ID
 * token passed to `validate`, and placeholders for what is set per request (endpoints, state store).
 */
function strategyOptionsFor(
  options: ResolvedOidcLoginStrategyOptions,
  registration: ResolvedClientRegistration,
): StrategyOptions {
  return {
    issuer: registration.issuer,
    clientID: registration.clientId,
    clientSecret: registration.clientSecret ?? '',
    callbackURL: options.callbackURL,
    authorizationURL: DISCOVERED_PER_REQUEST,
    tokenURL: DISCOVERED_PER_REQUEST,
    userInfoURL: DISCOVERED_PER_REQUEST,
    scope: options.scope.length > 0 ? options.scope : undefined,
    // Any truthy value turns the nonce on (the typings say string).
    nonce: 'true',
    passReqToCallback: true,
    // The user comes from the verified ID token; the userinfo endpoint is not used.
    skipUserProfile: true,
    // Replaced per request (see OidcLoginFlow.prepare); this one is never used.
    store: neverUsedStore,
  };
}

const neverUsedStore = {
  store: (_req: unknown, _ctx: unknown, _state: unknown, _meta: unknown, cb: (e: Error) => void) =>
    cb(new Error('nest-oidc-logout: login state store used outside a prepared request')),
  verify: (_req: unknown, _handle: unknown, cb: (e: Error) => void) =>
    cb(new Error('nest-oidc-logout: login state store used outside a prepared request')),
};

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

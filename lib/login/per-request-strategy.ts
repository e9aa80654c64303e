import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { SessionRequest } from '../services/request-session';
import type { LoginEndpoints } from './login-endpoints';
import type { LoginSessionData, OidcLoginStateStore } from './oidc-login-state.store';
import { createPkcePair } from './pkce';
import { requestTokens, type OidcTokenEndpointAuthMethod } from './token-request';
import { assertIdTokenShape } from './token-response';

type Callback<A extends unknown[]> = (error: unknown, ...results: A) => void;

/** The context passport-openidconnect hands to its state store. */
interface StoreContext {
  nonce?: string;
  maxAge?: number;
  issued?: Date;
}

/** What the state store hands the code exchange of the same request. */
interface CodeExchange {
  codeVerifier?: string;
}

/**
 * What passport-openidconnect 0.1.2 reads from `this` during one `authenticate` call, set per request
 * on an object whose prototype is passport's per-request strategy: its `_oauth2` (endpoints and code
 * exchange), `_stateStore` and `authorizationParams`.
 *
 * @internal
 */
export interface PerRequestStrategy {
  _oauth2: {
    _clientId: string;
    _authorizeUrl: string;
    _accessTokenUrl: string;
    getOAuthAccessToken(
      code: string,
      params: Record<string, string>,
      callback: Callback<[unknown?, unknown?, Record<string, unknown>?]>,
    ): void;
    get(url: string, accessToken: string, callback: Callback<[]>): void;
  };
  _stateStore: {
    store(
      req: SessionRequest,
      ctx: StoreContext,
      appState: unknown,
      meta: unknown,
      callback: Callback<[string?]>,
    ): void;
    verify(
      req: SessionRequest,
      handle: unknown,
      callback: (error: unknown, ctx?: StoreContext | false, stateOrInfo?: unknown) => void,
    ): void;
  };
  authorizationParams(options: unknown): Record<string, string>;
  /** passport's per-request `error` (from the prototype): ends the authentication with an error. */
  error(error: Error): void;
}

/** What the login of one registration lends each request: where pending logins go, how to exchange. @internal */
export interface PerRequestSetup {
  stateStore: OidcLoginStateStore;
  registration: ResolvedClientRegistration;
  authMethod: OidcTokenEndpointAuthMethod;
  httpTimeoutMs: number;
}

const NO_SESSION =
  'The OpenID Connect login needs a server-side session (express-session) on the login and callback routes';

/**
 * Sets up `perRequest` (an object whose prototype is passport's per-request strategy) for one
 * `authenticate` call: the endpoints, the state store of this request, and PKCE.
 *
 * @internal
 */
export function preparePerRequest(
  perRequest: PerRequestStrategy,
  request: object,
  endpoints: LoginEndpoints,
  setup: PerRequestSetup,
): void {
  const query = (request as { query?: Record<string, unknown> }).query ?? {};
  const authorizing = !query.code && !query.error;
  const pkce = authorizing && endpoints.pkce ? createPkcePair() : undefined;
  /** The PKCE verifier of the authorization request this callback answers (read from its state). */
  const exchange: CodeExchange = {};

  perRequest.authorizationParams = (): Record<string, string> =>
    pkce ? { code_challenge: pkce.challenge, code_challenge_method: pkce.method } : {};
  perRequest._stateStore = stateStoreFor(setup.stateStore, pkce, exchange);
  perRequest._oauth2 = oauth2For(perRequest, endpoints, exchange, setup);
}

/** passport's state store for one request: the login's nonce, PKCE verifier and app state. */
function stateStoreFor(
  stateStore: OidcLoginStateStore,
  pkce: { verifier: string } | undefined,
  exchange: CodeExchange,
): PerRequestStrategy['_stateStore'] {
  return {
    store: (req, ctx, appState, _meta, callback) => {
      const session = sessionData(req);
      if (!session) return callback(new OidcLogoutError('ERR_NO_SESSION', NO_SESSION));
      if (!ctx.nonce) return callback(new Error('OpenID Connect login started without a nonce'));
      const handle = stateStore.save(session, {
        nonce: ctx.nonce,
        codeVerifier: pkce?.verifier,
        maxAge: ctx.maxAge,
        issuedAt: ctx.issued?.toISOString(),
        appState,
      });
      callback(null, handle);
    },
    verify: (req, handle, callback) => {
      const session = sessionData(req);
      if (!session) return callback(new OidcLogoutError('ERR_NO_SESSION', NO_SESSION));
      const pending = stateStore.take(session, handle);
      if (!pending) {
        return callback(null, false, {
          message: 'Invalid or expired authorization request state',
        });
      }
      exchange.codeVerifier = pending.codeVerifier;
      const ctx: StoreContext = { nonce: pending.nonce, maxAge: pending.maxAge };
      if (pending.issuedAt) ctx.issued = new Date(pending.issuedAt);
      callback(null, ctx, pending.appState);
    },
  };
}

/** passport's `_oauth2` for one request: the endpoints, and the code exchange made here. */
function oauth2For(
  perRequest: PerRequestStrategy,
  endpoints: LoginEndpoints,
  exchange: CodeExchange,
  setup: PerRequestSetup,
): PerRequestStrategy['_oauth2'] {
  const { registration } = setup;
  return {
    _clientId: registration.clientId,
    _authorizeUrl: endpoints.authorizationEndpoint,
    _accessTokenUrl: endpoints.tokenEndpoint,
    getOAuthAccessToken: (code, params, callback) => {
      const form: Record<string, string> = { ...params, code };
      if (exchange.codeVerifier) form.code_verifier = exchange.codeVerifier;
      requestTokens(
        {
          tokenEndpoint: endpoints.tokenEndpoint,
          clientId: registration.clientId,
          clientSecret: registration.clientSecret,
          authMethod: setup.authMethod,
          params: form,
        },
        setup.httpTimeoutMs,
      )
        .then((tokens) => {
          // passport-openidconnect reads the ID token unguarded: only a well-formed one reaches it.
          assertIdTokenShape(tokens);
          return tokens;
        })
        .then(
          // Called outside the promise (nothing thrown is swallowed by it), but never past passport:
          // whatever the callback throws ends this login with an error, not the process.
          (tokens) =>
            process.nextTick(() =>
              guarded(perRequest, () =>
                callback(null, tokens.access_token, tokens.refresh_token, tokens),
              ),
            ),
          (error: unknown) => process.nextTick(() => guarded(perRequest, () => callback(error))),
        );
    },
    get: (_url, _accessToken, callback) =>
      callback(new Error('nest-oidc-logout does not fetch the userinfo endpoint')),
  };
}

/** Runs `step`; an exception it throws ends the login through passport's `error`, never the process. */
function guarded(perRequest: PerRequestStrategy, step: () => void): void {
  try {
    step();
  } catch (error) {
    try {
      perRequest.error(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // The request's own error path failed too: nothing more can be answered for it.
    }
  }
}

function sessionData(request: SessionRequest): LoginSessionData | undefined {
  const session = request.session as LoginSessionData | undefined;
  return session && typeof session === 'object' ? session : undefined;
}

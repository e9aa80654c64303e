import type { ServerResponse } from 'node:http';
import { inMemoryEvents } from '../../test/repository/logout-event-calls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { OidcRevocationEvent } from '../interfaces/oidc-revocation-event.interface';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { OidcLogoutModuleOptions } from '../interfaces/oidc-logout-module-options.interface';
import { validateOidcLogoutOptions } from '../options/validate-oidc-logout-options';
import { InMemoryOidcSessionRepository } from '../repositories/in-memory-oidc-session.repository';
import { hashSessionId, hashSid } from '../repositories/session-id-hash';
import { LogoutService } from './logout.service';
import type { OidcDiscoveryService } from './oidc-discovery.service';
import type { ProviderMetadata } from './provider-metadata';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

const ISSUER = 'https://op.example.com';
const END_SESSION = 'https://op.example.com/session/end?tenant=t';
const CALLBACK = 'https://app.example.com/logout/callback';
/** The recorded ID token (its signature is not checked here): the record keeps its sid's digest. */
const ID_TOKEN = [{ alg: 'RS256' }, { sid: 'op-sid', sub: 'alice' }]
  .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
  .concat('signature')
  .join('.');

function fakeResponse() {
  const headers: Record<string, unknown> = {};
  const response = {
    statusCode: 0,
    body: undefined as string | undefined,
    headers,
    headersSent: false,
    getHeader: (name: string) => headers[name.toLowerCase()],
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = value;
    },
    end(body?: string) {
      response.body = body;
      response.headersSent = true;
    },
  };
  return response;
}

interface FakeRequest {
  sessionID?: string;
  session?: { destroy: (cb: (error?: unknown) => void) => void };
  protocol?: string;
  logout?: unknown;
  destroyed: boolean;
}

function fakeRequest(sessionId: string | undefined, extra: Partial<FakeRequest> = {}): FakeRequest {
  const request: FakeRequest = { destroyed: false, ...extra };
  if (sessionId !== undefined) {
    request.sessionID = sessionId;
    request.session = {
      destroy: (cb) => {
        request.destroyed = true;
        delete request.session;
        cb();
      },
    };
  }
  return request;
}

function setup(
  overrides: Partial<OidcLogoutModuleOptions> = {},
  metadata: () => Promise<ProviderMetadata> = () =>
    Promise.resolve({ issuer: ISSUER, endSessionEndpoint: END_SESSION }),
) {
  const options = validateOidcLogoutOptions({
    clients: [
      { registrationId: 'main', issuer: ISSUER, clientId: 'app', postLogoutRedirectUri: CALLBACK },
      { registrationId: 'bare', issuer: ISSUER, clientId: 'bare-app' },
    ],
    postLogoutLandingUrl: '/bye',
    ...overrides,
  });
  const repository = new InMemoryOidcSessionRepository();
  const getMetadata = vi.fn(metadata);
  const discovery = { getMetadata } as unknown as OidcDiscoveryService;
  const checked = new CheckedSessionRepository(repository, { timeoutMs: options.storeTimeoutMs });
  const service = new LogoutService(
    options,
    checked,
    discovery,
    inMemoryEvents(),
    new OidcTelemetry([]),
  );
  const events: OidcRevocationEvent[] = [];
  service.onRevocation((event) => {
    events.push(event);
  });
  return { service, repository, getMetadata, events };
}

async function record(
  repository: InMemoryOidcSessionRepository,
  sessionId: string,
  registrationId = 'main',
): Promise<OidcSessionInfo> {
  const info: OidcSessionInfo = {
    clientSessionId: hashSessionId(sessionId),
    registrationId,
    issuer: ISSUER,
    clientId: registrationId === 'main' ? 'app' : 'bare-app',
    sid: hashSid('op-sid'),
    sub: 'alice',
    idToken: ID_TOKEN,
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + 60_000),
  };
  await repository.save(info);
  return info;
}

function asResponse(response: ReturnType<typeof fakeResponse>): ServerResponse {
  return response as unknown as ServerResponse;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('LogoutService.logout (RP-initiated)', () => {
  it('ends the local session, then redirects to the end-session endpoint with a state cookie', async () => {
    const { service, repository, events } = setup();
    const info = await record(repository, 's1');
    const passportLogout = vi.fn((done: (error?: unknown) => void) => done());
    const request = fakeRequest('s1', { logout: passportLogout });
    const response = fakeResponse();

    const result = await service.logout(request, asResponse(response));

    expect(result.outcome).toBe('end-session');
    expect(result.session).toEqual(info);
    expect(await repository.findByClientSessionId(hashSessionId('s1'))).toBeUndefined();
    expect(passportLogout).toHaveBeenCalledTimes(1);
    expect(request.destroyed).toBe(true);
    expect(events).toEqual([
      {
        channel: 'rp-initiated',
        registrationId: 'main',
        issuer: ISSUER,
        clientId: 'app',
        sid: 'op-sid',
        sub: 'alice',
        sessions: [info],
        revokeOfflineAccess: false,
      },
    ]);
    expect(response.statusCode).toBe(302);
    expect(response.headers['cache-control']).toBe('no-store');
    const state = result.state ?? '';
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(response.headers.location).toBe(
      `${END_SESSION}&id_token_hint=${ID_TOKEN}` +
        `&post_logout_redirect_uri=${encodeURIComponent(CALLBACK)}&client_id=app&state=${state}`,
    );
    expect(response.headers['set-cookie']).toEqual([
      `oidc_logout_state=${state}; Path=/logout/callback; Max-Age=600; HttpOnly; SameSite=Lax`,
    ]);
  });

  it('sets a Secure cookie for an https request, and passes ui_locales and logout_hint', async () => {
    const { service, repository } = setup();
    await record(repository, 's1');
    const response = fakeResponse();
    await service.logout(fakeRequest('s1', { protocol: 'https' }), asResponse(response), {
      uiLocales: ['fr', 'en'],
      logoutHint: 'alice',
    });
    expect(String((response.headers['set-cookie'] as string[])[0])).toMatch(/; Secure$/);
    const params = new URL(String(response.headers.location)).searchParams;
    expect(params.get('ui_locales')).toBe('fr en');
    expect(params.get('logout_hint')).toBe('alice');
  });

  it("answers with an auto-submitting form for 'POST'", async () => {
    const { service, repository } = setup({ rpLogoutMethod: 'POST' });
    await record(repository, 's1');
    const response = fakeResponse();
    const result = await service.logout(fakeRequest('s1'), asResponse(response));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-security-policy']).toMatch(/script-src 'sha256-/);
    expect(response.body).toContain(
      '<form id="oidc-end-session" method="post" action="https://op.example.com/session/end?tenant=t">',
    );
    expect(response.body).toContain(`name="state" value="${result.state}"`);
    expect(response.body).toContain(`name="id_token_hint" value="${ID_TOKEN}"`);
    // The per-call option wins over the module's.
    await record(repository, 's2');
    const get = fakeResponse();
    await service.logout(fakeRequest('s2'), asResponse(get), { method: 'GET' });
    expect(get.statusCode).toBe(302);
  });

  it('sends no state (and sets no cookie) when the registration has no post-logout redirect URI', async () => {
    const { service, repository } = setup();
    await record(repository, 's1', 'bare');
    const response = fakeResponse();
    const result = await service.logout(fakeRequest('s1'), asResponse(response));
    expect(result.state).toBeUndefined();
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(response.headers.location).toBe(
      `${END_SESSION}&id_token_hint=${ID_TOKEN}&client_id=bare-app`,
    );
  });

  it('without a recorded login: local logout only, 302 to the landing page, no event', async () => {
    const { service, events, getMetadata } = setup();
    const request = fakeRequest('unknown', { logout: () => undefined });
    const response = fakeResponse();
    expect(await service.logout(request, asResponse(response))).toEqual({ outcome: 'landing' });
    expect(request.destroyed).toBe(true);
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('/bye');
    expect(events).toEqual([]);
    expect(getMetadata).not.toHaveBeenCalled();
    // And without any session at all.
    const none = fakeResponse();
    expect(await service.logout(fakeRequest(undefined), asResponse(none))).toEqual({
      outcome: 'landing',
    });
  });

  it('OP without end_session_endpoint (Google): local logout, 302 to the landing page', async () => {
    const { service, repository, events } = setup({}, () => Promise.resolve({ issuer: ISSUER }));
    await record(repository, 's1');
    const request = fakeRequest('s1');
    const response = fakeResponse();
    const result = await service.logout(request, asResponse(response));
    expect(result.outcome).toBe('landing');
    expect(request.destroyed).toBe(true);
    expect(await repository.findByClientSessionId(hashSessionId('s1'))).toBeUndefined();
    expect(events).toHaveLength(1);
    expect(response.headers.location).toBe('/bye');
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('store down: the local session is destroyed anyway, 503 page', async () => {
    const { service, repository } = setup();
    vi.spyOn(repository, 'removeByClientSessionId').mockRejectedValue(new Error('db down'));
    const request = fakeRequest('s1');
    const response = fakeResponse();
    expect(await service.logout(request, asResponse(response))).toEqual({ outcome: 'failed' });
    expect(request.destroyed).toBe(true);
    expect(response.statusCode).toBe(503);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toContain('<a href="/bye">Continue</a>');
  });

  it('OP metadata unreachable: the local session is gone anyway, 502 page', async () => {
    const { service, repository } = setup({}, () =>
      Promise.reject(new OidcLogoutError('ERR_DISCOVERY_FAILED', 'down')),
    );
    await record(repository, 's1');
    const request = fakeRequest('s1');
    const response = fakeResponse();
    const result = await service.logout(request, asResponse(response));
    expect(result.outcome).toBe('failed');
    expect(request.destroyed).toBe(true);
    expect(await repository.findByClientSessionId(hashSessionId('s1'))).toBeUndefined();
    expect(response.statusCode).toBe(502);
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('tolerates old synchronous passport, a failing one and one that never calls back', async () => {
    const { service, repository } = setup();
    const sync = vi.fn(function logout() {
      return undefined;
    });
    await record(repository, 's1');
    await service.logout(fakeRequest('s1', { logout: sync }), asResponse(fakeResponse()));
    expect(sync).toHaveBeenCalledTimes(1);

    await record(repository, 's2');
    const throwing = fakeRequest('s2', {
      logout: (_done: unknown) => {
        throw new Error('boom');
      },
    });
    await service.logout(throwing, asResponse(fakeResponse()));
    expect(throwing.destroyed).toBe(true);

    vi.useFakeTimers();
    await record(repository, 's3');
    const silent = fakeRequest('s3', { logout: (_done: unknown) => undefined });
    const response = fakeResponse();
    const pending = service.logout(silent, asResponse(response));
    await vi.advanceTimersByTimeAsync(2_000);
    expect((await pending).outcome).toBe('end-session');
    expect(silent.destroyed).toBe(true);
  });
});

describe('LogoutService.endSessionUrl', () => {
  it('builds the request from a registration, with the given hint and state', async () => {
    const { service } = setup();
    const url = await service.endSessionUrl({
      registrationId: 'main',
      idTokenHint: 'expired.id.token',
      state: 'xyz',
    });
    expect(url).toBe(
      `${END_SESSION}&id_token_hint=expired.id.token&post_logout_redirect_uri=${encodeURIComponent(CALLBACK)}&client_id=app&state=xyz`,
    );
  });

  it("uses a session's registration and ID token; an explicit redirect URI overrides the registration's", async () => {
    const { service } = setup();
    const url = new URL(
      (await service.endSessionUrl({
        session: { registrationId: 'main', idToken: 'the.id.token' },
        postLogoutRedirectUri: 'https://app.example.com/other',
      })) ?? '',
    );
    expect(url.searchParams.get('id_token_hint')).toBe('the.id.token');
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe('https://app.example.com/other');
    expect(url.searchParams.has('state')).toBe(false);
  });

  it('uses a static endSessionEndpoint without discovery', async () => {
    const { service, getMetadata } = setup({
      clients: [
        {
          registrationId: 'main',
          issuer: ISSUER,
          clientId: 'app',
          endSessionEndpoint: 'https://op.example.com/static-logout',
        },
      ],
    });
    expect(await service.endSessionUrl({ registrationId: 'main' })).toBe(
      'https://op.example.com/static-logout?client_id=app',
    );
    expect(getMetadata).not.toHaveBeenCalled();
  });

  it('is undefined when the OP has no end_session_endpoint', async () => {
    const { service } = setup({}, () => Promise.resolve({ issuer: ISSUER }));
    expect(await service.endSessionUrl({ registrationId: 'main' })).toBeUndefined();
  });

  it('refuses a missing, unknown or contradictory registration', async () => {
    const { service } = setup();
    await expect(service.endSessionUrl({})).rejects.toMatchObject({ code: 'ERR_INVALID_REQUEST' });
    await expect(service.endSessionUrl({ registrationId: 'nope' })).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_REGISTRATION',
      message: expect.stringMatching(
        /^No client registration "nope"; the registrations are "main", "bare"[^]*\. Fix: /,
      ),
    });
    await expect(
      service.endSessionUrl({
        registrationId: 'bare',
        session: { registrationId: 'main', idToken: 'x' },
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_REQUEST' });
  });
});

import {
  HttpException,
  HttpStatus,
  Logger,
  ServiceUnavailableException,
  UnauthorizedException,
  type ExecutionContext,
} from '@nestjs/common';
import { inMemoryEvents } from '../../test/repository/logout-event-calls';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import { validateOidcLogoutOptions } from '../options/validate-oidc-logout-options';
import { InMemoryOidcSessionRepository } from '../repositories/in-memory-oidc-session.repository';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import { hashSessionId, hashSid } from '../repositories/session-id-hash';
import { IS_ACTIVE_NOW, LogoutService } from '../services/logout.service';
import type { OidcDiscoveryService } from '../services/oidc-discovery.service';
import { OidcSessionGuard } from './oidc-session.guard';
import { SkipOidcSession } from './skip-oidc-session.decorator';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

const ISSUER = 'https://op.example.com';
const HOUR = 3_600_000;

class PagesController {
  page(): string {
    return 'page';
  }
  @SkipOidcSession()
  publicPage(): string {
    return 'public';
  }
}

@SkipOidcSession()
class PublicController {
  page(): string {
    return 'public';
  }
  @SkipOidcSession(false)
  privatePage(): string {
    return 'private';
  }
}

/** The four abstract methods over an in-memory map, every answer a promise (like a database). */
class AsyncRepository extends OidcSessionRepository {
  readonly records = new InMemoryOidcSessionRepository();
  save(info: OidcSessionInfo): Promise<void> {
    return this.records.save(info);
  }
  findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    return this.records.findByClientSessionId(id);
  }
  removeByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    return this.records.removeByClientSessionId(id);
  }
  removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    return this.records.removeByLogoutToken(criteria);
  }
}

interface FakeRequest {
  sessionID?: string;
  session?: { id: string; destroy: (callback: (error?: unknown) => void) => void };
  headers: Record<string, string>;
  destroyed: boolean;
}

function fakeRequest(sessionId: string | undefined, accept = 'application/json'): FakeRequest {
  const request: FakeRequest = { headers: { accept }, destroyed: false };
  if (sessionId !== undefined) {
    request.sessionID = sessionId;
    request.session = {
      id: sessionId,
      destroy: (callback) => {
        request.destroyed = true;
        callback();
      },
    };
  }
  return request;
}

function fakeResponse() {
  const headers: Record<string, string> = {};
  return { headers, header: (name: string, value: string) => (headers[name] = value) };
}

function httpContext(
  request: FakeRequest,
  response = fakeResponse(),
  controller: new () => object = PagesController,
  handler: () => string = PagesController.prototype.page,
): ExecutionContextHost {
  return new ExecutionContextHost([request, response, () => undefined], controller, handler);
}

function setup(repository: OidcSessionRepository = new InMemoryOidcSessionRepository()) {
  const options = validateOidcLogoutOptions({
    clients: [{ registrationId: 'main', issuer: ISSUER, clientId: 'app' }],
    loginUrl: '/login',
  });
  const checked = new CheckedSessionRepository(repository, { timeoutMs: options.storeTimeoutMs });
  const service = new LogoutService(
    options,
    checked,
    {} as OidcDiscoveryService,
    inMemoryEvents(),
    new OidcTelemetry([]),
  );
  const guard = new OidcSessionGuard(service, new Reflector());
  return { repository, service, guard };
}

async function record(repository: OidcSessionRepository, sessionId: string): Promise<void> {
  const now = Date.now();
  await repository.save({
    clientSessionId: hashSessionId(sessionId),
    registrationId: 'main',
    issuer: ISSUER,
    clientId: 'app',
    sid: hashSid(`sid-${sessionId}`),
    sub: `sub-${sessionId}`,
    idToken: 'header.payload.signature',
    createdAt: new Date(now),
    expiresAt: new Date(now + HOUR),
  });
}

/** What a call settled with: its value, or the error it rejected with. */
async function outcome(result: boolean | Promise<boolean>): Promise<unknown> {
  return Promise.resolve(result).catch((error: unknown) => error);
}

describe('OidcSessionGuard', () => {
  let logged: string[];

  beforeEach(() => {
    logged = [];
    vi.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      logged.push(String(message));
    });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers true synchronously for a live session when the repository answers synchronously', async () => {
    const { repository, guard } = setup();
    await record(repository, 'alice');
    expect(guard.canActivate(httpContext(fakeRequest('alice')))).toBe(true);
  });

  it('awaits a repository that answers with promises (the base-class default)', async () => {
    const { repository, guard } = setup(new AsyncRepository());
    await record(repository, 'alice');
    const result = guard.canActivate(httpContext(fakeRequest('alice')));
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(true);
  });

  it('never reads the response through switchToHttp(): no HttpArgumentsHost per request', async () => {
    const { repository, guard } = setup();
    await record(repository, 'alice');
    const context = httpContext(fakeRequest('alice'));
    const switchToHttp = vi.spyOn(context, 'switchToHttp');
    expect(guard.canActivate(context)).toBe(true);
    expect(switchToHttp).not.toHaveBeenCalled();
  });

  it('passes non-HTTP contexts and routes or controllers with @SkipOidcSession()', () => {
    const { guard } = setup();
    const rpc = httpContext(fakeRequest(undefined));
    rpc.setType('rpc');
    expect(guard.canActivate(rpc)).toBe(true);
    const handler = PagesController.prototype.publicPage;
    expect(
      guard.canActivate(httpContext(fakeRequest(undefined), undefined, undefined, handler)),
    ).toBe(true);
    const controller = httpContext(
      fakeRequest(undefined),
      undefined,
      PublicController,
      PublicController.prototype.page,
    );
    expect(guard.canActivate(controller)).toBe(true);
  });

  /** A GraphQL resolver's context: (root, args, context, info), the request in the context. */
  function graphqlContext(context: object): ExecutionContextHost {
    const host = new ExecutionContextHost(
      [{}, {}, context, {}],
      PagesController,
      PagesController.prototype.page,
    );
    host.setType('graphql');
    return host;
  }

  it('guards a GraphQL resolver by the request in its context (Apollo: req, Mercurius: reply.request)', async () => {
    const { repository, service, guard } = setup();
    await record(repository, 'alice');
    await record(repository, 'bob');
    expect(await outcome(guard.canActivate(graphqlContext({ req: fakeRequest('alice') })))).toBe(
      true,
    );
    await service.revoke({ registrationId: 'main', sid: 'sid-alice' });
    const revoked = fakeRequest('alice');
    expect(await outcome(guard.canActivate(graphqlContext({ req: revoked })))).toBeInstanceOf(
      UnauthorizedException,
    );
    expect(revoked.destroyed).toBe(true);
    const mercurius = graphqlContext({ reply: { request: fakeRequest('bob') } });
    expect(await outcome(guard.canActivate(mercurius))).toBe(true);
    const unknown = graphqlContext({ reply: { request: fakeRequest('carol') } });
    expect(await outcome(guard.canActivate(unknown))).toBeInstanceOf(UnauthorizedException);
  });

  it('answers GraphQL with 401, never a redirect, even for a browser with loginUrl set', async () => {
    const { repository, service, guard } = setup();
    await record(repository, 'alice');
    await service.revoke({ registrationId: 'main', sid: 'sid-alice' });
    const error = await outcome(
      guard.canActivate(graphqlContext({ req: fakeRequest('alice', 'text/html') })),
    );
    expect(error).toBeInstanceOf(UnauthorizedException);
    expect((error as UnauthorizedException).getStatus()).toBe(401);
  });

  it('refuses a GraphQL context without a request, and a context type it does not know', async () => {
    const { guard } = setup();
    expect(await outcome(guard.canActivate(graphqlContext({})))).toBeInstanceOf(
      UnauthorizedException,
    );
    // What Nest makes of a graphql-ws subscription's connection: no HTTP request, no headers.
    const subscription = graphqlContext({ req: { connectionParams: {}, extra: {} } });
    expect(await outcome(guard.canActivate(subscription))).toBeInstanceOf(UnauthorizedException);
    const other = httpContext(fakeRequest(undefined));
    other.setType('kafka' as 'rpc');
    expect(await outcome(guard.canActivate(other))).toBeInstanceOf(UnauthorizedException);
  });

  it("a handler's @SkipOidcSession(false) overrides its controller's @SkipOidcSession()", async () => {
    const { guard } = setup();
    const context = httpContext(
      fakeRequest(undefined),
      undefined,
      PublicController,
      PublicController.prototype.privatePage,
    );
    expect(await outcome(guard.canActivate(context))).toBeInstanceOf(UnauthorizedException);
  });

  it('rejects (never throws) a request without a session: 401, no session to destroy', async () => {
    const { guard } = setup();
    const result = guard.canActivate(httpContext(fakeRequest(undefined)));
    expect(result).toBeInstanceOf(Promise);
    expect(await outcome(result)).toBeInstanceOf(UnauthorizedException);
  });

  for (const [name, repository] of [
    ['synchronous', () => new InMemoryOidcSessionRepository()],
    ['asynchronous', () => new AsyncRepository()],
  ] as const) {
    it(`an unknown or revoked session (${name} repository): local session destroyed, 401`, async () => {
      const { repository: store, service, guard } = setup(repository());
      await record(store, 'alice');
      await service.revoke({ registrationId: 'main', sid: 'sid-alice' });
      const request = fakeRequest('alice');
      const error = await outcome(guard.canActivate(httpContext(request)));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(request.destroyed).toBe(true);
    });
  }

  it('sends a browser navigation whose session ended to loginUrl (302)', async () => {
    const { guard } = setup();
    const request = fakeRequest('gone', 'text/html,application/xhtml+xml');
    const response = fakeResponse();
    const error = await outcome(guard.canActivate(httpContext(request, response)));
    expect(error).toBeInstanceOf(HttpException);
    expect((error as HttpException).getStatus()).toBe(HttpStatus.FOUND);
    expect(response.headers.Location).toBe('/login');
    expect(request.destroyed).toBe(true);
  });

  describe('fails closed (503) when the store cannot answer', () => {
    class FailingRepository extends AsyncRepository {
      constructor(private readonly fail: 'throw' | 'reject' | 'throw-exists') {
        super();
      }
      override findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
        if (this.fail === 'throw') throw new Error('connection lost');
        if (this.fail === 'reject') {
          return Promise.reject(new OidcSessionRepositoryError('The session repository failed'));
        }
        return super.findByClientSessionId(id);
      }
      override existsByClientSessionId(id: string): Promise<boolean> {
        if (this.fail === 'throw-exists') throw new Error('connection lost');
        return super.existsByClientSessionId(id);
      }
    }

    for (const [fail, code] of [
      ['throw', 'ERR_REPOSITORY_UNAVAILABLE'],
      ['reject', 'ERR_REPOSITORY_UNAVAILABLE'],
      ['throw-exists', 'ERR_REPOSITORY_UNAVAILABLE'],
    ] as const) {
      it(`repository ${fail}s: a rejected promise, not a throw, and the local session is kept`, async () => {
        const store = new FailingRepository(fail);
        const { guard } = setup(store);
        // A record the refusal must leave alone: a guard that removed it would be seen below.
        await record(store, 'alice');
        const request = fakeRequest('alice');
        let result: boolean | Promise<boolean> | undefined;
        expect(() => (result = guard.canActivate(httpContext(request)))).not.toThrow();
        expect(await outcome(result!)).toBeInstanceOf(ServiceUnavailableException);
        expect(request.destroyed).toBe(false);
        await expect(store.records.existsByClientSessionId(hashSessionId('alice'))).resolves.toBe(
          true,
        );
        expect(logged).toEqual([
          `Session store unavailable (${code}); request refused (fail closed)`,
        ]);
      });
    }

    it("a LogoutService's internal isActive that throws synchronously is a 503 too", async () => {
      const { service, guard } = setup();
      (service as unknown as Record<typeof IS_ACTIVE_NOW, () => boolean>)[IS_ACTIVE_NOW] = () => {
        throw new TypeError('boom');
      };
      const error = await outcome(guard.canActivate(httpContext(fakeRequest('alice'))));
      expect(error).toBeInstanceOf(ServiceUnavailableException);
    });
  });

  describe('subclasses', () => {
    it('a throwing hook rejects with its error instead of throwing', async () => {
      class Throwing extends OidcSessionGuard {
        protected override getClientSessionId(): string | undefined {
          throw new RangeError('hook failed');
        }
      }
      const { service } = setup();
      const guard = new Throwing(service, new Reflector());
      const error = await outcome(guard.canActivate(httpContext(fakeRequest('alice'))));
      expect(error).toBeInstanceOf(RangeError);
    });

    it('their rejectSession answers refused requests, synchronous path or not', async () => {
      class Custom extends OidcSessionGuard {
        protected override rejectSession(): never {
          throw new HttpException('custom', HttpStatus.I_AM_A_TEAPOT);
        }
      }
      const { service } = setup();
      const guard = new Custom(service, new Reflector());
      for (const request of [fakeRequest(undefined), fakeRequest('unknown')]) {
        const error = await outcome(guard.canActivate(httpContext(request)));
        expect((error as HttpException).getStatus()).toBe(HttpStatus.I_AM_A_TEAPOT);
      }
    });

    it('can await super.canActivate() as before', async () => {
      class Counting extends OidcSessionGuard {
        calls = 0;
        override async canActivate(context: ExecutionContext): Promise<boolean> {
          this.calls++;
          return super.canActivate(context);
        }
      }
      const { repository, service } = setup();
      await record(repository, 'alice');
      const guard = new Counting(service, new Reflector());
      expect(await guard.canActivate(httpContext(fakeRequest('alice')))).toBe(true);
      expect(guard.calls).toBe(1);
    });
  });
});

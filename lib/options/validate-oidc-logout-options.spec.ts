import { describe, expect, it } from 'vitest';
import { OidcLogoutError, OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import {
  DEFAULT_CLEANUP_INTERVAL_SECONDS,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_IN_MEMORY_MAX_ENTRIES,
  DEFAULT_ROUTES,
  DEFAULT_SESSION_TTL_SECONDS,
  DEFAULT_STORE_TIMEOUT_MS,
} from '../oidc-logout.constants';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import { describeValue, suggestKey } from './option-checks';
import { validateOidcLogoutOptions } from './validate-oidc-logout-options';

const SECRET = 'super-s3cret-value-never-logged';

function client(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    registrationId: 'main',
    issuer: 'https://op.example.com',
    clientId: 'app',
    ...overrides,
  };
}

function options(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { clients: [client()], ...overrides };
}

/** Validates `raw` expecting failure; returns the message after the common assertions. */
function invalid(raw: unknown, nodeEnv?: string): string {
  let caught: unknown;
  try {
    validateOidcLogoutOptions(raw, nodeEnv);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(OidcLogoutOptionsError);
  expect(caught).toBeInstanceOf(OidcLogoutError);
  const error = caught as OidcLogoutOptionsError;
  expect(error.code).toBe('ERR_INVALID_OPTIONS');
  expect(error.message.startsWith('OidcLogoutModule options are invalid:\n')).toBe(true);
  return error.message;
}

/** The problem lines of an error message (one per problem). */
function lines(message: string): string[] {
  return message.split('\n').slice(1);
}

/** Asserts exactly one problem, on `path`, whose line contains every fragment. */
function expectProblem(raw: unknown, path: string, ...fragments: string[]): string {
  const problems = lines(invalid(raw));
  expect(problems).toHaveLength(1);
  const line = problems[0] ?? '';
  expect(line).toContain(`- ${path}: `);
  expect(line).toContain('Fix: ');
  for (const fragment of fragments) {
    expect(line).toContain(fragment);
  }
  return line;
}

class GoodRepository extends OidcSessionRepository {
  save = (): Promise<void> => Promise.resolve();
  findByClientSessionId = (): Promise<undefined> => Promise.resolve(undefined);
  removeByClientSessionId = (): Promise<undefined> => Promise.resolve(undefined);
  removeByLogoutToken = (): Promise<never[]> => Promise.resolve([]);
}

class PrototypeRepository extends OidcSessionRepository {
  save(): Promise<void> {
    return Promise.resolve();
  }
  findByClientSessionId(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  removeByClientSessionId(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  removeByLogoutToken(): Promise<never[]> {
    return Promise.resolve([]);
  }
}

const fakeDataSource = { initialize: () => Promise.resolve(), getRepository: () => ({}) };

describe('validateOidcLogoutOptions', () => {
  describe('valid options', () => {
    it('applies every default to minimal options', () => {
      const resolved = validateOidcLogoutOptions(options());
      expect(resolved).toEqual({
        clients: [
          {
            registrationId: 'main',
            issuer: 'https://op.example.com',
            clientId: 'app',
            backChannel: { sessionRequired: false },
            frontChannel: { sessionRequired: true, allowMissingIssuer: false },
            legacyLogoutTokens: false,
            discovery: true,
          },
        ],
        routes: DEFAULT_ROUTES,
        postLogoutLandingUrl: '/',
        rpLogoutMethod: 'GET',
        legacyLogoutTokens: false,
        clockToleranceSeconds: DEFAULT_CLOCK_TOLERANCE_SECONDS,
        sessionTtlSeconds: DEFAULT_SESSION_TTL_SECONDS,
        inMemoryMaxEntries: DEFAULT_IN_MEMORY_MAX_ENTRIES,
        cleanupIntervalSeconds: DEFAULT_CLEANUP_INTERVAL_SECONDS,
        httpTimeoutMs: DEFAULT_HTTP_TIMEOUT_MS,
        requireHttps: false,
        storeTimeoutMs: DEFAULT_STORE_TIMEOUT_MS,
      });
      expect(resolved.clients[0]?.algorithms).toBeUndefined();
      expect('loginUrl' in resolved).toBe(false);
    });

    it('keeps every explicit value of complete options', () => {
      const raw = {
        clients: [
          client({
            clientSecret: SECRET,
            postLogoutRedirectUri: 'https://app.example.com/logout/callback?x=1',
            backChannel: false,
            frontChannel: { allowMissingIssuer: true },
            algorithms: ['RS256', 'HS256'],
            legacyLogoutTokens: false,
            discovery: false,
            endSessionEndpoint: 'https://op.example.com/logout',
            jwksUri: 'https://op.example.com/jwks',
          }),
          client({ registrationId: 'second', clientId: 'other', frontChannel: false }),
        ],
        routes: { logout: '/auth/logout', backChannel: '/auth/bc' },
        postLogoutLandingUrl: 'https://app.example.com/bye',
        loginUrl: '/login?next=%2F',
        sessionRepository: GoodRepository,
        clockToleranceSeconds: 0,
        legacyLogoutTokens: true,
        sessionTtlSeconds: 3600,
        inMemoryMaxEntries: 5,
        cleanupIntervalSeconds: 60,
        httpTimeoutMs: 60_000,
      };
      const resolved = validateOidcLogoutOptions(raw);
      const [first, second] = resolved.clients;
      expect(first).toMatchObject({
        clientSecret: SECRET,
        backChannel: false,
        frontChannel: { sessionRequired: true, allowMissingIssuer: true },
        algorithms: ['RS256', 'HS256'],
        legacyLogoutTokens: false,
        discovery: false,
        jwksUri: 'https://op.example.com/jwks',
        endSessionEndpoint: 'https://op.example.com/logout',
        postLogoutRedirectUri: 'https://app.example.com/logout/callback?x=1',
      });
      // The module-wide legacyLogoutTokens is the default of each registration.
      expect(second).toMatchObject({ legacyLogoutTokens: true, frontChannel: false });
      expect(resolved.routes).toEqual({
        ...DEFAULT_ROUTES,
        logout: '/auth/logout',
        backChannel: '/auth/bc',
      });
      expect(resolved).toMatchObject({
        postLogoutLandingUrl: 'https://app.example.com/bye',
        loginUrl: '/login?next=%2F',
        sessionRepository: GoodRepository,
        clockToleranceSeconds: 0,
        legacyLogoutTokens: true,
        sessionTtlSeconds: 3600,
        inMemoryMaxEntries: 5,
        cleanupIntervalSeconds: 60,
        httpTimeoutMs: 60_000,
      });
    });

    it('returns a frozen copy that shares no array or object with the input', () => {
      const algorithms = ['RS256'];
      const frontChannel = { sessionRequired: false };
      const routes = { logout: '/bye' };
      const raw = options({ clients: [client({ algorithms, frontChannel })], routes });
      const resolved = validateOidcLogoutOptions(raw);
      const first = resolved.clients[0];
      expect(Object.isFrozen(resolved)).toBe(true);
      expect(Object.isFrozen(resolved.clients)).toBe(true);
      expect(Object.isFrozen(resolved.routes)).toBe(true);
      expect(Object.isFrozen(first)).toBe(true);
      expect(Object.isFrozen(first?.algorithms)).toBe(true);
      expect(Object.isFrozen(first?.frontChannel)).toBe(true);
      expect(Object.isFrozen(first?.backChannel)).toBe(true);
      expect(resolved.clients).not.toBe(raw.clients);
      expect(first?.algorithms).not.toBe(algorithms);
      expect(first?.frontChannel).not.toBe(frontChannel);
      expect(resolved.routes).not.toBe(routes);
      algorithms.push('ES256');
      frontChannel.sessionRequired = true;
      routes.logout = '/changed';
      expect(first?.algorithms).toEqual(['RS256']);
      expect(first?.frontChannel).toEqual({ sessionRequired: false, allowMissingIssuer: false });
      expect(resolved.routes.logout).toBe('/bye');
      expect(Object.isFrozen(raw)).toBe(false);
    });

    it('treats keys set to undefined as absent', () => {
      const resolved = validateOidcLogoutOptions(
        options({
          loginUrl: undefined,
          routes: undefined,
          clients: [client({ jwksUri: undefined })],
        }),
      );
      expect(resolved.routes).toEqual(DEFAULT_ROUTES);
      expect('loginUrl' in resolved).toBe(false);
      expect('jwksUri' in (resolved.clients[0] ?? {})).toBe(false);
    });

    it('accepts a repository instance, a class with prototype methods, or a DataSource', () => {
      expect(() =>
        validateOidcLogoutOptions(options({ sessionRepository: new GoodRepository() })),
      ).not.toThrow();
      expect(() =>
        validateOidcLogoutOptions(options({ sessionRepository: PrototypeRepository })),
      ).not.toThrow();
      const resolved = validateOidcLogoutOptions(options({ dataSource: fakeDataSource }));
      expect(resolved.dataSource).toBe(fakeDataSource);
    });
  });

  describe('decryptionKey', () => {
    it('keeps a key object and never prints a bad value', () => {
      const key = { kty: 'RSA', d: 'secret-part' };
      const resolved = validateOidcLogoutOptions({
        clients: [
          { registrationId: 'a', issuer: 'https://op.example', clientId: 'c', decryptionKey: key },
        ],
      });
      expect(resolved.clients[0]?.decryptionKey).toEqual(key);
      const line = expectProblem(
        {
          clients: [
            {
              registrationId: 'a',
              issuer: 'https://op.example',
              clientId: 'c',
              decryptionKey: 'pem-secret',
            },
          ],
        },
        'clients[0].decryptionKey',
        '<redacted>',
      );
      expect(line).not.toContain('pem-secret');
    });
  });

  describe('onRevocation', () => {
    it('keeps a listener function', () => {
      const listener = (): void => undefined;
      expect(validateOidcLogoutOptions(options({ onRevocation: listener })).onRevocation).toBe(
        listener,
      );
    });

    it('rejects a value that is not a function', () => {
      expectProblem(options({ onRevocation: 'log' }), 'onRevocation', 'must be a function');
    });
  });

  describe('rpLogoutMethod', () => {
    it("defaults to 'GET' and keeps 'GET' or 'POST'", () => {
      expect(validateOidcLogoutOptions(options()).rpLogoutMethod).toBe('GET');
      expect(validateOidcLogoutOptions(options({ rpLogoutMethod: 'GET' })).rpLogoutMethod).toBe(
        'GET',
      );
      expect(validateOidcLogoutOptions(options({ rpLogoutMethod: 'POST' })).rpLogoutMethod).toBe(
        'POST',
      );
    });

    it('rejects another method or case, suggesting the upper-case name', () => {
      expectProblem(
        options({ rpLogoutMethod: 'post' }),
        'rpLogoutMethod',
        "must be 'GET' or 'POST'",
        '"post"',
        "use 'POST'",
      );
      expectProblem(options({ rpLogoutMethod: 'PUT' }), 'rpLogoutMethod', "use 'GET' (a redirect");
      expectProblem(
        options({ rpLogoutMethod: true }),
        'rpLogoutMethod',
        "must be 'GET' or 'POST'",
        'true',
      );
    });
  });

  describe('shape and unknown keys', () => {
    it('rejects options that are not a plain object', () => {
      for (const raw of [undefined, null, 'x', [], new (class Config {})()]) {
        const message = invalid(raw);
        expect(message).toContain('- options: must be a plain object');
        expect(message).toContain('Fix: pass an object literal');
      }
    });

    it('rejects an unknown top-level key with a "did you mean" suggestion', () => {
      expectProblem(
        options({ clockTolerance: 5 }),
        'clockTolerance',
        'did you mean "clockToleranceSeconds"?',
        'rename it',
      );
    });

    it('rejects an unknown key without a close match by listing the known keys', () => {
      expectProblem(
        options({ foo: 1 }),
        'foo',
        'is not a known option',
        'known options here: clients, routes',
      );
    });

    it('explains that isGlobal belongs on the module call, not in the options object', () => {
      expectProblem(options({ isGlobal: true }), 'isGlobal', 'forRootAsync({ isGlobal: true');
    });

    it('rejects unknown keys in routes, clients, backChannel and frontChannel', () => {
      const message = invalid({
        clients: [
          client({
            clientID: 'x',
            backChannel: { sessionRequierd: true },
            frontChannel: { allowMissingIssue: true },
          }),
        ],
        routes: { logut: '/x' },
      });
      expect(message).toContain(
        '- clients[0].clientID: is not a known option (did you mean "clientId"?',
      );
      expect(message).toContain(
        '- clients[0].backChannel.sessionRequierd: is not a known option (did you mean "sessionRequired"?',
      );
      expect(message).toContain(
        '- clients[0].frontChannel.allowMissingIssue: is not a known option (did you mean "allowMissingIssuer"?',
      );
      expect(message).toContain('- routes.logut: is not a known option (did you mean "logout"?');
    });

    it('never prints the value of an unknown key (a misspelled secret stays secret)', () => {
      const line = expectProblem(
        options({ clients: [client({ clientSecet: SECRET })] }),
        'clients[0].clientSecet',
        'did you mean "clientSecret"?',
      );
      expect(line).not.toContain(SECRET);
    });
  });

  describe('clients', () => {
    it('requires clients', () => {
      expectProblem({}, 'clients', 'is required', 'clients: [{ registrationId');
    });

    it('rejects clients that are not an array, redacting a secret inside', () => {
      const line = expectProblem(
        { clients: { clientSecret: SECRET } },
        'clients',
        'must be an array',
        'clients: [{',
      );
      expect(line).not.toContain(SECRET);
      expect(line).toContain('"clientSecret":"<redacted>"');
    });

    it('rejects an empty clients array', () => {
      expectProblem(
        { clients: [] },
        'clients',
        'at least one client registration',
        'Fix: use clients: [{',
      );
    });

    it('rejects a registration that is not a plain object', () => {
      expectProblem(
        { clients: ['main'] },
        'clients[0]',
        'must be a plain object',
        '(got "main")',
        '{ registrationId, issuer, clientId',
      );
    });

    it('requires registrationId, issuer and clientId', () => {
      const problems = lines(invalid({ clients: [{}] }));
      expect(problems).toHaveLength(3);
      expect(problems[0]).toContain('- clients[0].registrationId: is required');
      expect(problems[1]).toContain('- clients[0].issuer: is required');
      expect(problems[2]).toContain('- clients[0].clientId: is required');
    });

    it('rejects a registrationId that is not a URL-safe segment of 1 to 64 characters', () => {
      for (const registrationId of ['', 'a/b', 'with space', 'x'.repeat(65), 42]) {
        expectProblem(
          options({ clients: [client({ registrationId })] }),
          'clients[0].registrationId',
          'URL path segment',
          'Fix: use a short id',
        );
      }
      expect(() =>
        validateOidcLogoutOptions(options({ clients: [client({ registrationId: 'A.b_c-9' })] })),
      ).not.toThrow();
    });

    it('rejects a duplicate registrationId, naming both indexes, ignoring case', () => {
      const raw = { clients: [client(), client({ registrationId: 'MAIN', clientId: 'other' })] };
      expectProblem(
        raw,
        'clients[1].registrationId',
        'duplicates clients[0].registrationId',
        'its own registrationId',
      );
    });

    it('rejects the same (issuer, clientId) twice', () => {
      const raw = { clients: [client(), client({ registrationId: 'second' })] };
      expectProblem(
        raw,
        'clients[1]',
        'same issuer and clientId as clients[0]',
        'remove the duplicate registration',
      );
    });

    it('rejects a clientId that is empty, not a string, or padded with whitespace', () => {
      expectProblem(
        options({ clients: [client({ clientId: '' })] }),
        'clients[0].clientId',
        'must not be empty',
        'Fix: set it to the client id',
      );
      expectProblem(
        options({ clients: [client({ clientId: 7 })] }),
        'clients[0].clientId',
        'must be a string',
        '(got 7)',
      );
      expectProblem(
        options({ clients: [client({ clientId: 'app\n' })] }),
        'clients[0].clientId',
        'whitespace',
        'Fix: trim it',
      );
    });

    it('rejects an invalid clientSecret without ever printing it', () => {
      for (const clientSecret of ['', '   ', ` ${SECRET}\n`, 12345, null]) {
        const line = expectProblem(
          options({ clients: [client({ clientSecret })] }),
          'clients[0].clientSecret',
          '<redacted>',
        );
        expect(line).not.toContain(SECRET);
        expect(line).not.toContain('12345');
      }
    });
  });

  describe('URLs of a registration', () => {
    const at = (overrides: Record<string, unknown>): Record<string, unknown> =>
      options({ clients: [client(overrides)] });

    it('requires the issuer to be an absolute http(s) URL', () => {
      for (const issuer of [
        'op.example.com',
        '/realms/main',
        'ftp://op.example.com',
        'https://',
        5,
      ]) {
        expectProblem(
          at({ issuer }),
          'clients[0].issuer',
          'absolute',
          'https://op.example.com/realms/main',
        );
      }
    });

    it('rejects an issuer with a query or a fragment', () => {
      expectProblem(
        at({ issuer: 'https://op.example.com/?tenant=1' }),
        'clients[0].issuer',
        'must not have a query',
        'remove everything from "?": "https://op.example.com/"',
      );
      expectProblem(
        at({ issuer: 'https://op.example.com/?a#x' }),
        'clients[0].issuer',
        'must not have a query or a fragment',
        'remove everything from "?": "https://op.example.com/"',
      );
      expectProblem(
        at({ issuer: 'https://op.example.com#x' }),
        'clients[0].issuer',
        'must not have a fragment',
        'remove everything from "#"',
      );
    });

    it('records whether discovered URLs must be https (NODE_ENV production)', () => {
      const options = {
        clients: [{ registrationId: 'main', issuer: 'https://op.example.com', clientId: 'app' }],
      };
      expect(validateOidcLogoutOptions(options, 'production').requireHttps).toBe(true);
      expect(validateOidcLogoutOptions(options, 'development').requireHttps).toBe(false);
      expect(validateOidcLogoutOptions(options, undefined).requireHttps).toBe(false);
    });

    it('requires https for OP URLs in production, except on loopback hosts', () => {
      const http = at({ issuer: 'http://op.example.com' });
      expect(() => validateOidcLogoutOptions(http, 'development')).not.toThrow();
      expect(() => validateOidcLogoutOptions(http, undefined)).not.toThrow();
      const message = invalid(http, 'production');
      expect(message).toContain(
        '- clients[0].issuer: must use https when NODE_ENV is "production"',
      );
      expect(message).toContain('Fix: use https://');
      for (const host of ['localhost:8080', '127.0.0.1', '[::1]:3000']) {
        expect(() =>
          validateOidcLogoutOptions(at({ issuer: `http://${host}` }), 'production'),
        ).not.toThrow();
      }
      const jwks = invalid(at({ jwksUri: 'http://op.example.com/jwks' }), 'production');
      expect(jwks).toContain('- clients[0].jwksUri: must use https');
      // The app's own redirect URI is the OP's business, not ours.
      expect(() =>
        validateOidcLogoutOptions(
          at({ postLogoutRedirectUri: 'http://app.example.com/cb' }),
          'production',
        ),
      ).not.toThrow();
    });

    it('rejects a postLogoutRedirectUri that is relative or has a fragment', () => {
      expectProblem(
        at({ postLogoutRedirectUri: '/logout/callback' }),
        'clients[0].postLogoutRedirectUri',
        'absolute http(s) URL',
        'Fix: use a full URL',
      );
      expectProblem(
        at({ postLogoutRedirectUri: 'https://app.example.com/cb#done' }),
        'clients[0].postLogoutRedirectUri',
        'must not have a fragment',
        '"https://app.example.com/cb"',
      );
    });

    it('rejects an endSessionEndpoint or jwksUri that is not an absolute URL without fragment', () => {
      expectProblem(
        at({ endSessionEndpoint: 'logout' }),
        'clients[0].endSessionEndpoint',
        'absolute',
        'Fix: use a full URL',
      );
      expectProblem(
        at({ jwksUri: 'https://op.example.com/jwks#k' }),
        'clients[0].jwksUri',
        'fragment',
        'Fix: remove everything from "#"',
      );
    });

    it('rejects URLs with whitespace or credentials, never printing the password', () => {
      expectProblem(
        at({ issuer: ' https://op.example.com' }),
        'clients[0].issuer',
        'whitespace',
        'Fix: remove them',
      );
      const line = expectProblem(
        at({ jwksUri: 'https://user:hunter2@op.example.com/jwks' }),
        'clients[0].jwksUri',
        'credentials',
        'Fix: remove them',
      );
      expect(line).not.toContain('hunter2');
    });

    it('requires jwksUri when discovery is false', () => {
      expectProblem(
        at({ discovery: false }),
        'clients[0].discovery',
        'signing keys cannot be found',
        'set clients[0].jwksUri',
      );
    });
  });

  describe('channels, algorithms and booleans of a registration', () => {
    const at = (overrides: Record<string, unknown>): Record<string, unknown> =>
      options({ clients: [client(overrides)] });

    it('accepts backChannel/frontChannel false or objects, and rejects anything else', () => {
      expectProblem(
        at({ backChannel: true }),
        'clients[0].backChannel',
        'must be false or an object',
        'omit it (or use {})',
      );
      expectProblem(
        at({ frontChannel: 'off' }),
        'clients[0].frontChannel',
        'must be false or an object',
        'use false to disable it',
      );
      expectProblem(
        at({ frontChannel: { allowMissingIssuer: 'yes' } }),
        'clients[0].frontChannel.allowMissingIssuer',
        'must be a boolean',
        'use true or false',
      );
    });

    it('rejects legacyLogoutTokens and discovery that are not booleans, at both levels', () => {
      expectProblem(
        options({ legacyLogoutTokens: 'true' }),
        'legacyLogoutTokens',
        'must be a boolean',
        '(got "true")',
        'use true or false',
      );
      expectProblem(
        at({ legacyLogoutTokens: 1 }),
        'clients[0].legacyLogoutTokens',
        'must be a boolean',
      );
      expectProblem(
        at({ discovery: 'false', jwksUri: 'https://op.example.com/jwks' }),
        'clients[0].discovery',
        'must be a boolean',
      );
    });

    it('rejects algorithms that are not a non-empty array', () => {
      expectProblem(
        at({ algorithms: 'RS256' }),
        'clients[0].algorithms',
        'must be an array',
        "['RS256']",
      );
      expectProblem(
        at({ algorithms: [] }),
        'clients[0].algorithms',
        'must not be empty',
        'list at least one of RS256',
      );
    });

    it('rejects the "none" algorithm with a specific message', () => {
      expectProblem(
        at({ algorithms: ['RS256', 'none'] }),
        'clients[0].algorithms[1]',
        '"none" (unsigned tokens) is never accepted',
        'remove it',
      );
    });

    it('rejects algorithms outside the allow-list, suggesting the close one', () => {
      expectProblem(
        at({ algorithms: ['rs256'] }),
        'clients[0].algorithms[0]',
        'did you mean "RS256"?',
        'use one of RS256',
      );
      expectProblem(
        at({ algorithms: ['RSA-OAEP'] }),
        'clients[0].algorithms[0]',
        'not a supported JWS algorithm',
        'use one of RS256',
      );
      expectProblem(at({ algorithms: [256] }), 'clients[0].algorithms[0]', 'must be a string');
    });

    it('rejects duplicate algorithms', () => {
      expectProblem(
        at({ algorithms: ['ES256', 'ES256'] }),
        'clients[0].algorithms[1]',
        'repeats clients[0].algorithms[0]',
        'remove the duplicate',
      );
    });

    it('allows HS* only with a clientSecret', () => {
      expectProblem(
        at({ algorithms: ['HS256'] }),
        'clients[0].algorithms[0]',
        'keyed with the client secret, but clientSecret is not set',
        'set clientSecret',
      );
      expect(() =>
        validateOidcLogoutOptions(at({ algorithms: ['HS512'], clientSecret: SECRET })),
      ).not.toThrow();
    });
  });

  describe('routes', () => {
    it('rejects routes that are not a plain object', () => {
      expectProblem(
        options({ routes: '/logout' }),
        'routes',
        'must be a plain object',
        'logout?: string',
      );
    });

    it.each([
      ['logout', 'not-absolute', 'must start with "/"', 'use "/not-absolute"'],
      ['logout', '/', 'must not be "/"', 'a dedicated path'],
      ['logoutCallback', '/logout/callback/', 'must not end with "/"', 'use "/logout/callback"'],
      ['backChannel', '/bc?x=1', 'literal path', 'Fix: use a plain path'],
      ['backChannel', '/bc#x', 'literal path', 'Fix: use a plain path'],
      ['frontChannel', '/fc/*', 'literal path', 'Fix: use a plain path'],
      ['frontChannel', '/fc/:id', 'literal path', 'Fix: use a plain path'],
      ['logout', '/log out', 'literal path', 'Fix: use a plain path'],
      ['logout', '/a//b', 'empty segment', 'use "/a/b"'],
      ['logout', 'auth/logout/', 'must start with "/"', 'use "/auth/logout"'],
      ['logout', '/a/../b', '".." segments', 'normalized path'],
      ['logout', 42, 'must be a string', 'use a path such as "/logout"'],
    ])('rejects routes.%s = %j', (key, value, problem, fix) => {
      expectProblem(options({ routes: { [key]: value } }), `routes.${key}`, problem, fix);
    });

    it('rejects two equal routes, including one equal to a default', () => {
      expectProblem(
        options({ routes: { logout: '/same', logoutCallback: '/SAME' } }),
        'routes.logoutCallback',
        'same path as routes.logout',
        'its own path',
      );
      expectProblem(
        options({ routes: { logout: '/logout/callback' } }),
        'routes.logout',
        'same path as routes.logoutCallback (default)',
        'its own path',
      );
    });

    it('rejects a fixed route that a channel route would catch', () => {
      expectProblem(
        options({ routes: { logoutCallback: '/logout/connect/front-channel/callback' } }),
        'routes.logoutCallback',
        'caught by the routes.frontChannel (default) route',
        'Fix: move one of them',
      );
    });
  });

  describe('landing URLs', () => {
    it.each(['postLogoutLandingUrl', 'loginUrl'])(
      'accepts a local path or an absolute URL for %s',
      (key) => {
        for (const value of [
          '/',
          '/home?x=1#top',
          'https://app.example.com/home',
          'http://localhost:3000/',
        ]) {
          expect(() => validateOidcLogoutOptions(options({ [key]: value }))).not.toThrow();
        }
      },
    );

    it.each([
      ['postLogoutLandingUrl', '//evil.example', 'protocol-relative'],
      ['loginUrl', '/\\evil.example', '"\\"'],
      ['loginUrl', 'home', 'absolute http(s) URL'],
      ['postLogoutLandingUrl', 'javascript:alert(1)', 'absolute http(s) URL'],
      ['postLogoutLandingUrl', 'https://app.example.com/#x', 'fragment'],
      ['loginUrl', '/login\r\nSet-Cookie: x', 'whitespace or control'],
      ['loginUrl', false, 'must be a string'],
    ])('rejects %s = %j', (key, value, problem) => {
      expectProblem(options({ [key]: value }), key, problem, 'Fix: ');
    });
  });

  describe('numbers', () => {
    it.each([
      ['clockToleranceSeconds', -1, 'must not be negative', 'between 0 and 600'],
      ['clockToleranceSeconds', 601, 'at most 600', 'between 0 and 600'],
      ['sessionTtlSeconds', 0, 'non-positive limit', 'between 1 and'],
      ['inMemoryMaxEntries', -5, 'non-positive limit', 'between 1 and'],
      ['cleanupIntervalSeconds', 604_801, 'at most 604800', 'between 1 and 604800'],
      ['httpTimeoutMs', 60_001, 'at most 60000', 'between 1 and 60000'],
      ['httpTimeoutMs', 1.5, 'finite integer', 'between 1 and 60000'],
      ['sessionTtlSeconds', Number.POSITIVE_INFINITY, 'finite integer', 'between 1 and'],
      ['inMemoryMaxEntries', Number.NaN, 'finite integer', 'between 1 and'],
      ['clockToleranceSeconds', '30', 'must be a number', 'Number(...)'],
      ['storeTimeoutMs', 0, 'non-positive limit', 'between 1 and 60000'],
      ['storeTimeoutMs', 60_001, 'at most 60000', 'between 1 and 60000'],
      ['storeTimeoutMs', '3000', 'must be a number', 'Number(...)'],
    ])('rejects %s = %s', (key, value, problem, fix) => {
      expectProblem(options({ [key]: value }), key, problem, fix);
    });

    it('takes storeTimeoutMs, and suggests it for a near miss', () => {
      expect(validateOidcLogoutOptions(options({ storeTimeoutMs: 500 })).storeTimeoutMs).toBe(500);
      expectProblem(
        options({ storeTimeout: 500 }),
        'storeTimeout',
        'did you mean "storeTimeoutMs"?',
        'rename it',
      );
    });
  });

  describe('pendingLogoutJournal', () => {
    it('takes an absolute file path; absent by default', () => {
      const path = '/var/lib/app/oidc-pending-logouts.journal';
      expect(validateOidcLogoutOptions(options({ pendingLogoutJournal: path }))).toMatchObject({
        pendingLogoutJournal: path,
      });
      expect(validateOidcLogoutOptions(options())).not.toHaveProperty('pendingLogoutJournal');
    });

    it.each([
      ['journal.log', 'must be an absolute path', 'path.resolve'],
      ['/var/lib/app/', 'must be an absolute path', 'absolute file path'],
      [' /var/lib/app/j', 'whitespace', 'trim it'],
      ['', 'must not be empty', 'absolute file path'],
      [42, 'must be a string', 'absolute file path'],
    ])('rejects %j', (value, problem, fix) => {
      expectProblem(options({ pendingLogoutJournal: value }), 'pendingLogoutJournal', problem, fix);
    });
  });

  describe('session store', () => {
    it('rejects a sessionRepository that is neither a repository class nor an instance', () => {
      expectProblem(
        options({ sessionRepository: 'typeorm' }),
        'sessionRepository',
        'must be a class or an instance',
        'extend OidcSessionRepository',
      );
      expectProblem(
        options({ sessionRepository: () => ({}) }),
        'sessionRepository',
        'must be a class or an instance',
      );
      expectProblem(
        options({ sessionRepository: class Empty {} }),
        'sessionRepository',
        'a class without the method(s) save, findByClientSessionId',
        'extend OidcSessionRepository',
      );
      expectProblem(
        options({
          sessionRepository: { save: () => undefined, findByClientSessionId: () => undefined },
        }),
        'sessionRepository',
        'without the method(s) removeByClientSessionId, removeByLogoutToken',
      );
    });

    it('rejects a dataSource that does not look like a TypeORM DataSource', () => {
      expectProblem(
        options({ dataSource: { initialize: () => undefined } }),
        'dataSource',
        'initialize() and getRepository()',
        'pass your DataSource instance',
      );
    });

    it('takes typeOrmRepository (batching, lookupCache, notifyRemovals, preparedStatements) as a copy', () => {
      const typeOrmRepository = {
        batching: { maxConcurrent: 4 },
        lookupCache: { ttlMs: 2000, maxEntries: 50 },
        notifyRemovals: true,
        preparedStatements: false,
      };
      const resolved = validateOidcLogoutOptions(options({ typeOrmRepository }));
      expect(resolved.typeOrmRepository).toEqual(typeOrmRepository);
      expect(resolved.typeOrmRepository).not.toBe(typeOrmRepository);
      expect(
        validateOidcLogoutOptions(
          options({ typeOrmRepository: { batching: false, lookupCache: true } }),
        ).typeOrmRepository,
      ).toEqual({ batching: false, lookupCache: true });
    });

    it.each([
      [{ typeOrmRepository: 'yes' }, 'typeOrmRepository', 'plain object'],
      [
        { typeOrmRepository: { batching: true } },
        'typeOrmRepository.batching',
        'must be false or an object',
      ],
      [
        { typeOrmRepository: { batching: { maxSize: 0 } } },
        'typeOrmRepository.batching.maxSize',
        'positive integer',
      ],
      [
        { typeOrmRepository: { lookupCache: { ttlMs: 1.5 } } },
        'typeOrmRepository.lookupCache.ttlMs',
        'positive integer',
      ],
      [
        { typeOrmRepository: { lookupCache: { ttl: 5 } } },
        'typeOrmRepository.lookupCache.ttl',
        'ttlMs',
      ],
      [
        { typeOrmRepository: { notifyRemovals: 'on' } },
        'typeOrmRepository.notifyRemovals',
        'boolean',
      ],
      [
        { typeOrmRepository: { preparedStatements: 0 } },
        'typeOrmRepository.preparedStatements',
        'boolean',
      ],
      [{ typeOrmRepository: { cache: true } }, 'typeOrmRepository.cache', ''],
      [
        { typeOrmRepository: {}, sessionRepository: GoodRepository },
        'typeOrmRepository',
        'sessionRepository',
      ],
    ])('rejects typeOrmRepository %j', (extra, path, fragment) => {
      expectProblem(options(extra), path, fragment);
    });

    it('rejects sessionRepository and dataSource together', () => {
      expectProblem(
        options({ sessionRepository: GoodRepository, dataSource: fakeDataSource }),
        'sessionRepository',
        'ambiguous',
        'keep only sessionRepository',
      );
    });
  });

  it('lists every problem in one error, one per line', () => {
    const message = invalid({
      clients: [client({ issuer: 'nope', clientSecret: SECRET, algorithms: ['none'] }), 'x'],
      routes: { logout: '/' },
      loginUrl: '//evil',
      httpTimeoutMs: 0,
      extra: true,
    });
    const problems = lines(message);
    expect(problems.map((line) => line.slice(0, line.indexOf(':')))).toEqual([
      '  - extra',
      '  - clients[0].issuer',
      '  - clients[0].algorithms[0]',
      '  - clients[1]',
      '  - routes.logout',
      '  - loginUrl',
      '  - httpTimeoutMs',
    ]);
    for (const line of problems) {
      expect(line).toContain('Fix: ');
    }
    expect(message).not.toContain(SECRET);
  });
});

describe('option checks', () => {
  it('describeValue truncates long values and redacts secret-looking keys', () => {
    const long = describeValue('x'.repeat(500));
    expect(long.length).toBeLessThanOrEqual(100);
    expect(long.endsWith('...')).toBe(true);
    expect(describeValue({ password: 'p', nested: { apiKey: 'k' } })).toBe(
      '{"password":"<redacted>","nested":{"apiKey":"<redacted>"}}',
    );
    expect(describeValue(new Map())).toBe('[object Map]');
    expect(describeValue({ repo: new Map() })).toBe('{"repo":"[object Map]"}');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(describeValue(circular)).toContain('circular');
    expect(describeValue(GoodRepository)).toBe('[class GoodRepository]');
  });

  it('suggestKey finds keys within an edit distance of 2, case-insensitively, or by prefix', () => {
    expect(suggestKey('issuerr', ['issuer', 'clientId'])).toBe('issuer');
    expect(suggestKey('CLIENTID', ['issuer', 'clientId'])).toBe('clientId');
    expect(suggestKey('cleintId', ['issuer', 'clientId'])).toBe('clientId');
    expect(suggestKey('somethingElse', ['issuer', 'clientId'])).toBeUndefined();
    expect(suggestKey('httpTimeout', ['httpTimeoutMs', 'loginUrl'])).toBe('httpTimeoutMs');
    expect(suggestKey('issuerUrl', ['issuer', 'clientId'])).toBe('issuer');
    expect(suggestKey('log', ['logout', 'logoutCallback'])).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { discoveryUrl, parseDiscoveryDocument } from './provider-metadata';

const issuer = 'https://op.example.com/realms/main';

describe('discoveryUrl', () => {
  it('appends the well-known path once, with or without a trailing slash', () => {
    expect(discoveryUrl(issuer)).toBe(`${issuer}/.well-known/openid-configuration`);
    expect(discoveryUrl(`${issuer}/`)).toBe(`${issuer}/.well-known/openid-configuration`);
  });
});

describe('parseDiscoveryDocument', () => {
  const document = {
    issuer,
    jwks_uri: `${issuer}/certs`,
    end_session_endpoint: `${issuer}/logout`,
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
    backchannel_logout_supported: true,
  };

  it('reads the metadata the library uses', () => {
    expect(parseDiscoveryDocument(document, issuer)).toEqual({
      issuer,
      jwksUri: `${issuer}/certs`,
      endSessionEndpoint: `${issuer}/logout`,
      idTokenSigningAlgValuesSupported: ['RS256', 'ES256'],
      backchannelLogoutSupported: true,
      frontchannelLogoutSupported: false,
    });
  });

  it('refuses an issuer that differs by a single character', () => {
    const result = parseDiscoveryDocument({ ...document, issuer: `${issuer}/` }, issuer);
    expect(result).toEqual({ error: expect.stringContaining('is not the configured issuer') });
  });

  it('refuses a document that is not an object', () => {
    for (const bad of [null, [], 'x', 42]) {
      expect(parseDiscoveryDocument(bad, issuer)).toEqual({
        error: 'the discovery document is not a JSON object',
      });
    }
  });

  it('refuses relative or non-http endpoint URLs', () => {
    expect(parseDiscoveryDocument({ ...document, jwks_uri: '/certs' }, issuer)).toEqual({
      error: expect.stringContaining('jwks_uri'),
    });
    expect(
      parseDiscoveryDocument({ ...document, end_session_endpoint: 'javascript:alert(1)' }, issuer),
    ).toEqual({ error: expect.stringContaining('end_session_endpoint') });
  });

  const members = [
    'jwks_uri',
    'end_session_endpoint',
    'authorization_endpoint',
    'token_endpoint',
    'userinfo_endpoint',
  ] as const;

  it.each(members)('refuses a %s with user:password@, in every environment', (member) => {
    const bad = { ...document, [member]: 'https://user:pw@op.example.com/x' };
    for (const requireHttps of [false, true]) {
      expect(parseDiscoveryDocument(bad, issuer, requireHttps)).toEqual({
        error: `the discovery document's ${member} must not contain credentials (user:password@)`,
      });
    }
  });

  it.each(members)(
    'in production, refuses a plain http %s unless its host is loopback',
    (member) => {
      const http = { ...document, [member]: 'http://op.example.com/x' };
      expect(parseDiscoveryDocument(http, issuer, true)).toEqual({
        error: expect.stringContaining(`${member} must use https`) as unknown,
      });
      expect(parseDiscoveryDocument(http, issuer, false)).not.toHaveProperty('error');
      for (const host of ['localhost', '127.0.0.1', '127.8.9.10', '[::1]']) {
        const loopback = { ...document, [member]: `http://${host}:8080/x` };
        expect(parseDiscoveryDocument(loopback, issuer, true)).not.toHaveProperty('error');
      }
    },
  );

  it('refuses endpoint URLs with whitespace or control characters (used verbatim in headers)', () => {
    for (const bad of [
      `${issuer}/logout\r\nX-Injected: 1`,
      `${issuer}/lo\tgout`,
      ` ${issuer}/logout`,
    ]) {
      expect(parseDiscoveryDocument({ ...document, end_session_endpoint: bad }, issuer)).toEqual({
        error: expect.stringContaining('end_session_endpoint'),
      });
      expect(parseDiscoveryDocument({ ...document, authorization_endpoint: bad }, issuer)).toEqual({
        error: expect.stringContaining('authorization_endpoint'),
      });
    }
  });

  it('treats an OP without end_session_endpoint (Google) as having none', () => {
    const { end_session_endpoint: _omitted, ...google } = document;
    const result = parseDiscoveryDocument(google, issuer);
    expect(result).toMatchObject({ endSessionEndpoint: undefined });
  });

  it('ignores ill-typed algorithm lists', () => {
    const result = parseDiscoveryDocument(
      { ...document, id_token_signing_alg_values_supported: 'RS256' },
      issuer,
    );
    expect(result).toMatchObject({ idTokenSigningAlgValuesSupported: undefined });
  });

  it('reads the login endpoints and PKCE methods, refusing relative endpoint URLs', () => {
    const login = {
      ...document,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      userinfo_endpoint: `${issuer}/me`,
      code_challenge_methods_supported: ['S256'],
    };
    expect(parseDiscoveryDocument(login, issuer)).toMatchObject({
      authorizationEndpoint: `${issuer}/auth`,
      tokenEndpoint: `${issuer}/token`,
      userinfoEndpoint: `${issuer}/me`,
      codeChallengeMethodsSupported: ['S256'],
    });
    for (const name of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint']) {
      expect(parseDiscoveryDocument({ ...login, [name]: '/relative' }, issuer)).toEqual({
        error: expect.stringContaining(name),
      });
    }
  });
});

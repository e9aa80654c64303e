import { describe, expect, it } from 'vitest';
import { buildEndSessionUrl, endSessionForm, endSessionParameters } from './end-session-url';

const ENDPOINT = 'https://op.example.com/session/end';

describe('endSessionParameters', () => {
  it('lists the present parameters in a fixed order, skipping absent and empty ones', () => {
    expect(
      endSessionParameters({
        logoutHint: 'alice',
        state: 's',
        clientId: 'app',
        idTokenHint: 'h.p.s',
        postLogoutRedirectUri: 'https://app.example.com/cb',
        uiLocales: ['fr-CA', '', 'en'],
      }),
    ).toEqual([
      ['id_token_hint', 'h.p.s'],
      ['post_logout_redirect_uri', 'https://app.example.com/cb'],
      ['client_id', 'app'],
      ['state', 's'],
      ['ui_locales', 'fr-CA en'],
      ['logout_hint', 'alice'],
    ]);
    expect(endSessionParameters({ clientId: 'app', state: '', idTokenHint: undefined })).toEqual([
      ['client_id', 'app'],
    ]);
    expect(endSessionParameters({ uiLocales: 'de en' })).toEqual([['ui_locales', 'de en']]);
  });
});

describe('buildEndSessionUrl', () => {
  it('adds every parameter, encoded so that the OP decodes exactly the configured values', () => {
    const redirect = 'https://app.example.com/logout/callback?tenant=a b&x=1';
    const url = buildEndSessionUrl(ENDPOINT, {
      idTokenHint: 'eyJ.eyJ.sig',
      postLogoutRedirectUri: redirect,
      clientId: 'my app+1',
      state: 'st/=',
      uiLocales: ['fr', 'en'],
      logoutHint: "o'brien",
    });
    expect(url).toBe(
      `${ENDPOINT}?id_token_hint=eyJ.eyJ.sig` +
        '&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Flogout%2Fcallback%3Ftenant%3Da%20b%26x%3D1' +
        '&client_id=my%20app%2B1&state=st%2F%3D&ui_locales=fr%20en&logout_hint=o%27brien',
    );
    const params = new URL(url).searchParams;
    expect(params.get('post_logout_redirect_uri')).toBe(redirect);
    expect(params.get('client_id')).toBe('my app+1');
    expect(params.get('logout_hint')).toBe("o'brien");
    expect([...params.keys()]).toEqual([
      'id_token_hint',
      'post_logout_redirect_uri',
      'client_id',
      'state',
      'ui_locales',
      'logout_hint',
    ]);
  });

  it("keeps the endpoint's own query byte for byte, and replaces a parameter it sets itself", () => {
    const endpoint =
      'https://login.example.com/oidc/logout?p=B2C_1_signin&odd=%7e+x&client_id=old&';
    expect(buildEndSessionUrl(endpoint, { clientId: 'app', state: 's' })).toBe(
      'https://login.example.com/oidc/logout?p=B2C_1_signin&odd=%7e+x&client_id=app&state=s',
    );
  });

  it('keeps an endpoint query parameter the request does not set, even when named like one', () => {
    expect(buildEndSessionUrl(`${ENDPOINT}?state=x`, { clientId: 'app' })).toBe(
      `${ENDPOINT}?state=x&client_id=app`,
    );
  });

  it('drops a fragment and works without parameters', () => {
    expect(buildEndSessionUrl(`${ENDPOINT}#frag`, { clientId: 'c' })).toBe(
      `${ENDPOINT}?client_id=c`,
    );
    expect(buildEndSessionUrl(`${ENDPOINT}?a=1#f`, {})).toBe(`${ENDPOINT}?a=1`);
    expect(buildEndSessionUrl(ENDPOINT, {})).toBe(ENDPOINT);
  });

  it('keeps a malformed endpoint pair rather than guessing its name', () => {
    expect(buildEndSessionUrl(`${ENDPOINT}?%E0=1`, { state: 's' })).toBe(
      `${ENDPOINT}?%E0=1&state=s`,
    );
  });
});

describe('endSessionForm', () => {
  it("posts the parameters as fields to the endpoint with its own query, minus the form's names", () => {
    expect(
      endSessionForm(`${ENDPOINT}?tenant=t&state=old#x`, {
        idTokenHint: 'h',
        clientId: 'app',
        state: 'new',
      }),
    ).toEqual({
      action: `${ENDPOINT}?tenant=t`,
      fields: [
        ['id_token_hint', 'h'],
        ['client_id', 'app'],
        ['state', 'new'],
      ],
    });
  });
});

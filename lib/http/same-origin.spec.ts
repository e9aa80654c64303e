import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  checkSameOrigin,
  checkSameOriginRequest,
  normalizeOrigin,
  requestOrigin,
  type OriginRequest,
} from './same-origin';

const APP = 'https://app.example.com';

function request(
  headers: Record<string, string | string[]>,
  extra: Partial<OriginRequest> & { encrypted?: boolean } = {},
): OriginRequest {
  const { encrypted, ...rest } = extra;
  return {
    headers,
    socket: { encrypted: encrypted ?? false },
    ...rest,
  } as unknown as OriginRequest & IncomingMessage;
}

describe('normalizeOrigin', () => {
  it('serializes like a browser: lower case, default port dropped', () => {
    expect(normalizeOrigin('HTTPS://App.Example.com:443')).toBe(APP);
    expect(normalizeOrigin('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(normalizeOrigin('http://[::1]:80')).toBe('http://[::1]');
  });

  it('refuses what is not a bare http(s) origin', () => {
    for (const value of [
      'null',
      '',
      'app.example.com',
      'ftp://app.example.com',
      'https://app.example.com/path',
      'https://app.example.com?x',
      'https://app.example.com#x',
      'https://user@app.example.com',
      'https://app.example.com, https://evil.example',
      'https://app.example.com/',
      'https://app.example.com\\',
      'https://app.example.com:443/',
      'https://user:pw@app.example.com',
      'https://@app.example.com',
      'https:app.example.com',
      'https:/app.example.com',
      '//app.example.com',
      'https:// app.example.com',
      'http://2130706433',
      'http://0x7f.0.0.1',
      'http://127.1',
      'http://app%2Eexample.com',
    ]) {
      expect(normalizeOrigin(value), value).toBeUndefined();
    }
  });
});

describe('requestOrigin', () => {
  it("uses Express's protocol and host (which honour trust proxy) when present", () => {
    expect(
      requestOrigin(
        request({ host: 'internal:3000' }, { protocol: 'https', host: 'app.example.com' }),
      ),
    ).toBe(APP);
  });

  it('falls back to the socket and the Host header', () => {
    expect(requestOrigin(request({ host: 'app.example.com' }, { encrypted: true }))).toBe(APP);
    expect(requestOrigin(request({ host: '127.0.0.1:3000' }))).toBe('http://127.0.0.1:3000');
  });

  it('has no origin without a usable host', () => {
    expect(requestOrigin(request({}))).toBeUndefined();
    expect(requestOrigin(request({ host: 'bad host' }))).toBeUndefined();
    expect(requestOrigin(request({ host: 'evil.example/x' }))).toBeUndefined();
  });
});

describe('checkSameOrigin', () => {
  it('accepts Sec-Fetch-Site same-origin or none', () => {
    expect(checkSameOrigin({ secFetchSite: 'same-origin' }, APP)).toEqual({
      sameOrigin: true,
      proof: 'sec-fetch-site',
    });
    expect(checkSameOrigin({ secFetchSite: 'none' }, APP).sameOrigin).toBe(true);
    expect(checkSameOrigin({ secFetchSite: 'Same-Origin ' }, APP).sameOrigin).toBe(true);
  });

  it('accepts an Origin equal to the app origin', () => {
    expect(checkSameOrigin({ origin: APP }, APP)).toEqual({ sameOrigin: true, proof: 'origin' });
    expect(checkSameOrigin({ origin: 'https://APP.example.com:443' }, APP).sameOrigin).toBe(true);
    expect(checkSameOrigin({ origin: APP, secFetchSite: 'same-origin' }, APP).sameOrigin).toBe(
      true,
    );
  });

  it.each([
    [{ secFetchSite: 'cross-site' }, 'cross-site'],
    [{ secFetchSite: 'same-site' }, 'cross-site'],
    [{ secFetchSite: 'whatever' }, 'cross-site'],
    [{ secFetchSite: 'cross-site', origin: APP }, 'cross-site'],
    [{ origin: 'https://evil.example' }, 'origin-mismatch'],
    [{ origin: 'http://app.example.com' }, 'origin-mismatch'],
    [{ origin: 'https://app.example.com.evil.example' }, 'origin-mismatch'],
    [{ origin: 'https://sub.app.example.com' }, 'origin-mismatch'],
    [{ origin: 'null' }, 'origin-mismatch'],
    [{ origin: 'https://evil.example', secFetchSite: 'same-origin' }, 'origin-mismatch'],
    [{ origin: 'https://evil.example', secFetchSite: 'none' }, 'origin-mismatch'],
    [{}, 'no-proof'],
  ])('refuses %j (%s)', (headers, reason) => {
    expect(checkSameOrigin(headers, APP)).toEqual({ sameOrigin: false, reason });
  });

  it('refuses an Origin when the app origin is unknown', () => {
    expect(checkSameOrigin({ origin: APP }, undefined)).toEqual({
      sameOrigin: false,
      reason: 'unknown-host',
    });
  });
});

describe('checkSameOriginRequest', () => {
  it('reads the headers of a request', () => {
    const req = (headers: Record<string, string | string[]>) =>
      checkSameOriginRequest(request({ host: 'app.example.com', ...headers }, { encrypted: true }));
    expect(req({ origin: APP }).sameOrigin).toBe(true);
    expect(req({ 'sec-fetch-site': 'same-origin' }).sameOrigin).toBe(true);
    expect(req({ origin: 'https://evil.example' }).sameOrigin).toBe(false);
    // A repeated header is malformed: it proves nothing.
    expect(req({ 'sec-fetch-site': ['same-origin', 'same-origin'] }).sameOrigin).toBe(false);
  });

  it('honours a proxy only through Express (trust proxy), never through raw X-Forwarded headers', () => {
    const behindProxy = request(
      { host: 'internal:3000', 'x-forwarded-host': 'app.example.com', origin: APP },
      {},
    );
    expect(checkSameOriginRequest(behindProxy).sameOrigin).toBe(false);
    expect(
      checkSameOriginRequest({
        ...behindProxy,
        protocol: 'https',
        host: 'app.example.com',
      } as OriginRequest).sameOrigin,
    ).toBe(true);
  });
});

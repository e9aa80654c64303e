import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTokenRequest, requestTokens, TokenEndpointError } from './token-request';

const params = {
  grant_type: 'authorization_code',
  code: 'the code',
  redirect_uri: 'https://app.example/login/callback',
  code_verifier: 'v'.repeat(43),
};

describe('buildTokenRequest', () => {
  it('client_secret_basic: form-encoded id and secret in the Authorization header only', () => {
    const request = buildTokenRequest({
      tokenEndpoint: 'https://op.example/token',
      clientId: 'my client',
      clientSecret: 's3cr:t/+&',
      authMethod: 'client_secret_basic',
      params,
    });
    expect(request.url).toBe('https://op.example/token');
    const basic = request.headers.authorization?.replace(/^Basic /, '') ?? '';
    expect(Buffer.from(basic, 'base64').toString()).toBe('my+client:s3cr%3At%2F%2B%26');
    const body = new URLSearchParams(request.body);
    expect(Object.fromEntries(body)).toEqual(params);
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('client_secret_post: id and secret as form parameters, no Authorization header', () => {
    const request = buildTokenRequest({
      tokenEndpoint: 'https://op.example/token',
      clientId: 'c',
      clientSecret: 's',
      authMethod: 'client_secret_post',
      params,
    });
    expect(request.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      ...params,
      client_id: 'c',
      client_secret: 's',
    });
  });

  it('none (public client): client_id only', () => {
    const request = buildTokenRequest({
      tokenEndpoint: 'https://op.example/token',
      clientId: 'c',
      authMethod: 'none',
      params,
    });
    expect(request.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      ...params,
      client_id: 'c',
    });
  });
});

describe('requestTokens', () => {
  let server: Server;
  let url: string;
  let answer: { status: number; body: string; location?: string };
  let received: { headers: IncomingMessage['headers']; body: string } | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received = { headers: req.headers, body };
        if (answer.location) res.setHeader('location', answer.location);
        res.statusCode = answer.status;
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const input = () => ({
    tokenEndpoint: url,
    clientId: 'c',
    clientSecret: 's',
    authMethod: 'client_secret_basic' as const,
    params,
  });

  it('posts the form and resolves the JSON answer', async () => {
    answer = { status: 200, body: JSON.stringify({ id_token: 'x.y.z', access_token: 'at' }) };
    await expect(requestTokens(input(), 2000)).resolves.toEqual({
      id_token: 'x.y.z',
      access_token: 'at',
    });
    expect(received?.headers.authorization).toMatch(/^Basic /);
    expect(Object.fromEntries(new URLSearchParams(received?.body))).toEqual(params);
  });

  it('rejects an HTTP error with its status and body (passport turns it into a TokenError)', async () => {
    answer = { status: 400, body: '{"error":"invalid_grant"}' };
    const error = await requestTokens(input(), 2000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenEndpointError);
    expect(error).toMatchObject({ statusCode: 400, data: '{"error":"invalid_grant"}' });
  });

  it('does not follow redirects, and refuses answers that are not a JSON object', async () => {
    answer = { status: 302, body: '', location: 'http://127.0.0.1:1/elsewhere' };
    await expect(requestTokens(input(), 2000)).rejects.toThrow();
    answer = { status: 200, body: 'not json' };
    await expect(requestTokens(input(), 2000)).rejects.toThrow('not JSON');
    answer = { status: 200, body: '[1]' };
    await expect(requestTokens(input(), 2000)).rejects.toThrow('not a JSON object');
  });
});

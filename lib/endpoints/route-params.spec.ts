import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { registrationIdOf, type RoutedRequest } from './route-params';

function request(fields: { url?: string; originalUrl?: string; params?: Record<string, string> }) {
  return fields as unknown as RoutedRequest & IncomingMessage;
}

describe('registrationIdOf', () => {
  it("uses the framework's route parameter when there is one", () => {
    expect(registrationIdOf(request({ url: '/x/y', params: { registrationId: 'kc' } }))).toBe('kc');
  });

  it('takes the last path segment of the raw request otherwise (Fastify)', () => {
    expect(registrationIdOf(request({ url: '/logout/connect/back-channel/kc' }))).toBe('kc');
    expect(registrationIdOf(request({ url: '/api/logout/connect/back-channel/kc/' }))).toBe('kc');
    expect(
      registrationIdOf(
        request({ url: '/', originalUrl: '/logout/connect/front-channel/kc?sid=1' }),
      ),
    ).toBe('kc');
    expect(registrationIdOf(request({ url: '/base/a%20b#x' }))).toBe('a b');
  });

  it('is empty when the segment is missing or cannot be decoded', () => {
    expect(registrationIdOf(request({ url: '/base/%E0%A4%A' }))).toBe('');
    expect(registrationIdOf(request({}))).toBe('');
  });
});

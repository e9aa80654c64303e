import { describe, expect, it } from 'vitest';
import { backChannelPathMatcher, installExpressReadAhead } from './back-channel-read-ahead';

describe('backChannelPathMatcher', () => {
  const matches = backChannelPathMatcher('/logout/connect/back-channel');

  it('matches the endpoint under any prefix, ignoring case, query and a trailing slash', () => {
    for (const url of [
      '/logout/connect/back-channel/keycloak',
      '/logout/connect/back-channel/keycloak/',
      '/api/v1/logout/connect/back-channel/keycloak?x=1',
      '/LOGOUT/Connect/Back-Channel/kc',
      '/logout/connect/back-channel/kc/extra',
    ]) {
      expect(matches(url), url).toBe(true);
    }
  });

  it('does not match the base path alone or other paths', () => {
    for (const url of [
      '/logout/connect/back-channel',
      '/logout/connect/back-channel/',
      '/logout/connect/back-channel?x=/a',
      '/logout/connect/front-channel/kc',
      '/logout/connect/back-channelx/kc',
      '/',
    ]) {
      expect(matches(url), url).toBe(false);
    }
  });
});

describe('installExpressReadAhead', () => {
  it("puts its middleware first in the app's stack", () => {
    const stack: Array<{ handle: unknown }> = [{ handle: 'parser' }];
    const app = { router: { stack }, use: (fn: unknown) => stack.push({ handle: fn }) };
    expect(
      installExpressReadAhead(
        app,
        () => true,
        () => undefined,
      ),
    ).toBe(true);
    expect(stack).toHaveLength(2);
    expect(typeof stack[0]!.handle).toBe('function');
    expect(stack[1]!.handle).toBe('parser');
  });

  it('says so when the stack cannot be reached', () => {
    expect(
      installExpressReadAhead(
        { use: () => undefined },
        () => true,
        () => undefined,
      ),
    ).toBe(false);
    expect(
      installExpressReadAhead(
        undefined,
        () => true,
        () => undefined,
      ),
    ).toBe(false);
  });
});

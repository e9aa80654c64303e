import { RequestMethod } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { globalPrefixOf, mappedRouteLines } from './mapped-route-lines';

const routes = [
  { path: '/logout', method: RequestMethod.ALL },
  { path: '/logout/connect/back-channel/:registrationId', method: RequestMethod.POST },
];

describe('mappedRouteLines', () => {
  it("writes one line per route in the words of Nest's router", () => {
    expect(mappedRouteLines(routes)).toEqual([
      'Mapped {/logout, ALL} route',
      'Mapped {/logout/connect/back-channel/:registrationId, POST} route',
    ]);
  });

  it('shows the paths under the global prefix, however it is written', () => {
    for (const prefix of ['api', '/api', 'api/', '/api/']) {
      expect(mappedRouteLines(routes, { prefix })[0]).toBe('Mapped {/api/logout, ALL} route');
    }
    expect(mappedRouteLines(routes, { prefix: '' })[0]).toBe('Mapped {/logout, ALL} route');
  });

  it('leaves out the prefix for a route a prefix exclusion covers, for its method', () => {
    const exclude = [{ pathRegex: /^\/logout$/, requestMethod: RequestMethod.ALL }];
    expect(mappedRouteLines(routes, { prefix: 'api', exclude })).toEqual([
      'Mapped {/logout, ALL} route',
      'Mapped {/api/logout/connect/back-channel/:registrationId, POST} route',
    ]);
    const getOnly = [{ pathRegex: /^\/logout$/, requestMethod: RequestMethod.GET }];
    expect(mappedRouteLines(routes, { prefix: 'api', exclude: getOnly })[0]).toBe(
      'Mapped {/api/logout, ALL} route',
    );
  });
});

describe('globalPrefixOf', () => {
  it("reads the application config's prefix and exclusions, and nothing from anything else", () => {
    const exclude = [{ pathRegex: /^\/health$/ }];
    const moduleRef = {
      container: {
        applicationConfig: {
          getGlobalPrefix: () => 'api',
          getGlobalPrefixOptions: () => ({ exclude }),
        },
      },
    };
    expect(globalPrefixOf(moduleRef)).toEqual({ prefix: 'api', exclude });
    expect(globalPrefixOf({})).toBeUndefined();
    const throwing = {
      container: {
        applicationConfig: {
          getGlobalPrefix: () => {
            throw new Error('no');
          },
        },
      },
    };
    expect(globalPrefixOf(throwing)).toBeUndefined();
  });
});

import type { OidcLogoutRoutes } from '../interfaces/oidc-logout-module-options.interface';
import { DEFAULT_ROUTES } from '../oidc-logout.constants';
import { Problems, checkKeys, describeValue, isPlainObject, routeProblem } from './option-checks';

import { ROUTE_KEYS } from './option-keys';

export function validateRoutes(
  problems: Problems,
  raw: unknown,
): Readonly<Required<OidcLogoutRoutes>> {
  const routes: Required<OidcLogoutRoutes> = { ...DEFAULT_ROUTES };
  if (raw === undefined) {
    return Object.freeze(routes);
  }
  if (!isPlainObject(raw)) {
    problems.add(
      'routes',
      'must be a plain object',
      describeValue(raw),
      `use { ${ROUTE_KEYS.map((key) => `${key}?: string`).join(', ')} }, or omit it for the defaults`,
    );
    return Object.freeze(routes);
  }
  checkKeys(problems, 'routes', raw, ROUTE_KEYS);
  const valid = new Set<keyof OidcLogoutRoutes>();
  for (const key of ROUTE_KEYS) {
    const value = raw[key];
    const path = `routes.${key}`;
    if (value === undefined) {
      valid.add(key);
      continue;
    }
    if (typeof value !== 'string') {
      problems.add(
        path,
        'must be a string',
        describeValue(value),
        `use a path such as "${DEFAULT_ROUTES[key]}"`,
      );
      continue;
    }
    const problem = routeProblem(value);
    if (problem) {
      problems.add(path, problem.problem, describeValue(value), problem.fix);
      continue;
    }
    routes[key] = value;
    valid.add(key);
  }
  checkRouteConflicts(problems, routes, raw, valid);
  return Object.freeze(routes);
}

/**
 * Routes must differ (Express matches case-insensitively), and no fixed route may sit where a
 * `${prefix}/:registrationId` route would catch it.
 */
export function checkRouteConflicts(
  problems: Problems,
  routes: Required<OidcLogoutRoutes>,
  raw: Record<string, unknown>,
  valid: ReadonlySet<keyof OidcLogoutRoutes>,
): void {
  const label = (key: keyof OidcLogoutRoutes): string =>
    raw[key] === undefined ? `routes.${key} (default)` : `routes.${key}`;
  const keys = ROUTE_KEYS.filter((key) => valid.has(key));
  for (let i = 0; i < keys.length; i++) {
    for (let j = i + 1; j < keys.length; j++) {
      const a = keys[i];
      const b = keys[j];
      if (a === undefined || b === undefined) {
        continue;
      }
      if (routes[a].toLowerCase() === routes[b].toLowerCase()) {
        // Blame the route the application set, not the default it collides with.
        const [key, other] = raw[b] !== undefined ? [b, a] : [a, b];
        problems.add(
          `routes.${key}`,
          `is the same path as ${label(other)}`,
          describeValue(routes[key]),
          'give each route its own path',
        );
      }
    }
  }
  for (const fixed of ['logout', 'logoutCallback'] as const) {
    for (const prefix of ['backChannel', 'frontChannel'] as const) {
      if (!valid.has(fixed) || !valid.has(prefix)) {
        continue;
      }
      const base = `${routes[prefix].toLowerCase()}/`;
      const route = routes[fixed].toLowerCase();
      if (route.startsWith(base) && !route.slice(base.length).includes('/')) {
        problems.add(
          `routes.${fixed}`,
          `would be caught by the ${label(prefix)} route "${routes[prefix]}/:registrationId"`,
          describeValue(routes[fixed]),
          `move one of them, e.g. keep routes.${fixed} outside "${routes[prefix]}/"`,
        );
      }
    }
  }
}

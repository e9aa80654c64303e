import { RequestMethod } from '@nestjs/common';

/** A route the module binds: its configured path and method. @internal */
export interface BoundRoute {
  path: string;
  method: RequestMethod;
}

/** A route excluded from the global prefix, as Nest keeps it (`setGlobalPrefix(p, { exclude })`). */
interface ExcludedRoute {
  pathRegex?: RegExp;
  requestMethod?: RequestMethod;
}

/** The app's global prefix, as far as it is known. @internal */
export interface GlobalPrefix {
  prefix: string;
  exclude?: readonly ExcludedRoute[];
}

/**
 * One line per bound route, in the words of Nest's router (`Mapped {/path, POST} route`), at the path
 * the app serves it: under the global prefix unless a prefix exclusion covers it (the rule Nest
 * applies to middleware routes). URI versioning is not shown.
 *
 * @internal
 */
export function mappedRouteLines(
  routes: readonly BoundRoute[],
  globalPrefix?: GlobalPrefix,
): string[] {
  const prefix = normalizedPrefix(globalPrefix?.prefix);
  return routes.map(({ path, method }) => {
    const excluded = globalPrefix?.exclude?.some((route) => excludes(route, path, method));
    const served = prefix && !excluded ? `${prefix}${withLeadingSlash(path)}` : path;
    return `Mapped {${withLeadingSlash(served)}, ${RequestMethod[method]}} route`;
  });
}

/** `'api/'` -> `'/api'`; `''` for no prefix. */
function normalizedPrefix(prefix: string | undefined): string {
  if (typeof prefix !== 'string') return '';
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '' : withLeadingSlash(trimmed);
}

function withLeadingSlash(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}

function excludes(route: ExcludedRoute, path: string, method: RequestMethod): boolean {
  const methodMatches =
    route.requestMethod === undefined ||
    route.requestMethod === RequestMethod.ALL ||
    route.requestMethod === method;
  return methodMatches && route.pathRegex instanceof RegExp && route.pathRegex.test(path);
}

/**
 * The global prefix of the application whose module graph `moduleRef` belongs to, read from Nest's
 * application config (`setGlobalPrefix`, set before `init`), or `undefined` when this Nest version
 * does not let it be read that way (the lines then show the paths as configured).
 *
 * @internal
 */
export function globalPrefixOf(moduleRef: object): GlobalPrefix | undefined {
  try {
    const config = (
      moduleRef as {
        container?: {
          applicationConfig?: {
            getGlobalPrefix?: () => unknown;
            getGlobalPrefixOptions?: () => { exclude?: unknown } | undefined;
          };
        };
      }
    ).container?.applicationConfig;
    const prefix = config?.getGlobalPrefix?.();
    if (typeof prefix !== 'string') return undefined;
    const exclude = config?.getGlobalPrefixOptions?.()?.exclude;
    return { prefix, exclude: Array.isArray(exclude) ? (exclude as ExcludedRoute[]) : undefined };
  } catch {
    return undefined;
  }
}

import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The shape of lib/: one folder per flow, and no import pointing back up from the flows to the HTTP
 * edge. `endpoints/` (the route handlers) sit on top: only the module binds them. `http/` (body
 * parsing, pages, origin checks, responses, cookies) serves the endpoints; services decide what to
 * answer as data and never write a response, with one exception kept for the public
 * `LogoutService.logout(req, res)`, which hands its answer to `http/rp-logout-response.ts`.
 */

const LIB = __dirname;

/** Files allowed to import an endpoint handler: the module that binds them. */
const ENDPOINT_IMPORTERS = new Set(['oidc-logout.module.ts', 'index.ts']);

/** Folders that hold no flow: they import no flow folder, the HTTP edge or the endpoints. */
const FOUNDATION = new Set([
  'errors',
  'interfaces',
  'options',
  'repositories',
  'tokens',
  'http-client',
  'redis',
]);

/** Folders of flows and the HTTP edge, which the foundation never imports. */
const ABOVE_FOUNDATION = new Set(['services', 'guards', 'login', 'endpoints', 'http', 'health']);

/**
 * Flows that build on another and are never imported back by it: the login (passport, the optional
 * `nest-oidc-logout/passport` subpath) builds on the services (`LogoutService.recordLogin`, the
 * request's session), so nothing in `services/` depends on the login. What both need of a login in
 * progress (the marks on the request and its session) lives in `services/`.
 */
const BUILDS_ON: ReadonlyArray<readonly [upper: string, lower: string]> = [
  ['login', 'services'],
  // The health indicator (the optional `nest-oidc-logout/terminus` subpath) reads the services.
  ['health', 'services'],
];

/** The one import of `http/` from outside the HTTP edge (see the file's comment). */
const HTTP_EXCEPTIONS = new Set(['services/logout.service.ts -> http/rp-logout-response.ts']);

/** The folder of a lib-relative path (`''` for a file at lib/'s root). */
function folderOf(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * Why the import of `to` by `from` (both lib-relative, POSIX separators) breaks the layering, or
 * `undefined` when it is allowed.
 */
export function forbiddenImport(from: string, to: string): string | undefined {
  const source = folderOf(from);
  const target = folderOf(to);
  if (source === target) return undefined;
  if (target === 'endpoints' && !ENDPOINT_IMPORTERS.has(from)) {
    return 'only the module binds the endpoints';
  }
  if (target === 'http' && source !== 'endpoints' && !HTTP_EXCEPTIONS.has(`${from} -> ${to}`)) {
    return 'only the endpoints write HTTP answers';
  }
  if (source === 'http' && target !== '' && ABOVE_FOUNDATION.has(target) && target !== 'services') {
    return 'the HTTP edge does not import flows other than services';
  }
  if (BUILDS_ON.some(([upper, lower]) => source === lower && target === upper)) {
    return `${target}/ builds on ${source}/, which never imports it back`;
  }
  if (FOUNDATION.has(source) && ABOVE_FOUNDATION.has(target)) {
    return `${source}/ is below the flows and the HTTP edge`;
  }
  return undefined;
}

/** Every non-spec TypeScript file of lib/, lib-relative with POSIX separators. */
function libFiles(dir = LIB): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(path);
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.spec.ts')) return [];
    return [relative(LIB, path).split(sep).join('/')];
  });
}

/** The lib-relative files a file imports (relative specifiers only; `.ts` added). */
function importsOf(file: string): string[] {
  const source = readFileSync(join(LIB, file), 'utf8');
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((entry) => entry.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => `${posix.normalize(posix.join(posix.dirname(file), specifier))}.ts`);
}

describe('lib/ import graph', () => {
  it('has no import that points back up from a flow to the HTTP edge or the endpoints', () => {
    const files = libFiles();
    expect(files.length).toBeGreaterThan(50);
    const violations = files.flatMap((from) =>
      importsOf(from).flatMap((to) => {
        const reason = forbiddenImport(from, to);
        return reason === undefined ? [] : [`${from} -> ${to}: ${reason}`];
      }),
    );
    expect(violations).toEqual([]);
  });

  it('sees the imports it checks', () => {
    expect(importsOf('endpoints/logout-routes.ts')).toContain(
      'endpoints/back-channel-logout.handler.ts',
    );
    expect(importsOf('services/logout.service.ts')).toContain('http/rp-logout-response.ts');
  });

  it.each([
    ['services/login-recording.ts', 'endpoints/rp-initiated-logout.handler.ts'],
    ['services/rp-initiated-logout.ts', 'http/logout-pages.ts'],
    ['services/logout.service.ts', 'http/logout-pages.ts'],
    ['guards/oidc-session.guard.ts', 'http/http-response.ts'],
    ['login/oidc-login.flow.ts', 'endpoints/logout-routes.ts'],
    ['http/logout-pages.ts', 'endpoints/logout-routes.ts'],
    ['http/logout-pages.ts', 'guards/oidc-session.guard.ts'],
    ['tokens/logout-token.verifier.ts', 'services/oidc-discovery.service.ts'],
    ['repositories/oidc-session.repository.ts', 'http/form-body.ts'],
    ['options/option-checks.ts', 'login/oidc-login.options.ts'],
    ['services/login-recording.ts', 'login/session-id-follower.ts'],
    ['services/logout.service.ts', 'login/oidc-login.options.ts'],
    ['services/oidc-discovery.service.ts', 'health/provider-health.ts'],
    ['tokens/jwks-cache.ts', 'health/within.ts'],
  ])('refuses %s -> %s', (from, to) => {
    expect(forbiddenImport(from, to)).toBeTypeOf('string');
  });

  it.each([
    ['endpoints/rp-initiated-logout.handler.ts', 'services/logout.service.ts'],
    ['endpoints/logout-callback.handler.ts', 'http/logout-state.ts'],
    ['oidc-logout.module.ts', 'endpoints/logout-routes.ts'],
    ['services/logout.service.ts', 'http/rp-logout-response.ts'],
    ['http/rp-logout-response.ts', 'services/rp-initiated-logout.ts'],
    ['services/logout.service.ts', 'repositories/session-id-hash.ts'],
    ['login/session-id-follower.ts', 'services/login-in-progress.ts'],
    ['login/oidc-login.guard.ts', 'services/logout.service.ts'],
    ['health/provider-health.ts', 'services/oidc-discovery.service.ts'],
  ])('allows %s -> %s', (from, to) => {
    expect(forbiddenImport(from, to)).toBeUndefined();
  });
});

/**
 * The rules every URL and route path of the library follows, as pure functions (no problem list):
 * used by the option checks and by the checks of what an OP advertises.
 *
 * @internal
 */

/** Parses an absolute `http:` or `https:` URL; `undefined` for anything else. */
export function parseHttpUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    return undefined;
  }
  return url;
}

/** True for `localhost` (and `*.localhost`), `127.x.y.z` and `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127(?:\.\d{1,3}){3}$/.test(host)
  );
}

/**
 * The transport rule for every URL the library fetches or sends a browser to, configured or
 * discovered: never credentials (`user:password@`); with `requireHttps` (`NODE_ENV` is
 * `production`), https unless the host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`). Returns
 * why `url` breaks it (without quoting it), or `undefined`.
 */
export function urlTransportProblem(url: URL, requireHttps: boolean): string | undefined {
  if (url.username !== '' || url.password !== '') {
    return 'must not contain credentials (user:password@)';
  }
  if (requireHttps && url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
    return 'must use https when NODE_ENV is "production" (plain http only to a loopback host)';
  }
  return undefined;
}

/** True when the string holds whitespace or ASCII control characters. */
export function hasWhitespaceOrControl(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\s\u0000-\u001f\u007f]/.test(value);
}

/** The reason a route path is invalid, with its fix; `undefined` when it is valid. */
export function routeProblem(value: string): { problem: string; fix: string } | undefined {
  if (/[?#*:\\]/.test(value) || hasWhitespaceOrControl(value)) {
    return {
      problem: 'must be a literal path without "?", "#", "*", ":", "\\" or whitespace',
      fix: 'use a plain path such as "/logout/callback" (the module adds its own parameters)',
    };
  }
  const normalized = `/${value.split('/').filter(Boolean).join('/')}`;
  const fix = normalized === '/' ? 'use a dedicated path such as "/logout"' : `use "${normalized}"`;
  if (value === '/') {
    return { problem: 'must not be "/" (it would shadow the application\'s root)', fix };
  }
  if (!value.startsWith('/')) {
    return { problem: 'must start with "/"', fix };
  }
  if (value.endsWith('/')) {
    return { problem: 'must not end with "/"', fix };
  }
  if (value.includes('//')) {
    return { problem: 'must not contain an empty segment ("//")', fix };
  }
  if (value.split('/').some((segment) => segment === '.' || segment === '..')) {
    return { problem: 'must not contain "." or ".." segments', fix: 'use a normalized path' };
  }
  return undefined;
}

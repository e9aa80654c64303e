import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  endSessionFormPage,
  escapeHtml,
  logoutButtonPage,
  logoutFailedPage,
  logoutRefusedPage,
  sendHtml,
  sendRedirect,
  stateMismatchPage,
} from './logout-pages';

function fakeResponse() {
  const headers: Record<string, unknown> = {};
  const response = {
    statusCode: 0,
    body: undefined as string | undefined,
    headers,
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = value;
    },
    end(body?: string) {
      response.body = body;
    },
  };
  return response;
}

describe('logout pages', () => {
  it('escapes markup and attribute delimiters', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\`</a>`)).toBe(
      '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;&#60;/a&#62;',
    );
  });

  it('the logout button posts to the given path, escaped', () => {
    const html = logoutButtonPage('/logout"><script>x</script>');
    expect(html).toContain('<form method="post" action="/logout&#34;&#62;&#60;script&#62;x');
    expect(html).not.toContain('<script>');
    expect(logoutRefusedPage('/logout')).toContain('<form method="post" action="/logout">');
  });

  it('the end-session form carries the fields, escaped, and a script allowed by its hash only', () => {
    const { html, scriptHash } = endSessionFormPage('https://op.example.com/end?a=1&b=2', [
      ['id_token_hint', 'h.p.s'],
      ['state', '"><img src=x>'],
    ]);
    expect(html).toContain(
      '<form id="oidc-end-session" method="post" action="https://op.example.com/end?a=1&#38;b=2">',
    );
    expect(html).toContain('<input type="hidden" name="id_token_hint" value="h.p.s">');
    expect(html).toContain(
      '<input type="hidden" name="state" value="&#34;&#62;&#60;img src=x&#62;">',
    );
    expect(html).not.toContain('<img');
    const script = /<script>([^<]*)<\/script>/.exec(html)?.[1] ?? '';
    expect(script).toContain("getElementById('oidc-end-session').submit()");
    expect(scriptHash).toBe(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
  });

  it('error pages show only fixed text and the configured landing URL, escaped', () => {
    expect(stateMismatchPage()).toContain('Logout could not be confirmed');
    expect(logoutFailedPage('a < b', '/home?x="1"')).toContain(
      '<p>a &#60; b</p>\n<p><a href="/home?x=&#34;1&#34;">Continue</a></p>',
    );
  });

  it('HTML answers are uncacheable, not frameable, with their own CSP', () => {
    const response = fakeResponse();
    sendHtml(response as unknown as ServerResponse, 403, '<p>x</p>', {
      scriptHash: "'sha256-abc'",
      headers: { Allow: 'POST' },
    });
    expect(response.statusCode).toBe(403);
    expect(response.headers).toMatchObject({
      'cache-control': 'no-store',
      'content-security-policy':
        "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; script-src 'sha256-abc'",
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'content-type': 'text/html; charset=utf-8',
      'content-length': 8,
      allow: 'POST',
    });
    expect(response.body).toBe('<p>x</p>');
  });

  it('redirects are 302, uncacheable, without body', () => {
    const response = fakeResponse();
    sendRedirect(response as unknown as ServerResponse, '/bye');
    expect(response.statusCode).toBe(302);
    expect(response.headers).toMatchObject({ location: '/bye', 'cache-control': 'no-store' });
    expect(response.body).toBeUndefined();
  });
});

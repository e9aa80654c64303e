import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithChromium, launchChromiumProfile } from '../fixtures/chromium';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

/**
 * Front-Channel Logout in a real browser (Debian's Chromium driven by playwright-core): a page on the
 * OP's origin frames the app's front-channel URL while third-party cookies are blocked.
 *
 * Three sites on one machine: the app at http://localhost:APP (the user's first-party site), the
 * stand-in OP at http://127.0.0.1:OP (its issuer; a different site, so the iframe is a third-party
 * context) and a page that is not the OP at http://127.0.0.1:OTHER (another origin).
 */

const describeBrowser = describeWithChromium('front-channel-browser');

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'front-channel-browser');
const CLIENT_ID = 'browser-app';
const PAGE_TEXT = 'Logout request processed.';

/** A request that reached the app's front-channel route, as the server saw it. */
interface SeenRequest {
  path: string;
  cookie?: string;
  secFetchDest?: string;
  secFetchSite?: string;
}

/** A small node:http server answering every GET with a page that frames `?target=`. */
async function startFramingSite(title: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/frame') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const target = url.searchParams.get('target') ?? 'about:blank';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      '<!doctype html><html><head><meta charset="utf-8"><title>' +
        escapeHtml(title) +
        '</title></head><body style="font-family:sans-serif">' +
        `<h1 style="font-size:18px">${escapeHtml(title)}</h1>` +
        `<p>origin: <code id="origin"></code></p>` +
        `<iframe id="rp" src="${escapeHtml(target)}" width="700" height="120" ` +
        'style="border:2px solid #888"></iframe>' +
        '<script>document.getElementById("origin").textContent = location.origin;' +
        'window.frameLoaded = false;' +
        'document.getElementById("rp").addEventListener("load", () => { window.frameLoaded = true; });' +
        '</script></body></html>',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

describeBrowser('front-channel logout in Chromium, third-party cookies blocked', () => {
  let keys: TestKeySet;
  let jwksOp: FakeOp;
  let opSite: { origin: string; server: Server };
  let otherSite: { origin: string; server: Server };
  let testApp: TestApp;
  let appOrigin: string;
  let issuer: string;
  const seen: SeenRequest[] = [];
  let browser: Awaited<ReturnType<typeof launchChromiumProfile>>;
  let page: Page;
  const consoleMessages: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    keys = await createTestKeySet();
    // Keys come from a fake OP; the issuer is the stand-in OP's origin, which hosts the framing
    // page, because the app allows framing by the origin of the issuer.
    jwksOp = await startFakeOp({ keys });
    opSite = await startFramingSite('Stand-in OP: front-channel logout');
    otherSite = await startFramingSite('Another site (not the OP)');
    issuer = opSite.origin;
    testApp = await startTestApp({
      oidc: {
        clients: [
          {
            registrationId: 'op',
            issuer,
            clientId: CLIENT_ID,
            discovery: false,
            jwksUri: jwksOp.jwksUri,
          },
        ],
      },
    });
    appOrigin = testApp.url.replace('127.0.0.1', 'localhost');
    const appServer = testApp.app.getHttpServer() as Server;
    // What helmet() would set on every response, before any route runs: the front-channel page
    // must still be framed by the OP.
    appServer.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('X-Frame-Options', 'SAMEORIGIN');
      res.setHeader('Content-Security-Policy', "default-src 'self';frame-ancestors 'self'");
    });
    appServer.on('request', (req: IncomingMessage) => {
      if (!req.url?.startsWith('/logout/connect/front-channel/')) return;
      seen.push({
        path: req.url,
        cookie: req.headers.cookie,
        secFetchDest: req.headers['sec-fetch-dest'],
        secFetchSite: req.headers['sec-fetch-site'],
      });
    });
    browser = await launchChromiumProfile('block');
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('console', (message) => consoleMessages.push(message.text()));
  });

  afterEach(() => {
    seen.length = 0;
    consoleMessages.length = 0;
  });

  afterAll(async () => {
    await browser?.close();
    await testApp?.close();
    await jwksOp?.close();
    await new Promise((resolve) => opSite?.server.close(resolve));
    await new Promise((resolve) => otherSite?.server.close(resolve));
  });

  /**
   * Logs the browser in to the app (its own POST /test/login from an app page, so the session
   * cookie is the browser's) in a new OP session, and adds a `SameSite=None; Secure` probe cookie:
   * only the third-party cookie setting can keep that one out of the OP's iframe.
   */
  async function logIn(target: Page = page, context: BrowserContext = browser.context) {
    const sid = `sid-${randomUUID()}`;
    const idToken = await signIdToken(keys, { iss: issuer, aud: CLIENT_ID, sub: 'alice', sid });
    await target.goto(`${appOrigin}/public`);
    const status = await target.evaluate(async (token) => {
      const response = await fetch('/test/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ idToken: token }),
      });
      return response.status;
    }, idToken);
    expect(status).toBe(200);
    await context.addCookies([
      {
        name: 'probe',
        value: 'third-party',
        domain: 'localhost',
        path: '/',
        secure: true,
        sameSite: 'None',
      },
    ]);
    const names = (await context.cookies(appOrigin)).map((c) => c.name);
    expect(names).toContain('connect.sid');
    expect(names).toContain('probe');
    return sid;
  }

  /** The guarded route's status, from the user's own browser (with its cookies). */
  async function guardedStatus(target: Page = page, shot?: string): Promise<number> {
    const response = await target.goto(`${appOrigin}/private`);
    if (shot) await target.screenshot({ path: join(ARTIFACTS, shot) });
    return response?.status() ?? 0;
  }

  const frontChannelUrl = (params: Record<string, string>) =>
    `${appOrigin}/logout/connect/front-channel/op?${new URLSearchParams(params).toString()}`;

  /** Opens `site`'s page framing `target`, waits for the frame, and returns it. */
  async function frame(site: string, target: string, shot: string, p: Page = page): Promise<Frame> {
    await p.goto(`${site}/frame?target=${encodeURIComponent(target)}`);
    await p.waitForFunction(
      () => (globalThis as unknown as { frameLoaded?: boolean }).frameLoaded === true,
    );
    await p.screenshot({ path: join(ARTIFACTS, shot) });
    const child = p.frames().find((f) => f !== p.mainFrame());
    expect(child).toBeDefined();
    return child as Frame;
  }

  /** The single front-channel request the server received: no cookie at all, from an iframe. */
  function expectCookielessIframeRequest() {
    expect(seen).toHaveLength(1);
    expect(seen[0]?.cookie).toBeUndefined();
    expect(seen[0]?.secFetchDest).toBe('iframe');
    expect(seen[0]?.secFetchSite).toBe('cross-site');
  }

  it("the OP's page frames the logout URL: the session ends without its cookie", async () => {
    const sid = await logIn();
    expect(await guardedStatus(page, '01-logged-in-private-200.png')).toBe(200);

    const target = frontChannelUrl({ iss: issuer, sid });
    const child = await frame(opSite.origin, target, '02-op-frames-front-channel.png');
    expect(child.url()).toBe(target);
    expect(await child.locator('body').innerText()).toContain(PAGE_TEXT);
    expectCookielessIframeRequest();
    expect(consoleMessages.join('\n')).not.toContain('frame-ancestors');

    expect(await guardedStatus(page, '03-after-front-channel-private-401.png')).toBe(401);
  });

  it('a wrong iss: the page is shown in the frame, the session stays', async () => {
    const sid = await logIn();
    const target = frontChannelUrl({ iss: `${issuer}/not-the-issuer`, sid });
    const child = await frame(opSite.origin, target, '04-op-frames-wrong-iss.png');
    expect(await child.locator('body').innerText()).toContain(PAGE_TEXT);
    expectCookielessIframeRequest();
    expect(await guardedStatus(page, '05-wrong-iss-private-still-200.png')).toBe(200);
  });

  it('a page that is not the OP cannot frame it (CSP frame-ancestors); a guessed sid ends nothing', async () => {
    await logIn();
    const target = frontChannelUrl({ iss: issuer, sid: `sid-${randomUUID()}` });
    const child = await frame(otherSite.origin, target, '06-other-site-frame-blocked.png');
    // Chromium replaces a frame refused by frame-ancestors with its error page: nothing of ours is
    // rendered, and it says why in the console.
    expect(child.url()).not.toBe(target);
    expect(child.url()).toMatch(/^chrome-error:/);
    expect(await child.content()).not.toContain(PAGE_TEXT);
    expect(consoleMessages.join('\n')).toMatch(/frame-ancestors/);
    // The browser still sent the request: CSP decides about rendering, not about requests.
    expect(seen).toHaveLength(1);
    expect(await guardedStatus(page, '07-other-site-guessed-sid-private-200.png')).toBe(200);
  });

  it('the front-channel URL is a capability URL: any page that knows the sid can trigger it', async () => {
    // Documented behaviour, not a wish: frame-ancestors stops the rendering, not the GET, and no
    // request header tells the framing origin reliably. A page on another site that knows the user's
    // sid ends the session (as an <img src> would); the protection is that the sid is unguessable
    // and known only to the OP and the app.
    const sid = await logIn();
    const target = frontChannelUrl({ iss: issuer, sid });
    const child = await frame(
      otherSite.origin,
      target,
      '08-other-site-known-sid-frame-blocked.png',
    );
    expect(child.url()).toMatch(/^chrome-error:/);
    expectCookielessIframeRequest();
    expect(await guardedStatus(page, '09-other-site-known-sid-private-401.png')).toBe(401);
  });

  it('control: with third-party cookies allowed, the probe cookie does reach the frame', async () => {
    // Proves that the setting above is what keeps cookies out (the session cookie is SameSite=Lax
    // and stays out either way), and that logout works the same with cookies.
    const allowing = await launchChromiumProfile('allow');
    try {
      const other = allowing.context.pages()[0] ?? (await allowing.context.newPage());
      const sid = await logIn(other, allowing.context);
      const target = frontChannelUrl({ iss: issuer, sid });
      await frame(opSite.origin, target, '10-control-cookies-allowed.png', other);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.cookie).toBe('probe=third-party');
      expect(await guardedStatus(other)).toBe(401);
    } finally {
      await allowing.close();
    }
  });
});

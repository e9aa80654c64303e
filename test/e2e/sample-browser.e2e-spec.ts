import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_PATH, describeWithChromium } from '../fixtures/chromium';
import { startDevOp, type DevOp } from '../../sample/op/dev-op';
import { reservePort } from '../../sample/ports';
import { sampleOptionsFromEnv } from '../../sample/sample-env';
import { startSample, type RunningSample } from '../../sample/start-sample';

/**
 * The sample (`npm start`) in a real browser: the embedded OP and the Portal and Games apps, started
 * by the same `startSample` as `npm start` (free ports, a temporary data directory), driven in
 * Debian's Chromium with playwright-core. Screenshots of every step go to
 * test-artifacts/sample-browser/. Then the same with an external OP configured from environment
 * variables, as for Keycloak (another oidc-provider stands in for it).
 */

const describeBrowser = describeWithChromium('sample-browser');

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'sample-browser');

describeBrowser('the sample in Chromium: single sign-on and single sign-out', () => {
  let browser: Browser;
  /** The sample under test (each nested suite starts its own). */
  let sample: RunningSample;
  let dataDir: string;
  /** What the apps print about the logouts they receive. */
  const printed: string[] = [];

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'oidc-logout-sample-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** A new browser profile; requests leaving this machine (the OP pages' web fonts) are dropped. */
  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
    await context.route('**/*', (route) => {
      const { hostname } = new URL(route.request().url());
      return hostname === 'localhost' || hostname === '127.0.0.1'
        ? route.continue()
        : route.abort();
    });
    return context;
  }

  function screenshot(page: Page, name: string): Promise<Buffer> {
    return page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  /** Opens the Portal: the guard sends the browser to the OP's login page; logs in there. */
  async function logInAtPortal(page: Page, user: string, shot: string): Promise<void> {
    await page.goto(sample.portal.url);
    await page.waitForSelector('input[name="login"]');
    expect(page.url().startsWith(`${sample.issuer}/`)).toBe(true);
    await page.fill('input[name="login"]', user);
    await page.fill('input[name="password"]', 'any password');
    await screenshot(page, shot);
    await Promise.all([
      page.waitForURL(`${sample.portal.url}/`),
      page.click('button[type="submit"]'),
    ]);
    expect(await page.textContent('#user')).toBe(user);
  }

  /** Opens Games in another tab: single sign-on, the OP shows no page at all. */
  async function openGames(context: BrowserContext, user: string): Promise<Page> {
    const games = await context.newPage();
    const visited: string[] = [];
    games.on('framenavigated', (frame) => {
      if (frame === games.mainFrame()) visited.push(frame.url());
    });
    await games.goto(sample.games.url);
    await games.waitForURL(`${sample.games.url}/`);
    expect(await games.textContent('#user')).toBe(user);
    expect(visited.filter((url) => url.startsWith(sample.issuer))).toEqual([]);
    return games;
  }

  /** On the OP's end-session page: "Yes, sign me out". */
  async function confirmAtOp(page: Page, shot: string): Promise<void> {
    const yes = page.locator('button[name="logout"][value="yes"]');
    await yes.waitFor();
    expect(page.url().startsWith(`${sample.issuer}/session/end`)).toBe(true);
    await screenshot(page, shot);
    await yes.click();
  }

  async function events(page: Page): Promise<string> {
    return (await page.textContent('#logout-events')) ?? '';
  }

  describe('with the embedded OP, as npm start runs it', () => {
    beforeAll(async () => {
      sample = await startSample({
        ports: { op: 0, portal: 0, games: 0 },
        dataDir: join(dataDir, 'embedded'),
        log: (line) => printed.push(line),
      });
    });

    afterAll(async () => {
      await sample?.close();
    });

    it('log in at the Portal, Games without a login, log out at the Portal: Games is logged out on reload', async () => {
      const context = await newContext();
      const portal = await context.newPage();
      await logInAtPortal(portal, 'alice', '1-01-op-login');
      const portalSid = await portal.textContent('#sid');
      expect(portalSid).toMatch(/\S{8,}/);
      await screenshot(portal, '1-02-portal-logged-in');

      const games = await openGames(context, 'alice');
      const gamesSid = (await games.textContent('#sid')) ?? '';
      expect(gamesSid).toMatch(/\S{8,}/);
      await screenshot(games, '1-03-games-single-sign-on');

      // RP-initiated logout: the Portal's button, then the OP's confirmation.
      await portal.getByRole('button', { name: 'Log out' }).click();
      await confirmAtOp(portal, '1-04-op-confirms-logout');
      await portal.waitForURL(`${sample.portal.url}/signed-out`);
      expect(await portal.textContent('#status')).toContain('not logged in');
      expect(await events(portal)).toContain('rp-initiated logout (user alice');
      await screenshot(portal, '1-05-portal-signed-out');

      // Games heard of it over the back channel: one reload, and it is logged out too.
      await games.reload();
      expect(games.url()).toBe(`${sample.games.url}/signed-out`);
      expect(await events(games)).toContain(
        `back-channel logout (user alice, sid ${gamesSid}): 1 session ended here`,
      );
      await screenshot(games, '1-06-games-signed-out-on-reload');
      expect(printed).toContain(
        `[Games] back-channel logout (user alice, sid ${gamesSid}): 1 session ended here`,
      );

      // The session is gone, not just the page: Games' private JSON answers 401.
      const me = await games.request.get(`${sample.games.url}/me`);
      expect(me.status()).toBe(401);
      await context.close();
    });

    it('the session ended at the OP itself: both apps are logged out on reload', async () => {
      const context = await newContext();
      const portal = await context.newPage();
      await logInAtPortal(portal, 'bob', '2-01-op-login');
      const portalSid = (await portal.textContent('#sid')) ?? '';
      const games = await openGames(context, 'bob');
      const gamesSid = (await games.textContent('#sid')) ?? '';
      await screenshot(games, '2-02-games-single-sign-on');

      // The user signs out at the OP: its end-session endpoint, opened in the browser.
      const op = await context.newPage();
      await op.goto(`${sample.issuer}/session/end`);
      await confirmAtOp(op, '2-03-op-confirms-logout');
      await op.getByRole('heading', { name: 'Signed out' }).waitFor();
      await screenshot(op, '2-04-op-signed-out');

      await portal.reload();
      expect(portal.url()).toBe(`${sample.portal.url}/signed-out`);
      expect(await events(portal)).toContain(
        `back-channel logout (user bob, sid ${portalSid}): 1 session ended here`,
      );
      await screenshot(portal, '2-05-portal-signed-out-on-reload');

      await games.reload();
      expect(games.url()).toBe(`${sample.games.url}/signed-out`);
      expect(await events(games)).toContain(
        `back-channel logout (user bob, sid ${gamesSid}): 1 session ended here`,
      );
      await screenshot(games, '2-06-games-signed-out-on-reload');
      await context.close();
    });
  });

  describe('with an external OP from environment variables (as for Keycloak)', () => {
    let externalOp: DevOp;

    beforeAll(async () => {
      // Another oidc-provider stands in for Keycloak, with the clients registered by hand.
      const [opPort, portalPort, gamesPort] = [
        await reservePort(0, '127.0.0.1', 'external OP'),
        await reservePort(0, '127.0.0.1', 'Portal'),
        await reservePort(0, '127.0.0.1', 'Games'),
      ];
      const issuer = `http://localhost:${opPort}`;
      const client = (name: string, port: number) => ({
        clientId: `${name.toLowerCase()}-app`,
        clientSecret: `${name.toLowerCase()}-secret`,
        name,
        redirectUri: `http://localhost:${port}/login/callback`,
        postLogoutRedirectUri: `http://localhost:${port}/logout/callback`,
        backChannelLogoutUri: `http://localhost:${port}/logout/connect/back-channel/sso`,
      });
      externalOp = await startDevOp({
        issuer,
        port: opPort,
        host: '127.0.0.1',
        clients: [client('Portal', portalPort), client('Games', gamesPort)],
      });
      const options = sampleOptionsFromEnv({
        OIDC_ISSUER: issuer,
        PORTAL_CLIENT_ID: 'portal-app',
        PORTAL_CLIENT_SECRET: 'portal-secret',
        GAMES_CLIENT_ID: 'games-app',
        GAMES_CLIENT_SECRET: 'games-secret',
        PORTAL_PORT: String(portalPort),
        GAMES_PORT: String(gamesPort),
        SAMPLE_DATA_DIR: join(dataDir, 'external'),
      });
      sample = await startSample({ ...options, log: (line) => printed.push(line) });
    });

    afterAll(async () => {
      await sample?.close();
      await externalOp?.close();
    });

    it('starts no OP of its own; log out at Games: the Portal is logged out on reload', async () => {
      expect(sample.embeddedOp).toBe(false);
      expect(sample.issuer).toBe(externalOp.issuer);
      const context = await newContext();
      const portal = await context.newPage();
      await logInAtPortal(portal, 'carol', '3-01-external-op-login');
      const portalSid = (await portal.textContent('#sid')) ?? '';
      const games = await openGames(context, 'carol');
      await screenshot(games, '3-02-games-single-sign-on');

      await games.getByRole('button', { name: 'Log out' }).click();
      await confirmAtOp(games, '3-03-op-confirms-logout');
      await games.waitForURL(`${sample.games.url}/signed-out`);

      await portal.reload();
      expect(portal.url()).toBe(`${sample.portal.url}/signed-out`);
      expect(await events(portal)).toContain(
        `back-channel logout (user carol, sid ${portalSid}): 1 session ended here`,
      );
      await screenshot(portal, '3-04-portal-signed-out-on-reload');
      await context.close();
    });
  });
});

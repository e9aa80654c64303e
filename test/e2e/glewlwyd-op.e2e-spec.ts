import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { glewlwydClient, type GlewlwydApp } from '../../docs/examples/glewlwyd-client';
import { reservePort } from '../../sample/ports';
import { sampleOptionsFromEnv } from '../../sample/sample-env';
import { startSample, type RunningSample } from '../../sample/start-sample';
import {
  startBackChannelRecorder,
  type BackChannelRecorder,
} from '../fixtures/back-channel-recorder';
import { describeWithChromium, launchChromiumProfile } from '../fixtures/chromium';
import {
  describeWithGlewlwyd,
  GLEWLWYD_USER,
  startGlewlwyd,
  type Glewlwyd,
} from '../fixtures/glewlwyd';

/**
 * The sample's Portal and Games against a real Glewlwyd (Debian's 2.7.5), in Chromium with
 * third-party cookies blocked: login with the passport strategy and single sign-on, RP-initiated
 * logout through Glewlwyd's end-session page, back-channel logout with its legacy logout tokens
 * (refused without `legacyLogoutTokens`, accepted with it), front-channel logout framed by its
 * logout page, and what Glewlwyd does not do, pinned. The clients are docs/examples/glewlwyd-client.ts,
 * which the Glewlwyd guide embeds. Screenshots go to test-artifacts/glewlwyd-op/.
 */

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'glewlwyd-op');
/** Glewlwyd sends its logout tokens from a thread of its own, after the page has moved on. */
const DELIVERY_WAIT_MS = 10_000;

describeWithGlewlwyd('glewlwyd-op')('Glewlwyd 2.7.5 as the OP', () => {
  let op: Glewlwyd;
  let recorder: BackChannelRecorder;
  let dataDir: string;

  beforeAll(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'oidc-logout-glewlwyd-sample-'));
    op = await startGlewlwyd();
    recorder = await startBackChannelRecorder();
  });

  afterAll(async () => {
    await recorder?.close();
    await op?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('discovery: an end_session_endpoint, and neither backchannel_ nor frontchannel_logout_supported although it sends both', async () => {
    const response = await fetch(`${op.issuer}/.well-known/openid-configuration`);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.issuer).toBe(op.issuer);
    expect(metadata.end_session_endpoint).toBe(`${op.issuer}/end_session`);
    expect(metadata.id_token_signing_alg_values_supported).toContain('RS256');
    // A quirk: the metadata of the logout specs is absent (the library does not need it).
    expect(metadata).not.toHaveProperty('backchannel_logout_supported');
    expect(metadata).not.toHaveProperty('backchannel_logout_session_supported');
    expect(metadata).not.toHaveProperty('frontchannel_logout_supported');
  });

  it('its admin API takes the logout properties as strings only: the boolean true is refused, the string "true" is what it takes', async () => {
    const client = glewlwydClient({
      clientId: 'strings',
      clientSecret: 'strings-secret',
      appUrl: 'http://localhost:1',
      issuer: op.issuer,
      backChannelLogoutUri: 'http://127.0.0.1:1/logout/connect/back-channel/sso',
      frontChannelLogoutUri: 'http://localhost:1/logout/connect/front-channel/sso',
    });
    for (const property of [
      'backchannel_logout_session_required',
      'frontchannel_logout_session_required',
    ]) {
      expect(client[property]).toBe('true');
      await expect(op.setClients([{ ...client, [property]: true }])).rejects.toThrow(
        `property '${property}' must be a string value`,
      );
    }
    await op.setClients([client]);
    await op.setClients([]);
  });

  describeWithChromium('glewlwyd-op')('in Chromium, third-party cookies blocked', () => {
    let browser: Awaited<ReturnType<typeof launchChromiumProfile>>;
    let sample: RunningSample | undefined;
    let shots = 0;

    beforeAll(async () => {
      browser = await launchChromiumProfile('block');
      // Glewlwyd's pages load nothing from elsewhere, but the machine has no network: drop it.
      await browser.context.route('**/*', (route) => {
        const { hostname } = new URL(route.request().url());
        return ['localhost', '127.0.0.1'].includes(hostname) ? route.continue() : route.abort();
      });
    });

    afterEach(async () => {
      await sample?.close();
      sample = undefined;
      recorder.deliveries.length = 0;
      await browser.context.clearCookies();
      for (const page of browser.context.pages()) await page.close();
    });

    afterAll(async () => {
      await browser?.close();
    });

    /** The clients at Glewlwyd and the sample (from environment variables, as `npm start` reads). */
    async function start(
      scenario: string,
      channels: { games: 'back' | 'front' },
      env: Record<string, string> = {},
      edit: (client: Record<string, unknown>) => Record<string, unknown> = (client) => client,
    ): Promise<RunningSample> {
      // Ports of their own for each scenario: a freed port may have been taken meanwhile.
      const ports = {
        portal: await reservePort(0, '127.0.0.1', 'Portal'),
        games: await reservePort(0, '127.0.0.1', 'Games'),
      };
      const app = (name: 'portal' | 'games', mode: 'back' | 'front'): GlewlwydApp => ({
        clientId: name,
        clientSecret: `${name}-secret-${scenario}`,
        appUrl: `http://localhost:${ports[name]}`,
        issuer: op.issuer,
        ...(mode === 'back'
          ? { backChannelLogoutUri: recorder.uriFor(name) }
          : {
              frontChannelLogoutUri: `http://localhost:${ports[name]}/logout/connect/front-channel/sso`,
            }),
      });
      const portal = app('portal', 'back');
      const games = app('games', channels.games);
      await op.setClients([edit(glewlwydClient(portal)), edit(glewlwydClient(games))]);
      const options = sampleOptionsFromEnv({
        OIDC_ISSUER: op.issuer,
        PORTAL_CLIENT_ID: portal.clientId,
        PORTAL_CLIENT_SECRET: portal.clientSecret,
        GAMES_CLIENT_ID: games.clientId,
        GAMES_CLIENT_SECRET: games.clientSecret,
        PORTAL_PORT: String(ports.portal),
        GAMES_PORT: String(ports.games),
        SAMPLE_DATA_DIR: join(dataDir, scenario),
        ...env,
      });
      sample = await startSample({ ...options, log: () => undefined });
      recorder.route('portal', `http://127.0.0.1:${ports.portal}`);
      recorder.route('games', `http://127.0.0.1:${ports.games}`);
      return sample;
    }

    async function shot(page: Page, name: string): Promise<void> {
      shots += 1;
      await page.screenshot({
        path: join(ARTIFACTS, `${String(shots).padStart(2, '0')}-${name}.png`),
        fullPage: true,
      });
    }

    /** Until the app's page is back: Glewlwyd's "Continue" (its consent page) when it asks. */
    async function continueTo(page: Page, appUrl: string): Promise<void> {
      const deadline = Date.now() + 15_000;
      while (!page.url().startsWith(appUrl)) {
        if (Date.now() > deadline) throw new Error(`still at ${page.url()}`);
        const next = page.locator('button:has-text("Continue")');
        if ((await next.count()) > 0 && (await next.first().isVisible())) {
          await Promise.all([
            page.waitForURL((url) => url.toString().startsWith(appUrl)),
            next.first().click(),
          ]);
        } else {
          await page.waitForTimeout(200);
        }
      }
    }

    /** Portal: Glewlwyd's login page; Games: single sign-on. Returns both pages, logged in. */
    async function logInBoth(
      context: BrowserContext,
      running: RunningSample,
    ): Promise<{ portal: Page; games: Page; sub: string }> {
      const portal = await context.newPage();
      await portal.goto(running.portal.url);
      await portal.waitForSelector('input[type=password]');
      expect(portal.url().startsWith(`${op.url}/login.html`)).toBe(true);
      await portal.fill('input[placeholder="Your username"]', GLEWLWYD_USER.username);
      await portal.fill('input[type=password]', GLEWLWYD_USER.password);
      await shot(portal, 'glewlwyd-login');
      await portal.click('button:has-text("OK")');
      await continueTo(portal, running.portal.url);
      await portal.waitForSelector('#user');
      const sub = ((await portal.textContent('#user')) ?? '').trim();
      expect(sub).toMatch(/\S{4,}/);

      const games = await context.newPage();
      await games.goto(running.games.url);
      await continueTo(games, running.games.url);
      await games.waitForSelector('#user');
      expect((await games.textContent('#user'))?.trim()).toBe(sub);
      await shot(games, 'games-single-sign-on');
      return { portal, games, sub };
    }

    /** The Portal's "Log out": Glewlwyd's end-session page, its "Logout", back at the Portal. */
    async function rpLogoutAtPortal(portal: Page, running: RunningSample): Promise<string[]> {
      const visited: string[] = [];
      portal.on('request', (request) => {
        if (request.isNavigationRequest() && request.frame() === portal.mainFrame()) {
          visited.push(request.url());
        }
      });
      await portal.getByRole('button', { name: 'Log out' }).click();
      await portal.waitForSelector('button:has-text("Stay connected")');
      expect(portal.url()).toContain('prompt=end_session');
      await shot(portal, 'glewlwyd-end-session');
      await Promise.all([
        portal.waitForURL(`${running.portal.url}/signed-out`),
        portal.locator('button:has-text("Logout")').first().click(),
      ]);
      return visited;
    }

    async function events(page: Page): Promise<string> {
      return (await page.textContent('#logout-events')) ?? '';
    }

    it('without legacyLogoutTokens: RP-initiated logout works, its logout tokens (no exp) are refused with exp_missing, Games stays logged in', async () => {
      const running = await start('strict', { games: 'back' });
      const { portal, games } = await logInBoth(browser.context, running);

      const visited = await rpLogoutAtPortal(portal, running);
      // The end-session request carried a state, and it came back to the callback (checked there).
      const endSession = visited.find((url) => url.startsWith(`${op.issuer}/end_session`));
      expect(new URL(endSession ?? 'http://x/').searchParams.get('state')).toMatch(/.{16,}/);
      const callback = visited.find((url) =>
        url.startsWith(`${running.portal.url}/logout/callback`),
      );
      expect(new URL(callback ?? 'http://x/').searchParams.get('state')).toBe(
        new URL(endSession ?? 'http://x/').searchParams.get('state'),
      );
      expect(await portal.textContent('#status')).toContain('not logged in');

      // Both apps get a logout token (the Portal too, which started the logout): no exp, typ JWT.
      const deliveries = await recorder.waitFor(2, DELIVERY_WAIT_MS);
      expect(deliveries.map((d) => d.app).sort()).toEqual(['games', 'portal']);
      for (const delivery of deliveries) {
        expect(delivery.header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
        expect(delivery.claims).not.toHaveProperty('exp');
        expect(delivery.claims).toMatchObject({ iss: op.issuer, aud: delivery.app });
        expect(delivery.claims.iat).toEqual(expect.any(Number));
        expect(delivery.claims).toHaveProperty('sid');
        expect(delivery.claims.events).toEqual({
          'http://schemas.openid.net/event/backchannel-logout': {},
        });
        expect(delivery.status).toBe(400);
        expect(JSON.parse(delivery.body)).toEqual({
          error: 'invalid_request',
          error_description:
            'Logout token rejected (exp_missing): exp is missing (enable legacy logout tokens for older OPs)',
        });
      }

      // So nothing ended Games' session.
      await games.reload();
      expect(games.url()).toBe(`${running.games.url}/`);
      expect(await events(games)).not.toContain('back-channel logout');
      await shot(games, 'strict-games-still-logged-in');
    });

    it('with legacyLogoutTokens: Games is logged out on reload; the Portal, which started it, answers its own token 200 with nothing left to end', async () => {
      const running = await start(
        'legacy',
        { games: 'back' },
        { OIDC_LEGACY_LOGOUT_TOKENS: 'true' },
      );
      const { portal, games, sub } = await logInBoth(browser.context, running);
      const gamesSid = ((await games.textContent('#sid')) ?? '').trim();

      await rpLogoutAtPortal(portal, running);
      const deliveries = await recorder.waitFor(2, DELIVERY_WAIT_MS);
      expect(deliveries.map((d) => [d.app, d.status, d.body]).sort()).toEqual([
        ['games', 200, ''],
        ['portal', 200, ''],
      ]);
      expect(deliveries.find((d) => d.app === 'games')?.claims).toMatchObject({
        sub,
        sid: gamesSid,
      });
      // Glewlwyd gives both apps the same sid (the sample hides sids in both with front channel).
      expect(deliveries.find((d) => d.app === 'portal')?.claims.sid).toBe(gamesSid);

      await games.reload();
      expect(games.url()).toBe(`${running.games.url}/signed-out`);
      expect(await events(games)).toContain(
        `back-channel logout (user ${sub}, sid ${gamesSid}): 1 session ended here`,
      );
      await shot(games, 'legacy-games-signed-out');
      const me = await games.request.get(`${running.games.url}/me`);
      expect(me.status()).toBe(401);
      // The Portal's own session had ended already (RP-initiated): its token found nothing.
      await portal.goto(`${running.portal.url}/signed-out`);
      expect(await events(portal)).toMatch(
        /back-channel logout \(user .*\): no session left to end here/,
      );
    });

    it('without the plural post_logout_redirect_uris, its end-session page never sends the browser back to the app', async () => {
      const running = await start(
        'singular',
        { games: 'back' },
        { OIDC_LEGACY_LOGOUT_TOKENS: 'true' },
        ({ post_logout_redirect_uris: _plural, ...client }) => client,
      );
      const { portal } = await logInBoth(browser.context, running);
      const logBefore = op.log().length;
      await portal.getByRole('button', { name: 'Log out' }).click();
      await portal.waitForSelector('button:has-text("Stay connected")');
      await portal.locator('button:has-text("Logout")').first().click();
      await portal.getByText('Session closed').waitFor();
      // The logout itself happened: both apps get their logout tokens (accepted) ...
      const deliveries = await recorder.waitFor(2, DELIVERY_WAIT_MS);
      expect(deliveries.map((d) => [d.app, d.status]).sort()).toEqual([
        ['games', 200],
        ['portal', 200],
      ]);
      // ... but the browser stays on Glewlwyd's page.
      await portal.waitForTimeout(1000);
      await shot(portal, 'singular-stays-at-glewlwyd');
      expect(portal.url().startsWith(op.url)).toBe(true);
      expect(op.log().slice(logBefore)).toContain('Invalid post_logout_redirect_uris');
    });

    it("Glewlwyd's own logout button notifies no app: both stay logged in", async () => {
      const running = await start(
        'op-page',
        { games: 'back' },
        { OIDC_LEGACY_LOGOUT_TOKENS: 'true' },
      );
      const { portal, games } = await logInBoth(browser.context, running);

      const opPage = await browser.context.newPage();
      await opPage.goto(`${op.url}/login.html`);
      const logout = opPage.locator('button:has-text("Logout")').first();
      await logout.waitFor();
      await logout.click();
      await opPage.getByText('Session closed').waitFor();
      await shot(opPage, 'glewlwyd-own-logout');

      // None within 5 s, where the other scenarios' tokens come within a second.
      await expect(recorder.waitFor(1, 5000)).rejects.toThrow('0 of 1 deliveries');
      for (const [page, url] of [
        [portal, running.portal.url],
        [games, running.games.url],
      ] as const) {
        await page.reload();
        expect(page.url()).toBe(`${url}/`);
      }
    });

    it('Games on front-channel (GAMES_FRONT_CHANNEL): the logout page frames it, and Games is logged out on reload', async () => {
      const running = await start(
        'front',
        { games: 'front' },
        { OIDC_LEGACY_LOGOUT_TOKENS: 'true', GAMES_FRONT_CHANNEL: 'true' },
      );
      const { portal, games, sub } = await logInBoth(browser.context, running);
      // An app with front-channel logout keeps its sids private.
      // The sample hides sids in both apps once one has front-channel logout.
      expect(await games.textContent('#sid')).toBe('(private: front-channel logout is on)');
      expect(await portal.textContent('#sid')).toBe('(private: front-channel logout is on)');
      const frames: string[] = [];
      portal.on('framenavigated', (frame) => {
        if (frame !== portal.mainFrame()) frames.push(frame.url());
      });

      await rpLogoutAtPortal(portal, running);
      const framed = frames.find((url) =>
        url.startsWith(`${running.games.url}/logout/connect/front-channel/sso`),
      );
      expect(framed, frames.join('\n')).toBeDefined();
      expect(new URL(framed!).searchParams.get('iss')).toBe(op.issuer);
      expect(new URL(framed!).searchParams.get('sid')).toMatch(/.{8,}/);
      // Only the Portal has a back-channel URL.
      const deliveries = await recorder.waitFor(1, DELIVERY_WAIT_MS);
      expect(deliveries.map((d) => [d.app, d.status])).toEqual([['portal', 200]]);
      // The sid framed for Games is the one the Portal's logout token carries.
      expect(deliveries[0]?.claims.sid).toBe(new URL(framed!).searchParams.get('sid'));

      await games.reload();
      expect(games.url()).toBe(`${running.games.url}/signed-out`);
      expect(await events(games)).toContain(
        `front-channel logout (user ${sub}): 1 session ended here`,
      );
      await shot(games, 'front-games-signed-out');
    });
  });
});

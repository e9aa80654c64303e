import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
 * test-artifacts/sample-browser/. After those logins and logouts, the sample's Prometheus page
 * counts them and names none of their secrets. Then the same with an external OP configured from
 * environment variables, as for Keycloak (another oidc-provider stands in for it).
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

  /**
   * What must never reach the metrics: the users (the embedded OP's `sub` is the login name), the
   * OP's `sid`s, and the session ids in every cookie the browser holds (the apps' and the OP's).
   */
  const secrets = new Set<string>();

  async function rememberSecrets(context: BrowserContext, ...values: string[]): Promise<void> {
    for (const value of values) secrets.add(value);
    for (const cookie of await context.cookies()) {
      const value = decodeURIComponent(cookie.value);
      // express-session's signed cookie: `s:<session id>.<signature>`.
      const signed = /^s:([^.]+)\./.exec(value);
      secrets.add(signed ? signed[1]! : value);
    }
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
      await rememberSecrets(context, 'alice', portalSid ?? '', gamesSid);

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
      await rememberSecrets(context, 'bob', portalSid, gamesSid);

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

    it('the Prometheus page counts those logins and logouts, and names no user, sid, session or token', async () => {
      // Two users, each logged in to both apps; one RP-initiated logout at the Portal (the OP then
      // tells Games), one logout at the OP (it tells both apps).
      const response = await fetch(sample.metrics.url);
      expect(response.status).toBe(200);
      const page = await response.text();
      writeFileSync(join(ARTIFACTS, 'metrics.txt'), page);
      const samples = parsePrometheus(page);
      const sum = (name: string, labels: Record<string, string> = {}) =>
        samples
          .filter(
            (s) =>
              s.name === name &&
              Object.entries(labels).every(([key, value]) => s.labels[key] === value),
          )
          .reduce((total, s) => total + s.value, 0);

      const requests = 'oidc_logout_logout_requests_total';
      expect(
        sum(requests, { oidc_logout_channel: 'rp-initiated', oidc_logout_result: 'applied' }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        sum(requests, { oidc_logout_channel: 'back-channel', oidc_logout_result: 'applied' }),
      ).toBeGreaterThanOrEqual(3);
      expect(sum(requests, { oidc_logout_result: 'failed' })).toBe(0);
      const revoked = 'oidc_logout_sessions_revoked_total';
      // Each user's session in each app ended once: four, whatever channel ended it.
      expect(sum(revoked)).toBe(4);
      expect(sum(revoked, { oidc_logout_channel: 'back-channel' })).toBeGreaterThanOrEqual(3);
      for (const s of samples.filter((s) => s.name.startsWith('oidc_logout_'))) {
        if (s.labels.oidc_logout_registration !== undefined) {
          expect(s.labels.oidc_logout_registration).toBe('sso');
        }
      }

      // The guard let the logged-in pages through and stopped the reloads after the logouts.
      const decisions = 'oidc_logout_guard_decisions_total';
      expect(sum(decisions, { oidc_logout_result: 'active' })).toBeGreaterThanOrEqual(4);
      expect(
        sum(decisions, { oidc_logout_result: 'revoked' }) +
          sum(decisions, { oidc_logout_result: 'unknown' }),
      ).toBeGreaterThanOrEqual(3);
      expect(sum(decisions, { oidc_logout_result: 'store_unavailable' })).toBe(0);
      // One duration per decision, in seconds (exporter-prometheus 0.223 appends `_total` to
      // counters but keeps units out of names: on the `# UNIT` line), under a second each.
      expect(page).toContain('# UNIT oidc_logout_guard_duration s\n');
      expect(sum('oidc_logout_guard_duration_count')).toBe(sum(decisions));
      expect(sum('oidc_logout_guard_duration_sum')).toBeGreaterThan(0);
      expect(sum('oidc_logout_guard_duration_sum')).toBeLessThan(sum(decisions));
      // Every logout token verified and every store call timed.
      expect(
        sum('oidc_logout_token_verification_duration_count', { oidc_logout_result: 'ok' }),
      ).toBe(sum(requests, { oidc_logout_channel: 'back-channel' }));
      expect(sum('oidc_logout_store_operation_duration_count')).toBeGreaterThan(0);
      // Each app discovered the OP once and fetched its keys; nothing failed.
      const fetches = 'oidc_logout_op_fetches_total';
      expect(sum(fetches, { oidc_logout_op_document: 'discovery', oidc_logout_result: 'ok' })).toBe(
        2,
      );
      expect(
        sum(fetches, { oidc_logout_op_document: 'jwks', oidc_logout_result: 'ok' }),
      ).toBeGreaterThanOrEqual(1);
      expect(sum(fetches, { oidc_logout_result: 'failed' })).toBe(0);
      expect(sum('oidc_logout_pending_logouts')).toBe(0);

      expect(secrets.size).toBeGreaterThanOrEqual(6);
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThanOrEqual(3);
        expect(page).not.toContain(secret);
      }
      // No JWT (ID or logout token) either: their header starts `eyJ`.
      expect(page).not.toMatch(/eyJ[\w-]{10,}/);
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
        METRICS_PORT: '0',
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

/** One sample of Prometheus's text format: `name{label="value",...} value`. */
interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text page (comments skipped; label values without `,` or `"`). */
function parsePrometheus(page: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of page.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

import type { OidcLoginUser } from '../../lib/passport';
import { escapeHtml } from '../html';
import { describeLogout, type LogoutEventEntry } from './logout-event-log';
import type { SampleAppSettings } from './sample-app.settings';

function layout(settings: SampleAppSettings, body: string): string {
  const name = escapeHtml(settings.name);
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${name}</title><style>` +
    'body{font-family:system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:0 1rem;color:#222}' +
    `header{background:${escapeHtml(settings.color)};color:#fff;padding:.8rem 1rem;margin:0 -1rem 1rem}` +
    'header h1{margin:0;font-size:1.5rem}code{background:#f2f2f2;padding:0 .2rem;word-break:break-all}' +
    'button,.button{font-size:1rem;padding:.4rem 1rem;border:1px solid #888;border-radius:3px;' +
    'background:#eee;color:#222;text-decoration:none;display:inline-block;cursor:pointer}' +
    'li{margin:.25rem 0}.muted{color:#666}' +
    `</style></head><body><header><h1>${name}</h1></header>${body}</body></html>`
  );
}

function otherAppLink(settings: SampleAppSettings): string {
  const { name, url } = settings.otherApp;
  return `<p><a href="${escapeHtml(url)}/">Open ${escapeHtml(name)}</a> (${escapeHtml(url)})</p>`;
}

function eventLog(settings: SampleAppSettings, events: readonly LogoutEventEntry[]): string {
  const items = events
    .map(
      (entry) =>
        `<li><time>${escapeHtml(entry.at.toLocaleTimeString('en-GB'))}</time> ` +
        `${escapeHtml(describeLogout(entry))}</li>`,
    )
    .join('');
  return (
    `<h2>Logouts ${escapeHtml(settings.name)} received</h2>` +
    (items
      ? `<ol id="logout-events" reversed>${items}</ol>`
      : '<p id="logout-events" class="muted">None yet.</p>')
  );
}

/** The `sid` as the pages show it: not at all when front-channel logout is on (it must stay private). */
export function shownSid(settings: SampleAppSettings, sid: string | undefined): string {
  if (settings.hideSids) return '(private: front-channel logout is on)';
  return sid ?? '(none)';
}

/** The private page: who is logged in, their OP session, the log-out button and the logout log. */
export function homePage(
  settings: SampleAppSettings,
  user: OidcLoginUser | undefined,
  events: readonly LogoutEventEntry[],
): string {
  return layout(
    settings,
    `<p id="status">Logged in as <strong id="user">${escapeHtml(user?.sub ?? '?')}</strong></p>` +
      '<ul>' +
      `<li>OP session (sid): <code id="sid">${escapeHtml(shownSid(settings, user?.sid))}</code></li>` +
      `<li>Issuer: <code>${escapeHtml(settings.issuer)}</code>, client: ` +
      `<code>${escapeHtml(settings.clientId)}</code></li></ul>` +
      // RP-initiated logout: the library's POST /logout ends this session and the OP's.
      '<form method="post" action="/logout"><button type="submit">Log out</button></form>' +
      otherAppLink(settings) +
      eventLog(settings, events),
  );
}

/** Where a browser lands when it is not (or no longer) logged in. */
export function signedOutPage(
  settings: SampleAppSettings,
  events: readonly LogoutEventEntry[],
): string {
  return layout(
    settings,
    `<p id="status">You are not logged in to ${escapeHtml(settings.name)}.</p>` +
      '<p><a class="button" href="/login">Log in</a></p>' +
      otherAppLink(settings) +
      eventLog(settings, events),
  );
}

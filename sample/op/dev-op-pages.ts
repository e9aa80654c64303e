import { escapeHtml } from '../html';

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}' +
  'h1{font-size:1.4rem}button{font-size:1rem;padding:.5rem 1rem;margin:.25rem .5rem .25rem 0}';

function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    `<style>${STYLE}</style></head><body>${body}</body></html>`
  );
}

/**
 * The OP's end-session confirmation (RP-Initiated Logout). `form` is oidc-provider's hidden form
 * (`id="op.logoutForm"`, with its xsrf token); the "Yes" button ends the OP session and sends a
 * back-channel logout to every app of that session.
 */
export function logoutPage(host: string, form: string): string {
  return page(
    'Sign out',
    `<h1>Sign out of the sample OpenID Provider (${escapeHtml(host)})?</h1>` +
      '<p>"Yes" ends your session here and logs you out of every app you signed in to with it ' +
      '(Portal and Games get a back-channel logout).</p>' +
      form +
      '<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>' +
      '<button type="submit" form="op.logoutForm">No, stay signed in</button>',
  );
}

/** Shown by the OP after a logout that has no post-logout redirect (ended at the OP itself). */
export function postLogoutPage(clientName: string | undefined): string {
  const from = clientName ? ` of ${escapeHtml(clientName)} and` : '';
  return page(
    'Signed out',
    `<h1>Signed out</h1><p>You are signed out${from} of the sample OpenID Provider. ` +
      'The apps of your session were told over the back channel: reload them.</p>',
  );
}

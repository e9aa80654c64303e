import Provider, { type Configuration } from 'oidc-provider';

/** Where the OP and the app run on the developer machine. */
export interface DevOpOptions {
  /** The OP's issuer, e.g. `http://localhost:3000`. */
  issuer: string;
  /** The app's own URL, e.g. `http://localhost:3001`. */
  appUrl: string;
  clientSecret: string;
}

/** node oidc-provider 9 with one client, the app, for a developer machine. */
export function createDevOp({ issuer, appUrl, clientSecret }: DevOpOptions): Provider {
  const backChannelLogoutUri = new URL('/logout/connect/back-channel/op', appUrl).href;
  const configuration: Configuration = {
    clients: [
      {
        client_id: 'portal',
        client_secret: clientSecret,
        redirect_uris: [new URL('/login/callback', appUrl).href],
        post_logout_redirect_uris: [new URL('/logout/callback', appUrl).href],
        backchannel_logout_uri: backChannelLogoutUri,
        backchannel_logout_session_required: true,
      },
    ],
    features: {
      devInteractions: { enabled: true }, // its development login page: any name and password
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // oidc-provider 9 refuses to connect to loopback and private addresses ("hostname resolves to
    // a special-use IP address"), so a logout token for an app on localhost never leaves the OP.
    // On a developer machine, let the requests to the app's back-channel URL, and only those, go
    // without that guard. Never in production: there the app has a public address.
    fetch: (url, init) => {
      const target = url instanceof Request ? url.url : String(url);
      if (target !== backChannelLogoutUri) return fetch(url, init);
      const { dispatcher: _ssrfGuard, ...withoutGuard } = (init ?? {}) as RequestInit & {
        dispatcher?: unknown;
      };
      return fetch(url, withoutGuard);
    },
  };
  return new Provider(issuer, configuration);
}

/** One app, as both Glewlwyd and the library need to know it. */
export interface GlewlwydApp {
  clientId: string;
  clientSecret: string;
  /** The app's public URL, e.g. `http://localhost:3001`. */
  appUrl: string;
  /** The `issuer` of Glewlwyd's OIDC plugin, e.g. `https://sso.example.com/api/oidc`. */
  issuer: string;
  /** Where Glewlwyd posts logout tokens (it calls it itself, from where it runs). */
  backChannelLogoutUri?: string;
  /** The app's front-channel URL, framed by Glewlwyd's logout page in the user's browser. */
  frontChannelLogoutUri?: string;
}

/**
 * The client for Glewlwyd 2.7's admin API (`POST /api/client/`, module "database"). Beside its own
 * fields (`enabled`, `confidential`), Glewlwyd keeps client properties as strings: the booleans of
 * the logout properties are the string "true".
 * Its end-session endpoint checks `post_logout_redirect_uri` against `post_logout_redirect_uris`
 * (plural, an array), a property the client module's data-format must be given first.
 */
export function glewlwydClient(app: GlewlwydApp): Record<string, unknown> {
  const postLogout = `${app.appUrl}/logout/callback`;
  return {
    client_id: app.clientId,
    name: app.clientId,
    enabled: true,
    confidential: true,
    client_secret: app.clientSecret,
    redirect_uri: [`${app.appUrl}/login/callback`],
    authorization_type: ['code', 'refresh_token'],
    token_endpoint_auth_method: ['client_secret_basic', 'client_secret_post'],
    scope: ['openid'],
    post_logout_redirect_uri: postLogout,
    post_logout_redirect_uris: [postLogout],
    ...(app.backChannelLogoutUri && {
      backchannel_logout_uri: app.backChannelLogoutUri,
      backchannel_logout_session_required: 'true',
    }),
    ...(app.frontChannelLogoutUri && {
      frontchannel_logout_uri: app.frontChannelLogoutUri,
      frontchannel_logout_session_required: 'true',
    }),
  };
}

import type { Server } from 'node:http';
import Provider from 'oidc-provider';

/** A client the embedded OP knows. */
export interface DevOpClient {
  clientId: string;
  clientSecret: string;
  appUrl: string;
}

/**
 * A development OpenID Provider (node oidc-provider) with back-channel and RP-initiated logout
 * enabled and its built-in login pages: any user name logs in. For the sample only.
 */
export async function startDevOp(
  issuer: string,
  port: number,
  clients: DevOpClient[],
): Promise<Server> {
  const provider = new Provider(issuer, {
    clients: clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [`${client.appUrl}/login/callback`],
      post_logout_redirect_uris: [`${client.appUrl}/logout/callback`],
      backchannel_logout_uri: `${client.appUrl}/logout/connect/back-channel/dev-op`,
      backchannel_logout_session_required: true,
    })),
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    claims: { openid: ['sub', 'sid'] },
    // The embedded OP is for local development only: fixed, non-secret cookie keys are fine here.
    cookies: { keys: ['nest-oidc-logout-sample-dev-only'] },
  });
  provider.proxy = false;
  const server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

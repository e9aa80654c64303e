import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider';
import { listenOn, type ListeningServer } from '../ports';
import { logoutPage, postLogoutPage } from './dev-op-pages';

/** A client (relying party) the embedded OP knows: a confidential web client. */
export interface DevOpClient {
  clientId: string;
  clientSecret: string;
  name: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  backChannelLogoutUri: string;
}

/** Options of {@link startDevOp}. */
export interface DevOpOptions {
  issuer: string;
  port: number;
  host: string;
  clients: DevOpClient[];
}

/** A running embedded OP. */
export interface DevOp {
  readonly issuer: string;
  close(): Promise<void>;
}

/**
 * A development OpenID Provider (node oidc-provider) for the sample only: its built-in login page
 * (any user name and password log in), no consent page for the sample's own clients, Back-Channel
 * Logout and RP-Initiated Logout enabled, keys and cookie secrets made up at every start.
 */
export async function startDevOp(options: DevOpOptions): Promise<DevOp> {
  const provider = new Provider(options.issuer, await configuration(options.clients));
  provider.proxy = false;
  const callback = provider.callback();
  const server: ListeningServer = await listenOn(
    createServer((req, res) => void callback(req, res)),
    options.port,
    options.host,
    'the OP (OP_PORT)',
  );
  return { issuer: options.issuer, close: () => server.close() };
}

async function configuration(clients: readonly DevOpClient[]): Promise<Configuration> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const backChannelUris = new Set(clients.map((client) => client.backChannelLogoutUri));
  return {
    clients: clients.map((client): ClientMetadata => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      client_name: client.name,
      redirect_uris: [client.redirectUri],
      post_logout_redirect_uris: [client.postLogoutRedirectUri],
      backchannel_logout_uri: client.backChannelLogoutUri,
      backchannel_logout_session_required: true,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'sample-rs256', alg: 'RS256' }] },
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.body = logoutPage(ctx.host, form);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.body = postLogoutPage(ctx.oidc.client?.clientName);
        },
      },
    },
    claims: { openid: ['sub'] },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    // The sample's clients are first-party: the user is not asked to consent to each of them.
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: client.clientId,
        accountId: session.accountId,
      });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
    // Sessions live in memory and end with the process: fresh cookie secrets at every start.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 8 * 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 8 * 3600,
    },
    // oidc-provider refuses to call loopback and private addresses (SSRF protection). The sample's
    // apps run on localhost, so their back-channel logout URIs, and only those, go without it.
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (!backChannelUris.has(url)) return fetch(input, init);
      const { dispatcher: _ssrfGuard, ...rest } = init as RequestInit & { dispatcher?: unknown };
      return fetch(input, rest);
    },
  };
}

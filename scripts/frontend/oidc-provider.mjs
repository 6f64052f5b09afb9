// A real, certified OpenID Provider on 127.0.0.1: the `oidc-provider` package (OpenID Certified),
// pinned in package.json, with its development login and consent pages. Used by oidc.mjs (run by
// e2e/tests/oidc.rs); also runs on its own for local trials:
//   ISSUER_PORT=4400 REDIRECT_URI=http://127.0.0.1:9000/auth/oidc/corp/callback node oidc-provider.mjs
//
// Any login signs in (the password is not checked); the login names the account:
// - `ada@example.com` → `email: ada@example.com`, `email_verified: true`;
// - `unverified:bob@example.com` → `email: bob@example.com`, `email_verified: false`.
import { pathToFileURL } from 'node:url';

import Provider from 'oidc-provider';

export const CLIENT_ID = 'tasks-api';
export const CLIENT_SECRET = 'tasks-api-secret-of-the-e2e-provider';

function claimsOf(login) {
  const unverified = login.startsWith('unverified:');
  const email = unverified ? login.slice('unverified:'.length) : login;
  return { sub: `sub-${email}`, email, email_verified: !unverified, name: email.split('@')[0] };
}

/** Starts the provider on 127.0.0.1:`port` for one client whose redirect URI is `redirectUri`. */
export async function startProvider({ port, redirectUri }) {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    async findAccount(_, id) {
      return { accountId: id, claims: async () => claimsOf(id) };
    },
    pkce: { required: () => true },
    cookies: { keys: ['e2e-cookie-key-e2e-cookie-key'] },
  });
  // The account id is what was typed at the login page: the dev interactions use it as `sub`'s
  // source, through findAccount above.
  const server = await new Promise((resolve) => {
    const listening = provider.listen(port, '127.0.0.1', () => resolve(listening));
  });
  return { issuer, close: () => new Promise((resolve) => server.close(resolve)) };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { issuer } = await startProvider({
    port: Number(process.env.ISSUER_PORT ?? 4400),
    redirectUri: process.env.REDIRECT_URI ?? 'http://127.0.0.1:9000/auth/oidc/corp/callback',
  });
  console.log(`OpenID Provider at ${issuer} (client ${CLIENT_ID} / ${CLIENT_SECRET})`);
}

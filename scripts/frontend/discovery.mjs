// What a standard OAuth 2 client library makes of our metadata: oauth4webapi (pinned in
// package.json) discovers the API at ISSUER by RFC 8414 (it checks that the document's `issuer` is
// the one asked for), then spends REFRESH_TOKEN at the token endpoint the document names, and
// fetches the key set at its `jwks_uri`. Run by e2e/tests/hostile.rs; fails on the first problem.
import * as oauth from 'oauth4webapi';

const issuer = new URL(process.env.ISSUER ?? '');
const refreshToken = process.env.REFRESH_TOKEN;
if (!refreshToken) throw new Error('REFRESH_TOKEN must be set');
// Local runs are plain HTTP; in AWS the issuer is the API's https:// URL.
const insecure = { [oauth.allowInsecureRequests]: true };

const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
);
for (const field of ['token_endpoint', 'jwks_uri']) {
  if (!as[field]?.startsWith(issuer.origin)) throw new Error(`${field}: ${as[field]}`);
}

const client = { client_id: 'tasks-frontend' };
const tokens = await oauth.processRefreshTokenResponse(
  as,
  client,
  await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, insecure),
);
if (tokens.token_type !== 'bearer' || !tokens.access_token || !tokens.refresh_token) {
  throw new Error(`unexpected token response: ${JSON.stringify(Object.keys(tokens))}`);
}

const keys = await fetch(as.jwks_uri);
const jwks = await keys.json();
if (keys.status !== 200 || !Array.isArray(jwks.keys)) throw new Error(`jwks: ${keys.status}`);
console.log(JSON.stringify({ issuer: as.issuer, token_endpoint: as.token_endpoint, keys: jwks.keys.length }));

// Sign-in with an OpenID Provider as a browser does it, end to end: Debian's Chromium (driven by
// playwright-core) on a frontend page at FRONTEND_PORT, the API at API_URL (cargo lambda watch,
// configured with this provider), and a real, certified OpenID Provider (oidc-provider.mjs) at
// ISSUER_PORT with its own login and consent pages. Run by e2e/tests/oidc.rs.
//
// 1. ada@example.com (verified by the provider) walks frontend → /auth/oidc/corp/authorize →
//    the provider's login and consent → our callback → the frontend's page with a one-time code,
//    which the page exchanges at /auth/token (with its PKCE verifier) and calls /users/me with;
// 2. the code again, and the callback URL again: refused;
// 3. the provider says email_verified: false for bob@example.com, who has an account here: back
//    at the frontend with error=email_not_verified, nothing linked;
// 4. ada's security log shows registered, identity_linked and signed_in (amr fed); bob's shows
//    the refused attempt.
// A screenshot of each step goes to SCREENSHOTS.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { startProvider } from './oidc-provider.mjs';

const api = process.env.API_URL;
const screenshots = process.env.SCREENSHOTS;
const frontendPort = Number(process.env.FRONTEND_PORT);
const issuerPort = Number(process.env.ISSUER_PORT);
assert.ok(api && screenshots && frontendPort && issuerPort,
  'API_URL, FRONTEND_PORT, ISSUER_PORT and SCREENSHOTS must be set');
mkdirSync(screenshots, { recursive: true });
const frontend = `http://127.0.0.1:${frontendPort}`;

// The frontend: a start page that links to the provider sign-in (with its own PKCE challenge for
// the one-time code), and the page the sign-in returns to, which exchanges the code.
const verifier = randomBytes(32).toString('base64url');
const challenge = createHash('sha256').update(verifier).digest('base64url');
const returnTo = `${frontend}/signed-in`;
const startPage = `<!doctype html><title>frontend</title><h1>A frontend</h1>
<a id="sign-in" href="${api}/auth/oidc/corp/authorize?return_to=${encodeURIComponent(returnTo)}&code_challenge=${challenge}&code_challenge_method=S256">Sign in with Corp</a>`;
const signedInPage = `<!doctype html><title>signed in</title><h1>Back from the provider</h1><pre id="result">working</pre>
<script>
(async () => {
  const query = new URLSearchParams(location.search);
  const out = document.getElementById('result');
  if (query.get('error')) { out.textContent = JSON.stringify({ error: query.get('error'), description: query.get('error_description') }); return; }
  const form = new URLSearchParams({ grant_type: 'authorization_code', code: query.get('code'), code_verifier: ${JSON.stringify(verifier)} });
  const token = await fetch(${JSON.stringify(api)} + '/auth/token', { method: 'POST', body: form });
  const pair = await token.json();
  if (token.status !== 200) { out.textContent = JSON.stringify({ status: token.status, body: pair }); return; }
  const me = await fetch(${JSON.stringify(api)} + '/users/me', { headers: { authorization: 'Bearer ' + pair.access_token } });
  out.textContent = JSON.stringify({ status: me.status, user: await me.json(), token: pair.access_token });
})();
</script>`;
const site = createServer((req, res) => {
  const page = req.url.startsWith('/signed-in') ? signedInPage : startPage;
  res.writeHead(200, { 'content-type': 'text/html' }).end(page);
});
await new Promise((resolve) => site.listen(frontendPort, '127.0.0.1', resolve));
const provider = await startProvider({ port: issuerPort, redirectUri: `${api}/auth/oidc/corp/callback` });

async function call(method, path, { json, form, token } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body;
  if (json) { headers['content-type'] = 'application/json'; body = JSON.stringify(json); }
  if (form) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(form).toString(); }
  const answer = await fetch(api + path, { method, headers, body, redirect: 'manual' });
  const text = await answer.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: answer.status, body: parsed };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/** One browser (its own cookies) signing in as `login`; the result the page shows, and URLs seen. */
async function signIn(login, name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  // The provider's pages load a web font: nothing leaves 127.0.0.1.
  await context.route((url) => !/^(https?:\/\/127\.0\.0\.1(:\d+)?\/|data:|blob:)/.test(url.href),
    (route) => route.abort());
  const seen = [];
  context.on('request', (request) => seen.push(request.url()));
  const page = await context.newPage();
  await page.goto(`${frontend}/`);
  await page.click('#sign-in');
  await page.locator('input[name="login"]').waitFor();
  assert.ok(page.url().startsWith(provider.issuer), `at the provider: ${page.url()}`);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any password');
  await shot(page, `${name}-provider-login`);
  await page.click('button[type="submit"]');
  await page.locator('button', { hasText: 'Continue' }).waitFor();
  await shot(page, `${name}-provider-consent`);
  await page.click('button[type="submit"]');
  await page.waitForURL((url) => url.href.startsWith(returnTo));
  await page.waitForFunction(() => document.getElementById('result')?.textContent !== 'working');
  const result = JSON.parse(await page.locator('#result').textContent());
  await shot(page, `${name}-back-at-the-frontend`);
  return { result, seen, context, page, landed: page.url() };
}

async function shot(page, name) {
  const path = join(screenshots, `oidc-${name}.png`);
  await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
}

try {
  // 1. The whole flow.
  const ada = await signIn('ada@example.com', 'ada');
  assert.equal(ada.result.status, 200, JSON.stringify(ada.result));
  assert.equal(ada.result.user.email, 'ada@example.com');
  const code = new URL(ada.landed).searchParams.get('code');
  assert.ok(code, ada.landed);
  for (const url of ada.seen) {
    assert.ok(!/access_token|refresh_token/.test(url), `a token in a URL: ${url}`);
  }

  // 2. Replays: the code (already exchanged), the callback URL (its state is spent).
  const again = await call('POST', '/auth/token', { form: { grant_type: 'authorization_code', code, code_verifier: verifier } });
  assert.equal(again.status, 401, JSON.stringify(again));
  const callbackUrl = ada.seen.find((url) => url.startsWith(`${api}/auth/oidc/corp/callback`));
  assert.ok(callbackUrl, 'the browser went through our callback');
  const replay = await ada.page.goto(callbackUrl);
  assert.equal(replay.status(), 422, 'the same callback again');
  assert.match(await ada.page.textContent('body'), /state/);
  await shot(ada.page, 'ada-callback-replayed');
  await ada.context.close();

  // 3. An account here, and a provider that does not vouch for its address: no link.
  const bob = await call('POST', '/auth/register', { json: { email: 'bob@example.com', password: 'bob-password-1' } });
  assert.equal(bob.status, 201, JSON.stringify(bob));
  const refused = await signIn('unverified:bob@example.com', 'bob');
  assert.equal(refused.result.error, 'email_not_verified', JSON.stringify(refused.result));
  await refused.context.close();

  // 4. The security logs.
  const adaLog = await call('GET', '/users/me/security-log', { token: ada.result.token });
  assert.equal(adaLog.status, 200, JSON.stringify(adaLog));
  const adaKinds = adaLog.body.map((e) => e.kind).reverse();
  assert.deepEqual(adaKinds, ['registered', 'identity_linked', 'signed_in'], JSON.stringify(adaLog.body));
  const signedIn = adaLog.body.find((e) => e.kind === 'signed_in');
  assert.deepEqual(signedIn.detail.amr, ['fed']);
  const identities = await call('GET', '/users/me/identities', { token: ada.result.token });
  assert.deepEqual(identities.body.map((i) => [i.provider, i.email]), [['corp', 'ada@example.com']]);
  const bobLogin = await call('POST', '/auth/login', { json: { email: 'bob@example.com', password: 'bob-password-1' } });
  assert.equal(bobLogin.status, 200, JSON.stringify(bobLogin));
  const bobLog = await call('GET', '/users/me/security-log', { token: bobLogin.body.access_token });
  const failed = bobLog.body.find((e) => e.kind === 'provider_sign_in_failed');
  assert.deepEqual(failed?.detail, { provider: 'corp', reason: 'email_not_verified' }, JSON.stringify(bobLog.body));
  const bobIdentities = await call('GET', '/users/me/identities', { token: bobLogin.body.access_token });
  assert.deepEqual(bobIdentities.body, [], 'nothing linked to bob');
} finally {
  await browser.close();
  await provider.close();
  site.close();
}
console.log('sign-in with the OpenID Provider passed');

// Passkeys as a browser makes them: Debian's Chromium, driven by playwright-core, with a virtual
// authenticator (DevTools protocol: WebAuthn.addVirtualAuthenticator, resident keys and user
// verification) against the API at API_URL (cargo lambda watch, WEBAUTHN_RP_ID=localhost and
// WEBAUTHN_RP_ORIGINS listing http://localhost:PAGE_PORT and http://sub.localhost:PAGE_PORT).
// Run by e2e/tests/passkeys.rs.
//
// - a page on the allowed origin adds a passkey, then signs in with it without an email
//   (discoverable) and with one;
// - refused: an answer made on another origin (http://localhost:OTHER_PORT), a passkey made for
//   another RP id (sub.localhost), a replayed assertion (spent ceremony, and under a new one), an
//   answer without user verification, and a cloned authenticator whose counter went backwards;
// - each shows in the account's security log.
// Pages are served from loopback; API calls go from Node (the page only talks to the
// authenticator), so CORS plays no part here (browser.mjs covers it).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const api = process.env.API_URL;
const pagePort = process.env.PAGE_PORT;
const otherPort = process.env.OTHER_PORT;
assert.ok(api && pagePort && otherPort, 'API_URL, PAGE_PORT and OTHER_PORT must be set');

const email = `passkey-${Date.now()}@example.com`;
const password = 'passkey-password-1';

async function call(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const answer = await fetch(api + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await answer.text();
  return { status: answer.status, body: text ? JSON.parse(text) : null };
}

function site(port) {
  const html = '<!doctype html><title>passkeys</title><h1>Passkeys</h1>';
  const server = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

// What a frontend runs: the server's JSON options → the browser's call → JSON back.
async function create(page, options, tweak = {}) {
  return page.evaluate(async ({ options, tweak }) => {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
    if (tweak.rpId) publicKey.rp.id = tweak.rpId;
    const credential = await navigator.credentials.create({ publicKey });
    return credential.toJSON();
  }, { options, tweak });
}

async function get(page, options, tweak = {}) {
  return page.evaluate(async ({ options, tweak }) => {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
    if (tweak.userVerification) publicKey.userVerification = tweak.userVerification;
    if (tweak.allow) {
      // Name the credential (base64, as DevTools gives it), as a page may.
      const id = Uint8Array.from(atob(tweak.allow), (c) => c.charCodeAt(0));
      publicKey.allowCredentials = [{ type: 'public-key', id }];
    }
    const credential = await navigator.credentials.get({ publicKey });
    return credential.toJSON();
  }, { options, tweak });
}

async function signIn(page, body = {}, tweak = {}) {
  const options = await call('POST', '/auth/passkey/options', body);
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const credential = await get(page, options.body.options, tweak);
  const answer = await call('POST', '/auth/passkey', { ceremony: options.body.ceremony, credential });
  return { answer, ceremony: options.body.ceremony, credential };
}

const registered = await call('POST', '/auth/register', { email, password });
assert.equal(registered.status, 201, JSON.stringify(registered.body));
const login = await call('POST', '/auth/login', { email, password });
assert.equal(login.status, 200, JSON.stringify(login.body));
const token = login.body.access_token;

const servers = [await site(pagePort), await site(otherPort)];
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chromium-profile-')), {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // http://localhost and http://*.localhost are secure contexts; all of them on loopback.
    '--host-resolver-rules=MAP localhost 127.0.0.1, MAP *.localhost 127.0.0.1'],
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const authenticator = async (options = {}) => (await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true, ...options,
    },
  })).authenticatorId;
  const device = await authenticator();
  const origin = `http://localhost:${pagePort}`;
  await page.goto(`${origin}/`);

  // Add a passkey while signed in.
  const start = await call('POST', '/users/me/passkeys/registration', { current_password: password }, token);
  assert.equal(start.status, 200, JSON.stringify(start.body));
  assert.equal(start.body.options.publicKey.rp.id, 'localhost');
  const attestation = await create(page, start.body.options);
  const added = await call('POST', '/users/me/passkeys',
    { ceremony: start.body.ceremony, credential: attestation, name: 'Virtual authenticator' }, token);
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.equal(added.body.name, 'Virtual authenticator');
  const again = await call('POST', '/users/me/passkeys',
    { ceremony: start.body.ceremony, credential: attestation }, token);
  assert.equal(again.status, 422, 'a registration ceremony is spent once');
  const listed = await call('GET', '/users/me/passkeys', undefined, token);
  assert.equal(listed.body.length, 1, JSON.stringify(listed.body));
  console.log('passkey added');

  // Sign in without an email (discoverable), then with one.
  const discoverable = await signIn(page);
  assert.equal(discoverable.answer.status, 200, JSON.stringify(discoverable.answer.body));
  const passkeyClaims = claims(discoverable.answer.body.access_token);
  assert.deepEqual(passkeyClaims.amr, ['pop', 'hwk', 'user', 'mfa']);
  assert.equal(passkeyClaims.aal, 'aal2');
  assert.equal(passkeyClaims.sub, registered.body.id);
  const withEmail = await signIn(page, { email });
  assert.equal(withEmail.answer.status, 200, JSON.stringify(withEmail.answer.body));
  const otherAccount = await signIn(page, { email: `nobody-${Date.now()}@example.com` });
  assert.equal(otherAccount.answer.status, 401, 'a ceremony for another address refuses this passkey');
  console.log('signed in with the passkey, with and without an email');

  // A replayed assertion: its ceremony is spent; under a fresh ceremony its challenge is wrong.
  const replayed = await call('POST', '/auth/passkey', { ceremony: withEmail.ceremony, credential: withEmail.credential });
  assert.equal(replayed.status, 422, JSON.stringify(replayed.body));
  const fresh = await call('POST', '/auth/passkey/options', {});
  const underFresh = await call('POST', '/auth/passkey', { ceremony: fresh.body.ceremony, credential: withEmail.credential });
  assert.equal(underFresh.status, 401, JSON.stringify(underFresh.body));
  console.log('replays refused');

  // Another origin: same host, another port (the browser lets rp id localhost sign there).
  await page.goto(`http://localhost:${otherPort}/`);
  const elsewhere = await signIn(page);
  assert.equal(elsewhere.answer.status, 401, JSON.stringify(elsewhere.answer.body));
  console.log('another origin refused');

  // Another RP id: an allowed origin (sub.localhost) that registers for rp id sub.localhost.
  await page.goto(`http://sub.localhost:${pagePort}/`);
  const wrongRp = await call('POST', '/users/me/passkeys/registration', { current_password: password }, token);
  const wrongAttestation = await create(page, wrongRp.body.options, { rpId: 'sub.localhost' });
  const wrongAdded = await call('POST', '/users/me/passkeys', { ceremony: wrongRp.body.ceremony, credential: wrongAttestation }, token);
  assert.equal(wrongAdded.status, 422, JSON.stringify(wrongAdded.body));
  console.log('another RP id refused');

  // Back on the allowed origin. The same credential on an authenticator without user verification.
  await page.goto(`${origin}/`);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: device });
  const original = credentials.find((c) => c.rpId === 'localhost');
  assert.ok(original, JSON.stringify(credentials));
  assert.ok(original.signCount >= 2, `the authenticator counts: ${original.signCount}`);
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: device });
  // A security key (usb) without user verification: it signs with the UV flag unset.
  const noUv = await authenticator({ transport: 'usb', hasUserVerification: false, isUserVerified: false });
  await cdp.send('WebAuthn.addCredential', {
    authenticatorId: noUv, credential: { ...original, signCount: original.signCount + 100 },
  });
  const unverified = await signIn(page, {}, { userVerification: 'discouraged', allow: original.credentialId });
  assert.equal(unverified.answer.status, 401, JSON.stringify(unverified.answer.body));
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: noUv });
  console.log('no user verification refused');

  // A clone: the same key on a new authenticator whose counter is behind.
  const clone = await authenticator();
  await cdp.send('WebAuthn.addCredential', { authenticatorId: clone, credential: { ...original, signCount: 0 } });
  const cloned = await signIn(page);
  assert.equal(cloned.answer.status, 401, JSON.stringify(cloned.answer.body));
  console.log('cloned authenticator refused');

  // The security log tells each.
  const log = await call('GET', '/users/me/security-log', undefined, token);
  assert.equal(log.status, 200);
  const kinds = log.body.map((e) => e.kind);
  for (const kind of ['passkey_added', 'signed_in', 'passkey_failed', 'passkey_clone_suspected']) {
    assert.ok(kinds.includes(kind), `${kind} in ${JSON.stringify(kinds)}`);
  }
  const failed = log.body.filter((e) => e.kind === 'passkey_failed').map((e) => e.detail.via);
  for (const via of ['origin', 'rp_id', 'challenge', 'user_verification', 'counter']) {
    assert.ok(failed.includes(via), `passkey_failed via ${via} in ${JSON.stringify(failed)}`);
  }
  assert.equal(kinds.filter((k) => k === 'signed_in').length, 3, 'password, and two passkey sign-ins');
  console.log(`security log: ${JSON.stringify(kinds)}; passkey_failed via ${JSON.stringify(failed)}`);
} finally {
  await context.close();
  for (const server of servers) server.close();
}

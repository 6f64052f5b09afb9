// The seeds' flows, written the way a frontend would, against the client that @hey-api/openapi-ts
// generates from our /openapi.json (client.mjs generates it, type-checks this file with
// `tsc --strict` and runs it). A change to the document that breaks a frontend breaks this first:
// at compile time (names, bodies, answers) or here at run time.
import assert from 'node:assert/strict';

import * as OTPAuth from 'otpauth';

import { client } from './generated/client/client.gen.js';
import {
  activateTotp,
  addPasskey,
  createTask,
  deleteTask,
  endMySession,
  enrolTotp,
  getSecondFactor,
  getCurrentUser,
  getMySecurityLog,
  getTask,
  issueToken,
  listMyIdentities,
  listMySessions,
  listPasskeys,
  listTasks,
  login,
  logout,
  passkeySignInOptions,
  refreshTokens,
  registerUser,
  removePasskey,
  replaceTask,
  signInSecondFactor,
  signInWithPasskey,
  startPasskeyRegistration,
  toggleTaskCompleted,
  unlinkMyIdentity,
  updateCurrentUser,
  updateTask,
} from './generated/client/sdk.gen.js';
import type { Identity, Problem, SecondFactorRequired, Task, TokenPair } from './generated/client/types.gen.js';

const api = process.env.API_URL;
assert.ok(api, 'API_URL must be set');

let accessToken = '';
// Every secured operation sends `Authorization: Bearer <accessToken>`.
client.setConfig({ baseUrl: api, auth: () => accessToken });

const email = `client-${Date.now()}@example.com`;
const password = 'client-password-1';

function step(name: string): void {
  console.log(`- ${name}`);
}

/** The token pair of a successful sign-in or refresh; fails the run with the problem otherwise. */
function tokens(answer: { data?: TokenPair; error?: Problem; response: Response }): TokenPair {
  assert.equal(answer.response.status, 200, JSON.stringify(answer.error));
  assert.ok(answer.data);
  assert.equal(answer.data.token_type, 'bearer');
  return answer.data;
}

step('register');
const registered = await registerUser({ body: { email, password, name: 'Client User' } });
assert.equal(registered.response.status, 201, JSON.stringify(registered.error));
assert.ok(registered.data);
const userId = registered.data.id;
assert.equal(registered.data.email, email);

step('login (JSON)');
const signedIn = tokens(await login({ body: { email, password } }));

step('/auth/token, password grant (form)');
const fromForm = tokens(await issueToken({ body: { username: email, password } }));
accessToken = fromForm.access_token;

step('/auth/token, refresh_token grant (form)');
const rotatedByForm = tokens(
  await issueToken({ body: { grant_type: 'refresh_token', refresh_token: fromForm.refresh_token } }),
);

step('refresh (JSON), and a spent refresh token is refused');
const refreshed = tokens(await refreshTokens({ body: { refresh_token: signedIn.refresh_token } }));
const spent = await refreshTokens({ body: { refresh_token: signedIn.refresh_token } });
assert.equal(spent.response.status, 401);
assert.ok(spent.error);
assert.equal(spent.error.status, 401);
// Reuse of a spent refresh token ends its whole session: the pair it was spent for dies too.
const revoked = await getCurrentUser({ auth: () => refreshed.access_token });
assert.equal(revoked.response.status, 401);
accessToken = rotatedByForm.access_token;

step('/users/me');
const me = await getCurrentUser();
assert.equal(me.response.status, 200, JSON.stringify(me.error));
assert.equal(me.data?.id, userId);
assert.equal(me.data?.name, 'Client User');

step('profile update');
const renamed = await updateCurrentUser({ body: { name: 'Seed User' } });
assert.equal(renamed.response.status, 200, JSON.stringify(renamed.error));
assert.equal(renamed.data?.name, 'Seed User');

step('tasks: create');
const path = { user_id: userId };
const created: Task[] = [];
for (const title of ['Buy groceries', 'Write the report', 'Call mum', 'Book flights', 'Pay rent']) {
  const answer = await createTask({ path, body: { title, description: `about: ${title}` } });
  assert.equal(answer.response.status, 201, JSON.stringify(answer.error));
  assert.ok(answer.data);
  assert.equal(answer.response.headers.get('location'), `/api/${userId}/tasks/${answer.data.id}`);
  created.push(answer.data);
}
const [first] = created;
assert.ok(first);

step('tasks: list, walked page by page through the cursor of each Link: rel="next"');
const seen: number[] = [];
let cursor: string | undefined;
let pages = 0;
do {
  const page = await listTasks({ path, query: { limit: 2, sort: 'created_at', cursor } });
  assert.equal(page.response.status, 200, JSON.stringify(page.error));
  assert.ok(page.data);
  assert.equal(page.response.headers.get('x-total-count'), String(created.length));
  seen.push(...page.data.map((task) => task.id));
  const next = /<([^>]+)>;\s*rel="next"/.exec(page.response.headers.get('link') ?? '');
  cursor = next?.[1] ? new URL(next[1], api).searchParams.get('cursor') ?? undefined : undefined;
  pages += 1;
} while (cursor && pages < 10);
assert.equal(pages, 3);
assert.deepEqual(seen, created.map((task) => task.id));

step('tasks: get, update (PUT and PATCH), toggle, delete');
const fetched = await getTask({ path: { ...path, id: first.id } });
assert.equal(fetched.data?.title, 'Buy groceries');
const replaced = await replaceTask({ path: { ...path, id: first.id }, body: { title: 'Buy more groceries' } });
assert.equal(replaced.response.status, 200, JSON.stringify(replaced.error));
assert.equal(replaced.data?.title, 'Buy more groceries');
assert.equal(replaced.data?.description, null);
const patched = await updateTask({ path: { ...path, id: first.id }, body: { description: 'Milk, eggs, bread' } });
assert.equal(patched.data?.description, 'Milk, eggs, bread');
assert.equal(patched.data?.title, 'Buy more groceries');
const toggled = await toggleTaskCompleted({ path: { ...path, id: first.id } });
assert.equal(toggled.response.status, 200, JSON.stringify(toggled.error));
assert.equal(toggled.data?.completed, true);
const deleted = await deleteTask({ path: { ...path, id: first.id } });
assert.equal(deleted.response.status, 204);
const gone = await getTask({ path: { ...path, id: first.id } });
assert.equal(gone.response.status, 404);
assert.equal(gone.error?.status, 404);

step('a 422 read as a typed problem+json');
const invalid = await createTask({ path, body: { title: '   ' } });
assert.equal(invalid.response.status, 422);
assert.equal(invalid.response.headers.get('content-type'), 'application/problem+json');
const problem: Problem | undefined = invalid.error;
assert.ok(problem);
assert.equal(problem.status, 422);
assert.ok(problem.detail.length > 0);
assert.deepEqual(problem.errors?.[0]?.loc, ['body', 'title']);

step('sessions: a second sign-in is a second session; ending it stops its token at once');
// (The JSON sign-in's session ended above, when its spent refresh token was presented again.)
const phone = tokens(await login({ body: { email, password } }));
const sessions = await listMySessions();
assert.equal(sessions.response.status, 200, JSON.stringify(sessions.error));
assert.equal(sessions.data?.length, 2);
const other = sessions.data?.find((session) => !session.current);
assert.ok(other);
const ended = await endMySession({ path: { session_id: other.id } });
assert.equal(ended.response.status, 204, JSON.stringify(ended.error));
const otherMe = await getCurrentUser({ auth: () => phone.access_token });
assert.equal(otherMe.response.status, 401);

step('security log: newest first, the ended session last');
const log = await getMySecurityLog({ query: { limit: 5 } });
assert.equal(log.response.status, 200, JSON.stringify(log.error));
assert.equal(log.data?.[0]?.kind, 'session_ended');
assert.equal(log.data?.[0]?.detail.session_id, other.id);

step('passkeys: the options a browser takes, typed; a forged answer is refused (the real ceremony: passkeys.mjs)');
const passkeyStart = await startPasskeyRegistration({ body: { current_password: password } });
assert.equal(passkeyStart.response.status, 200, JSON.stringify(passkeyStart.error));
assert.ok(passkeyStart.data);
const creation = passkeyStart.data.options as { publicKey: { rp: { id: string }; challenge: string } };
assert.equal(creation.publicKey.rp.id, 'localhost');
const forgedCreation = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'oA' } };
const forgedPasskey = await addPasskey({ body: { ceremony: passkeyStart.data.ceremony, credential: forgedCreation, name: 'Forged' } });
assert.equal(forgedPasskey.response.status, 422, JSON.stringify(forgedPasskey.error));
const passkeys = await listPasskeys();
assert.equal(passkeys.response.status, 200);
assert.deepEqual(passkeys.data, []);
const passkeyOptions = await passkeySignInOptions({ body: { email } });
assert.equal(passkeyOptions.response.status, 200, JSON.stringify(passkeyOptions.error));
assert.ok(passkeyOptions.data);
const forgedAssertion = {
  id: 'AAAA', rawId: 'AAAA', type: 'public-key',
  response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA', userHandle: 'AAAA' },
};
const passkeyRefused = await signInWithPasskey({ body: { ceremony: passkeyOptions.data.ceremony, credential: forgedAssertion } });
assert.equal(passkeyRefused.response.status, 401, JSON.stringify(passkeyRefused.error));
const noSuchPasskey = await removePasskey({ path: { id: '00000000-0000-4000-8000-000000000000' } });
assert.equal(noSuchPasskey.response.status, 404);
step('identity providers: none linked to a password account; a forged one-time code is refused');
// The sign-in through a provider itself runs in Chromium (oidc.mjs): it is a browser's redirects.
const identities = await listMyIdentities();
assert.equal(identities.response.status, 200, JSON.stringify(identities.error));
const linked: Identity[] = identities.data ?? [];
assert.deepEqual(linked, []);
const unlinked = await unlinkMyIdentity({ path: { identity_id: '7e2d3c4b-5a69-4f8e-a7b6-c5d4e3f2a1b0' } });
assert.equal(unlinked.response.status, 404, JSON.stringify(unlinked.error));
const forged = await issueToken({ body: { grant_type: 'authorization_code', code: 'forged-one-time-code' } });
assert.equal(forged.response.status, 401);
assert.equal(forged.error?.status, 401);

step('second factor: otpauth (an independent TOTP library) reads our otpauth:// URI; sign-in takes two steps');
const enrolled = await enrolTotp({ body: { current_password: password } });
assert.equal(enrolled.response.status, 201, JSON.stringify(enrolled.error));
assert.ok(enrolled.data);
const totp = OTPAuth.URI.parse(enrolled.data.otpauth_uri);
assert.ok(totp instanceof OTPAuth.TOTP);
assert.equal(totp.issuer, 'Tasks API');
assert.equal(totp.label, email);
const activated = await activateTotp({ body: { code: totp.generate() } });
assert.equal(activated.response.status, 200, JSON.stringify(activated.error));
const recoveryCodes = activated.data?.recovery_codes ?? [];
assert.equal(recoveryCodes.length, 10);
const recoveryCode = recoveryCodes[0] ?? '';
const factor = await getSecondFactor();
assert.equal(factor.data?.totp_active, true);
async function challenge(): Promise<string> {
  const answer = await login({ body: { email, password } });
  assert.equal(answer.response.status, 403, JSON.stringify(answer.error));
  const required = answer.error as unknown as SecondFactorRequired;
  assert.equal(required.error, 'mfa_required');
  return required.challenge;
}
// The current step's code was spent by the activation; the next step's is inside the window.
const nextCode = totp.generate({ timestamp: Date.now() + 30_000 });
const twoSteps = tokens(await signInSecondFactor({ body: { challenge: await challenge(), code: nextCode } }));
const claims = JSON.parse(Buffer.from(twoSteps.access_token.split('.')[1] ?? '', 'base64url').toString());
assert.equal(claims.aal, 'aal2');
const recovered = await signInSecondFactor({ body: { challenge: await challenge(), code: recoveryCode } });
assert.equal(recovered.response.status, 200, JSON.stringify(recovered.error));
const reused = await signInSecondFactor({ body: { challenge: await challenge(), code: recoveryCode } });
assert.equal(reused.response.status, 401);

step('logout: the access token stops working at once');
const out = await logout();
assert.equal(out.response.status, 204);
const after = await getCurrentUser();
assert.equal(after.response.status, 401);

console.log('generated client flows passed');

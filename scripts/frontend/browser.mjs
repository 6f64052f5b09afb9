// The docs pages and CORS as a browser sees them: Debian's Chromium, driven by playwright-core,
// against the API at API_URL (cargo lambda watch). Run by e2e/tests/frontend.rs.
//
// - /docs: Swagger UI loads from the API's own origin, "Authorize" signs in through the OAuth2
//   password flow at /auth/token, "Try it out" on GET /users/me answers 200 with the user, and a
//   task created through the UI answers 201;
// - /redoc: ReDoc loads and shows an operation;
// - a page on an allowed origin (ALLOWED_PORT, listed in the API's CORS_ORIGINS) calls the API with
//   fetch and a bearer token (a preflighted request), and a page on another origin (REFUSED_PORT)
//   is blocked by the browser;
// - no request leaves 127.0.0.1.
// A screenshot of each page goes to SCREENSHOTS.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const api = process.env.API_URL;
const screenshots = process.env.SCREENSHOTS;
assert.ok(api && screenshots && process.env.ALLOWED_PORT && process.env.REFUSED_PORT,
  'API_URL, ALLOWED_PORT, REFUSED_PORT and SCREENSHOTS must be set');
// Only this run's pictures: scripts/test.sh lists the folder after the tests.
rmSync(screenshots, { recursive: true, force: true });
mkdirSync(screenshots, { recursive: true });

const email = `browser-${Date.now()}@example.com`;
const password = 'browser-password-1';

/** JSON request to the API from Node (setting up the account the UI signs in as). */
async function call(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const answer = await fetch(api + path, { method, headers, body: body && JSON.stringify(body) });
  return { status: answer.status, body: await answer.json() };
}

/** A one-page site on 127.0.0.1:port: the frontend that calls the API from the browser. */
function site(port) {
  const html = '<!doctype html><title>frontend</title><h1>A frontend on this origin</h1>';
  const server = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function shot(page, name) {
  const path = join(screenshots, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  console.log(`screenshot: ${path}`);
}

const registered = await call('POST', '/auth/register', { email, password });
assert.equal(registered.status, 201, JSON.stringify(registered.body));
const userId = registered.body.id;

const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
// A fresh profile (no cache, no stored authorization from an earlier run). Without the
// background-networking flags Chromium calls home at start, and those connections are refused here.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
const servers = [];
try {
  const requests = [];
  context.on('request', (request) => requests.push(request.url()));
  const problems = [];
  context.on('weberror', (error) => problems.push(`page error: ${error.error().message}`));
  context.on('response', (response) => {
    if (response.status() >= 400 && !response.url().startsWith(api + '/api/')) {
      problems.push(`${response.status()} ${response.url()}`);
    }
  });

  // Swagger UI
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${api}/docs`);
  await page.locator('.swagger-ui .info .title').waitFor();
  await page.locator('button.authorize').click();
  const modal = page.locator('.modal-ux');
  const oauth = modal.locator('.auth-container').filter({ hasText: 'oauth2_password' });
  await oauth.locator('#oauth_username').fill(email);
  await oauth.locator('#oauth_password').fill(password);
  const tokenAnswer = page.waitForResponse((r) => r.url() === `${api}/auth/token`);
  await oauth.locator('button.authorize').click();
  assert.equal((await tokenAnswer).status(), 200, 'the OAuth2 password flow at /auth/token');
  await oauth.locator('button', { hasText: 'Logout' }).waitFor(); // shown once authorized
  await shot(page, 'docs-authorize');
  await modal.locator('button.close-modal').click();

  const me = page.locator('#operations-users-getCurrentUser');
  await me.locator('.opblock-summary').click();
  await me.locator('button.try-out__btn').click();
  await me.locator('button.execute').click();
  const meStatus = me.locator('.live-responses-table tbody .response-col_status').first();
  await meStatus.waitFor();
  assert.equal((await meStatus.innerText()).trim(), '200');
  const meBody = await me.locator('.live-responses-table tbody .response-col_description pre').first().innerText();
  assert.ok(meBody.includes(email) && meBody.includes(userId), meBody);
  await me.scrollIntoViewIfNeeded();
  await shot(page, 'docs-users-me');

  const create = page.locator('#operations-tasks-createTask');
  await create.locator('.opblock-summary').click();
  await create.locator('button.try-out__btn').click();
  await create.locator('tr[data-param-name="user_id"] input').fill(userId);
  await create.locator('textarea.body-param__text').fill(JSON.stringify({ title: 'Made in Swagger UI' }));
  await create.locator('button.execute').click();
  const createStatus = create.locator('.live-responses-table tbody .response-col_status').first();
  await createStatus.waitFor();
  assert.equal((await createStatus.innerText()).trim(), '201');
  await create.locator('.live-responses-table').scrollIntoViewIfNeeded();
  await shot(page, 'docs-create-task');
  const tasks = await call('GET', `/api/${userId}/tasks`, undefined,
    (await call('POST', '/auth/login', { email, password })).body.access_token);
  assert.deepEqual(tasks.body.map((t) => t.title), ['Made in Swagger UI']);

  // ReDoc
  await page.goto(`${api}/redoc`);
  // The tag's menu opens on a click; then the operation's entry scrolls to its section.
  await page.locator('li[data-item-id="tag/tasks"]').click();
  await page.locator('li[data-item-id="tag/tasks/operation/listTasks"]').click();
  const section = page.locator('[id="tag/tasks/operation/listTasks"]');
  await section.locator('h2').waitFor();
  const text = await section.innerText();
  assert.ok(text.includes('/api/{user_id}/tasks') && /cursor/i.test(text), text.slice(0, 500));
  await shot(page, 'redoc');

  // CORS: a frontend on an allowed origin calls the API with a bearer token (a request that needs
  // a preflight) and reads an exposed header; one on another origin is blocked by the browser.
  const token = (await call('POST', '/auth/login', { email, password })).body.access_token;
  const allowedOrigin = `http://127.0.0.1:${process.env.ALLOWED_PORT}`;
  servers.push(await site(Number(process.env.ALLOWED_PORT)), await site(Number(process.env.REFUSED_PORT)));
  const fromOrigin = async (origin) => {
    const frontend = await context.newPage();
    await frontend.goto(`${origin}/`);
    const result = await frontend.evaluate(async ([api, userId, token]) => {
      try {
        const headers = { authorization: `Bearer ${token}` };
        const me = await fetch(`${api}/users/me`, { headers });
        const tasks = await fetch(`${api}/api/${userId}/tasks?limit=1`, { headers });
        return { status: me.status, user: await me.json(), total: tasks.headers.get('x-total-count') };
      } catch (error) {
        return { error: String(error) };
      }
    }, [api, userId, token]);
    // What the page got, on the page, for its screenshot.
    await frontend.evaluate(([origin, result]) => {
      const pre = document.createElement('pre');
      pre.textContent = `fetch from ${origin}:\n${JSON.stringify(result, null, 2)}`;
      document.body.append(pre);
    }, [origin, result]);
    await shot(frontend, origin === allowedOrigin ? 'cors-allowed-origin' : 'cors-refused-origin');
    await frontend.close();
    return result;
  };
  const allowed = await fromOrigin(allowedOrigin);
  assert.equal(allowed.status, 200, JSON.stringify(allowed));
  assert.equal(allowed.user.id, userId);
  assert.equal(allowed.total, '1', 'X-Total-Count is exposed to the frontend');
  const refused = await fromOrigin(`http://127.0.0.1:${process.env.REFUSED_PORT}`);
  assert.match(refused.error ?? '', /Failed to fetch/, `another origin is blocked: ${JSON.stringify(refused)}`);

  console.log(`requests: ${requests.length}`);
  const foreign = requests.filter((url) => !/^(https?:\/\/127\.0\.0\.1(:\d+)?\/|data:|blob:)/.test(url));
  assert.deepEqual(foreign, [], 'every request stays on 127.0.0.1');
  assert.deepEqual(problems, [], 'no page errors');
} finally {
  await context.close();
  for (const server of servers) server.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log('browser checks passed');

/**
 * The status page in a real browser: the real bin/medic serve on a temp SQLite database filled by
 * the real `medic beat`, `medic check` and `medic pause` (at past instants under libfaketime), and
 * /status opened in headless Chromium through playwright-core. Asserts what a person sees, keeps a
 * screenshot of every run in test/.artifacts/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROUTING_KEY, tempProject, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { launchBrowser, loopbackContext } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../.artifacts/', import.meta.url));
const PING_KEY = 'test-ping-key_0123456789';
const VIEW_KEY = 'test-view-key_9876543210';
const MIN = 60_000;
const H = 60 * MIN;
/** A service name a config may hold (free text): shown as text, never as markup. */
const HOSTILE_NAME = `<script>alert('name')</script> Invoices & "mail" <img src=x onerror=alert(2)>`;
const HOSTILE_MESSAGE = `<script>alert("msg")</script> SMTP 550 & 'relay denied'`;

// An hourly service's strip cells are whole UTC hours, and serve draws them at the real moment it
// renders: the page must be read in the hour NOW is in. Within 2 minutes of an hour's end, wait
// for the next hour (the cells would move by one between filling and reading).
const left = H - ((Date.now() - 5000) % H);
if (left < 2 * MIN) await new Promise((resolve) => setTimeout(resolve, left + 1000));

// The moment the database is filled for: whole seconds (libfaketime), a little in the past so that
// the beats "now" are not in the future of the real clock serve reads.
const NOW = Math.floor(Date.now() / 1000) * 1000 - 5000;

let pd: PdServer;
/** The services; with `realistic`, without the one named to break the page (for the README's screenshot). */
const config = (listen: string, viewKeyEnv?: string, realistic = false) => ({
  database: 'medic.db',
  targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: pd.url } },
  checker: { gapThreshold: '2d' },
  services: [
    { slug: 'billing-export', name: 'Billing export', interval: '1h', grace: '15m', team: 'billing', priority: 'P2' },
    { slug: 'nightly-backup', name: 'Nightly backup', interval: '1d', grace: '2h', team: 'platform', priority: 'P1' },
    { slug: 'db-dump', name: 'Database dump', interval: '1h', grace: '10m', team: 'data', priority: 'P1' },
    { slug: 'search-reindex', name: 'Search reindex', interval: '1h', grace: '30m', team: 'search', priority: 'P3' },
    { slug: 'invoice-mailer', name: 'Invoice mailer', interval: '1h', grace: '15m', team: 'billing', priority: 'P2' },
    { slug: 'cert-renewal', name: 'Certificate renewal', interval: '1h', grace: '1h', team: 'platform', priority: 'P4' },
    ...(realistic ? [] : [{ slug: 'legacy-import', name: HOSTILE_NAME, interval: '1h', grace: '15m', team: 'billing', priority: 'P3' }]),
  ],
  serve: { listen, ...(viewKeyEnv && { viewKeyEnv }) },
});

let project: Project;
let browser: Browser;
const servers: ChildProcess[] = [];

/** `medic <args>` at `at` (frozen), expecting exit 0. */
async function at(when: number, ...args: string[]): Promise<void> {
  const r = await project.run(args, { at: when, frozen: true, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY } });
  if (r.code !== 0) throw new Error(`medic ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

/**
 * Beats of `slug` at these instants: the oldest first (it registers the service), the newest last
 * (the last beat recorded is the service's last beat), those between four at a time.
 */
async function beats(slug: string, instants: number[]): Promise<void> {
  const sorted = [...instants].sort((a, b) => a - b);
  const middle = sorted.slice(1, -1);
  await at(sorted[0]!, 'beat', slug);
  for (let i = 0; i < middle.length; i += 4) await Promise.all(middle.slice(i, i + 4).map((t) => at(t, 'beat', slug)));
  if (sorted.length > 1) await at(sorted.at(-1)!, 'beat', slug);
}

/** The real medic serve with the project's config; resolves with its URL once it listens (what it printed so far: `said`). */
let said = '';
function startServe(env: Record<string, string> = {}, args: string[] = []): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: project.dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'Europe/Berlin', HOME: project.home, MEDIC_PING_KEY: PING_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (s: string) => ((err += s), (said += s)));
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      said += s;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('close', (code) => reject(new Error(`medic serve exited ${code} before listening\n${err}${out}`)));
  });
}

const ago = (ms: number) => NOW - ms;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchBrowser();
  pd = await startPdServer();
  project = tempProject();
  const hourly = (from: number, to: number, skew = 2 * MIN) => Array.from({ length: from - to + 1 }, (_, i) => ago((from - i) * H + skew));
  // search-reindex: down from 4h32m ago until a beat came back 2h50m ago (missed cells, then a late
  // one: longer than an hour, so whatever the minute), late now.
  // Checked alone (a config of its own), so that these checks in the past register no other service.
  const full = config('127.0.0.1:0');
  project.writeConfig({ ...full, services: full.services.filter((s) => s.slug === 'search-reindex') });
  await beats('search-reindex', hourly(9, 6));
  await at(ago(3 * H), 'check');
  await at(ago(2 * H + 50 * MIN), 'beat', 'search-reindex');
  await at(ago(2 * H + 40 * MIN), 'check');
  await at(ago(H + 5 * MIN), 'beat', 'search-reindex');
  project.writeConfig(full);
  await Promise.all([
    // Each beat in its own whole-hour cell, the newest in the current one, whatever the minute now.
    beats('billing-export', hourly(11, 0, Math.min(2 * MIN, NOW % H))),
    beats(
      'nightly-backup',
      Array.from({ length: 6 }, (_, i) => ago(i * 24 * H + 3 * H)),
    ),
    // db-dump: quiet for 5 hours, down now.
    beats('db-dump', hourly(10, 5)),
    beats('invoice-mailer', hourly(8, 1)),
    beats('cert-renewal', hourly(7, 2)),
    beats('legacy-import', hourly(3, 1)),
  ]);
  await at(ago(20 * MIN), 'beat', 'invoice-mailer', '--fail', '-m', 'SMTP 550: relay denied');
  await at(ago(15 * MIN), 'beat', 'legacy-import', '--fail', '-m', HOSTILE_MESSAGE);
  await at(ago(10 * MIN), 'pause', 'cert-renewal', '--reason', 'rotating certificates');
  await at(NOW, 'check');
}, 120_000);

afterAll(async () => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  await browser?.close();
  await pd?.close();
  project?.remove();
});

async function open(url: string, viewport = { width: 1600, height: 1000 }): Promise<{ page: Page; dialogs: string[] }> {
  const context = await loopbackContext(browser, { viewport });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const res = await page.goto(`${url}/status`);
  expect(res?.status()).toBe(200);
  return { page, dialogs };
}

describe('the status page in Chromium', { timeout: 60_000 }, () => {
  let url: string;
  beforeAll(async () => {
    url = await startServe();
  });

  it('shows every service with its state as a word, down first, the summary and when it was rendered', async () => {
    const { page } = await open(url);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-hostile.png'), fullPage: true });
    expect(await page.getByRole('status').innerText()).toBe('1 down, 2 failed, 1 late, 1 paused, 2 up');
    const sections = page.locator('section.svc');
    expect(await sections.count()).toBe(7);
    // Down first (down, failed), then late, paused, up.
    const headings = await page.getByRole('heading', { level: 2 }).allInnerTexts();
    expect(headings.map((h) => h.split(/\s+/).slice(0, 2).join(' '))).toEqual(['✖ DOWN', '✖ FAILED', '✖ FAILED', '◐ LATE', '‖ PAUSED', '✔ UP', '✔ UP']);
    expect(headings[0]).toContain('Database dump');
    expect(headings[3]).toContain('Search reindex');
    const dbDump = await page.getByRole('region', { name: 'Database dump: down' }).innerText();
    expect(dbDump).toMatch(/Incident: open since 3h ago/);
    expect(dbDump).toContain('Missed: 5');
    expect(dbDump).toContain('Team: data');
    expect(dbDump).toContain('Priority: P1');
    expect(await page.getByRole('region', { name: 'Certificate renewal: paused' }).innerText()).toContain('Paused: rotating certificates');
    const meta = await page.locator('header .meta').innerText();
    expect(meta).toMatch(/^Rendered \d{4}-\d\d-\d\d \d\d:\d\d UTC \(\d{4}-\d\d-\d\d \d\d:\d\d (CET|CEST|GMT\+\d), Europe\/Berlin\) · last medic check .* · refreshes every 30 s$/);
  });

  it("shows each service's last expected beats as labelled cells, whole hours for an hourly service: on time, quiet, late, missed, failed, paused, none", async () => {
    const { page } = await open(url);
    const labels = async (slug: string) => (await page.getByRole('list', { name: `last 24 expected beats of ${slug}, oldest first` }).getByRole('img').all()).map((c) => c.getAttribute('aria-label'));
    const words = async (slug: string) => (await Promise.all(await labels(slug))).map((l) => l!.replace(/^.*UTC: /, ''));
    const billing = await words('billing-export');
    expect(billing).toHaveLength(24);
    expect(billing.slice(-12)).toEqual(Array(12).fill('beat on time'));
    expect(billing.slice(0, 11)).toEqual(Array(11).fill('no beat expected'));
    // An hourly service's cells are whole UTC hours: the cell of `t` is this many from the oldest.
    const cellOf = (t: number) => 23 - (Math.floor(NOW / H) - Math.floor(t / H));
    expect(await (await labels('billing-export')).at(-1)).toBe(`${new Date(Math.floor(NOW / H) * H).toISOString().slice(0, 16).replace('T', ' ')} UTC: beat on time`);
    const reindex = await words('search-reindex');
    // Missed only in the cells of the down that `medic check` recorded, late where the beat ended it.
    expect(reindex.slice(cellOf(ago(4 * H + 32 * MIN)), cellOf(ago(2 * H + 50 * MIN)))).toEqual(Array(cellOf(ago(2 * H + 50 * MIN)) - cellOf(ago(4 * H + 32 * MIN))).fill('missed'));
    expect(reindex[cellOf(ago(2 * H + 50 * MIN))]).toBe('beat late');
    expect(reindex.filter((w) => w === 'missed')).toHaveLength(cellOf(ago(2 * H + 50 * MIN)) - cellOf(ago(4 * H + 32 * MIN)));
    // Late now, within grace: its current cell has no beat yet, and is not missed.
    expect(reindex.at(-1)).toBe('no beat in this slot (not overdue)');
    expect((await words('db-dump')).slice(-4)).toEqual(Array(4).fill('missed'));
    // Failed 20 minutes ago, down since: the failure's cell, then missed.
    const mailer = await words('invoice-mailer');
    const failedCell = cellOf(ago(20 * MIN));
    expect(mailer.slice(failedCell)).toEqual(['run failed', ...Array(23 - failedCell).fill('missed')]);
    expect((await words('cert-renewal')).at(-1)).toBe('paused');
    // Each cell also has a title (a tooltip) with the same words.
    const cell = page.getByRole('list', { name: /billing-export/ }).getByRole('img').last();
    expect(await cell.getAttribute('title')).toBe(await cell.getAttribute('aria-label'));
  });

  it('shows hostile names and messages as text: no script element, no dialog', async () => {
    const { page, dialogs } = await open(url);
    expect(await page.getByRole('heading', { name: HOSTILE_NAME }).isVisible()).toBe(true);
    expect(await page.getByText(`Failed: ${HOSTILE_MESSAGE}`).isVisible()).toBe(true);
    expect(await page.title()).toBe('✖ 1 down, 2 failed, 1 late, 1 paused, 2 up · Medic status');
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    await page.waitForTimeout(200);
    expect(dialogs).toEqual([]);
  });

  it('on a phone (375×812) is one column with no horizontal scroll', async () => {
    const { page } = await open(url, { width: 375, height: 812 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    const lefts = await page.locator('section.svc').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().left));
    expect(new Set(lefts).size).toBe(1);
  });

  it('refreshes itself every 30 seconds, as it says, with no JavaScript', async () => {
    const { page } = await open(url);
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('30');
    expect(await page.locator('header .meta').innerText()).toContain('refreshes every 30 s');
    expect(await page.locator('script').count()).toBe(0);
  });
});

describe('the status page off loopback, in Chromium', { timeout: 60_000 }, () => {
  it('asks for the view key (Basic auth) and shows the page with it; the ping key does not open it', async () => {
    project.writeConfig(config('0.0.0.0:0', 'MEDIC_VIEW_KEY', true));
    said = '';
    const url = (await startServe({ MEDIC_VIEW_KEY: VIEW_KEY }, ['-v'])).replace('0.0.0.0', '127.0.0.1');
    // Without the key (or with the ping key) the browser is asked for credentials; headless, it gives up.
    const plain = await (await loopbackContext(browser)).newPage();
    await expect(plain.goto(`${url}/status`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    const withPing = await loopbackContext(browser, { httpCredentials: { username: 'x', password: PING_KEY } });
    const refused = await withPing.request.get(`${url}/status`);
    expect([refused.status(), refused.headers()['www-authenticate']]).toEqual([401, 'Basic realm="medic status", charset="UTF-8"']);
    expect((await (await withPing.newPage()).goto(`${url}/status`))?.status()).toBe(401);
    const withView = await (await loopbackContext(browser, { httpCredentials: { username: 'wall', password: VIEW_KEY } })).newPage();
    expect((await withView.goto(`${url}/status`))?.status()).toBe(200);
    expect(await withView.getByRole('status').innerText()).toBe('1 down, 1 failed, 1 late, 1 paused, 2 up');
    expect(await withView.content()).not.toContain(VIEW_KEY);
    // -v logs each request by its path; the key is in none of them.
    expect(said).toMatch(/ GET \/status 200 /);
    expect(said).toMatch(/ GET \/status 401 /);
    expect(said).not.toContain(VIEW_KEY);
    // The README's pictures (docs/images/ holds a copy of one run's).
    await withView.setViewportSize({ width: 1600, height: 1000 });
    await withView.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    await withView.setViewportSize({ width: 375, height: 812 });
    await withView.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png') });
  });
});

describe('the view key and a reload (SIGHUP)', { timeout: 30_000 }, () => {
  it('off loopback without serve.viewKeyEnv: 403 naming it; after adding it and SIGHUP, the key opens the page', async () => {
    const realistic = config('0.0.0.0:0', undefined, true);
    project.writeConfig(realistic);
    const url = (await startServe({ MEDIC_VIEW_KEY: VIEW_KEY }, ['-v'])).replace('0.0.0.0', '127.0.0.1');
    const auth = { authorization: `Bearer ${VIEW_KEY}` };
    const before = await fetch(`${url}/status`, { headers: auth });
    expect(before.status).toBe(403);
    expect(await before.text()).toContain('set serve.viewKeyEnv');
    project.writeConfig(config('0.0.0.0:0', 'MEDIC_VIEW_KEY', true));
    said = '';
    servers.at(-1)!.kill('SIGHUP');
    for (let i = 0; i < 100 && !said.includes('config reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(said).toContain('medic serve: config reloaded');
    expect((await fetch(`${url}/status`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${url}/status`)).status).toBe(401);
  });

  it('adding serve.viewKeyEnv whose variable serve was not started with: not reloaded, and it says a restart is needed', async () => {
    project.writeConfig(config('0.0.0.0:0', undefined, true));
    const url = (await startServe({}, ['-v'])).replace('0.0.0.0', '127.0.0.1');
    project.writeConfig(config('0.0.0.0:0', 'MEDIC_VIEW_KEY', true));
    said = '';
    servers.at(-1)!.kill('SIGHUP');
    for (let i = 0; i < 100 && !said.includes('not reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(said).toContain('the config was not reloaded, still serving with the previous one');
    expect(said).toContain('medic serve reads its environment only at start: set the variable where it is started, then restart it');
    expect((await fetch(`${url}/status`)).status).toBe(403);
  });

  it('on a loopback listener, serve.viewKeyEnv naming an unset variable does not stop serve (the page is open there)', async () => {
    project.writeConfig(config('127.0.0.1:0', 'MEDIC_VIEW_KEY', true));
    const url = await startServe({}, []);
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });
});

describe('medic serve refuses a view key it cannot use', { timeout: 30_000 }, () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['the ping key', { MEDIC_PING_KEY: PING_KEY, MEDIC_VIEW_KEY: PING_KEY }, /the view key in the environment variable MEDIC_VIEW_KEY \(serve\.viewKeyEnv\) is the ping key of the environment variable MEDIC_PING_KEY \(serve\.pingKeyEnv\)/],
    ['unset', { MEDIC_PING_KEY: PING_KEY }, /the environment variable MEDIC_VIEW_KEY \(serve\.viewKeyEnv\) is not set/],
    [
      'the routing key',
      { MEDIC_PING_KEY: PING_KEY, MEDIC_VIEW_KEY: ROUTING_KEY, PAGERDUTY_ROUTING_KEY: ROUTING_KEY },
      /the view key in the environment variable MEDIC_VIEW_KEY \(serve\.viewKeyEnv\) is the routing key of target "oncall" \(environment variable PAGERDUTY_ROUTING_KEY\)/,
    ],
  ])('a view key that is %s: exit 78 naming the settings, never the key', async (_what, env, message) => {
    project.writeConfig(config('0.0.0.0:0', 'MEDIC_VIEW_KEY', true));
    const r = await project.run(['serve'], { env, killAfterMs: 20_000 });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(message);
    expect(r.stderr + r.stdout).not.toContain(PING_KEY);
    expect(r.stderr + r.stdout).not.toContain(ROUTING_KEY);
  });
});

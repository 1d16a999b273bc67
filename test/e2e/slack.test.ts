/**
 * Slack targets end to end: the real bin/medic, at chosen instants, against the Slack stand-in.
 * An incoming webhook: a message when a service goes down, a new one naming the incident when it
 * is back. A bot token: the message is posted, then edited on recovery with a reply in its thread.
 * 429 waits for Retry-After; refusals exit 76 and stay queued until the secret (or channel)
 * changes; the webhook URL and token are never printed or stored.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempProject, type CliResult, type Project } from '../helpers/cli.js';
import { query } from '../helpers/db.js';
import { closedAfterEach } from '../helpers/standins.js';
import { ALERTS, BOT_TOKEN, rateLimited, startSlackServer, WEBHOOK_PATH, webhookError, type SlackServer } from '../helpers/slack-server.js';

const MIN = 60_000;
const R = Date.parse('2026-03-02T09:00:00Z');
/** Registered at R with interval 5m and grace 1m: down from R + 6m (P2: severity error, orange). */
const DOWN = R + 6 * MIN;
/** Back 42 minutes after it went down. */
const BACK = DOWN + 42 * MIN;
const QUIET = { code: 0, stdout: '', stderr: '' };
const SERVICE = { slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '5m', grace: '1m', runbook: 'https://wiki.example.com/runbooks/backup' };

const track = closedAfterEach();
const projects = closedAfterEach();
const slack = (): Promise<SlackServer> => track(startSlackServer());

interface Setup {
  project: Project;
  /** Every run's output, to check that no secret is ever printed. */
  outputs: CliResult[];
  run(args: string[], at: number, frozen?: boolean): Promise<CliResult>;
  writeSecret(name: string, value: string): void;
}

async function setup(target: Record<string, unknown>, secrets: Record<string, string>): Promise<Setup> {
  const project = tempProject({ checker: { gapThreshold: '30d', deliveryBudget: '20s' }, targets: { chat: { type: 'slack', ...target } }, services: [{ ...SERVICE, targets: ['chat'] }] });
  await projects({ close: () => project.remove() });
  const writeSecret = (name: string, value: string) => writeFileSync(join(project.dir, name), `${value}\n`, { mode: 0o600 });
  for (const [name, value] of Object.entries(secrets)) writeSecret(name, value);
  const outputs: CliResult[] = [];
  const run = async (args: string[], at: number, frozen = true) => {
    const res = await project.run(args, { at, frozen });
    outputs.push(res);
    return res;
  };
  expect(await run(['check'], R)).toEqual(QUIET);
  return { project, outputs, run, writeSecret };
}

/** No output and no byte of the database holds the secret (whole, or a webhook URL's secret path). */
function neverShown(s: Setup, secrets: string[]): void {
  const files = readdirSync(s.project.dir).filter((f) => f.startsWith('medic.db'));
  expect(files.length).toBeGreaterThan(0);
  const db = files.map((f) => readFileSync(join(s.project.dir, f)).toString('latin1')).join('\n');
  const printed = s.outputs.map((o) => `${o.stdout}\n${o.stderr}`).join('\n');
  for (const secret of secrets) {
    expect(printed).not.toContain(secret);
    expect(db).not.toContain(secret);
  }
}

const hookTarget = { webhookUrlFile: 'slack-webhook' };
const tokenTarget = (s: SlackServer, channel = ALERTS.id) => ({ tokenFile: 'slack-token', channel, apiUrl: s.apiUrl });

describe('Slack through an incoming webhook', { timeout: 180_000 }, () => {
  it('down: a message saying what and why; back up: a new message naming the incident it closes', async () => {
    const s = await slack();
    const t = await setup(hookTarget, { 'slack-webhook': s.webhookUrl });
    expect(await t.run(['check'], DOWN)).toEqual(QUIET);
    expect(s.messages).toHaveLength(1);
    const down = s.messages[0]!;
    expect(down).toMatchObject({ via: 'webhook', channel: ALERTS.id });
    expect(down.text).toBe(':large_orange_circle: Nightly Backup is down: no heartbeat for 1 interval. (medic-heartbeat-nightly-backup, incident 1)');
    expect(down.blocks![0]).toEqual({ type: 'header', text: { type: 'plain_text', text: ':large_orange_circle: Nightly Backup is down', emoji: true } });
    expect(JSON.stringify(down.blocks)).toContain(SERVICE.runbook);
    expect(s.requests[0]!.body).toMatchObject({ unfurl_links: false, unfurl_media: false });

    expect((await t.run(['beat', 'nightly-backup'], BACK - MIN)).code).toBe(0);
    expect(await t.run(['check'], BACK)).toEqual(QUIET);
    expect(s.messages).toHaveLength(2);
    expect(s.messages[1]!.text).toBe(
      ':large_green_circle: Nightly Backup is back up — recovered after 42m. This closes incident 1 (dedup key medic-heartbeat-nightly-backup, opened 2026-03-02T09:06:00.000Z).',
    );
    expect(s.requests.every((r) => r.path === WEBHOOK_PATH && r.status === 200)).toBe(true);
    neverShown(t, [s.webhookUrl, WEBHOOK_PATH]);
  });

  it('429 with Retry-After: the retry waits for it, in the same run', async () => {
    const s = await slack();
    const t = await setup(hookTarget, { 'slack-webhook': s.webhookUrl });
    s.script(rateLimited(2));
    expect(await t.run(['check'], DOWN)).toEqual(QUIET);
    expect(s.requests.map((r) => r.status)).toEqual([429, 200]);
    expect(s.requests[1]!.at - s.requests[0]!.at).toBeGreaterThanOrEqual(1900);
    expect(s.messages).toHaveLength(1);
  });

  it('invalid_token: exit 76 at every check, kept queued, not sent again until the webhook URL file changes; then delivered', async () => {
    const s = await slack();
    const revoked = s.webhookUrl.replace(/X+$/, 'Y'.repeat(24));
    const t = await setup(hookTarget, { 'slack-webhook': revoked });
    const first = await t.run(['check'], DOWN);
    expect(first.code).toBe(76);
    expect(first.stderr).toContain('Slack refused the trigger for nightly-backup (target chat, HTTP 403): "invalid_token"');
    expect(first.stderr).toMatch(/make a new one .* and put it in file .*slack-webhook/);
    expect(first.stderr).toContain('medic check --retry-refused');
    const again = await t.run(['check'], DOWN + MIN);
    expect(again.code).toBe(76);
    expect(s.requests).toHaveLength(1);
    expect(s.messages).toEqual([]);

    t.writeSecret('slack-webhook', s.webhookUrl);
    expect(await t.run(['check'], DOWN + 2 * MIN)).toEqual(QUIET);
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]!.text).toContain('Nightly Backup is down');
    neverShown(t, [s.webhookUrl, revoked, WEBHOOK_PATH, 'Y'.repeat(24)]);
  });

  it('a 404 channel_not_found from the webhook is a refusal too (76)', async () => {
    const s = await slack();
    const t = await setup(hookTarget, { 'slack-webhook': s.webhookUrl });
    s.script(webhookError(404, 'channel_not_found'));
    const res = await t.run(['check'], DOWN);
    expect(res.code).toBe(76);
    expect(res.stderr).toContain('(target chat, HTTP 404): "channel_not_found"');
    expect(res.stderr).toContain('make a new webhook');
  });

  it('medic test-alert --target chat posts the test message and prints Slack\'s answer', async () => {
    const s = await slack();
    const t = await setup(hookTarget, { 'slack-webhook': s.webhookUrl });
    const res = await t.run(['test-alert', '--target', 'chat'], DOWN);
    expect(res).toEqual({ code: 0, stdout: 'chat: test alert sent — Slack answered HTTP 200: ok\n', stderr: '' });
    expect(s.messages[0]!.text).toContain('Medic test alert - integration working!');
    const resolved = await t.run(['test-alert', '--target', 'chat', '--resolve'], DOWN);
    expect(resolved.code).toBe(0);
    expect(s.messages[1]!.text).toContain('Medic test alert resolved');
    neverShown(t, [s.webhookUrl, WEBHOOK_PATH]);
  });
});

describe('Slack with a bot token', { timeout: 180_000 }, () => {
  it('down: posted to the channel; back up: the SAME message is edited, and "recovered after 42m" replied in its thread', async () => {
    const s = await slack();
    const t = await setup(tokenTarget(s), { 'slack-token': BOT_TOKEN });
    expect(await t.run(['check'], DOWN)).toEqual(QUIET);
    expect(s.messages).toHaveLength(1);
    const message = s.messages[0]!;
    expect(message).toMatchObject({ via: 'api', channel: ALERTS.id, edits: 0 });
    expect(message.text).toContain('Nightly Backup is down');
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);

    expect((await t.run(['beat', 'nightly-backup'], BACK - MIN)).code).toBe(0);
    expect(await t.run(['check'], BACK)).toEqual(QUIET);
    expect(s.requests.map((r) => `${r.path} ${r.status}`)).toEqual(['/api/chat.postMessage 200', '/api/chat.update 200', '/api/chat.postMessage 200']);
    expect(s.messages.filter((m) => m.threadTs === null)).toHaveLength(1);
    expect(message.edits).toBe(1);
    expect(message.text).toContain('Nightly Backup is back up — recovered after 42m');
    expect(s.thread(message.ts).map((m) => m.text)).toEqual(['recovered after 42m']);

    // The receipt is kept with the trigger: channel id and ts, and a MAC, never the token.
    const rows = query<{ action: string; receipt: string | null }>(join(t.project.dir, 'medic.db'), 'SELECT action, receipt FROM outbox ORDER BY id');
    expect(rows.map((r) => r.action)).toEqual(['trigger', 'resolve']);
    expect(JSON.parse(rows[0]!.receipt!)).toEqual({ v: 1, channel: ALERTS.id, ts: message.ts, mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    neverShown(t, [BOT_TOKEN, BOT_TOKEN.slice(5)]);
  });

  it('a receipt altered in the database edits nothing: the resolve is a new message naming the incident', async () => {
    const s = await slack();
    s.channels.push({ id: 'C0OTHER999', name: 'other', member: true, archived: false });
    const t = await setup(tokenTarget(s), { 'slack-token': BOT_TOKEN });
    expect(await t.run(['check'], DOWN)).toEqual(QUIET);
    // Someone with write access to the database points the receipt at another channel's message.
    const other = s.messages.length;
    await import('better-sqlite3').then(({ default: Database }) => {
      const db = new Database(join(t.project.dir, 'medic.db'));
      const row = db.prepare("SELECT id, receipt FROM outbox WHERE action = 'trigger'").get() as { id: number; receipt: string };
      db.prepare('UPDATE outbox SET receipt = ? WHERE id = ?').run(JSON.stringify({ ...JSON.parse(row.receipt), channel: 'C0OTHER999' }), row.id);
      db.close();
    });
    expect((await t.run(['beat', 'nightly-backup'], BACK - MIN)).code).toBe(0);
    expect(await t.run(['check'], BACK)).toEqual(QUIET);
    expect(s.requests.map((r) => r.path)).toEqual(['/api/chat.postMessage', '/api/chat.postMessage']);
    expect(s.messages.slice(other)).toHaveLength(1);
    expect(s.messages[other]).toMatchObject({ channel: ALERTS.id, threadTs: null, edits: 0 });
    expect(s.messages[other]!.text).toContain('closes incident 1');
    expect(s.messages[0]!.edits).toBe(0);
  });

  it('a revoked token (invalid_auth): 76, kept queued until the token file changes; then delivered', async () => {
    const s = await slack();
    const old = 'xoxb-1111111111-2222222222-revokedREVOKED';
    const t = await setup(tokenTarget(s), { 'slack-token': old });
    const first = await t.run(['check'], DOWN);
    expect(first.code).toBe(76);
    expect(first.stderr).toContain('Slack refused the trigger for nightly-backup (target chat, HTTP 200): "invalid_auth"');
    expect(first.stderr).toMatch(/Slack does not take the bot token .* put it in file .*slack-token/);
    expect((await t.run(['check'], DOWN + MIN)).code).toBe(76);
    expect(s.requests).toHaveLength(1);

    t.writeSecret('slack-token', BOT_TOKEN);
    expect(await t.run(['check'], DOWN + 2 * MIN)).toEqual(QUIET);
    expect(s.messages).toHaveLength(1);
    neverShown(t, [BOT_TOKEN, old, old.slice(5)]);
  });

  it('channel_not_found: 76 with what to check; fixing "channel" sends it', async () => {
    const s = await slack();
    const t = await setup(tokenTarget(s, 'C0NOWHERE1'), { 'slack-token': BOT_TOKEN });
    const first = await t.run(['check'], DOWN);
    expect(first.code).toBe(76);
    expect(first.stderr).toContain('"channel_not_found"');
    expect(first.stderr).toContain('check "channel" in targets.chat; use the channel id');
    t.project.writeConfig({ checker: { gapThreshold: '30d', deliveryBudget: '20s' }, targets: { chat: { type: 'slack', ...tokenTarget(s) } }, services: [{ ...SERVICE, targets: ['chat'] }] });
    expect(await t.run(['check'], DOWN + MIN)).toEqual(QUIET);
    expect(s.messages.map((m) => m.channel)).toEqual([ALERTS.id]);
  });

  it('not_in_channel (ok: false): never counted as sent, 76 with /invite; once invited, --retry-refused sends it', async () => {
    const s = await slack();
    s.channels[0]!.member = false;
    const t = await setup(tokenTarget(s), { 'slack-token': BOT_TOKEN });
    const first = await t.run(['check'], DOWN);
    expect(first.code).toBe(76);
    expect(first.stderr).toContain('"not_in_channel"');
    expect(first.stderr).toContain('/invite @your-app');
    const status = await t.run(['status', '--json'], DOWN);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ pendingEvents: 1, delivery: 'refused' });

    s.channels[0]!.member = true;
    expect((await t.run(['check'], DOWN + MIN)).code).toBe(76);
    expect(s.messages).toEqual([]);
    expect(await t.run(['check', '--retry-refused'], DOWN + 2 * MIN)).toEqual(QUIET);
    expect(s.messages).toHaveLength(1);
  });

  it("medic test-alert --target chat prints Slack's answer (the message's channel and ts)", async () => {
    const s = await slack();
    const t = await setup(tokenTarget(s), { 'slack-token': BOT_TOKEN });
    const res = await t.run(['test-alert', '--target', 'chat'], DOWN);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`chat: test alert sent — Slack answered HTTP 200: ok: posted to ${ALERTS.id} as message ${s.messages[0]!.ts}\n`);
    expect(s.messages[0]!.text).toContain('Medic test alert - integration working!');

    s.token = 'xoxb-0000000000-rotated';
    const refused = await t.run(['test-alert', '--target', 'chat'], DOWN);
    expect(refused.code).toBe(76);
    expect(refused.stderr).toContain('invalid_auth');
    neverShown(t, [BOT_TOKEN]);
  });
});

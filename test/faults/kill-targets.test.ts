/**
 * [targets] Fault injection: `kill -9` of `medic check` while it delivers to three targets at once
 * (PagerDuty, a Slack incoming webhook, a signed webhook), 30 times in a row. Four services beat or
 * go quiet at random between checks ten minutes apart (the real binary at each instant, under
 * libfaketime); two are P1 (PagerDuty takes P1-P2) and two P3, so priorities route them. Each
 * stand-in answers at once, but its answers reach medic 50-300 ms later (a proxy in front of each),
 * so kills land between a target accepting an event and medic recording it. Half the kills come at a
random moment, half a random moment after the run's k-th request reached a stand-in.
 *
 * Afterwards, and after one clean check: nothing is pending; per target and service, what the
 * target accepted is exactly the outbox's events for it, in order, except for repeats of an event
 * sent again after a kill. Repeats are exactly the events that were in that window when a kill
 * landed (read from the delivery log). The webhook receiver, which drops repeated event ids (as
 * docs/webhooks.md tells receivers to), took each event exactly once; a Slack message may appear
 * twice, only for such an event.
 */
import Database from 'better-sqlite3';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY, MIN, fileTempDir, inProcess, rng, spawnMedic, startProxy } from '../helpers/faults.js';
import { startPdServer } from '../helpers/pd-server.js';
import { startSlackServer } from '../helpers/slack-server.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const STEP = 10 * MIN;
const REPS = 30;
const SERVICES = [
  { slug: 'p1-a', priority: 'P1' },
  { slug: 'p1-b', priority: 'P1' },
  { slug: 'p3-a', priority: 'P3' },
  { slug: 'p3-b', priority: 'P3' },
];
const SLUGS = SERVICES.map((s) => s.slug);
const SECRET = 'fault-suite-signing-secret-0123456789';
const SEED = Number(process.env.MEDIC_FAULT_SEED ?? Date.now() % 2 ** 31);

const tmp = fileTempDir('kill-targets');
afterAll(() => tmp.remove());

function rows<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath);
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

function lastDeliveryId(dbPath: string): number {
  if (!existsSync(dbPath)) return 0;
  const found = rows<{ n: number }>(dbPath, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'deliveries'")[0]!.n;
  return found ? rows<{ id: number }>(dbPath, 'SELECT coalesce(max(id), 0) AS id FROM deliveries')[0]!.id : 0;
}

/** One event as a target accepted it: which service, which action (and the webhook's event id). */
interface Seen {
  slug: string;
  action: 'trigger' | 'resolve';
  id?: string;
}

type Target = 'oncall' | 'chat' | 'hook';
const TARGETS: Target[] = ['oncall', 'chat', 'hook'];

describe('kill -9 of medic check while it delivers to PagerDuty, Slack and a webhook, 30 times', () => {
  it(`each target gets each event once and in order, repeating only what a kill caught in flight (seed ${SEED})`, { timeout: 600_000 }, async () => {
    const rand = rng(SEED);
    const pd = await startPdServer();
    const slack = await startSlackServer();
    const hook = await startWebhookReceiver(SECRET, { toleranceSeconds: 10 * 365 * 86_400 });
    const delay = () => rand.int(50, 300);
    const pdProxy = await startProxy(pd.url, { delayMs: delay });
    const slackProxy = await startProxy(slack.webhookUrl, { delayMs: delay });
    const hookProxy = await startProxy(hook.url, { delayMs: delay });
    // What each target accepted, in arrival order.
    const accepted = (target: Target): Seen[] => {
      if (target === 'oncall') return pd.accepted.map((r) => ({ slug: String(r.body.dedup_key).replace(/^medic-heartbeat-/, ''), action: r.body.event_action }));
      if (target === 'chat') {
        return slack.requests
          .filter((r) => r.status === 200)
          .map((r) => ({ slug: /medic-heartbeat-([a-z0-9._-]+)/.exec(r.body.text)![1]!, action: / is back up/.test(r.body.text) ? 'resolve' : 'trigger' }));
      }
      return hook.requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => ({ slug: r.body.service.slug, action: r.body.event, id: r.body.id }));
    };
    const dir = tmp.dir;
    const dbPath = join(dir, 'medic.db');
    const config = join(dir, 'medic.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        targets: {
          oncall: { type: 'pagerduty', eventsUrl: pdProxy.url, timeout: '5s', priorities: ['P1', 'P2'] },
          chat: { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL', timeout: '5s' },
          hook: { type: 'webhook', url: hookProxy.url, secretEnv: 'HOOK_SECRET', timeout: '5s' },
        },
        defaults: { interval: '5m', grace: '1m', targets: ['oncall', 'chat', 'hook'] },
        services: SERVICES,
        checker: { gapThreshold: '30d' },
        flap: { maxTriggers: 1000 },
      }),
    );
    const env = { PAGERDUTY_ROUTING_KEY: KEY, SLACK_WEBHOOK_URL: slackProxy.url, HOOK_SECRET: SECRET };
    const tally = { killed: 0, exitedFirst: 0, killedDuringDelivery: 0, exposed: { oncall: 0, chat: 0, hook: 0 } as Record<Target, number> };
    try {
      for (let rep = 0; rep < REPS; rep++) {
        const at = T0 + rep * STEP;
        if (rep > 0) {
          for (const slug of SLUGS) {
            if (rand.next() < 0.5) continue;
            const beat = await inProcess(['--config', config, 'beat', slug], { cwd: dir, env, now: () => at - 2 * MIN });
            expect(beat.code, beat.stderr).toBe(0);
          }
        }
        const before = Object.fromEntries(TARGETS.map((t) => [t, accepted(t).length])) as Record<Target, number>;
        const lastDelivery = lastDeliveryId(dbPath);
        const child = spawnMedic(['--config', config, 'check'], { cwd: dir, env, at });
        // Half the runs are killed at a random moment; the others a random moment after the k-th
        // request of the run reached a stand-in (delivery), whatever the machine's load makes of
        // start-up time; a run with fewer requests is killed a little after it would have sent them.
        const arrived = () => TARGETS.reduce((n, t) => n + accepted(t).length - before[t], 0);
        let watch: NodeJS.Timeout | undefined;
        if (rand.next() < 0.5) setTimeout(() => child.kill(), rand.int(150, 1000));
        else {
          const k = rand.int(1, 4);
          const after = rand.int(0, 250);
          watch = setInterval(() => {
            if (arrived() < k) return;
            clearInterval(watch);
            setTimeout(() => child.kill(), after);
          }, 5);
          setTimeout(() => child.kill(), 5000);
        }
        const exit = await child.done;
        clearInterval(watch);
        if (exit.signal !== 'SIGKILL') {
          tally.exitedFirst++;
          expect(exit, `rep ${rep}: ${exit.stderr}`).toMatchObject({ code: 0, stderr: '' });
          continue;
        }
        tally.killed++;
        // Bytes already on their way through a proxy still reach its stand-in (they run in this process).
        await new Promise((r) => setTimeout(r, 300));
        let any = false;
        for (const target of TARGETS) {
          const sent = accepted(target).slice(before[target]);
          if (sent.length > 0) any = true;
          // What the dead run had recorded as delivered to this target; the rest it will send again.
          const settled = rows<{ slug: string; action: string }>(dbPath, "SELECT slug, action FROM deliveries WHERE id > ? AND outcome = 'delivered' AND target = ?", lastDelivery, target);
          const left = settled.map((d) => `${d.slug} ${d.action}`);
          for (const s of sent) {
            const i = left.indexOf(`${s.slug} ${s.action}`);
            if (i >= 0) left.splice(i, 1);
            else tally.exposed[target]++;
          }
        }
        if (any) tally.killedDuringDelivery++;
      }

      // One clean run settles whatever the kills left.
      const finalAt = T0 + REPS * STEP;
      const last = await spawnMedic(['--config', config, 'check'], { cwd: dir, env, at: finalAt }).done;
      expect(last, last.stderr).toMatchObject({ code: 0, signal: null, stderr: '' });

      const outbox = rows<{ slug: string; target: Target; action: string; status: string }>(dbPath, 'SELECT slug, target, action, status FROM outbox ORDER BY id');
      expect(outbox.filter((e) => e.status !== 'delivered'), 'events not delivered after a clean run').toEqual([]);
      // Priorities routed them: PagerDuty got only the P1 services.
      expect([...new Set(outbox.filter((e) => e.target === 'oncall').map((e) => e.slug))].every((s) => s.startsWith('p1-'))).toBe(true);

      const repeats = { oncall: 0, chat: 0, hook: 0 } as Record<Target, number>;
      for (const target of TARGETS) {
        for (const slug of SLUGS) {
          const recorded = outbox.filter((e) => e.slug === slug && e.target === target).map((e) => e.action);
          const got = accepted(target).filter((s) => s.slug === slug);
          // Triggers and resolves alternate, so a repeat is the same action right after itself.
          const distinct = got.filter((s, i) => i === 0 || s.action !== got[i - 1]!.action);
          repeats[target] += got.length - distinct.length;
          expect(distinct.map((s) => s.action), `${target} ${slug}: accepted (repeats removed) vs outbox`).toEqual(recorded);
        }
        expect(repeats[target], `${target}: repeats vs events caught between acceptance and settle`).toBe(tally.exposed[target]);
      }
      // Every repeat of a webhook event carried the event's own id: the receiver took each event once.
      const ids = accepted('hook').map((s) => s.id!);
      expect(hook.events).toHaveLength(outbox.filter((e) => e.target === 'hook').length);
      expect(new Set(ids).size).toBe(hook.events.length);
      expect(hook.repeats).toBe(repeats.hook);
      expect(hook.rejects, 'requests whose signature did not verify').toEqual([]);

      console.info(`kill -9 x${REPS}, three targets: ${JSON.stringify({ seed: SEED, ...tally, events: outbox.length, repeats })}`);
      expect(tally.killed).toBeGreaterThanOrEqual(REPS / 4);
      expect(tally.killedDuringDelivery).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all([pdProxy.close(), slackProxy.close(), hookProxy.close()]);
      await Promise.all([pd.close(), slack.close(), hook.close()]);
    }
  });
});

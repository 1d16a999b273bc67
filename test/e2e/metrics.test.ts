/**
 * `medic metrics` end to end: the real bin/medic under faketime on a real SQLite file, its output
 * checked by the real `promtool check metrics`; `--textfile` written atomically (a reader never sees
 * a part) and never through a link; `medic serve`'s /metrics over HTTP on loopback.
 */
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { writeTextfile } from '../../src/commands/metrics.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { tempProject, type Project } from '../helpers/cli.js';
import { badRequestJson, startPdServer, type PdServer } from '../helpers/pd-server.js';
import { freshDatabase } from '../helpers/pg.js';
import { configFor, PING_KEY, startServe } from '../helpers/serve.js';

const SEC = 1000;
const MIN = 60 * SEC;
const N = Date.parse('2026-03-02T09:00:00Z');
const EXAMPLE_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

let project: Project | undefined;
let pd: PdServer | undefined;
afterEach(async () => {
  project?.remove();
  project = undefined;
  await pd?.close();
  pd = undefined;
});

function promtool(text: string): { code: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Sample lines as `name{labels}` → value. */
function parse(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), line.slice(at + 1));
  }
  return m;
}

const svc = (slug: string, team: string, priority: string) => `{slug="${slug}",team="${team}",priority="${priority}"}`;

describe('medic metrics', { timeout: 180_000 }, () => {
  it('up, late, down, paused and never-beaten services, pending and refused events per target; promtool accepts it', async () => {
    pd = await startPdServer();
    pd.reply(() => badRequestJson(['Invalid routing key']));
    const p = (project = tempProject({
      checker: { gapThreshold: '30d' },
      targets: {
        // Never contacted: its key is unset, so its events wait.
        oncall: { type: 'pagerduty', routingKeyEnv: 'UNSET_KEY', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' },
        refusing: { type: 'pagerduty', routingKeyEnv: 'REFUSED_KEY', eventsUrl: pd.url },
      },
      defaults: { interval: '5m', grace: '1m', targets: ['oncall'] },
      services: [
        { slug: 'fresh', team: 'platform', priority: 'P2' },
        { slug: 'slow', team: 'platform', priority: 'P1', grace: '2m' },
        { slug: 'dead', team: 'payments', priority: 'P4', targets: ['oncall', 'refusing'] },
        { slug: 'held' },
        { slug: 'newbie', interval: '1h' },
      ],
    }));
    const env = { REFUSED_KEY: EXAMPLE_KEY };
    for (const [slug, at] of [
      ['dead', N - 30 * MIN],
      ['held', N - 30 * MIN],
      ['slow', N - 6 * MIN],
      ['fresh', N - MIN],
    ] as const) {
      expect((await p.run(['beat', slug], { at, frozen: true })).code).toBe(0);
    }
    expect((await p.run(['pause', 'held'], { at: N - MIN, frozen: true, env })).code).toBe(0);
    const check = await p.run(['check'], { at: N, frozen: true, env });
    expect(check.code).not.toBe(0);
    expect(pd.requests).toHaveLength(1);

    const res = await p.run(['metrics'], { at: N + 10 * SEC, frozen: true, env });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(promtool(res.stdout)).toEqual({ code: 0, out: '' });
    const m = parse(res.stdout);
    const want: Record<string, [string, string, string, string]> = {
      // slug: team, priority, state, up
      fresh: ['platform', 'P2', 'up', '1'],
      slow: ['platform', 'P1', 'late', '1'],
      dead: ['payments', 'P4', 'down', '0'],
      held: ['', 'P3', 'paused', '0'],
      newbie: ['', 'P3', 'up', '1'],
    };
    for (const [slug, [team, priority, state, up]] of Object.entries(want)) {
      const l = svc(slug, team, priority);
      expect(m.get(`medic_service_up${l}`), slug).toBe(up);
      for (const s of ['up', 'late', 'down', 'paused']) {
        expect(m.get(`medic_service_state${l.slice(0, -1)},state="${s}"}`), `${slug} ${s}`).toBe(s === state ? '1' : '0');
      }
      expect(m.get(`medic_service_paused${l}`)).toBe(slug === 'held' ? '1' : '0');
      expect(m.get(`medic_service_incident_open${l}`)).toBe(slug === 'dead' ? '1' : '0');
    }
    expect(m.get(`medic_service_last_beat_timestamp_seconds${svc('dead', 'payments', 'P4')}`)).toBe(String((N - 30 * MIN) / 1000));
    expect(m.has(`medic_service_last_beat_timestamp_seconds${svc('newbie', '', 'P3')}`)).toBe(false);
    expect(m.get(`medic_service_deadline_timestamp_seconds${svc('fresh', 'platform', 'P2')}`)).toBe(String((N - MIN + 6 * MIN) / 1000));
    expect(m.get(`medic_service_missed_heartbeats${svc('dead', 'payments', 'P4')}`)).toBe('6');
    expect(m.get('medic_target_events_pending{target="oncall"}')).toBe('1');
    expect(m.get('medic_target_events_refused{target="oncall"}')).toBe('0');
    expect(m.get('medic_target_events_pending{target="refusing"}')).toBe('1');
    expect(m.get('medic_target_events_refused{target="refusing"}')).toBe('1');
    expect(m.get('medic_last_check_timestamp_seconds')).toBe(String(N / 1000));
    // A frozen clock: the check took no time by it.
    expect(m.get('medic_last_check_duration_seconds')).toBe('0');
    expect(m.get('medic_build_info{version="0.1.0"}')).toBe('1');
  });

  it('is read-only: without a database it prints the configured services and creates nothing', async () => {
    const p = (project = tempProject({ targets: { oncall: { type: 'pagerduty' } }, services: [{ slug: 'backup', interval: '1h' }] }));
    const res = await p.run(['metrics'], { at: N, frozen: true });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(parse(res.stdout).get('medic_service_up{slug="backup",team="",priority="P3"}')).toBe('1');
    expect(parse(res.stdout).has('medic_last_check_timestamp_seconds')).toBe(false);
    expect(existsSync(join(p.dir, 'medic.db'))).toBe(false);
  });

  it('the last check took as long as it held the lock (a clock running 10 times fast)', async () => {
    const p = (project = tempProject({ targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } }, services: [{ slug: 'backup', interval: '1h' }] }));
    expect((await p.run(['check'], { at: N, speed: 10, env: { PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY } })).code).toBe(0);
    const m = parse((await p.run(['metrics'], { at: N + MIN, frozen: true })).stdout);
    const seconds = Number(m.get('medic_last_check_duration_seconds'));
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);
    expect(Number(m.get('medic_last_check_timestamp_seconds'))).toBeGreaterThan(N / 1000);
  });

  it('on a database of schema 6 (an older Medic): no duration sample, nothing migrated', async () => {
    const p = (project = tempProject({ targets: { oncall: { type: 'pagerduty' } }, services: [{ slug: 'backup', interval: '1h' }] }));
    const path = join(p.dir, 'medic.db');
    const db = new Database(path);
    for (const m of MIGRATIONS.filter((m) => m.version <= 6)) db.exec(m.up);
    db.pragma('user_version = 6');
    db.prepare('UPDATE checker SET last_run_at = ? WHERE id = 1').run(N - MIN);
    db.close();
    chmodSync(path, 0o600);
    const res = await p.run(['metrics'], { at: N, frozen: true });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const m = parse(res.stdout);
    expect(m.get('medic_last_check_timestamp_seconds')).toBe(String((N - MIN) / 1000));
    expect(m.has('medic_last_check_duration_seconds')).toBe(false);
    const after = new Database(path, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(6);
    after.close();
  });

  it('without a config: 78, as every command', async () => {
    const p = (project = tempProject());
    const res = await p.run(['metrics']);
    expect(res.code).toBe(78);
    expect(res.stdout).toBe('');
  });
});

describe('medic metrics on PostgreSQL', { timeout: 120_000 }, () => {
  it("a refused page, its target's counts and the check's duration, at the database's time (this host's clock months behind)", async () => {
    pd = await startPdServer();
    pd.reply(() => badRequestJson(['Invalid routing key']));
    const url = await freshDatabase();
    const p = (project = tempProject({
      database: url,
      checker: { gapThreshold: '30d' },
      targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
      services: [
        { slug: 'job', team: 'ops', interval: '1s', grace: '1s' },
        { slug: 'other', interval: '1h' },
      ],
    }));
    const env = { PAGERDUTY_ROUTING_KEY: EXAMPLE_KEY };
    expect((await p.run(['beat', 'job'], { env })).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await p.run(['check'], { env })).code).toBe(76);
    const res = await p.run(['metrics'], { env, at: N });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(promtool(res.stdout)).toEqual({ code: 0, out: '' });
    const m = parse(res.stdout);
    expect(m.get('medic_service_state{slug="job",team="ops",priority="P3",state="down"}')).toBe('1');
    expect(m.get('medic_service_incident_open{slug="job",team="ops",priority="P3"}')).toBe('1');
    expect(m.get('medic_service_state{slug="other",team="",priority="P3",state="up"}')).toBe('1');
    expect(m.get('medic_target_events_pending{target="oncall"}')).toBe('1');
    expect(m.get('medic_target_events_refused{target="oncall"}')).toBe('1');
    expect(Number(m.get('medic_last_check_duration_seconds'))).toBeGreaterThan(0);
    expect(Number(m.get('medic_last_check_timestamp_seconds'))).toBeGreaterThan(N / 1000 + 86_400);
  });
});

describe('medic metrics --textfile', { timeout: 180_000 }, () => {
  const config = (n: number) => ({ targets: { oncall: { type: 'pagerduty' } }, services: Array.from({ length: n }, (_, i) => ({ slug: `job-${i}`, team: 'ops', interval: '5m' })) });

  it('writes what medic metrics prints, silently, mode 0644, no temp file left', async () => {
    const p = (project = tempProject(config(3)));
    const printed = await p.run(['metrics'], { at: N, frozen: true });
    expect((await p.run(['metrics', '--textfile', 'out/medic.prom'], { at: N, frozen: true })).code).toBe(74);
    mkdirSync(join(p.dir, 'out'));
    const written = await p.run(['metrics', '--textfile', 'out/medic.prom'], { at: N, frozen: true });
    expect(written).toEqual({ code: 0, stdout: '', stderr: '' });
    const file = join(p.dir, 'out', 'medic.prom');
    expect(readFileSync(file, 'utf8')).toBe(printed.stdout);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(spawnSync('ls', ['-A', join(p.dir, 'out')], { encoding: 'utf8' }).stdout).toBe('medic.prom\n');
  });

  it.each([
    ['a name not ending in .prom', 'medic.txt', 64, '.prom'],
    ['a folder that does not exist', 'nowhere/medic.prom', 74, 'mkdir -p'],
  ])('%s (%s): exit %i, says why', async (_, path, code, hint) => {
    const p = (project = tempProject(config(1)));
    const res = await p.run(['metrics', '--textfile', path]);
    expect(res.code).toBe(code);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(hint);
  });

  it('refuses a symbolic link at the path (74) and leaves what it points to alone', async () => {
    const p = (project = tempProject(config(1)));
    const victim = join(p.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(p.dir, 'medic.prom'));
    const res = await p.run(['metrics', '--textfile', 'medic.prom']);
    expect(res.code).toBe(74);
    expect(res.stderr).toContain('symbolic link');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(p.dir, 'medic.prom')).isSymbolicLink()).toBe(true);
  });

  // The attacker walk: root ran it through mallory's link and wrote into a root-only folder.
  it.each([
    ['a folder every user can write (0777)', 'open', 'every user on this machine can write it'],
    ['a folder owned by another user', 'theirs', 'owned by uid 4321'],
    ['a link owned by another user to a root-only folder', 'their-link', 'reached through the link'],
  ])('refuses %s (74), says why, writes nothing', async (_, how, why) => {
    const p = (project = tempProject(config(1)));
    const real = join(p.dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    let folder = real;
    if (how === 'open') chmodSync(real, 0o777);
    if (how === 'theirs') chownSync(real, 4321, 4321);
    if (how === 'their-link') {
      folder = join(p.dir, 'link');
      symlinkSync(real, folder);
      lchownSync(folder, 4321, 4321);
    }
    const res = await p.run(['metrics', '--textfile', join(folder, 'medic.prom')]);
    expect(res.code).toBe(74);
    expect(res.stderr).toContain(why);
    expect(res.stderr).toContain('refusing to write there');
    expect(readdirSync(real)).toEqual([]);
  });

  it("a link of the user's own to a folder of its own is fine", async () => {
    const p = (project = tempProject(config(1)));
    mkdirSync(join(p.dir, 'real'), { mode: 0o755 });
    symlinkSync(join(p.dir, 'real'), join(p.dir, 'link'));
    expect((await p.run(['metrics', '--textfile', 'link/medic.prom'])).code).toBe(0);
    expect(readdirSync(join(p.dir, 'real'))).toEqual(['medic.prom']);
  });

  it('never writes through a link planted at its temp name', () => {
    const p = (project = tempProject());
    const victim = join(p.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(p.dir, '.medic.prom.4242.tmp'));
    writeTextfile(join(p.dir, 'medic.prom'), 'medic_build_info{version="x"} 1\n', 4242, { uid: process.getuid!() });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(join(p.dir, 'medic.prom'), 'utf8')).toBe('medic_build_info{version="x"} 1\n');
    expect(existsSync(join(p.dir, '.medic.prom.4242.tmp'))).toBe(false);
  });

  it('is atomic: a reader looping while 1,000 services are rewritten never sees a part of the file', async () => {
    const p = (project = tempProject(config(1000)));
    const expected = (await p.run(['metrics'], { at: N, frozen: true })).stdout;
    expect(expected.length).toBeGreaterThan(500_000);
    const file = join(p.dir, 'medic.prom');
    let done = false;
    let reads = 0;
    const seen = new Set<number>();
    const reader = (async () => {
      while (!done) {
        try {
          const text = readFileSync(file, 'utf8');
          reads++;
          if (text !== expected) seen.add(text.length);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        await tick();
      }
    })();
    for (let i = 0; i < 5; i++) expect(await p.run(['metrics', '--textfile', 'medic.prom'], { at: N, frozen: true })).toEqual({ code: 0, stdout: '', stderr: '' });
    done = true;
    await reader;
    expect(reads).toBeGreaterThan(20);
    expect([...seen]).toEqual([]);
  });
});

describe("medic serve's /metrics", { timeout: 60_000 }, () => {
  it('the state plus beats by kind and answers by code, text/plain; version=0.0.4; promtool accepts it', async () => {
    const s = await startServe(configFor());
    // The last one a failure: the service is down for it.
    for (const suffix of ['', '/start', '', '/log', '/fail']) expect((await fetch(`${s.base}/backup${suffix}`, { method: 'POST', body: 'x' })).status).toBe(200);
    expect((await fetch(`${s.url}/ping/wrong-key-0123456789/backup`)).status).toBe(404);
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(promtool(text)).toEqual({ code: 0, out: '' });
    expect(text).not.toContain(PING_KEY);
    const m = parse(text);
    expect(m.get('medic_serve_beats_received_total{kind="ok"}')).toBe('2');
    expect(m.get('medic_serve_beats_received_total{kind="start"}')).toBe('1');
    expect(m.get('medic_serve_beats_received_total{kind="fail"}')).toBe('1');
    expect(m.get('medic_serve_beats_received_total{kind="log"}')).toBe('1');
    expect(m.get('medic_serve_requests_total{code="200"}')).toBe('5');
    expect(m.get('medic_serve_requests_total{code="404"}')).toBe('1');
    expect(m.has('medic_service_last_beat_timestamp_seconds{slug="backup",team="",priority="P3"}')).toBe(true);
    expect(m.has('medic_service_last_beat_timestamp_seconds{slug="db-dump",team="",priority="P3"}')).toBe(false);
    expect(m.get('medic_service_up{slug="backup",team="",priority="P3"}')).toBe('0');
    expect(m.get('medic_service_state{slug="backup",team="",priority="P3",state="down"}')).toBe('1');
    expect(m.get('medic_service_up{slug="db-dump",team="",priority="P3"}')).toBe('1');
    // The scrape itself is counted once answered.
    expect(parse(await (await fetch(`${s.url}/metrics`)).text()).get('medic_serve_requests_total{code="200"}')).toBe('6');
    const head = await fetch(`${s.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${s.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('off loopback (serve.listen 0.0.0.0) it is refused with 403 and says why; /healthz still answers', async () => {
    const s = await startServe(configFor({ listen: '0.0.0.0:0' }));
    const port = new URL(s.url).port;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(403);
    const body = await res.text();
    expect(body).toContain('loopback');
    expect(body).not.toContain('medic_service');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

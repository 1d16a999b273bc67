import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serviceMetrics } from '../../src/commands/metrics.js';
import type { ServiceStatus } from '../../src/commands/status.js';
import { escapeLabelValue, exposition, formatValue, stateFamilies, type ServiceMetrics, type StateMetrics } from '../../src/core/metrics.js';
import { serveFamilies } from '../../src/serve/server.js';

const T = Date.parse('2026-03-02T09:00:00Z');
const S = T / 1000;

/** Prometheus' own linter and parser (Debian package prometheus): exit 0 and nothing said, or what it said. */
function promtool(text: string): { code: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const service = (over: Partial<ServiceMetrics> = {}): ServiceMetrics => ({
  slug: 'backup',
  team: 'platform',
  priority: 'P1',
  state: 'up',
  down: false,
  paused: false,
  lastBeatAt: T - 60_000,
  deadlineAt: T + 300_000,
  missedHeartbeats: 0,
  incidentOpen: false,
  ...over,
});

const state = (over: Partial<StateMetrics> = {}): StateMetrics => ({
  version: '1.2.3',
  services: [service()],
  targets: [{ name: 'oncall', pending: 3, refused: 1 }],
  lastCheckAt: T - 20_000,
  lastCheckDurationMs: 1_250,
  ...over,
});

/** The sample lines of `name` (with or without labels). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
}

describe('escapeLabelValue', () => {
  it.each([
    ['plain', 'plain'],
    ['say "hi"', 'say \\"hi\\"'],
    ['C:\\jobs', 'C:\\\\jobs'],
    ['two\nlines', 'two\\nlines'],
    ['\\"\n', '\\\\\\"\\n'],
    ['tab\tstays', 'tab\tstays'],
    ['', ''],
  ])('%j → %j', (value, escaped) => {
    expect(escapeLabelValue(value)).toBe(escaped);
  });
});

describe('formatValue', () => {
  it.each([
    [0, '0'],
    [1, '1'],
    [1772442000.123, '1772442000.123'],
    [Number.NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
  ])('%s → %s', (v, text) => {
    expect(formatValue(v)).toBe(text);
  });
});

describe('stateFamilies + exposition', () => {
  it('writes every metric with HELP and TYPE, in seconds, and promtool accepts it', () => {
    const text = exposition(stateFamilies(state()));
    const l = '{slug="backup",team="platform",priority="P1"}';
    expect(text.split('\n').filter((x) => x.startsWith('# TYPE'))).toEqual([
      '# TYPE medic_build_info gauge',
      '# TYPE medic_service_up gauge',
      '# TYPE medic_service_state gauge',
      '# TYPE medic_service_paused gauge',
      '# TYPE medic_service_last_beat_timestamp_seconds gauge',
      '# TYPE medic_service_deadline_timestamp_seconds gauge',
      '# TYPE medic_service_missed_heartbeats gauge',
      '# TYPE medic_service_incident_open gauge',
      '# TYPE medic_target_events_pending gauge',
      '# TYPE medic_target_events_refused gauge',
      '# TYPE medic_last_check_timestamp_seconds gauge',
      '# TYPE medic_last_check_duration_seconds gauge',
    ]);
    expect(samples(text, 'medic_build_info')).toEqual(['medic_build_info{version="1.2.3"} 1']);
    expect(samples(text, 'medic_service_up')).toEqual([`medic_service_up${l} 1`]);
    expect(samples(text, 'medic_service_paused')).toEqual([`medic_service_paused${l} 0`]);
    expect(samples(text, 'medic_service_last_beat_timestamp_seconds')).toEqual([`medic_service_last_beat_timestamp_seconds${l} ${S - 60}`]);
    expect(samples(text, 'medic_service_deadline_timestamp_seconds')).toEqual([`medic_service_deadline_timestamp_seconds${l} ${S + 300}`]);
    expect(samples(text, 'medic_service_missed_heartbeats')).toEqual([`medic_service_missed_heartbeats${l} 0`]);
    expect(samples(text, 'medic_service_incident_open')).toEqual([`medic_service_incident_open${l} 0`]);
    expect(samples(text, 'medic_target_events_pending')).toEqual(['medic_target_events_pending{target="oncall"} 3']);
    expect(samples(text, 'medic_target_events_refused')).toEqual(['medic_target_events_refused{target="oncall"} 1']);
    expect(samples(text, 'medic_last_check_timestamp_seconds')).toEqual([`medic_last_check_timestamp_seconds ${S - 20}`]);
    expect(samples(text, 'medic_last_check_duration_seconds')).toEqual(['medic_last_check_duration_seconds 1.25']);
    expect(text.endsWith('\n')).toBe(true);
    expect(promtool(text)).toEqual({ code: 0, out: '' });
  });

  it.each([
    ['up', service(), { up: 1, paused: 0 }],
    ['late', service({ state: 'late' }), { up: 1, paused: 0 }],
    ['down', service({ state: 'down', down: true, incidentOpen: true, missedHeartbeats: 7 }), { up: 0, paused: 0 }],
    ['paused', service({ state: 'paused', paused: true }), { up: 1, paused: 1 }],
    ['paused', service({ state: 'paused', paused: true, down: true }), { up: 0, paused: 1 }],
  ] as const)('state %s: one 1 among the four states, up and paused as given', (name, s, want) => {
    const text = exposition(stateFamilies(state({ services: [s] })));
    const states = samples(text, 'medic_service_state').map((line) => [/state="(\w+)"/.exec(line)![1], line.slice(-1)]);
    expect(states).toEqual([
      ['up', name === 'up' ? '1' : '0'],
      ['late', name === 'late' ? '1' : '0'],
      ['down', name === 'down' ? '1' : '0'],
      ['paused', name === 'paused' ? '1' : '0'],
    ]);
    expect(samples(text, 'medic_service_up')[0]!.endsWith(` ${want.up}`)).toBe(true);
    expect(samples(text, 'medic_service_paused')[0]!.endsWith(` ${want.paused}`)).toBe(true);
  });

  it('a service that never beat has no last-beat sample (the other metrics stay)', () => {
    const text = exposition(stateFamilies(state({ services: [service({ lastBeatAt: null }), service({ slug: 'other' })] })));
    expect(samples(text, 'medic_service_last_beat_timestamp_seconds')).toEqual([`medic_service_last_beat_timestamp_seconds{slug="other",team="platform",priority="P1"} ${S - 60}`]);
    expect(samples(text, 'medic_service_deadline_timestamp_seconds')).toHaveLength(2);
    expect(promtool(text)).toEqual({ code: 0, out: '' });
  });

  it('before the first check: no last-check samples; a service without team has team=""', () => {
    const text = exposition(stateFamilies(state({ lastCheckAt: null, lastCheckDurationMs: null, services: [service({ team: null })] })));
    expect(samples(text, 'medic_last_check_timestamp_seconds')).toEqual([]);
    expect(samples(text, 'medic_last_check_duration_seconds')).toEqual([]);
    expect(samples(text, 'medic_service_up')).toEqual(['medic_service_up{slug="backup",team="",priority="P1"} 1']);
    expect(promtool(text)).toEqual({ code: 0, out: '' });
  });

  it('label values with quotes, backslashes and newlines are escaped: promtool parses them', () => {
    const hostile = 'a"b\\c\nd';
    const text = exposition(stateFamilies(state({ services: [service({ team: hostile })], targets: [{ name: hostile, pending: 0, refused: 0 }] })));
    expect(samples(text, 'medic_target_events_pending')).toEqual(['medic_target_events_pending{target="a\\"b\\\\c\\nd"} 0']);
    expect(text.split('\n').every((line) => !line.startsWith('d"'))).toBe(true);
    expect(promtool(text)).toEqual({ code: 0, out: '' });
    // Unescaped, the same text is refused: the check above can fail.
    expect(promtool(text.replace('a\\"b\\\\c\\nd', 'a"b\\c\nd')).code).not.toBe(0);
  });

  it('no services and no targets: still valid, with build info', () => {
    const text = exposition(stateFamilies(state({ services: [], targets: [] })));
    expect(samples(text, 'medic_build_info')).toHaveLength(1);
    expect(promtool(text)).toEqual({ code: 0, out: '' });
  });
});

describe("medic serve's counters", () => {
  it('beats by kind and requests by code, as counters with _total', () => {
    const text = exposition(
      serveFamilies(
        { ok: 5, start: 2, fail: 1, log: 0 },
        new Map([
          [404, 1],
          [200, 8],
        ]),
      ),
    );
    expect(samples(text, 'medic_serve_beats_received_total')).toEqual([
      'medic_serve_beats_received_total{kind="ok"} 5',
      'medic_serve_beats_received_total{kind="start"} 2',
      'medic_serve_beats_received_total{kind="fail"} 1',
      'medic_serve_beats_received_total{kind="log"} 0',
    ]);
    expect(samples(text, 'medic_serve_requests_total')).toEqual(['medic_serve_requests_total{code="200"} 8', 'medic_serve_requests_total{code="404"} 1']);
    expect(text).toContain('# TYPE medic_serve_requests_total counter');
    expect(promtool(text)).toEqual({ code: 0, out: '' });
  });
});

describe('serviceMetrics: a status row folded into up, late, down or paused', () => {
  const row = (over: Partial<ServiceStatus>): ServiceStatus =>
    ({
      slug: 'job',
      name: 'job',
      team: null,
      priority: 'P3',
      state: 'up',
      lastSeen: new Date(T - 60_000).toISOString(),
      deadline: new Date(T + 360_000).toISOString(),
      lateAt: new Date(T + 240_000).toISOString(),
      missedHeartbeats: 0,
      incidentOpen: false,
      muted: null,
      downReason: null,
      ...over,
    }) as ServiceStatus;
  const paused = { kind: 'paused' as const, reason: null, until: null };
  const window = { kind: 'maintenance' as const, reason: 'upgrade', until: null };
  it.each([
    ['up', row({ state: 'up' }), 'up', false],
    ['new (never beat, not late yet)', row({ state: 'new', lastSeen: null }), 'up', false],
    ['late', row({ state: 'late' }), 'late', false],
    ['down (missed)', row({ state: 'down', downReason: 'missed' }), 'down', true],
    ['failed', row({ state: 'failed', downReason: 'failed' }), 'down', true],
    ['stuck', row({ state: 'stuck', downReason: 'stuck' }), 'down', true],
    ['paused', row({ state: 'paused', muted: paused }), 'paused', false],
    ['paused and down underneath', row({ state: 'paused', muted: paused, downReason: 'missed' }), 'paused', true],
    ['in a maintenance window', row({ state: 'maintenance', muted: window }), 'paused', false],
    ['running, before lateAt', row({ state: 'running' }), 'up', false],
    ['running, at lateAt', row({ state: 'running', lateAt: new Date(T).toISOString() }), 'late', false],
    ['flapping, down again', row({ state: 'flapping', downReason: 'missed' }), 'down', true],
    ['flapping, up for now', row({ state: 'flapping' }), 'up', false],
  ] as const)('%s → %s', (_, r, metricState, down) => {
    const m = serviceMetrics(r, T);
    expect({ state: m.state, down: m.down, paused: m.paused }).toEqual({ state: metricState, down, paused: r.muted !== null });
  });

  it('keeps the times as epoch ms and no beat as null', () => {
    expect(serviceMetrics(row({ lastSeen: null }), T)).toMatchObject({ lastBeatAt: null, deadlineAt: T + 360_000 });
    expect(serviceMetrics(row({}), T).lastBeatAt).toBe(T - 60_000);
  });
});

describe('docs/metrics.md', () => {
  it("its alerting rules pass promtool check rules and use only metrics Medic writes (or node_exporter's)", () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const rules = /```yaml\n(groups:[^]*?)```/.exec(doc)?.[1];
    expect(rules).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'medic-rules-'));
    try {
      const file = join(dir, 'medic.rules.yml');
      writeFileSync(file, rules!);
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: '' });
      expect(r.stdout).toContain('SUCCESS: 8 rules found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const written = new Set([...stateFamilies(state()), ...serveFamilies({ ok: 0, start: 0, fail: 0, log: 0 }, new Map())].map((f) => f.name));
    const used = [...rules!.matchAll(/\b(medic_[a-z_]+)/g)].map((m) => m[1]!);
    expect(used.filter((name) => !written.has(name))).toEqual([]);
  });

  // The new-user walk: `unless on()` let one machine's checker hide another's that never ran.
  it('promtool test rules: among three machines, MedicCheckerNeverRan fires for the one whose checker never ran, MedicMetricsMissing for the one without medic.prom', () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const rules = /```yaml\n(groups:[^]*?)```/.exec(doc)![1]!;
    const dir = mkdtempSync(join(tmpdir(), 'medic-rules-'));
    try {
      writeFileSync(join(dir, 'medic.rules.yml'), rules);
      const series = (name: string, labels: string, values: string) => `      - series: '${name}{${labels}}'\n        values: '${values}'`;
      writeFileSync(
        join(dir, 'test.yml'),
        [
          'rule_files: [medic.rules.yml]',
          'evaluation_interval: 1m',
          'tests:',
          '  - interval: 1m',
          '    input_series:',
          ...['a', 'b', 'c'].map((i) => series('up', `job="node",instance="${i}"`, '1x30')),
          series('medic_build_info', 'job="node",instance="a",version="1.0.0"', '1x30'),
          series('medic_build_info', 'job="node",instance="b",version="1.0.0"', '1x30'),
          series('medic_last_check_timestamp_seconds', 'job="node",instance="a"', '0+60x30'),
          '    alert_rule_test:',
          '      - eval_time: 15m',
          '        alertname: MedicCheckerNeverRan',
          '        exp_alerts:',
          '          - exp_labels: { severity: critical, job: node, instance: b, version: 1.0.0 }',
          '            exp_annotations: { summary: "medic check has never run against the database of b" }',
          '      - eval_time: 15m',
          '        alertname: MedicMetricsMissing',
          '        exp_alerts:',
          '          - exp_labels: { severity: warning, job: node, instance: c }',
          '            exp_annotations: { summary: "no medic metrics from c (no medic.prom: is the cron line there? does medic metrics fail?)" }',
          '',
        ].join('\n'),
      );
      const r = spawnSync('promtool', ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8' });
      expect({ code: r.status, out: `${r.stdout}${r.stderr}` }).toMatchObject({ code: 0 });
      expect(r.stdout).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

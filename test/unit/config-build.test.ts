/**
 * buildConfig and its lenient twin (src/config.ts) on parsed configs: values that are a routing key
 * in the wrong place, credentials in URLs, bounds on timeouts and windows, unknown teams, the
 * database mode, MEDIC_DB, the machine's time zone, and what status and history can still show
 * from a config with problems.
 */
import { describe, expect, it } from 'vitest';
import { buildConfig, buildConfigLenient, machineZone, type BuildOptions } from '../../src/config.js';
import { ConfigError, EXIT } from '../../src/errors.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const FILE = '/srv/app/medic.config.json';
const OPTS: BuildOptions = { env: {}, cwd: '/home/ops', machineZone: 'Europe/Berlin' };

function base(): any {
  return {
    targets: { oncall: { type: 'pagerduty' } },
    teams: { payments: { targets: ['oncall'] } },
    services: [
      { slug: 'nightly-backup', team: 'platform' },
      { slug: 'ledger-export', team: 'payments' },
    ],
  };
}

function edited(edit: (cfg: any) => void): any {
  const cfg = base();
  edit(cfg);
  return cfg;
}

/** The problem lines buildConfig throws (without the file prefix), [] when it accepts the config. */
function problemsOf(raw: unknown, opts: BuildOptions = OPTS): string[] {
  try {
    buildConfig(raw, FILE, opts);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(EXIT.config);
    return (err as ConfigError).message.split('\n').slice(1).map((l) => l.replace(`  ${FILE}: `, ''));
  }
}

describe('a routing key written where no key belongs is refused and never echoed', () => {
  const refusal = (at: string) => `${at}: this looks like a routing key (a1b2…o5p6), which must not be written in the config file; put it in a file named by "routingKeyFile" or a variable named by "routingKeyEnv"`;
  it.each([
    ['targets.oncall.routingKeyFile', (c: any) => (c.targets.oncall.routingKeyFile = KEY)],
    ['targets.oncall.routingKeyEnv', (c: any) => (c.targets.oncall.routingKeyEnv = KEY)],
    ['targets.oncall.eventsUrl', (c: any) => (c.targets.oncall.eventsUrl = KEY)],
    ['targets.oncall.eventsUrl', (c: any) => (c.targets.oncall.eventsUrl = `https://events.pagerduty.com/v2/enqueue/${KEY}`)],
    ['targets.oncall.eventsUrl', (c: any) => (c.targets.oncall.eventsUrl = `https://events.pagerduty.com/v2/enqueue?routing_key=${KEY}`)],
    ['checker.heartbeatUrl', (c: any) => (c.checker = { heartbeatUrl: KEY })],
    ['database', (c: any) => (c.database = KEY)],
    ['services[0].name', (c: any) => (c.services[0].name = KEY)],
    ['services[1].runbook', (c: any) => (c.services[1].runbook = KEY)],
  ])('%s', (at, edit) => {
    const problems = problemsOf(edited(edit));
    expect(problems).toContain(refusal(at));
    expect(problems.join('\n')).not.toMatch(new RegExp(KEY, 'i'));
  });

  it.each([
    ['a 32-character slug', (c: any) => c.services.push({ slug: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6', targets: ['oncall'] })],
    ['a ping URL with a 32-character token in it (as Cronitor uses)', (c: any) => (c.checker = { heartbeatUrl: 'https://cronitor.link/p/0123456789abcdef0123456789abcdef/medic' })],
    ['a 32-letter variable name with no digit', (c: any) => (c.targets.oncall.routingKeyEnv = 'PAGERDUTY_KEY_FOR_THE_PAYMENTS_T')],
  ])('but %s is fine', (_name, edit) => {
    expect(problemsOf(edited(edit))).toEqual([]);
  });
});

describe('credentials in a URL are refused and never printed', () => {
  it.each([
    ['targets.oncall.eventsUrl', (c: any, url: string) => (c.targets.oncall.eventsUrl = url)],
    ['checker.heartbeatUrl', (c: any, url: string) => (c.checker = { heartbeatUrl: url })],
  ])('%s', (at, edit) => {
    for (const url of ['https://ops:s3cretpass@events.example.com/v2/enqueue', 'https://tokenonly@events.example.com/v2/enqueue']) {
      const problems = problemsOf(edited((c) => edit(c, url)));
      expect(problems).toEqual([`${at}: credentials in a URL (user:password@) are refused; Medic does not send them`]);
    }
  });
});

describe('bounds: every wait ends within a cron minute’s reach, windows last, gaps can be seen', () => {
  it.each([
    ['targets.oncall.timeout', (c: any, v: string) => (c.targets.oncall.timeout = v), '10m', '11m', 'a duration from 1ms to 10m'],
    ['targets.oncall.timeout', (c: any, v: string) => (c.targets.oncall.timeout = v), '1ms', '0s', 'a duration from 1ms to 10m'],
    ['checker.timeout', (c: any, v: string) => (c.checker = { timeout: v }), '10m', '25d', 'a duration from 1ms to 10m'],
    ['checker.deliveryBudget', (c: any, v: string) => (c.checker = { deliveryBudget: v }), '10m', '10m1s', 'a duration from 1ms to 10m (keep it well under the minute between runs)'],
    ['checker.gapThreshold', (c: any, v: string) => (c.checker = { gapThreshold: v }), '2m', '119s', 'at least 2m (medic check runs every minute; a shorter gap cannot be told from a normal one)'],
    ['maintenance[0].duration', (c: any, v: string) => (c.maintenance = [{ all: true, cron: '0 3 * * *', duration: v }]), '1s', '0s', 'a duration longer than 0s, like "2h"'],
  ])('%s: %s is accepted, %s is refused with the valid range', (at, edit, good, bad, range) => {
    expect(problemsOf(edited((c) => edit(c, good)))).toEqual([]);
    expect(problemsOf(edited((c) => edit(c, bad)))).toEqual([`${at}: expected ${range}, got ${JSON.stringify(bad)}`]);
  });
});

describe('a maintenance window names only services and teams that exist', () => {
  it.each([
    [{ teams: ['payment'] }, 'maintenance[0].teams[0]: unknown team "payment" (did you mean "payments"?); no service has "team": "payment"'],
    [{ teams: ['marketing'] }, 'maintenance[0].teams[0]: unknown team "marketing"; no service has "team": "marketing"'],
    [{ services: ['nightly-bakup'] }, 'maintenance[0].services[0]: unknown service "nightly-bakup" (did you mean "nightly-backup"?)'],
  ])('%j', (covers, problem) => {
    expect(problemsOf(edited((c) => (c.maintenance = [{ ...covers, start: '2026-12-01T22:00:00Z', end: '2026-12-02T02:00:00Z' }])))).toEqual([problem]);
  });

  it('a team with services but none under "teams" is fine', () => {
    expect(problemsOf(edited((c) => (c.maintenance = [{ teams: ['platform'], cron: '0 3 * * 0', duration: '2h' }])))).toEqual([]);
  });
});

describe('databaseMode and MEDIC_DB', () => {
  it.each([
    [undefined, 0o600],
    ['0600', 0o600],
    ['0660', 0o660],
  ])('databaseMode %j is mode %o on the Config', (mode, expected) => {
    expect(buildConfig(edited((c) => mode !== undefined && (c.databaseMode = mode)), FILE, OPTS).databaseMode).toBe(expected);
  });

  it.each(['0644', '0666', 384, '600'])('databaseMode %j is refused', (mode) => {
    expect(problemsOf(edited((c) => (c.databaseMode = mode)))).toEqual([`databaseMode: expected 0600 or 0660, got ${JSON.stringify(mode)}`]);
  });

  it.each([
    [{}, '/srv/app/medic.db'],
    [{ database: 'state/medic.db' }, '/srv/app/state/medic.db'],
    [{ MEDIC_DB: 'elsewhere.db' }, '/home/ops/elsewhere.db'],
    [{ MEDIC_DB: '/var/lib/medic/medic.db' }, '/var/lib/medic/medic.db'],
  ])('%j: the database is %s (a relative MEDIC_DB is relative to the working folder medic was given, not the process’s)', (setting, path) => {
    const { database, ...env } = setting as { database?: string; MEDIC_DB?: string };
    const raw = edited((c) => database && (c.database = database));
    expect(buildConfig(raw, FILE, { ...OPTS, env }).databasePath).toBe(path);
  });
});

describe('the machine time zone', () => {
  it.each([
    ['Europe/Berlin', 'Europe/Berlin', 'Europe/Berlin', false],
    ['UTC', undefined, 'UTC', false],
    ['Etc/Unknown', '', 'UTC', true], // TZ= (empty)
    [undefined, 'Foo/Bar', 'UTC', true], // a zone the machine does not know
    ['Not/AZone', undefined, 'UTC', true],
    // POSIX rules cron (libc) follows and Intl reads as UTC: said, not silently UTC.
    ['UTC', 'EST5EDT,M3.2.0/2,M11.1.0', 'UTC', true],
    ['UTC', '<+0530>-5:30', 'UTC', true],
    ['America/New_York', ':America/New_York', 'America/New_York', false], // glibc's leading colon
    ['America/New_York', 'US/Eastern', 'America/New_York', false], // an alias Intl knows
  ])('Intl says %j with TZ=%j: schedules and recurring windows use %s', (detected, tz, zone, noted) => {
    const result = machineZone(detected, tz);
    expect(result.zone).toBe(zone);
    if (noted) expect(result.note).toMatch(/^the machine's time zone is unusable \(.+\): schedules and recurring maintenance windows without "timezone" are read in UTC; set TZ/);
    else expect(result.note).toBeNull();
  });

  it('lands on the Config as localZone and zoneNote', () => {
    const config = buildConfig(base(), FILE, { env: { TZ: '' }, cwd: '/', machineZone: 'Etc/Unknown' });
    expect(config.localZone).toBe('UTC');
    expect(config.zoneNote).toContain('TZ is set but empty');
  });
});

describe('the lenient load keeps what is valid on its own', () => {
  const slugs = (raw: unknown) => {
    const { config, problems } = buildConfigLenient(raw, FILE, OPTS);
    return { slugs: config.services.map((s) => s.slug), targets: [...config.targets.keys()], problems: problems?.message.split('\n').length ?? 0 };
  };

  it.each([
    ['a valid config, with no problems', (_c: any) => {}, ['nightly-backup', 'ledger-export'], ['oncall'], 0],
    ['a service with a bad value', (c: any) => (c.services[0].grace = '5 minutes'), ['ledger-export'], ['oncall'], 2],
    ['a duplicate slug', (c: any) => c.services.push({ slug: 'ledger-export', interval: '1m' }), ['nightly-backup', 'ledger-export'], ['oncall'], 2],
    ['a broken target: the services it alone pages go too', (c: any) => {
      c.defaults = { targets: ['oncall'] };
      c.targets.backup = { type: 'pagerduty', eventsUrl: 'http://example.com/' };
      c.services.push({ slug: 'web', targets: ['backup'] });
      c.services.push({ slug: 'api', targets: ['backup', 'oncall'] });
    }, ['nightly-backup', 'ledger-export'], ['oncall'], 2],
    ['a broken default: the services that inherit it go', (c: any) => {
      c.defaults = { interval: 'often' };
      c.services[1].interval = '1h';
    }, ['ledger-export'], ['oncall'], 2],
    ['interval and schedule both in defaults: the services that inherit one go', (c: any) => {
      c.defaults = { interval: '5m', schedule: '@daily' };
      c.services[1].schedule = '@hourly';
    }, ['ledger-export'], ['oncall'], 2],
    ['a typo in a window', (c: any) => (c.maintenance = [{ teams: ['payment'], cron: '0 3 * * 0', duration: '2h' }]), ['nightly-backup', 'ledger-export'], ['oncall'], 2],
    ['an unknown top-level key and a bad checker setting', (c: any) => {
      c.servces = [];
      c.checker = { gapThreshold: '1m' };
    }, ['nightly-backup', 'ledger-export'], ['oncall'], 2],
  ])('%s', (_name, edit, services, targets, problemLines) => {
    expect(slugs(edited(edit))).toEqual({ slugs: services, targets, problems: problemLines });
  });

  it.each([
    ['the root is not an object', [base()]],
    ['the database cannot be told', edited((c) => (c.database = 5))],
    ['a JavaScript config holds a function', edited((c) => (c.services[0].interval = () => '5m'))],
  ])('throws when %s', (_name, raw) => {
    expect(() => buildConfigLenient(raw, FILE, OPTS)).toThrow(ConfigError);
  });
});

describe('[jobs] schedule, timezone, maxRuntime and outputTail', () => {
  const service = (over: Record<string, unknown>, defaults?: Record<string, unknown>) =>
    edited((c) => {
      Object.assign(c.services[0], over);
      if (defaults) c.defaults = defaults;
    });
  const spec = (raw: unknown, opts: BuildOptions = OPTS) => buildConfig(raw, FILE, opts).services[0]!;

  it.each<[string, Record<string, unknown>, Record<string, unknown> | undefined, { intervalMs: number | null; schedule: { expr: string; timezone: string; machineZone?: boolean } | null }]>([
    ['neither: the default interval (5m)', {}, undefined, { intervalMs: 300_000, schedule: null }],
    ['its own schedule, no zone: the machine zone, said so', { schedule: '30 2 * * *' }, undefined, { intervalMs: null, schedule: { expr: '30 2 * * *', timezone: 'Europe/Berlin', machineZone: true } }],
    ['its own schedule and zone', { schedule: '@daily', timezone: 'America/New_York' }, undefined, { intervalMs: null, schedule: { expr: '@daily', timezone: 'America/New_York' } }],
    ['a zone in another case is named as the runtime names it', { schedule: '@daily', timezone: 'america/new_york' }, undefined, { intervalMs: null, schedule: { expr: '@daily', timezone: 'America/New_York' } }],
    ['defaults.schedule and defaults.timezone', {}, { schedule: '0 * * * *', timezone: 'Asia/Tokyo' }, { intervalMs: null, schedule: { expr: '0 * * * *', timezone: 'Asia/Tokyo' } }],
    ['its own schedule overrides defaults.interval', { schedule: '@hourly' }, { interval: '1m' }, { intervalMs: null, schedule: { expr: '@hourly', timezone: 'Europe/Berlin', machineZone: true } }],
    ['its own interval overrides defaults.schedule', { interval: '10m' }, { schedule: '@hourly' }, { intervalMs: 600_000, schedule: null }],
  ])('%s', (_label, over, defaults, expected) => {
    const s = spec(service(over, defaults));
    expect(s.intervalMs).toBe(expected.intervalMs);
    if (expected.schedule === null) expect(s.schedule).toBeNull();
    else expect(s.schedule).toEqual({ ...expected.schedule, cron: expect.any(Object) });
    expect(s.schedule?.machineZone).toBe(expected.schedule?.machineZone);
  });

  it('a schedule without "timezone" on a machine with an unusable zone is read in UTC (the config notes it)', () => {
    const config = buildConfig(service({ schedule: '@daily' }), FILE, { env: { TZ: '' }, cwd: '/', machineZone: 'Etc/Unknown' });
    expect(config.services[0]!.schedule).toMatchObject({ timezone: 'UTC', machineZone: true });
    expect(config.zoneNote).toContain('schedules and recurring maintenance windows without "timezone" are read in UTC');
  });

  it.each([
    ['maxRuntime and outputTail of its own', { maxRuntime: '2h', outputTail: 0 }, undefined, { maxRuntimeMs: 7_200_000, outputTailBytes: 0 }],
    ['from defaults', {}, { maxRuntime: '90m', outputTail: 65536 }, { maxRuntimeMs: 5_400_000, outputTailBytes: 65536 }],
    ['none: no limit, 4096 bytes', {}, undefined, { maxRuntimeMs: null, outputTailBytes: 4096 }],
  ])('%s', (_label, over, defaults, expected) => {
    expect(spec(service(over, defaults))).toMatchObject(expected);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown> | undefined, string[]]>([
    ['interval and schedule on one service', { interval: '5m', schedule: '@daily' }, undefined, ['services[0]: expected "interval" or "schedule", not both']],
    ['interval and schedule in defaults', {}, { interval: '5m', schedule: '@daily' }, ['defaults: expected "interval" or "schedule", not both']],
    [
      'a schedule cron cannot read',
      { schedule: '61 2 * * *' },
      undefined,
      ['services[0].schedule: expected a 5-field cron expression like "30 2 * * *" or @daily, got "61 2 * * *" (minute "61" is not in 0-59)'],
    ],
    ['a schedule of the wrong shape', { schedule: 'daily' }, undefined, ['services[0].schedule: expected a 5-field cron expression like "30 2 * * *", or @hourly, @daily, @weekly, @monthly or @yearly, got "daily"']],
    ['an unknown macro', { schedule: '@reboot' }, undefined, ['services[0].schedule: expected a 5-field cron expression like "30 2 * * *" or @daily, got "@reboot" (expected 5 fields (minute hour day month weekday), got 1)']],
    ['an unknown zone', { schedule: '@daily', timezone: 'Mars/Olympus' }, undefined, ['services[0].timezone: expected an IANA time zone like "Europe/Berlin", got "Mars/Olympus"']],
    ['a timezone without a schedule', { timezone: 'Europe/Berlin' }, undefined, ['services[0].timezone: only a service with a "schedule" has a time zone; this one has an "interval"']],
    ['defaults.timezone when no service has a schedule', {}, { timezone: 'Europe/Berlin' }, ['defaults.timezone: only services with a "schedule" have a time zone, and none has one']],
    ['a maxRuntime under 1s', { maxRuntime: '500ms' }, undefined, ['services[0].maxRuntime: expected at least 1s, got "500ms"']],
    ['an outputTail over 64 KiB', { outputTail: 65537 }, undefined, ['services[0].outputTail: expected a number of bytes from 0 to 65536, got 65537']],
    ['a negative outputTail', {}, { outputTail: -1 }, ['defaults.outputTail: expected a number of bytes from 0 to 65536, got -1']],
  ])('refused, with the key path: %s', (_label, over, defaults, problems) => {
    expect(problemsOf(service(over, defaults))).toEqual(problems);
  });

  it('reports every such problem at once', () => {
    const raw = edited((c) => {
      c.services[0].schedule = '99 * * * *';
      c.services[0].timezone = 'Nowhere/Land';
      c.services[1].timezone = 'Europe/Berlin';
    });
    expect(problemsOf(raw)).toHaveLength(3);
  });
});

/** [targets] A config with a PagerDuty target taking P1-P2 and a Slack channel taking every priority. */
function routed(): any {
  return {
    targets: {
      oncall: { type: 'pagerduty', priorities: ['P1', 'P2'] },
      'team-channel': { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' },
    },
    defaults: { targets: ['oncall', 'team-channel'] },
    services: [
      { slug: 'payments-api', priority: 'P1' },
      { slug: 'nightly-report', priority: 'P3' },
    ],
  };
}

const SLACK_TOKEN = 'xoxb-0000000000-1111111111-FAKEfakeFAKEfake';
const SLACK_HOOK = 'https://hooks.slack.com/services/T00000000/B00000000/FAKEfakeFAKEfake0';

describe('[targets] priorities route a service to the targets that take its priority', () => {
  it('a P1 service pages both targets, a P3 service only the channel', () => {
    const config = buildConfig(routed(), FILE, OPTS);
    expect(config.bySlug.get('payments-api')!.targets).toEqual(['oncall', 'team-channel']);
    expect(config.bySlug.get('nightly-report')!.targets).toEqual(['team-channel']);
    expect(config.targets.get('oncall')!.priorities).toEqual(['P1', 'P2']);
    expect(config.targets.get('team-channel')!.priorities).toBeNull();
  });

  it.each<[string, (c: any) => void, Record<string, string[]>]>([
    ['priorities in lower case', (c) => (c.targets.oncall.priorities = ['p1', 'p2']), { 'payments-api': ['oncall', 'team-channel'], 'nightly-report': ['team-channel'] }],
    ['a lower-case service priority', (c) => (c.services[1].priority = 'p2'), { 'payments-api': ['oncall', 'team-channel'], 'nightly-report': ['oncall', 'team-channel'] }],
    ['a priority from defaults', (c) => { delete c.services[1].priority; c.defaults.priority = 'P2'; }, { 'payments-api': ['oncall', 'team-channel'], 'nightly-report': ['oncall', 'team-channel'] }],
    ['targets from the team', (c) => { delete c.defaults; c.teams = { ops: { targets: ['oncall', 'team-channel'] } }; c.services.forEach((s: any) => (s.team = 'ops')); }, { 'payments-api': ['oncall', 'team-channel'], 'nightly-report': ['team-channel'] }],
    ['a webhook taking only P4', (c) => { c.targets.tickets = { type: 'webhook', url: 'https://tickets.example.com/medic', secretEnv: 'TICKETS_SECRET', priorities: ['P4'] }; c.services.push({ slug: 'cleanup', priority: 'P4', targets: ['oncall', 'tickets'] }); }, { 'payments-api': ['oncall', 'team-channel'], 'nightly-report': ['team-channel'], cleanup: ['tickets'] }],
  ])('%s', (_label, edit, expected) => {
    const raw = routed();
    edit(raw);
    const config = buildConfig(raw, FILE, OPTS);
    expect(Object.fromEntries(config.services.map((s) => [s.slug, s.targets]))).toEqual(expected);
  });

  it.each<[string, (c: any) => void, string[]]>([
    [
      'a P3 service listing only oncall (P1, P2)',
      (c) => (c.services[1].targets = ['oncall']),
      ['services[1]: "nightly-report" would page nobody: its priority is P3, and none of its targets takes P3 (oncall takes P1, P2); add "P3" to targets.oncall.priorities, or give the service a target that takes P3 (a target without "priorities" takes every priority)'],
    ],
    [
      'every target of a P4 service takes other priorities',
      (c) => { c.targets['team-channel'].priorities = ['P3']; c.services.push({ slug: 'cleanup', priority: 'p4' }); },
      ['services[2]: "cleanup" would page nobody: its priority is P4, and none of its targets takes P4 (oncall takes P1, P2; team-channel takes P3); add "P4" to targets.oncall.priorities, or give the service a target that takes P4 (a target without "priorities" takes every priority)'],
    ],
    ['a priority twice, in two cases', (c) => (c.targets.oncall.priorities = ['P1', 'P2', 'p1']), ['targets.oncall.priorities: expected each priority once (case does not matter), got "P1" and "p1"']],
    ['a priority twice, as written', (c) => (c.targets.oncall.priorities = ['P1', 'P1']), ['targets.oncall.priorities: expected each item once, got "P1" twice']],
    ['a priority P5', (c) => (c.targets.oncall.priorities = ['P1', 'P5']), ['targets.oncall.priorities[1]: expected P1, P2, P3 or P4, got "P5"']],
    ['no priority at all', (c) => (c.targets.oncall.priorities = []), ['targets.oncall.priorities: expected a non-empty list of priorities (P1, P2, P3, P4), got []']],
    ['a priority list given as a string', (c) => (c.targets.oncall.priorities = 'P1'), ['targets.oncall.priorities: expected a non-empty list of priorities (P1, P2, P3, P4), got "P1"']],
  ])('refused: %s', (_label, edit, problems) => {
    const raw = routed();
    edit(raw);
    expect(problemsOf(raw)).toEqual(problems);
  });
});

describe('[targets] Slack and webhook targets: one secret source, read from outside the file', () => {
  const slack = (t: Record<string, unknown>) => ({ targets: { chat: { type: 'slack', ...t } }, services: [{ slug: 'backup' }] });
  const hook = (t: Record<string, unknown>) => ({ targets: { tickets: { type: 'webhook', url: 'https://tickets.example.com/medic', ...t } }, services: [{ slug: 'backup' }] });
  const SOURCES = '"webhookUrlEnv", "webhookUrlFile", "tokenEnv" or "tokenFile"';

  it.each<[string, unknown, Record<string, unknown>]>([
    ['a Slack incoming webhook from a variable', slack({ webhookUrlEnv: 'SLACK_WEBHOOK_URL' }), { type: 'slack', mode: 'webhook', secret: 'env:SLACK_WEBHOOK_URL', channel: null, apiUrl: 'https://slack.com/api', priorities: null, timeoutMs: 10_000 }],
    ['a Slack incoming webhook from a file, relative to the config', slack({ webhookUrlFile: 'secrets/slack-hook' }), { mode: 'webhook', secret: 'file:/srv/app/secrets/slack-hook' }],
    ['a Slack bot token with a channel', slack({ tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C0123ABCD' }), { mode: 'token', secret: 'env:SLACK_BOT_TOKEN', channel: 'C0123ABCD', apiUrl: 'https://slack.com/api' }],
    ['a bot token from a file, a Web API on loopback, its trailing slash dropped', slack({ tokenFile: '/run/secrets/slack', channel: '#alerts', apiUrl: 'http://127.0.0.1:8080/api/', timeout: '3s', priorities: ['p3', 'P1'] }), { mode: 'token', secret: 'file:/run/secrets/slack', channel: '#alerts', apiUrl: 'http://127.0.0.1:8080/api', timeoutMs: 3000, priorities: ['P3', 'P1'] }],
    ['a webhook with its secret in a variable', hook({ secretEnv: 'TICKETS_SECRET' }), { type: 'webhook', url: 'https://tickets.example.com/medic', secret: 'env:TICKETS_SECRET' }],
    ['a webhook on loopback with its secret in a file', hook({ url: 'http://localhost:9000/hook', secretFile: 'hook.secret', severity: { P3: 'error' } }), { url: 'http://localhost:9000/hook', secret: 'file:/srv/app/hook.secret', severity: { P3: 'error' } }],
  ])('%s', (_label, raw, expected) => {
    const config = buildConfig(raw, FILE, OPTS);
    expect([...config.targets.values()][0]).toMatchObject(expected);
  });

  it.each<[string, unknown, string[]]>([
    ['a Slack target with no secret source', slack({ channel: 'C0123ABCD' }), [`targets.chat: missing where its secret is read; give one of ${SOURCES}`]],
    ['a webhook URL and a token', slack({ webhookUrlEnv: 'SLACK_WEBHOOK_URL', tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C1' }), [`targets.chat: give only one of ${SOURCES}, not "webhookUrlEnv" and "tokenEnv"`]],
    ['the webhook URL from a variable and a file', slack({ webhookUrlEnv: 'SLACK_WEBHOOK_URL', webhookUrlFile: 'hook' }), [`targets.chat: give only one of ${SOURCES}, not "webhookUrlEnv" and "webhookUrlFile"`]],
    ['a token without a channel', slack({ tokenFile: 'slack-token' }), ['targets.chat: a bot token ("tokenFile") needs "channel": the channel to post to, like "C0123ABCD" or "#alerts"']],
    ['a channel with an incoming webhook', slack({ webhookUrlEnv: 'SLACK_WEBHOOK_URL', channel: '#alerts' }), ['targets.chat.channel: an incoming webhook posts to the channel it was made for; "channel" goes with "tokenEnv" or "tokenFile"']],
    ['an apiUrl with an incoming webhook', slack({ webhookUrlEnv: 'SLACK_WEBHOOK_URL', apiUrl: 'https://slack.com/api' }), ["targets.chat.apiUrl: only a bot token uses Slack's Web API; an incoming webhook's URL is its secret"]],
    ['a plain-http Web API off loopback', slack({ tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C1', apiUrl: 'http://slack.example.com/api' }), ['targets.chat.apiUrl: plain http:// is only allowed to loopback (127.0.0.1, localhost, [::1]); use https://, got "http://slack.example.com/api"']],
    ['credentials in the Web API URL', slack({ tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C1', apiUrl: 'https://bot:pw@slack.example.com/api' }), ['targets.chat.apiUrl: credentials in a URL (user:password@) are refused; Medic does not send them']],
    ['a channel name over 80 characters', slack({ tokenEnv: 'SLACK_BOT_TOKEN', channel: 'c'.repeat(81) }), [`targets.chat.channel: expected a string of 1-80 characters, got "${'c'.repeat(56)}...`]],
    ['a webhook with no secret source', hook({}), ['targets.tickets: missing where its secret is read; give one of "secretEnv" or "secretFile"']],
    ['a webhook with both secret sources', hook({ secretEnv: 'S', secretFile: 's' }), ['targets.tickets: give only one of "secretEnv" or "secretFile", not "secretEnv" and "secretFile"']],
    ['a webhook without a url', { targets: { tickets: { type: 'webhook', secretEnv: 'S' } }, services: [{ slug: 'b' }] }, ['targets.tickets: missing required key "url"']],
    ['a webhook to plain http off loopback', hook({ url: 'http://tickets.example.com/medic', secretEnv: 'S' }), ['targets.tickets.url: plain http:// is only allowed to loopback (127.0.0.1, localhost, [::1]); use https://, got "http://tickets.example.com/medic"']],
    ['a webhook url that is no URL', hook({ url: 'tickets.example.com', secretEnv: 'S' }), ['targets.tickets.url: expected an https:// URL, got "tickets.example.com"']],
    ['a webhook url with credentials', hook({ url: 'https://u:p@tickets.example.com/', secretEnv: 'S' }), ['targets.tickets.url: credentials in a URL (user:password@) are refused; Medic does not send them']],
    ['a Slack key on a webhook target', hook({ secretEnv: 'S', channel: '#x' }), ['targets.tickets: unknown key "channel"']],
    ['a webhook key on a Slack target (and a misspelt one)', slack({ webhookUrlEnv: 'H', secretEnv: 'S', chanel: '#x' }), ['targets.chat: unknown key "secretEnv"', 'targets.chat: unknown key "chanel" (did you mean "channel"?)']],
    ['a timeout over 10m', slack({ webhookUrlEnv: 'H', timeout: '11m' }), ['targets.chat.timeout: expected a duration from 1ms to 10m, got "11m"']],
  ])('refused, with the key path and what would be valid: %s', (_label, raw, problems) => {
    expect(problemsOf(raw)).toEqual(problems);
  });
});

describe('[targets] a Slack or webhook secret written into the config is refused with the reason, never echoed', () => {
  const slackRefused = (at: string) =>
    `${at}: a Slack webhook URL must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "webhookUrlEnv" or in a file named by "webhookUrlFile"`;
  const tokenRefused = (at: string) =>
    `${at}: a Slack bot token must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "tokenEnv" or in a file named by "tokenFile"`;
  const secretRefused = (at: string) =>
    `${at}: a signing secret must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "secretEnv" or in a file named by "secretFile"`;
  const tokenLooks = (at: string) => `${at}: this looks like a Slack bot token (xoxb-…), which must not be written in the config file; put it in a file named by "tokenFile" or a variable named by "tokenEnv"`;
  const hookLooks = (at: string) =>
    `${at}: this looks like a Slack webhook URL (hooks.slack.com/services/…), which must not be written in the config file; put it in a file named by "webhookUrlFile" or a variable named by "webhookUrlEnv"`;
  const withTargets = (targets: Record<string, unknown>) => ({ targets, services: [{ slug: 'backup' }] });
  const slackType = ` of a target with "type": "slack" (Slack's own webhooks take Slack's message format, not Medic's signed events)`;

  it.each<[string, unknown, string[]]>([
    // under a name of its own: the schema's refusal, whatever the value
    ['webhookUrl on a Slack target', withTargets({ chat: { type: 'slack', webhookUrl: SLACK_HOOK } }), [slackRefused('targets.chat.webhookUrl')]],
    ['url on a Slack target', withTargets({ chat: { type: 'slack', url: SLACK_HOOK, webhookUrlEnv: 'H' } }), [slackRefused('targets.chat.url')]],
    ['webhook_url on a Slack target', withTargets({ chat: { type: 'slack', webhook_url: 'x', webhookUrlEnv: 'H' } }), [slackRefused('targets.chat.webhook_url')]],
    ['token on a Slack target', withTargets({ chat: { type: 'slack', token: SLACK_TOKEN, tokenEnv: 'T', channel: 'C1' } }), [tokenRefused('targets.chat.token')]],
    ['botToken on a Slack target', withTargets({ chat: { type: 'slack', botToken: 'not-even-a-token', tokenEnv: 'T', channel: 'C1' } }), [tokenRefused('targets.chat.botToken')]],
    ['bot_token on a Slack target', withTargets({ chat: { type: 'slack', bot_token: SLACK_TOKEN, tokenEnv: 'T', channel: 'C1' } }), [tokenRefused('targets.chat.bot_token')]],
    ['secret on a webhook target', withTargets({ t: { type: 'webhook', url: 'https://t.example.com/', secret: 'correct-horse-battery-staple', secretEnv: 'S' } }), [secretRefused('targets.t.secret')]],
    ['signingSecret on a webhook target', withTargets({ t: { type: 'webhook', url: 'https://t.example.com/', signingSecret: 'correct-horse-battery-staple', secretEnv: 'S' } }), [secretRefused('targets.t.signingSecret')]],
    ['signing_secret on a webhook target', withTargets({ t: { type: 'webhook', url: 'https://t.example.com/', signing_secret: 'x', secretEnv: 'S' } }), [secretRefused('targets.t.signing_secret')]],
    // a value shaped like one, anywhere
    ['a token pasted as the channel', withTargets({ chat: { type: 'slack', tokenEnv: 'T', channel: SLACK_TOKEN } }), [tokenLooks('targets.chat.channel')]],
    ['a token pasted as the variable name', withTargets({ chat: { type: 'slack', tokenEnv: SLACK_TOKEN, channel: 'C1' } }), [tokenLooks('targets.chat.tokenEnv')]],
    ['a token pasted as the file name', withTargets({ chat: { type: 'slack', tokenFile: SLACK_TOKEN, channel: 'C1' } }), [tokenLooks('targets.chat.tokenFile')]],
    ['a webhook URL pasted as the variable name', withTargets({ chat: { type: 'slack', webhookUrlEnv: SLACK_HOOK } }), [hookLooks('targets.chat.webhookUrlEnv')]],
    ['a Slack webhook URL as a webhook target\'s url', withTargets({ t: { type: 'webhook', url: SLACK_HOOK, secretEnv: 'S' } }), [hookLooks('targets.t.url') + slackType]],
    ['a Slack webhook URL over plain http as a webhook target\'s url', withTargets({ t: { type: 'webhook', url: SLACK_HOOK.replace('https', 'http'), secretEnv: 'S' } }), [hookLooks('targets.t.url') + slackType, 'targets.t.url: plain http:// is only allowed to loopback (127.0.0.1, localhost, [::1]); use https://, got "http://hooks.slack.com/services/…"']],
    ['a Slack webhook URL as the Web API', withTargets({ chat: { type: 'slack', tokenEnv: 'T', channel: 'C1', apiUrl: SLACK_HOOK } }), [hookLooks('targets.chat.apiUrl')]],
    ['a Slack webhook URL as the events URL', withTargets({ pd: { type: 'pagerduty', eventsUrl: SLACK_HOOK } }), [hookLooks('targets.pd.eventsUrl')]],
    ['a token in a service name', { ...withTargets({ pd: { type: 'pagerduty' } }), services: [{ slug: 'backup', name: `Backup ${SLACK_TOKEN}` }] }, [tokenLooks('services[0].name')]],
    ['a Slack webhook URL as a runbook', { ...withTargets({ pd: { type: 'pagerduty' } }), services: [{ slug: 'backup', runbook: SLACK_HOOK }] }, [hookLooks('services[0].runbook')]],
    ['a token in a window\'s reason', { ...withTargets({ pd: { type: 'pagerduty' } }), maintenance: [{ all: true, cron: '0 3 * * *', duration: '1h', reason: `token is ${SLACK_TOKEN}` }] }, [tokenLooks('maintenance[0].reason')]],
    ['a Slack webhook URL as the checker heartbeat', { ...withTargets({ pd: { type: 'pagerduty' } }), checker: { heartbeatUrl: SLACK_HOOK } }, [hookLooks('checker.heartbeatUrl')]],
  ])('%s', (_label, raw, problems) => {
    const found = problemsOf(raw);
    expect(found).toEqual(problems);
    const text = found.join('\n');
    expect(text).not.toContain(SLACK_TOKEN.slice(5, 15));
    expect(text).not.toContain('T00000000');
    expect(text).not.toContain('FAKEfake');
  });

  it.each([
    ['a channel named like a token but too short to be one', { type: 'slack', tokenEnv: 'T', channel: 'xoxb-alerts' }],
    ['a Slack API URL that is not a hook', { type: 'slack', tokenEnv: 'T', channel: 'C1', apiUrl: 'https://slack.com/api' }],
    ['a webhook to a URL on another Slack host', { type: 'webhook', url: 'https://api.slack.com/medic', secretEnv: 'S' }],
    ['a channel named like a word, not a token', { type: 'slack', tokenEnv: 'T', channel: 'xoxo-fans-of-the-team' }],
    ['a reason that names where a Slack webhook URL goes, without one', { type: 'slack', webhookUrlEnv: 'H' }, 'the URL is like https://hooks.slack.com/services/…'],
  ])('but %s is fine', (_label, target, reason?: string) => {
    const raw: any = withTargets({ x: target });
    if (reason) raw.maintenance = [{ all: true, cron: '0 3 * * *', duration: '1h', reason }];
    expect(problemsOf(raw)).toEqual([]);
  });
});

describe('[targets] the lenient load drops a broken Slack or webhook target as it drops a broken PagerDuty one', () => {
  const loaded = (edit: (c: any) => void) => {
    const raw = routed();
    raw.services.push({ slug: 'paged-by-pd', priority: 'P1', targets: ['oncall'] });
    edit(raw);
    const { config, problems } = buildConfigLenient(raw, FILE, OPTS);
    return { targets: [...config.targets.keys()], services: Object.fromEntries(config.services.map((s) => [s.slug, s.targets])), problems: problems?.message ?? '' };
  };

  it.each<[string, (c: any) => void, string]>([
    ['a token without a channel', (c) => (c.targets['team-channel'] = { type: 'slack', tokenEnv: 'SLACK_BOT_TOKEN' }), 'needs "channel"'],
    ['a literal webhook URL under a name of its own', (c) => (c.targets['team-channel'].webhookUrl = SLACK_HOOK), 'a Slack webhook URL must not be written'],
    ['a token pasted as the channel', (c) => (c.targets['team-channel'] = { type: 'slack', tokenEnv: 'T', channel: SLACK_TOKEN }), 'this looks like a Slack bot token'],
    ['two secret sources', (c) => (c.targets['team-channel'].tokenEnv = 'T'), 'give only one of'],
    ['a plain-http webhook url', (c) => (c.targets['team-channel'] = { type: 'webhook', url: 'http://tickets.example.com/', secretEnv: 'S' }), 'plain http:// is only allowed to loopback'],
    ['a webhook with a literal secret', (c) => (c.targets['team-channel'] = { type: 'webhook', url: 'https://t.example.com/', secretEnv: 'S', secret: 'correct-horse-battery-staple' }), 'a signing secret must not be written'],
  ])('%s: the target goes, and with it the services that page it; the rest stays', (_label, edit, said) => {
    const { targets, services, problems } = loaded(edit);
    expect(targets).toEqual(['oncall']);
    expect(services).toEqual({ 'paged-by-pd': ['oncall'] });
    expect(problems).toContain(said);
    expect(problems).not.toContain('FAKEfake');
  });

  it('a broken PagerDuty target goes the same way, leaving the Slack channel', () => {
    const { targets, services } = loaded((c) => {
      c.targets.oncall.eventsUrl = 'http://events.example.com/';
      c.services[2].targets = ['team-channel'];
    });
    expect(targets).toEqual(['team-channel']);
    expect(services).toEqual({ 'paged-by-pd': ['team-channel'] });
  });

  it('a service that would page nobody goes alone', () => {
    const { targets, services } = loaded((c) => (c.services[1].targets = ['oncall']));
    expect(targets).toEqual(['oncall', 'team-channel']);
    expect(services).toEqual({ 'payments-api': ['oncall', 'team-channel'], 'paged-by-pd': ['oncall'] });
  });
});

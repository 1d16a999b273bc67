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

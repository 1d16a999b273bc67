import { describe, expect, it } from 'vitest';
import { schemaProblems } from '../../src/config-schema.js';

/** The example from SPEC §2. */
function specExample(): any {
  return {
    database: 'medic.db',
    defaults: { interval: '5m', grace: '1m', threshold: 1, priority: 'P3' },
    targets: {
      oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY' },
      payments: {
        type: 'pagerduty',
        routingKeyFile: '/run/secrets/pd-payments',
        eventsUrl: 'https://events.eu.pagerduty.com/v2/enqueue',
        severity: { P1: 'critical', P2: 'critical', P3: 'error', P4: 'warning' },
      },
    },
    teams: { payments: { targets: ['payments'] } },
    services: [
      {
        slug: 'nightly-backup',
        name: 'Nightly Backup',
        team: 'platform',
        priority: 'P1',
        interval: '24h',
        grace: '30m',
        threshold: 1,
        runbook: 'https://wiki.example.com/runbooks/nightly-backup',
      },
    ],
    maintenance: [
      {
        services: ['nightly-backup'],
        start: '2026-12-01T22:00:00Z',
        end: '2026-12-02T02:00:00Z',
        reason: 'storage migration',
      },
    ],
  };
}

/** The SPEC example changed by `edit`. */
function broken(edit: (config: any) => void): any {
  const config = specExample();
  edit(config);
  return config;
}

const SLUG_RULE = '1-64 characters of a-z 0-9 . _ - starting with a letter or digit';
const NAME_RULE = '1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit';
const SEVERITIES = 'critical, error, warning or info';
const WINDOW_KINDS = '"start" and "end" (a one-off window) or "cron" and "duration" (a recurring window)';
const LITERAL_KEY_REFUSED =
  'a routing key must not be written in the config file (it would end up in backups and git); ' +
  'put it in an environment variable named by "routingKeyEnv" or in a file named by "routingKeyFile"';

describe('schemaProblems', () => {
  it.each([
    ['the SPEC §2 example', specExample()],
    ['an empty config (everything defaulted)', {}],
    ['$schema and a multi-line $comment', { $schema: './medic.schema.json', $comment: ['line one', 'line two'] }],
    ['durations as numbers of seconds, compound durations and lower-case priorities', broken((c) => {
      c.services[0] = { slug: 'a.b_c-1', interval: 90, grace: '1h30m', priority: 'p2', threshold: 1000 };
      c.retention = '2w';
    })],
    ['a service severity as one value or as a map', broken((c) => {
      c.services.push({ slug: 'one', severity: 'warning' }, { slug: 'map', severity: { P1: 'error' } });
    })],
    ['a recurring maintenance window with a time zone', broken((c) => {
      c.maintenance = [{ teams: ['payments'], cron: '0 3 * * 0', duration: '2h', timezone: 'Europe/Berlin' }];
    })],
    ['a one-off window with an offset and fractional seconds', broken((c) => {
      c.maintenance = [{ all: true, start: '2026-12-01T23:00:00.5+01:00', end: '2026-12-02T02:00:00Z' }];
    })],
    ['every trust-phase key', broken((c) => {
      c.retention = '30d';
      c.defaults.targets = ['oncall'];
      c.defaults.severity = { P3: 'error' };
      c.targets.oncall.timeout = '10s';
      c.checker = { heartbeatUrl: 'https://hc-ping.com/x', heartbeatMethod: 'POST', gapThreshold: '10m', timeout: 5 };
      c.flap = { window: '1h', maxTriggers: 3 };
    })],
  ])('accepts %s', (_, config) => {
    expect(schemaProblems(config)).toEqual([]);
  });

  it.each([
    // values
    ['a duration in words', broken((c) => (c.services[0].grace = '5 minutes')),
      'services[0].grace: expected a duration like "5m", got "5 minutes"'],
    ['a negative duration', broken((c) => (c.retention = -1)),
      'retention: expected a duration like "5m", got -1'],
    ['a duration of the wrong type', broken((c) => (c.defaults.interval = true)),
      'defaults.interval: expected a duration like "5m", got true'],
    ['a slug with capitals and a space', broken((c) => (c.services[0].slug = 'Nightly Backup')),
      `services[0].slug: expected ${SLUG_RULE}, got "Nightly Backup"`],
    ['a bad environment variable name', broken((c) => (c.targets.oncall.routingKeyEnv = 'my key')),
      'targets.oncall.routingKeyEnv: expected an environment variable name, got "my key"'],
    ['a threshold of 0', broken((c) => (c.defaults.threshold = 0)),
      'defaults.threshold: expected an integer from 1 to 1000, got 0'],
    ['a fractional threshold', broken((c) => (c.defaults.threshold = 1.5)),
      'defaults.threshold: expected an integer from 1 to 1000, got 1.5'],
    ['a service threshold above 1000', broken((c) => (c.services[0].threshold = 1001)),
      'services[0].threshold: expected an integer from 1 to 1000, got 1001'],
    ['a priority P5', broken((c) => (c.services[0].priority = 'P5')),
      'services[0].priority: expected P1, P2, P3 or P4, got "P5"'],
    ['a priority given as a number', broken((c) => (c.defaults.priority = 1)),
      'defaults.priority: expected P1, P2, P3 or P4, got 1'],
    ['an unknown severity in a target map', broken((c) => (c.targets.payments.severity.P1 = 'high')),
      `targets.payments.severity.P1: expected ${SEVERITIES}, got "high"`],
    ['an unknown service severity', broken((c) => (c.services[0].severity = 'high')),
      `services[0].severity: expected ${SEVERITIES}, got "high"`],
    ['an unknown severity in a service map', broken((c) => (c.services[0].severity = { P2: 'high' })),
      `services[0].severity.P2: expected ${SEVERITIES}, got "high"`],
    ['a runbook that is not a web link', broken((c) => (c.services[0].runbook = 'wiki/backup')),
      'services[0].runbook: expected an http:// or https:// URL, got "wiki/backup"'],
    ['an empty service name', broken((c) => (c.services[0].name = '')),
      'services[0].name: expected a string of 1-200 characters, got ""'],
    ['an over-long name, shown cut short', broken((c) => (c.services[0].name = 'x'.repeat(201))),
      `services[0].name: expected a string of 1-200 characters, got "${'x'.repeat(56)}...`],
    ['a team name with a space', broken((c) => (c.services[0].team = 'plat form')),
      `services[0].team: expected ${NAME_RULE}, got "plat form"`],
    ['a target type Medic does not know', broken((c) => (c.targets.oncall.type = 'teams')),
      'targets.oncall.type: expected pagerduty, slack or webhook, got "teams"'],
    ['an empty target list', broken((c) => (c.defaults.targets = [])),
      'defaults.targets: expected a non-empty list of target names, got []'],
    ['a target list given as a string', broken((c) => (c.teams.payments.targets = 'payments')),
      'teams.payments.targets: expected a non-empty list of target names, got "payments"'],
    ['a target listed twice', broken((c) => (c.services[0].targets = ['oncall', 'payments', 'oncall'])),
      'services[0].targets: expected each item once, got "oncall" twice'],
    ['a target that is not an object', broken((c) => (c.targets.oncall = 'pagerduty')),
      'targets.oncall: expected an object, got "pagerduty"'],
    ['a maintenance window that is not an object', broken((c) => (c.maintenance = ['sunday night'])),
      'maintenance[0]: expected an object, got "sunday night"'],
    ['a number in a target list (one message, not one per schema rule)', broken((c) => (c.teams.payments.targets = ['payments', 5])),
      `teams.payments.targets[1]: expected ${NAME_RULE}, got 5`],
    ['services given as an object', broken((c) => (c.services = { slug: 'x' })),
      'services: expected a list, got {"slug":"x"}'],
    ['a config that is not an object', [], '(root): expected an object, got []'],
    ['a number as $comment', { $comment: 5 }, '$comment: expected a string or a list, got 5'],
    ['an unknown checker method', broken((c) => (c.checker = { heartbeatMethod: 'PUT' })),
      'checker.heartbeatMethod: expected GET or POST, got "PUT"'],
    ['maxTriggers as a string', broken((c) => (c.flap = { maxTriggers: '3' })),
      'flap.maxTriggers: expected an integer >= 1, got "3"'],
    ['a heartbeat URL without a scheme', broken((c) => (c.checker = { heartbeatUrl: 'hc-ping.com/x' })),
      'checker.heartbeatUrl: expected an http:// or https:// URL, got "hc-ping.com/x"'],
    // keys
    ['a misspelt service key', broken((c) => (c.services[0].intervall = '1h')),
      'services[0]: unknown key "intervall" (did you mean "interval"?)'],
    ['a misspelt top-level key', broken((c) => { c.sevices = c.services; delete c.services; }),
      '(root): unknown key "sevices" (did you mean "services"?)'],
    ['a key with the wrong case', broken((c) => (c.defaults.Grace = '1m')),
      'defaults: unknown key "Grace" (did you mean "grace"?)'],
    ['an unknown key with no close match', broken((c) => (c.checker = { colour: 'red' })),
      'checker: unknown key "colour"'],
    ['a priority that does not exist in a severity map (no guess among P1-P4)',
      broken((c) => (c.targets.payments.severity.P5 = 'info')),
      'targets.payments.severity: unknown key "P5"'],
    ['a $comment below the top level', broken((c) => (c.services[0].$comment = 'x')),
      'services[0]: unknown key "$comment"'],
    ['a service without a slug', broken((c) => delete c.services[0].slug),
      'services[0]: missing required key "slug"'],
    ['a target without a type', broken((c) => delete c.targets.oncall.type),
      'targets.oncall: missing required key "type"'],
    ['a target name with a space', broken((c) => (c.targets['on call'] = { type: 'pagerduty' })),
      `targets: expected names of ${NAME_RULE}, got "on call"`],
    ['a bad value under a target whose name needs quoting', broken((c) => (c.targets['pd.eu'] = { type: 'pagerduty', timeout: 'soon' })),
      'targets["pd.eu"].timeout: expected a duration like "5m", got "soon"'],
    ['both routingKeyEnv and routingKeyFile', broken((c) => (c.targets.oncall.routingKeyFile = '/run/secrets/pd')),
      'targets.oncall: expected "routingKeyEnv" or "routingKeyFile", not both'],
    // the literal routing key, refused with its reason
    ['a literal routingKey', broken((c) => (c.targets.oncall.routingKey = 'R0123456789abcdef0123456789abcdef')),
      `targets.oncall.routingKey: ${LITERAL_KEY_REFUSED}`],
    ['a literal routing_key (PagerDuty\'s own spelling)', broken((c) => (c.targets.payments.routing_key = 'R01234')),
      `targets.payments.routing_key: ${LITERAL_KEY_REFUSED}`],
    // maintenance windows
    ['a window with no times at all', broken((c) => (c.maintenance = [{ services: ['nightly-backup'] }])),
      `maintenance[0]: expected ${WINDOW_KINDS}`],
    ['a one-off window without an end', broken((c) => delete c.maintenance[0].end),
      'maintenance[0]: missing required key "end"'],
    ['a recurring window without a duration', broken((c) => (c.maintenance = [{ all: true, cron: '0 3 * * *' }])),
      'maintenance[0]: missing required key "duration"'],
    ['a window that is both one-off and recurring', broken((c) => Object.assign(c.maintenance[0], { cron: '0 3 * * *', duration: '1h' })),
      `maintenance[0]: expected either ${WINDOW_KINDS}, not both`],
    ['a start that is not a date-time', broken((c) => (c.maintenance[0].start = 'tomorrow')),
      'maintenance[0].start: expected an ISO 8601 date-time with a time zone, like "2026-12-01T22:00:00Z", got "tomorrow"'],
    ['a start without a time zone', broken((c) => (c.maintenance[0].start = '2026-12-01T22:00:00')),
      'maintenance[0].start: expected an ISO 8601 date-time with a time zone, like "2026-12-01T22:00:00Z", got "2026-12-01T22:00:00"'],
    ['a cron expression with too few fields', broken((c) => (c.maintenance = [{ all: true, cron: '0 3 *', duration: '1h' }])),
      'maintenance[0].cron: expected a 5-field cron expression like "0 3 * * *", got "0 3 *"'],
    ['a time zone on a one-off window', broken((c) => (c.maintenance[0].timezone = 'UTC')),
      'maintenance[0]: key "timezone" needs key "cron" too'],
    ['a time zone that is not a zone name', broken((c) => (c.maintenance = [{ all: true, cron: '0 3 * * *', duration: '1h', timezone: 'GMT +1' }])),
      'maintenance[0].timezone: expected an IANA time zone like "Europe/Berlin", got "GMT +1"'],
    ['a window listing a service twice', broken((c) => (c.maintenance[0].services = ['nightly-backup', 'nightly-backup'])),
      'maintenance[0].services: expected each item once, got "nightly-backup" twice'],
  ])('reports %s', (_, config, message) => {
    expect(schemaProblems(config)).toEqual([message]);
  });

  it('reports every independent problem at once', () => {
    const config = broken((c) => {
      c.services[0].grace = '5 minutes';
      c.targets.oncall.routingKey = 'R0123456789abcdef0123456789abcdef';
      c.sevices = [];
    });
    expect(schemaProblems(config).sort()).toEqual(
      [
        '(root): unknown key "sevices" (did you mean "services"?)',
        `targets.oncall.routingKey: ${LITERAL_KEY_REFUSED}`,
        'services[0].grace: expected a duration like "5m", got "5 minutes"',
      ].sort(),
    );
  });

  it('reports the same problem in different places once per place', () => {
    const config = broken((c) => {
      c.services.push({ slug: 'b', interval: 'often' }, { slug: 'c', interval: 'often' });
    });
    expect(schemaProblems(config)).toEqual([
      'services[1].interval: expected a duration like "5m", got "often"',
      'services[2].interval: expected a duration like "5m", got "often"',
    ]);
  });

  it.each([
    ['a Slack token as a target', (c: any) => (c.targets.oncall = 'xoxb-0000000000-1111111111-FAKEfakeFAKEfake'), 'targets.oncall: expected an object, got "xoxb-…"'],
    ['a Slack webhook URL as a timeout', (c: any) => (c.targets.oncall.timeout = 'https://hooks.slack.com/services/T00000000/B00000000/FAKEfakeFAKEfake0'), 'targets.oncall.timeout: expected a duration like "5m", got "https://hooks.slack.com/services/…"'],
  ])('[targets] shows %s only as much as says what it is', (_, edit, message) => {
    const problems = schemaProblems(broken(edit));
    expect(problems).toEqual([message]);
    expect(problems.join('\n')).not.toContain('FAKEfake');
  });

  it('never puts a literal routing key into the message', () => {
    const secret = 'R0123456789abcdef0123456789abcdef';
    const problems = schemaProblems(broken((c) => (c.targets.oncall.routingKey = secret)));
    expect(problems.join('\n')).not.toContain(secret);
  });
});

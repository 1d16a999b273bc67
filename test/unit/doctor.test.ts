import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { doctor, formatFindings, readUserCrontab, type CrontabRead, type DoctorDeps, type DoctorStore, type Finding, type ReachResult } from '../../src/commands/doctor.js';
import { buildConfig } from '../../src/config.js';
import { ConfigError, DatabaseError } from '../../src/errors.js';
import type { SendResult } from '../../src/notify/http.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';

/** The guide's example Integration Key (PAGERDUTY_INTEGRATION.md): the only key tests use. */
const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const T0 = Date.parse('2026-11-26T12:00:00Z');
const MIN = 60_000;
const URL_A = 'http://127.0.0.1:9/v2/enqueue';
const URL_B = 'http://127.0.0.1:10/v2/enqueue';

let dir: string;
let home: string;
let file: string;
let dbPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'medic-doctor-'));
  home = join(dir, 'home');
  mkdirSync(home);
  file = join(dir, 'medic.config.json');
  dbPath = join(dir, 'medic.db');
  writeFileSync(dbPath, '', { mode: 0o600 });
  chmodSync(dbPath, 0o600);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface Situation {
  /** The raw config (default: one target "oncall" on URL_A reading PAGERDUTY_ROUTING_KEY). */
  raw?: Record<string, unknown>;
  configError?: ConfigError;
  openError?: DatabaseError;
  probeError?: DatabaseError;
  schemaVersion?: number;
  dbMode?: number;
  /** The config's "databaseMode" (0o660: the group set-up). */
  databaseMode?: number;
  /** Default: checked one minute ago. */
  lastCheckAt?: number | null;
  env?: NodeJS.ProcessEnv;
  /** Default: sets the key and runs medic with --config. */
  crontab?: CrontabRead | ((configFile: string) => string);
  reach?: (url: string) => ReachResult;
  send?: (url: string, body: Record<string, unknown>) => SendResult;
  sendTest?: boolean;
  /** Executable files on this pretend machine (default: EXECUTABLES). */
  executables?: string[];
  install?: { binPath: string; nodePath: string };
  /** Real paths on this pretend machine (default: the real realpathSync). */
  realpath?: (path: string) => string;
}

/** This pretend install: node in /usr/bin, medic in /opt/medic; the crontab lines use /usr/local/bin/medic or a bare medic in /usr/bin. */
const INSTALL = { binPath: '/opt/medic/bin/medic', nodePath: '/usr/bin/node' };
const EXECUTABLES = ['/usr/bin/node', '/opt/medic/bin/medic', '/usr/local/bin/medic', '/usr/bin/medic'];

const defaultRaw = () => ({ database: 'medic.db', targets: { oncall: { type: 'pagerduty', eventsUrl: URL_A } }, services: [{ slug: 'backup' }] });
const goodCrontab = (configFile: string) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} /usr/local/bin/medic --config ${configFile} check\n`;

function run(s: Situation = {}) {
  const env: NodeJS.ProcessEnv = s.env ?? { HOME: home, PAGERDUTY_ROUTING_KEY: KEY };
  if (s.dbMode !== undefined) chmodSync(dbPath, s.dbMode);
  const calls = { reach: [] as { url: string; timeoutMs: number }[], send: [] as { url: string; body: Record<string, unknown> }[], opened: 0, closed: 0 };
  const store: DoctorStore = {
    probe: async () => {
      if (s.probeError) throw s.probeError;
      return { exists: true };
    },
    lastCheckAt: async () => (s.lastCheckAt === undefined ? T0 - MIN : s.lastCheckAt),
    schemaVersion: async () => s.schemaVersion ?? SCHEMA_VERSION,
    close: async () => void calls.closed++,
  };
  const deps: DoctorDeps = {
    loadConfig: async () => {
      if (s.configError) throw s.configError;
      const config = buildConfig(s.raw ?? defaultRaw(), file, { env, cwd: dirname(file) });
      return s.databaseMode === undefined ? config : { ...config, databaseMode: s.databaseMode };
    },
    openStore: () => {
      if (s.openError) throw s.openError;
      calls.opened++;
      return store;
    },
    env,
    now: () => T0,
    readCrontab: async () => {
      const c = s.crontab ?? goodCrontab;
      return typeof c === 'function' ? { kind: 'text', text: c(file) } : c;
    },
    reach: async (url, timeoutMs) => {
      calls.reach.push({ url, timeoutMs });
      return s.reach ? s.reach(url) : { ok: true, status: 405 };
    },
    send: async (url, body) => {
      calls.send.push({ url, body });
      return s.send ? s.send(url, body) : { ok: true, status: 202, answer: { status: 'success', message: 'Event processed', dedup_key: String(body.dedup_key) } };
    },
    sleep: async () => {},
    install: s.install ?? INSTALL,
    isExecutable: (path) => (s.executables ?? EXECUTABLES).includes(path),
    ...(s.realpath && { realpath: s.realpath }),
  };
  return { result: doctor({ sendTest: s.sendTest ?? false }, deps), calls };
}

/** `check: level` per finding, the way a person scans the output. */
const summary = (findings: Finding[]) => findings.map((f) => `${f.check}: ${f.level}`);

const ALL_OK = ['config: ok', 'database: ok', 'database permissions: ok', 'routing key (oncall): ok', 'events URL: ok', 'crontab: ok', 'last check: ok'];
const replace = (list: string[], changes: Record<string, string>) => list.map((line) => changes[line.split(': ')[0]!] ?? line);

describe('doctor: each situation gives these findings and this exit code', () => {
  const refused: ReachResult = { ok: false, error: 'connection refused' };
  it.each<[string, Situation, string[], number]>([
    ['everything set up', {}, ALL_OK, 0],
    [
      'no config: the checks that need it are skipped, the crontab is still read',
      { configError: new ConfigError('no Medic config found; looked in …', '`medic init` writes a starter medic.config.json') },
      ['config: fail', 'database: warn', 'routing keys: warn', 'events URL: warn', 'crontab: ok', 'last check: warn'],
      78,
    ],
    [
      'the database cannot be opened: no last-check finding from it',
      { openError: new DatabaseError('x.db is not a Medic database: file is not a database (SQLITE_NOTADB)') },
      replace(ALL_OK, { database: 'database: fail', 'last check': 'last check: warn' }).filter((l) => !l.startsWith('database permissions')),
      74,
    ],
    ['the database opens but cannot be written', { probeError: new DatabaseError('cannot write database x.db: attempt to write a readonly database') }, replace(ALL_OK, { database: 'database: fail' }), 74],
    ['the database has another schema version', { schemaVersion: SCHEMA_VERSION + 1 }, replace(ALL_OK, { database: 'database: fail' }), 74],
    ['other users can read the database', { dbMode: 0o644 }, replace(ALL_OK, { 'database permissions': 'database permissions: warn' }), 0],
    ['group can read the database', { dbMode: 0o640 }, replace(ALL_OK, { 'database permissions': 'database permissions: warn' }), 0],
    ['group set-up ("databaseMode": "0660"): a 0660 database is right', { dbMode: 0o660, databaseMode: 0o660 }, ALL_OK, 0],
    ['group set-up, but the group cannot write the database', { dbMode: 0o600, databaseMode: 0o660 }, replace(ALL_OK, { 'database permissions': 'database permissions: warn' }), 0],
    ['group set-up, but other users can read the database', { dbMode: 0o664, databaseMode: 0o660 }, replace(ALL_OK, { 'database permissions': 'database permissions: warn' }), 0],
    ['the routing key variable is not set', { env: { HOME: '' } }, replace(ALL_OK, { 'routing key (oncall)': 'routing key (oncall): fail' }), 78],
    ['the routing key has 31 characters', { env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY.slice(1) } }, replace(ALL_OK, { 'routing key (oncall)': 'routing key (oncall): fail' }), 78],
    ['the routing key has 33 characters', { env: { HOME: '', PAGERDUTY_ROUTING_KEY: `${KEY}x` } }, replace(ALL_OK, { 'routing key (oncall)': 'routing key (oncall): fail' }), 78],
    ['the events URL does not answer', { reach: () => refused }, replace(ALL_OK, { 'events URL': 'events URL: fail' }), 75],
    ['crontab is not installed (a systemd timer may run the checker)', { crontab: { kind: 'not-installed' } }, replace(ALL_OK, { crontab: 'crontab: warn' }), 0],
    ['the user has no crontab', { crontab: { kind: 'none', message: 'no crontab for ops' } }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['crontab -l fails otherwise', { crontab: { kind: 'error', message: 'You (ops) are not allowed to use this program (crontab)' } }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the crontab has no medic check line', { crontab: () => `0 3 * * * PAGERDUTY_ROUTING_KEY=${KEY} /usr/local/bin/medic beat backup\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the only medic lines beat services whose names contain "check"', { crontab: () => `*/5 * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic beat checkout && medic beat health-check\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the medic check line is commented out', { crontab: (f) => `# * * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the line has no --config and cron, from $HOME, would not find the config', { crontab: () => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic check\n` }, replace(ALL_OK, { crontab: 'crontab: warn' }), 0],
    ['the line has no --config but MEDIC_CONFIG is set in the crontab', { crontab: (f) => `MEDIC_CONFIG=${f}\n* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic check\n` }, ALL_OK, 0],
    ['the line has -c with the config', { crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic -c ${f} check -v\n` }, ALL_OK, 0],
    ['the line points at another config than the one doctor checked', { crontab: () => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config /etc/other/medic.json check\n` }, replace(ALL_OK, { crontab: 'crontab: warn' }), 0],
    [
      'the crontab does not set the routing key variable',
      { crontab: (f) => `* * * * * medic --config ${f} check\n` },
      [...ALL_OK.slice(0, 6), 'crontab environment: warn', 'last check: ok'],
      0,
    ],
    ['the check line runs --dry-run (sends nothing)', { crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check --dry-run\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the check line runs every 5 minutes', { crontab: (f) => `*/5 * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the check line runs once a day', { crontab: (f) => `@daily PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['the check line has a schedule that never runs (31 February)', { crontab: (f) => `0 0 31 2 * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    ['*/1 is every minute too', { crontab: (f) => `*/1 * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` }, ALL_OK, 0],
    ['a --dry-run line beside a good one: the good one runs the checker', { crontab: (f) => `* * * * * medic --config ${f} check --dry-run\n* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` }, ALL_OK, 0],
    [
      'a bare medic that is not on cron\'s default PATH (/usr/bin:/bin)',
      { executables: ['/usr/bin/node', '/opt/medic/bin/medic'], crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` },
      replace(ALL_OK, { crontab: 'crontab: fail' }),
      78,
    ],
    [
      'a bare medic found through a PATH= line in the crontab',
      { executables: ['/usr/bin/node', '/opt/medic/bin/medic'], crontab: (f) => `PATH=/opt/medic/bin:/usr/bin:/bin\n* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` },
      ALL_OK,
      0,
    ],
    [
      'a PATH= line below the check line does not count (cron applies a setting to the lines after it)',
      { executables: ['/usr/bin/node', '/opt/medic/bin/medic'], crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\nPATH=/opt/medic/bin:/usr/bin:/bin\n` },
      replace(ALL_OK, { crontab: 'crontab: fail' }),
      78,
    ],
    [
      'a bare medic found through PATH= on its own line (as medic init prints it)',
      { executables: ['/opt/node/bin/node', '/opt/medic/bin/medic'], crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} PATH=/opt/node/bin:/opt/medic/bin:/usr/bin:/bin medic --config ${f} check\n` },
      ALL_OK,
      0,
    ],
    ['an absolute medic path where there is no medic', { crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} /srv/gone/medic --config ${f} check\n` }, replace(ALL_OK, { crontab: 'crontab: fail' }), 78],
    [
      'node (which medic needs) is not on cron\'s PATH',
      { executables: ['/opt/node/bin/node', '/usr/local/bin/medic'], crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} /usr/local/bin/medic --config ${f} check\n` },
      replace(ALL_OK, { crontab: 'crontab: fail' }),
      78,
    ],
    [
      'node named on the line by its path',
      { executables: ['/opt/node/bin/node', '/usr/local/bin/medic'], crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} /opt/node/bin/node /usr/local/bin/medic --config ${f} check\n` },
      ALL_OK,
      0,
    ],
    [
      'the routing key on a line of its own at the top of the crontab (every job gets it): a warning',
      { crontab: (f) => `PAGERDUTY_ROUTING_KEY=${KEY}\n* * * * * /usr/local/bin/medic --config ${f} check\n` },
      [...ALL_OK.slice(0, 6), 'crontab environment: warn', 'last check: ok'],
      0,
    ],
    [
      'NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment: certificate checks are off',
      { env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY, NODE_TLS_REJECT_UNAUTHORIZED: '0' } },
      [...ALL_OK.slice(0, 4), 'certificate checks: fail', ...ALL_OK.slice(4)],
      78,
    ],
    ['NODE_TLS_REJECT_UNAUTHORIZED=1 is the default: fine', { env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY, NODE_TLS_REJECT_UNAUTHORIZED: '1' } }, ALL_OK, 0],
    [
      'NODE_TLS_REJECT_UNAUTHORIZED=0 set in the crontab for the check line',
      { crontab: (f) => `NODE_TLS_REJECT_UNAUTHORIZED=0\n* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` },
      [...ALL_OK.slice(0, 6), 'certificate checks: fail', 'last check: ok'],
      78,
    ],
    ['the checker never ran', { lastCheckAt: null }, replace(ALL_OK, { 'last check': 'last check: fail' }), 75],
    ['the last check was exactly 2 minutes ago', { lastCheckAt: T0 - 2 * MIN }, ALL_OK, 0],
    ['the last check was 2 minutes and 1 ms ago', { lastCheckAt: T0 - 2 * MIN - 1 }, replace(ALL_OK, { 'last check': 'last check: warn' }), 0],
    [
      'several areas fail: the first one in check order gives the exit code (key 78 before reach 75)',
      { env: { HOME: '' }, reach: () => refused, lastCheckAt: null },
      replace(ALL_OK, { 'routing key (oncall)': 'routing key (oncall): fail', 'events URL': 'events URL: fail', 'last check': 'last check: fail' }),
      78,
    ],
    [
      'database 74 comes before events URL 75 and crontab 78',
      { probeError: new DatabaseError('cannot write'), reach: () => refused, crontab: { kind: 'none', message: 'no crontab for ops' } },
      replace(ALL_OK, { database: 'database: fail', 'events URL': 'events URL: fail', crontab: 'crontab: fail' }),
      74,
    ],
    ['events URL 75 comes before the crontab 78', { reach: () => refused, crontab: { kind: 'none', message: 'no crontab' } }, replace(ALL_OK, { 'events URL': 'events URL: fail', crontab: 'crontab: fail' }), 75],
    ['crontab 78 comes before last check 75', { crontab: { kind: 'none', message: 'no crontab' }, lastCheckAt: null }, replace(ALL_OK, { crontab: 'crontab: fail', 'last check': 'last check: fail' }), 78],
  ])('%s', async (_label, situation, expected, exitCode) => {
    const { result, calls } = run(situation);
    const { findings, exitCode: code } = await result;
    expect(summary(findings)).toEqual(expected);
    expect(code).toBe(exitCode);
    for (const f of findings) {
      expect(f.ok).toBe(f.level === 'ok');
      if (f.level !== 'ok') expect(f.fix, `${f.check} has a fix`).toBeTruthy();
    }
    expect(calls.closed).toBe(calls.opened);
  });
});

describe('doctor: what the findings say', () => {
  it('never shows a routing key, not even redacted, even when the crontab line carries one', async () => {
    const situations: Situation[] = [
      {},
      { env: { HOME: '', PAGERDUTY_ROUTING_KEY: `${KEY}x` } },
      { crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${f} check\n` },
      { crontab: () => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic check\n` },
      { sendTest: true },
    ];
    for (const s of situations) {
      const { findings } = await run(s).result;
      const text = JSON.stringify(findings) + formatFindings(findings);
      expect(text).not.toContain(KEY.slice(0, 12));
      expect(text).not.toContain(KEY.slice(-12));
      expect(text).not.toContain('a1b2…');
    }
  });

  it('says where the key comes from and that it has 32 characters', async () => {
    const { findings } = await run().result;
    expect(findings.find((f) => f.check === 'routing key (oncall)')?.detail).toBe('environment variable PAGERDUTY_ROUTING_KEY: set, 32 characters');
  });

  it('counts the characters of a wrong-length key and says how to get it again', async () => {
    const { findings } = await run({ env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY.slice(0, 20) } }).result;
    const f = findings.find((x) => x.check === 'routing key (oncall)')!;
    expect(f.detail).toBe('the routing key in environment variable PAGERDUTY_ROUTING_KEY is 20 characters, expected 32 letters and digits');
    expect(f.fix).toContain('Events API v2');
  });

  it('checks a key file: missing, readable by others (warn), and fine', async () => {
    const keyFile = join(dir, 'pd-key');
    const raw = { targets: { oncall: { type: 'pagerduty', routingKeyFile: 'pd-key', eventsUrl: URL_A } }, services: [{ slug: 'backup' }] };
    const missing = (await run({ raw }).result).findings.find((f) => f.check === 'routing key (oncall)')!;
    expect(missing.level).toBe('fail');
    expect(missing.detail).toBe(`cannot read file ${keyFile}: ENOENT`);
    expect(missing.fix).toContain(keyFile);

    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o644 });
    chmodSync(keyFile, 0o644);
    const loose = (await run({ raw }).result).findings.find((f) => f.check === 'routing key (oncall)')!;
    expect(loose).toMatchObject({ level: 'warn', fix: `chmod 600 ${keyFile}` });
    expect(loose.detail).toContain('mode 0644');

    chmodSync(keyFile, 0o600);
    const fine = await run({ raw }).result;
    expect(fine.findings.find((f) => f.check === 'routing key (oncall)')).toMatchObject({ level: 'ok', detail: `file ${keyFile}: set, 32 characters` });
    // A key from a file needs nothing in the crontab's environment.
    expect(summary(fine.findings)).not.toContain('crontab environment: warn');
  });

  it('checks every target key and each distinct events URL once, with the longest timeout of its targets', async () => {
    const raw = {
      targets: {
        a: { type: 'pagerduty', eventsUrl: URL_A, timeout: '3s' },
        b: { type: 'pagerduty', eventsUrl: URL_A, routingKeyEnv: 'PD_B', timeout: '7s' },
        c: { type: 'pagerduty', eventsUrl: URL_B, routingKeyEnv: 'PD_C' },
      },
      defaults: { targets: ['a'] },
      services: [{ slug: 'backup' }],
    };
    const { result, calls } = run({ raw, env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY, PD_B: KEY }, reach: (url) => (url === URL_B ? { ok: false, error: 'connection refused' } : { ok: true, status: 405 }) });
    const { findings, exitCode } = await result;
    expect(calls.reach).toEqual([
      { url: URL_A, timeoutMs: 7000 },
      { url: URL_B, timeoutMs: 10_000 },
    ]);
    expect(summary(findings).filter((l) => l.startsWith('routing key') || l.startsWith('events URL'))).toEqual([
      'routing key (a): ok',
      'routing key (b): ok',
      'routing key (c): fail',
      'events URL: ok',
      'events URL: fail',
    ]);
    expect(findings.filter((f) => f.check === 'events URL').map((f) => f.detail)).toEqual([
      `${URL_A} (targets a, b): reachable (answered HTTP 405)`,
      `${URL_B} (target c): connection refused`,
    ]);
    expect(exitCode).toBe(78);
  });

  it('warns once per routing key variable the crontab does not set', async () => {
    const raw = {
      targets: { a: { type: 'pagerduty', eventsUrl: URL_A }, b: { type: 'pagerduty', eventsUrl: URL_A, routingKeyEnv: 'PD_B' } },
      defaults: { targets: ['a', 'b'] },
      services: [{ slug: 'backup' }],
    };
    const { findings } = await run({ raw, env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY, PD_B: KEY }, crontab: (f) => `* * * * * PD_B=${KEY} medic --config ${f} check\n` }).result;
    const env = findings.filter((f) => f.check === 'crontab environment');
    expect(env).toHaveLength(1);
    expect(env[0]!.detail).toContain('does not set PAGERDUTY_ROUTING_KEY');
  });

  it('accepts a crontab without --config when cron, searching from $HOME, finds the same file', async () => {
    for (const configDir of [home, join(home, '.config', 'medic')]) {
      mkdirSync(configDir, { recursive: true });
      file = join(configDir, 'medic.config.json');
      const { findings } = await run({ crontab: () => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic check\n` }).result;
      expect(findings.find((f) => f.check === 'crontab')).toMatchObject({ level: 'ok', detail: `line 1 runs medic check every minute; it finds ${file} by searching from ${home}` });
    }
  });

  it('tells how to add --config when cron would not find the config', async () => {
    const { findings } = await run({ crontab: () => `PAGERDUTY_ROUTING_KEY=${KEY}\n\n* * * * * /opt/medic/bin/medic check\n` }).result;
    const f = findings.find((x) => x.check === 'crontab')!;
    expect(f.detail).toBe(`line 3 runs medic check every minute without --config or MEDIC_CONFIG; cron runs it from ${home}, where the search does not find ${file}`);
    expect(f.fix).toBe(`add --config ${file} to that line (before "check")`);
  });

  it('resolves a relative or ~/ --config in the crontab against $HOME', async () => {
    file = join(home, 'etc', 'medic.config.json');
    for (const given of ['etc/medic.config.json', '~/etc/medic.config.json', `"${file}"`]) {
      const { findings } = await run({ crontab: () => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config ${given} check\n` }).result;
      expect(findings.find((f) => f.check === 'crontab'), given).toMatchObject({ level: 'ok', detail: `line 1 runs medic check every minute with the config ${file}` });
    }
  });

  it("ignores the -c of `sh -c` in front of medic", async () => {
    const { findings } = await run({ crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} sh -c 'medic --config ${f} check'\n` }).result;
    expect(findings.find((f) => f.check === 'crontab')).toMatchObject({ level: 'ok', detail: `line 1 runs medic check every minute with the config ${file}` });
  });

  it.each([
    ['node in /usr/bin: the absolute medic path', { binPath: '/opt/medic/bin/medic', nodePath: '/usr/bin/node' }, '* * * * * /opt/medic/bin/medic --config CONFIG check'],
    ['node elsewhere: its folder on a PATH= prefix', { binPath: '/opt/medic/bin/medic', nodePath: '/opt/node-20/bin/node' }, '* * * * * PATH=/opt/node-20/bin:/usr/bin:/bin /opt/medic/bin/medic --config CONFIG check'],
  ])('the line it tells you to add names the real medic and node of this install (%s), no placeholder', async (_label, install, line) => {
    const { findings } = await run({ install, crontab: { kind: 'none', message: 'no crontab for ops' } }).result;
    const fix = findings.find((f) => f.check === 'crontab')!.fix!;
    expect(fix).toBe(`add this line with \`crontab -e\`: ${line.replace('CONFIG', file)}`);
    expect(fix).not.toContain('/path/to');
  });

  it.each([
    ['--dry-run', (f: string) => `* * * * * /opt/medic/bin/medic --config ${f} check --dry-run`, 'it runs `medic check --dry-run`, which records and sends nothing'],
    ['*/5', (f: string) => `*/5 * * * * /opt/medic/bin/medic --config ${f} check`, 'its schedule "*/5 * * * *" is not every minute'],
    ['31 February', (f: string) => `0 0 31 2 * /opt/medic/bin/medic --config ${f} check`, 'its schedule "0 0 31 2 *" never runs (that day never comes in those months)'],
    ['a bare medic', (f: string) => `* * * * * medic --config ${f} check`, 'cron cannot find a bare `medic` on its PATH (/usr/bin:/bin)'],
  ])('a check line that does not run the checker says why (%s) and gives the line to use instead', async (_label, line, why) => {
    const { findings } = await run({ executables: ['/usr/bin/node', '/opt/medic/bin/medic'], crontab: (f) => `${line(f)}\n` }).result;
    expect(findings.find((f) => f.check === 'crontab')).toMatchObject({
      level: 'fail',
      detail: `line 1 calls \`medic check\`, but ${why}: nothing runs the checker every minute`,
      fix: `replace it with \`crontab -e\`: * * * * * /opt/medic/bin/medic --config ${file} check`,
    });
  });

  it('a check that needs something missing says what to fix, in plain words', async () => {
    const { findings } = await run({ configError: new ConfigError('no Medic config found') }).result;
    expect(findings.find((f) => f.check === 'database')).toMatchObject({ detail: 'not checked: needs a valid config', fix: 'fix the config first, then run medic doctor again' });
    const noDb = await run({ openError: new DatabaseError('cannot open') }).result;
    expect(noDb.findings.find((f) => f.check === 'last check')).toMatchObject({ detail: 'not checked: needs a working database', fix: 'fix the database first, then run medic doctor again' });
    expect(JSON.stringify([...findings, ...noDb.findings])).not.toMatch(/the a /);
  });

  it('recommends a key file, not a variable at the top of the crontab', async () => {
    const { findings } = await run({ env: { HOME: '' } }).result;
    const fix = findings.find((f) => f.check === 'routing key (oncall)')!.fix!;
    expect(fix).toContain('"routingKeyFile"');
    expect(fix).toContain('chmod 600');
    expect(fix).not.toMatch(/as a line at the top of/);
    const unset = (await run({ crontab: (f) => `* * * * * medic --config ${f} check\n` }).result).findings.find((f) => f.check === 'crontab environment')!;
    expect(unset.fix).toContain('"routingKeyFile"');
  });

  it('gives the age of the last check run', async () => {
    const stale = await run({ lastCheckAt: T0 - 17 * MIN }).result;
    expect(stale.findings.find((f) => f.check === 'last check')?.detail).toBe('last run 2026-11-26T11:43:00.000Z (17m ago); it should run every minute');
    const fresh = await run({ lastCheckAt: T0 - 30_000 }).result;
    expect(fresh.findings.find((f) => f.check === 'last check')?.detail).toBe('last run 2026-11-26T11:59:30.000Z (30s ago)');
  });

  it('passes the config error message and hint through', async () => {
    const { findings } = await run({ configError: new ConfigError('invalid config x (1 problem):\n  x: services[0].grace: expected a duration', 'fix the keys named above') }).result;
    expect(findings[0]).toEqual({
      check: 'config',
      ok: false,
      level: 'fail',
      detail: 'invalid config x (1 problem):\n  x: services[0].grace: expected a duration',
      fix: 'fix the keys named above',
    });
  });
});

// The new-user walk: line 13 ran /usr/bin/medic, an older install that failed every minute, and doctor said ok.
describe("doctor: a crontab line that runs another install's medic is a warning naming both", () => {
  /** /usr/local/bin/medic links to this install; /usr/bin/medic is another one. */
  const realpath = (p: string) => (p === '/usr/local/bin/medic' ? INSTALL.binPath : p);
  it.each([
    ['an absolute path to another medic', '/usr/bin/medic', '/usr/bin/medic'],
    ["a bare medic that cron's PATH (/usr/bin:/bin) finds in another install", 'medic', '/usr/bin/medic'],
  ])('%s: warn, naming both paths, and the line medic init prints', async (_, program, found) => {
    const { result } = run({ crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} ${program} --config ${f} check\n`, realpath });
    const { findings, exitCode } = await result;
    const crontab = findings.filter((f) => f.check === 'crontab');
    expect(crontab.map((f) => f.level)).toEqual(['warn']);
    expect(crontab[0]!.detail).toContain(`its medic ${found} is not this install's medic ${INSTALL.binPath}`);
    expect(crontab[0]!.fix).toContain(`* * * * * ${INSTALL.binPath} --config ${file} check`);
    expect(exitCode).toBe(0);
  });

  it('a link to this install (or its own path) is this install: ok', async () => {
    for (const program of ['/usr/local/bin/medic', INSTALL.binPath]) {
      const { findings } = await run({ crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} ${program} --config ${f} check\n`, realpath }).result;
      expect(findings.filter((f) => f.check === 'crontab').map((f) => f.level)).toEqual(['ok']);
    }
  });
});

describe('doctor: the serve ping key and TLS files, when the config has a serve section', () => {
  const PING = 'doctor-ping-key-0123456789';
  const withServe = (serve: Record<string, unknown>) => ({ ...defaultRaw(), serve });
  const serveFindings = async (s: Situation) => {
    const { findings, exitCode } = await run(s).result;
    return { found: findings.filter((f) => f.check.startsWith('serve')), exitCode, all: JSON.stringify(findings) };
  };

  it('has no serve line without a serve section', async () => {
    expect((await serveFindings({ env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, MEDIC_PING_KEY: PING } })).found).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, NodeJS.ProcessEnv, (d: string) => void, Partial<Finding>, number]>([
    [
      'a good key in the variable',
      {},
      { MEDIC_PING_KEY: PING },
      () => {},
      { check: 'serve ping key', level: 'ok', detail: 'the environment variable MEDIC_PING_KEY (serve.pingKeyEnv): set, 26 characters' },
      0,
    ],
    [
      'the variable not set in this shell (medic serve may have it from its unit): a warning',
      {},
      {},
      () => {},
      { check: 'serve ping key', level: 'warn', detail: 'the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is not set here: medic serve needs it in its own environment' },
      0,
    ],
    [
      'a key too short',
      {},
      { MEDIC_PING_KEY: 'short-key' },
      () => {},
      { check: 'serve ping key', level: 'fail', detail: 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is too short (9 characters): it must be 16 to 256 of A-Z a-z 0-9 _ -' },
      78,
    ],
    [
      'the routing key as the ping key',
      {},
      { MEDIC_PING_KEY: KEY },
      () => {},
      { check: 'serve ping key', level: 'fail' },
      78,
    ],
    [
      'a key file other users can read',
      { pingKeyFile: 'ping.key' },
      {},
      (d) => {
        writeFileSync(join(d, 'ping.key'), PING);
        chmodSync(join(d, 'ping.key'), 0o644);
      },
      { check: 'serve ping key', level: 'fail', fix: `make it the user's own and private: chown ${process.getuid!()} <dir>/ping.key && chmod 600 <dir>/ping.key` },
      78,
    ],
    [
      'a private key file',
      { pingKeyFile: 'ping.key' },
      {},
      (d) => writeFileSync(join(d, 'ping.key'), PING, { mode: 0o600 }),
      { check: 'serve ping key', level: 'ok', detail: 'the ping key file <dir>/ping.key (serve.pingKeyFile): set, 26 characters' },
      0,
    ],
  ])('%s', async (_, serve, env, setUp, finding, code) => {
    setUp(dir);
    const { found, exitCode, all } = await serveFindings({ raw: withServe(serve), env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, ...env } });
    const wanted = Object.fromEntries(Object.entries(finding).map(([k, v]) => [k, typeof v === 'string' ? v.replaceAll('<dir>', dir) : v]));
    expect(found).toEqual([expect.objectContaining(wanted)]);
    expect(exitCode).toBe(code);
    expect(all).not.toContain(PING);
    if (env.MEDIC_PING_KEY === KEY) expect(found[0]!.detail).toContain('is the routing key of target "oncall" (environment variable PAGERDUTY_ROUTING_KEY)');
  });

  it.each<[string, string, NodeJS.ProcessEnv, Partial<Finding>, number]>([
    ['a view key in its variable', '0.0.0.0:8080', { MEDIC_VIEW_KEY: 'doctor-view-key-0123456789' }, { check: 'serve view key', level: 'ok', detail: 'the environment variable MEDIC_VIEW_KEY (serve.viewKeyEnv): set, 26 characters' }, 0],
    ['the view key variable not set in this shell: a warning', '0.0.0.0:8080', {}, { check: 'serve view key', level: 'warn', detail: 'the environment variable MEDIC_VIEW_KEY (serve.viewKeyEnv) is not set here: medic serve needs it in its own environment' }, 0],
    ['not set, on a loopback listener: not needed', '127.0.0.1:8080', {}, { check: 'serve view key', level: 'ok', detail: 'the environment variable MEDIC_VIEW_KEY (serve.viewKeyEnv) is not set: not needed while serve.listen is a loopback address (the page is open to this machine)' }, 0],
    ['the ping key as the view key (78)', '0.0.0.0:8080', { MEDIC_VIEW_KEY: PING }, { check: 'serve view key', level: 'fail' }, 78],
  ])('[ecosystem] serve.viewKeyEnv: %s', async (_, listen, env, finding, code) => {
    const { found, exitCode, all } = await serveFindings({ raw: withServe({ listen, viewKeyEnv: 'MEDIC_VIEW_KEY' }), env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, MEDIC_PING_KEY: PING, ...env } });
    expect(found.map((f) => f.check)).toEqual(['serve ping key', 'serve view key']);
    expect(found[1]).toMatchObject(finding);
    expect(exitCode).toBe(code);
    expect(all).not.toContain(PING);
    expect(all).not.toContain('doctor-view-key-0123456789');
  });

  it('checks serve.tls: a certificate given as the key fails (78)', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=x'], { stdio: 'ignore' });
    chmodSync(join(dir, 'k.pem'), 0o600);
    const good = await serveFindings({ raw: withServe({ tls: { cert: 'c.pem', key: 'k.pem' } }), env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, MEDIC_PING_KEY: PING } });
    expect(good.found.map((f) => `${f.check}: ${f.level}`)).toEqual(['serve ping key: ok', 'serve TLS: ok']);
    writeFileSync(join(dir, 'cert-as-key.pem'), readFileSync(join(dir, 'c.pem')), { mode: 0o600 });
    const bad = await serveFindings({ raw: withServe({ tls: { cert: 'c.pem', key: 'cert-as-key.pem' } }), env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, MEDIC_PING_KEY: PING } });
    expect(bad.found[1]).toMatchObject({ check: 'serve TLS', level: 'fail', detail: `the TLS private key file ${join(dir, 'cert-as-key.pem')} (serve.tls.key) holds a certificate, not a private key` });
    expect(bad.exitCode).toBe(78);
  });
});

describe('doctor --send-test: the test trigger and its resolve instead of a reachability check', () => {
  it('sends the guide trigger, then its resolve, to every target, and does not probe URLs', async () => {
    const raw = {
      targets: { a: { type: 'pagerduty', eventsUrl: URL_A }, b: { type: 'pagerduty', eventsUrl: URL_B, routingKeyEnv: 'PD_B' } },
      defaults: { targets: ['a', 'b'] },
      services: [{ slug: 'backup' }],
    };
    const { result, calls } = run({ raw, sendTest: true, env: { HOME: '', PAGERDUTY_ROUTING_KEY: KEY, PD_B: KEY }, crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} PD_B=${KEY} medic -c ${f} check` });
    const { findings, exitCode } = await result;
    expect(calls.reach).toEqual([]);
    expect(calls.send.map((c) => [c.url, c.body.event_action, c.body.dedup_key, c.body.routing_key === KEY])).toEqual([
      [URL_A, 'trigger', 'medic-test-alert', true],
      [URL_A, 'resolve', 'medic-test-alert', true],
      [URL_B, 'trigger', 'medic-test-alert', true],
      [URL_B, 'resolve', 'medic-test-alert', true],
    ]);
    expect(summary(findings)).toEqual(['config: ok', 'database: ok', 'database permissions: ok', 'routing key (a): ok', 'routing key (b): ok', 'test alert (a): ok', 'test alert (b): ok', 'crontab: ok', 'last check: ok']);
    expect(findings.find((f) => f.check === 'test alert (a)')?.detail).toBe(
      'a: test alert sent — PagerDuty answered HTTP 202: status "success", message "Event processed", dedup key "medic-test-alert"\n' +
        'a: test resolve sent — PagerDuty answered HTTP 202: status "success", message "Event processed", dedup key "medic-test-alert"',
    );
    expect(exitCode).toBe(0);
  });

  it('a rejected trigger fails with 76, quotes PagerDuty, gives the Invalid Routing Key steps, and sends no resolve', async () => {
    const { result, calls } = run({
      sendTest: true,
      send: () => ({ ok: false, permanent: true, status: 400, error: 'HTTP 400', answer: { status: 'invalid event', message: 'Event object is invalid', errors: ["'routing_key' is invalid"] } }),
    });
    const { findings, exitCode } = await result;
    expect(calls.send.map((c) => c.body.event_action)).toEqual(['trigger']);
    const f = findings.find((x) => x.check === 'test alert (oncall)')!;
    expect(f.level).toBe('fail');
    expect(f.detail).toContain("Event object is invalid: 'routing_key' is invalid");
    expect(f.fix).toContain('Invalid Routing Key');
    expect(exitCode).toBe(76);
  });

  it('a target that keeps answering 500 fails with 75 after the retries', async () => {
    const { result, calls } = run({ sendTest: true, send: () => ({ ok: false, permanent: false, status: 500, error: 'HTTP 500' }) });
    const { findings, exitCode } = await result;
    expect(calls.send.length).toBe(3);
    expect(findings.find((x) => x.check === 'test alert (oncall)')?.level).toBe('fail');
    expect(exitCode).toBe(75);
  });

  it('sends nothing to a target whose key is missing (78 from the key check)', async () => {
    const { result, calls } = run({ sendTest: true, env: { HOME: '' } });
    const { findings, exitCode } = await result;
    expect(calls.send).toEqual([]);
    expect(findings.find((x) => x.check === 'test alert (oncall)')).toMatchObject({ level: 'warn', detail: 'not sent: the routing key is not usable' });
    expect(exitCode).toBe(78);
  });
});

describe('formatFindings', () => {
  const findings: Finding[] = [
    { check: 'config', ok: true, level: 'ok', detail: '/srv/medic.config.json: valid, 1 service, 1 target' },
    { check: 'crontab', ok: false, level: 'fail', detail: "this user's crontab has no line that runs `medic check`", fix: 'add it' },
    { check: 'last check', ok: false, level: 'warn', detail: 'first line\nsecond line', fix: 'run it' },
  ];

  it('prints one block per finding, the fix after an arrow, and a count', () => {
    expect(formatFindings(findings)).toBe(
      [
        'ok    config      /srv/medic.config.json: valid, 1 service, 1 target',
        "FAIL  crontab     this user's crontab has no line that runs `medic check`",
        '                  → add it',
        'warn  last check  first line',
        '                  second line',
        '                  → run it',
        '1 problem, 1 warning',
        '',
      ].join('\n'),
    );
  });

  it('says so when everything is right, and colours through the painter by level', () => {
    const paint = (level: string, text: string) => `<${level}>${text}</${level}>`;
    expect(formatFindings([findings[0]!], paint)).toBe('<ok>ok  </ok>  config  /srv/medic.config.json: valid, 1 service, 1 target\n<ok>everything looks right</ok>\n');
    expect(formatFindings(findings, paint)).toContain('<hint>                  → add it</hint>');
  });
});

describe('readUserCrontab', () => {
  it('runs `crontab -l` with only PATH, HOME, USER and LOGNAME: never the routing key or anything else', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // A stand-in crontab that prints the environment it was given.
    writeFileSync(join(bin, 'crontab'), '#!/bin/sh\n/usr/bin/env\n', { mode: 0o755 });
    chmodSync(join(bin, 'crontab'), 0o755);
    const read = await readUserCrontab({ PATH: `${bin}:/usr/bin:/bin`, HOME: home, USER: 'ops', LOGNAME: 'ops', PAGERDUTY_ROUTING_KEY: KEY, PD_OTHER: KEY, MEDIC_CONFIG: file });
    expect(read.kind).toBe('text');
    const names = (read as { text: string }).text.split('\n').filter(Boolean).map((l) => l.split('=')[0]).sort();
    expect(names.filter((n) => n !== 'PWD' && n !== 'SHLVL' && n !== '_')).toEqual(['HOME', 'LOGNAME', 'PATH', 'USER']);
    expect((read as { text: string }).text).not.toContain(KEY);
  });
});

describe('doctor: a PostgreSQL database reached without TLS is a warning, never a failure', () => {
  it.each<[string, boolean]>([
    ['postgres://medic@db.example.test:5432/medic', true],
    ['postgres://medic@db.example.test/medic?sslmode=prefer', true],
    ['postgres://medic@db.example.test/medic?sslmode=disable', true],
    ['postgres://medic@db.example.test/medic?sslmode=no-verify', true],
    ['postgres://medic@db.example.test/medic?sslmode=require', false],
    ['postgres://medic@db.example.test/medic?sslmode=verify-ca', false],
    ['postgresql://medic@db.example.test/medic?sslmode=verify-full&application_name=x', false],
    ['postgres://medic@db.example.test/medic?ssl=true', false],
    ['postgres://medic@db.example.test/medic?sslrootcert=/etc/medic/ca.pem', false],
    ['postgres://medic@db.example.test/medic?ssl=true&sslmode=disable', true],
    ['postgres://medic@127.0.0.1:5432/medic', false],
    ['postgres://medic@localhost/medic', false],
    ['postgres://medic@[::1]:5432/medic', false],
    ['postgres://medic@db.example.test/medic?host=/var/run/postgresql', false],
    ['postgres://medic@localhost/medic?host=db.example.test', true],
  ])('%s: warned %s', async (url, warned) => {
    const { result } = run({ raw: { ...defaultRaw(), database: url } });
    const { findings, exitCode } = await result;
    const line = findings.find((f) => f.check === 'database encryption');
    if (warned) {
      expect(line).toMatchObject({
        level: 'warn',
        detail: expect.stringContaining('no sslmode=require, verify-ca or verify-full in the URL, so the password and every beat may cross the network in clear text'),
        fix: 'add ?sslmode=verify-full to the URL (and sslrootcert=<CA file> for a private CA)',
      });
      expect(line!.detail).toMatch(/^PostgreSQL database "medic" at medic@/);
    } else {
      expect(line).toBeUndefined();
    }
    expect(exitCode).toBe(0);
  });
});

describe('doctor: [targets] the secret of every Slack and webhook target, never shown', () => {
  const HOOK = 'https://hooks.slack.com/services/T00000000/B00000000/FAKEfakeFAKEfake0';
  const TOKEN = 'xoxb-0000000000-1111111111-FAKEfakeFAKEfake';
  const SIGNING = 'correct-horse-battery-staple-42';
  /** The part of each secret that is its own (not Slack's public prefix): no 6 characters of it may show. */
  const own = (secret: string) => secret.replace(/^https?:\/\/hooks\.slack\.com\/services\//, '').replace(/^xoxb-/, '');
  const expectHidden = (findings: Finding[], secret: string) => {
    const text = JSON.stringify(findings) + formatFindings(findings);
    const part = own(secret);
    for (let i = 0; i + 6 <= part.length; i++) expect(text).not.toContain(part.slice(i, i + 6));
  };
  const withTarget = (name: string, target: Record<string, unknown>) => ({
    database: 'medic.db',
    targets: { oncall: { type: 'pagerduty', eventsUrl: URL_A }, [name]: target },
    defaults: { targets: ['oncall', name] },
    services: [{ slug: 'backup' }],
  });

  it.each<[string, string, Record<string, unknown>, string, string, string, string]>([
    [
      'Slack webhook URL (chat)', 'chat', { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' }, 'SLACK_WEBHOOK_URL', HOOK,
      HOOK.replace('https:', 'http:'),
      'the Slack webhook URL in environment variable SLACK_WEBHOOK_URL is not usable: plain http:// is only allowed to loopback (127.0.0.1, localhost, [::1]); use https://',
    ],
    [
      'Slack bot token (chat)', 'chat', { type: 'slack', tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C0123ABCD' }, 'SLACK_BOT_TOKEN', TOKEN,
      'xoxb:0000000000-FAKEfake',
      'the Slack bot token in environment variable SLACK_BOT_TOKEN is not shaped like a Slack bot token (xoxb-, or another xox?- kind, then letters, digits and dashes)',
    ],
    [
      'signing secret (tickets)', 'tickets', { type: 'webhook', url: 'https://tickets.example.com/medic', secretEnv: 'TICKETS_SECRET' }, 'TICKETS_SECRET', SIGNING,
      'FAKEfake-short',
      'the signing secret in environment variable TICKETS_SECRET is 14 characters, expected 16 or more',
    ],
  ])('%s: set, its length only; a wrong shape fails 78 with the fix; unset fails with advice in its own words', async (check, name, target, variable, good, bad, badDetail) => {
    const raw = withTarget(name, target);
    const crontab = (f: string) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} ${variable}=${good} medic -c ${f} check\n`;
    const executables = [...EXECUTABLES, '/usr/bin/medic'];
    const ok = await run({ raw, crontab, executables, env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, [variable]: good } }).result;
    expect(ok.findings.find((f) => f.check === check)).toMatchObject({ level: 'ok', detail: `environment variable ${variable}: set, ${good.length} characters` });
    expect(ok.exitCode).toBe(0);
    expectHidden(ok.findings, good);

    const wrong = await run({ raw, crontab, executables, env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, [variable]: bad } }).result;
    const f = wrong.findings.find((x) => x.check === check)!;
    expect(f).toMatchObject({ level: 'fail', detail: badDetail, fix: `copy the ${check.replace(/ \(.*/, '')} again, whole, without quotes or spaces` });
    expect(wrong.exitCode).toBe(78);
    expectHidden(wrong.findings, bad);

    const unset = (await run({ raw, crontab, executables, env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY } }).result).findings.find((x) => x.check === check)!;
    expect(unset).toMatchObject({ level: 'fail', detail: `environment variable ${variable} is not set` });
    expect(unset.fix).toContain(`"${{ SLACK_WEBHOOK_URL: 'webhookUrlFile', SLACK_BOT_TOKEN: 'tokenFile', TICKETS_SECRET: 'secretFile' }[variable]}"`);
    expect(unset.fix).not.toContain('PagerDuty');
  });

  it.each([
    ['plain http to another host', 'http://relay.example.com/FAKEfakeFAKEfake/hook'],
    ['another scheme', 'ftp://relay.example.com/FAKEfakeFAKEfake'],
    ['a user and password', 'https://ops:FAKEfakeFAKEfake@relay.example.com/hook'],
    ['no URL at all', 'FAKEfakeFAKEfake'],
  ])('a Slack webhook URL that is not usable (%s) is never quoted', async (_label, value) => {
    const raw = withTarget('chat', { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' });
    const { findings, exitCode } = await run({ raw, env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, SLACK_WEBHOOK_URL: value } }).result;
    const f = findings.find((x) => x.check === 'Slack webhook URL (chat)')!;
    expect(f.level).toBe('fail');
    expect(f.detail).toMatch(/^the Slack webhook URL in environment variable SLACK_WEBHOOK_URL (is not usable|is not a URL|holds a user name or password)/);
    expect(exitCode).toBe(78);
    expect(JSON.stringify(findings) + formatFindings(findings)).not.toContain('FAKEfake');
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['Slack webhook URL (chat)', { type: 'slack', webhookUrlFile: 'secret' }, HOOK, 'webhookUrlFile'],
    ['Slack bot token (chat)', { type: 'slack', tokenFile: 'secret', channel: '#alerts' }, TOKEN, 'tokenFile'],
    ['signing secret (chat)', { type: 'webhook', url: 'https://tickets.example.com/medic', secretFile: 'secret' }, SIGNING, 'secretFile'],
  ])('%s from a file: missing fails, readable by others warns, private is fine', async (check, target, secret, fileKey) => {
    const raw = withTarget('chat', target);
    const path = join(dir, 'secret');
    const missing = (await run({ raw }).result).findings.find((f) => f.check === check)!;
    expect(missing).toMatchObject({ level: 'fail', detail: `cannot read file ${path}: ENOENT` });
    expect(missing.fix).toMatch(new RegExp(`^write .* into ${path} \\(mode 600, owned by the user that runs medic\\)$`));
    expect(missing.fix).not.toContain('PagerDuty');
    void fileKey;

    writeFileSync(path, `${secret}\n`, { mode: 0o644 });
    chmodSync(path, 0o644);
    const loose = await run({ raw }).result;
    expect(loose.findings.find((f) => f.check === check)).toMatchObject({
      level: 'warn',
      detail: `file ${path}: set, ${secret.length} characters; but other users can read it (mode 0644)`,
      fix: `chmod 600 ${path}`,
    });
    expect(loose.exitCode).toBe(0);
    expectHidden(loose.findings, secret);

    chmodSync(path, 0o600);
    const fine = await run({ raw }).result;
    expect(fine.findings.find((f) => f.check === check)).toMatchObject({ level: 'ok', detail: `file ${path}: set, ${secret.length} characters` });
    expect(summary(fine.findings)).not.toContain('crontab environment: warn');
    expectHidden(fine.findings, secret);
  });

  it('says once that Slack and webhook targets are not probed (a probe would post), and how to send a test; probes only PagerDuty', async () => {
    const raw = {
      targets: {
        oncall: { type: 'pagerduty', eventsUrl: URL_A },
        chat: { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' },
        tickets: { type: 'webhook', url: 'https://tickets.example.com/medic', secretEnv: 'TICKETS_SECRET' },
      },
      defaults: { targets: ['oncall', 'chat', 'tickets'] },
      services: [{ slug: 'backup' }],
    };
    const env = { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, SLACK_WEBHOOK_URL: HOOK, TICKETS_SECRET: SIGNING };
    const { result, calls } = run({ raw, env, crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} SLACK_WEBHOOK_URL=${HOOK} TICKETS_SECRET=${SIGNING} /usr/local/bin/medic -c ${f} check\n` });
    const { findings, exitCode } = await result;
    expect(summary(findings)).toEqual([
      'config: ok',
      'database: ok',
      'database permissions: ok',
      'routing key (oncall): ok',
      'Slack webhook URL (chat): ok',
      'signing secret (tickets): ok',
      'Slack and webhook targets: ok',
      'events URL: ok',
      'crontab: ok',
      'last check: ok',
    ]);
    expect(findings.find((f) => f.check === 'Slack and webhook targets')!.detail).toBe(
      'chat (slack), tickets (webhook): not probed over the network (a probe would post a message); `medic test-alert --target <name>` sends a test',
    );
    expect(calls.reach.map((r) => r.url)).toEqual([URL_A]);
    expect(calls.send).toEqual([]);
    expect(exitCode).toBe(0);
    expectHidden(findings, HOOK);
    expectHidden(findings, SIGNING);

    const one = await run({ raw: withTarget('chat', { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' }), env }).result;
    expect(one.findings.find((f) => f.check === 'Slack and webhook targets')!.detail).toBe(
      'chat (slack): not probed over the network (a probe would post a message); `medic test-alert --target chat` sends a test',
    );
    // Only PagerDuty targets: no such line.
    expect(summary((await run().result).findings)).toEqual(ALL_OK);
  });

  it("shows a target's priorities when it takes only some; a service that only some targets take is fine", async () => {
    const raw = {
      targets: { oncall: { type: 'pagerduty', eventsUrl: URL_A, priorities: ['P1', 'p2'] }, chat: { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' } },
      defaults: { targets: ['oncall', 'chat'] },
      services: [{ slug: 'payments', priority: 'P1' }, { slug: 'report', priority: 'P3' }],
    };
    const { findings, exitCode } = await run({
      raw,
      env: { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, SLACK_WEBHOOK_URL: HOOK },
      crontab: (f) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} SLACK_WEBHOOK_URL=${HOOK} /usr/local/bin/medic -c ${f} check\n`,
    }).result;
    expect(findings.find((f) => f.check === 'routing key (oncall)')!.detail).toBe('environment variable PAGERDUTY_ROUTING_KEY: set, 32 characters; takes P1, P2');
    expect(findings.find((f) => f.check === 'Slack webhook URL (chat)')!.detail).toBe(`environment variable SLACK_WEBHOOK_URL: set, ${HOOK.length} characters`);
    expect(findings.filter((f) => f.level !== 'ok')).toEqual([]);
    expect(exitCode).toBe(0);
  });

  it.each<[string, Record<string, unknown>, string, string, string]>([
    ['webhookUrlEnv', { type: 'slack', webhookUrlEnv: 'SLACK_WEBHOOK_URL' }, 'SLACK_WEBHOOK_URL', HOOK, 'Slack webhook URL'],
    ['tokenEnv', { type: 'slack', tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C0123ABCD' }, 'SLACK_BOT_TOKEN', TOKEN, 'Slack bot token'],
    ['secretEnv', { type: 'webhook', url: 'https://tickets.example.com/medic', secretEnv: 'TICKETS_SECRET' }, 'TICKETS_SECRET', SIGNING, 'signing secret'],
  ])('the crontab environment check covers %s: unset on the check line, or set on a line of its own', async (_key, target, variable, secret, noun) => {
    const raw = withTarget('chat', target);
    const env = { HOME: home, PAGERDUTY_ROUTING_KEY: KEY, [variable]: secret };
    const unset = await run({ raw, env }).result;
    const missing = unset.findings.filter((f) => f.check === 'crontab environment');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ level: 'warn', detail: `the crontab does not set ${variable}; cron jobs do not see your shell's variables, so \`medic check\` may find no ${noun}` });
    expect(missing[0]!.fix).toContain(`${variable}=<…> in front of medic on the check line only`);
    expect(unset.exitCode).toBe(0);

    const shared = await run({ raw, env, crontab: (f) => `${variable}=${secret}\n* * * * * PAGERDUTY_ROUTING_KEY=${KEY} /usr/local/bin/medic -c ${f} check\n` }).result;
    const line = shared.findings.filter((f) => f.check === 'crontab environment');
    expect(line).toHaveLength(1);
    expect(line[0]).toMatchObject({ level: 'warn', detail: `the crontab sets ${variable} on a line of its own, which hands the ${noun} to every job in this crontab` });
    expect(line[0]!.fix).toMatch(/chmod 600\) and name it in the target's "(webhookUrlFile|tokenFile|secretFile)", then remove that line$/);
    expectHidden(shared.findings, secret);
  });
});

/**
 * `medic doctor` end to end with real parts: a real config file found by the real search, the real
 * SQLite store in a temp folder (written by a real `medic check` run under faketime), the PagerDuty
 * stand-in on 127.0.0.1 as every events URL, the real undici reach() and sender, and the real
 * `crontab -l` reader running a stand-in `crontab` program from PATH.
 *
 * src/cli.ts has no `doctor` command yet, so these call doctor() with the real dependencies the
 * CLI will pass; once it is wired, the same scenarios can go through main() or bin/medic.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { doctor, formatFindings, readUserCrontab, type DoctorDeps, type Finding } from '../../src/commands/doctor.js';
import { loadConfig } from '../../src/config.js';
import { checkerCrontabLine, isExecutableFile, medicCommand } from '../../src/crontab.js';
import { httpSender, probeEventsUrl } from '../../src/notify/http.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/index.js';
import { BIN, ROUTING_KEY as KEY, tempProject, type Project } from '../helpers/cli.js';
import { makeReadOnly } from '../helpers/db.js';
import { eventProblems } from '../helpers/pd-rules.js';
import { badRequestJson, refusedUrl, startPdServer, type PdServer } from '../helpers/pd-server.js';

const T = Date.parse('2026-11-26T12:00:00Z');
const MIN = 60_000;

let pd: PdServer;
beforeAll(async () => {
  pd = await startPdServer();
});
afterAll(() => pd.close());

const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.remove();
  pd.reply(() => 202);
  pd.requests.length = 0;
  pd.accepted.length = 0;
});

function project(config: Record<string, unknown> = { targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } }, services: [{ slug: 'backup', interval: '1h' }] }): Project {
  const p = tempProject(config);
  projects.push(p);
  return p;
}

interface Setup {
  /** The crontab text, `null` for "no crontab for this user", 'not-installed' for no crontab program. */
  crontab?: string | null | 'not-installed';
  env?: Record<string, string | undefined>;
  /** --config / MEDIC_CONFIG; default: found by searching from the project folder. */
  configPath?: string;
  now?: number;
}

/**
 * The real executable check, blind to a medic installed on this machine's cron PATH (`npm link`
 * puts one in /usr/bin): the tests about "a bare medic" must not depend on the machine.
 */
const isExecutable = (path: string) => !/^\/(usr\/)?bin\/medic$/.test(path) && isExecutableFile(path);

/** The dependencies the CLI passes, pointed at the project; `crontab` on PATH is a stand-in. */
function realDeps(p: Project, setup: Setup = {}): DoctorDeps {
  const bin = join(p.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  if (setup.crontab !== 'not-installed') {
    const script = join(bin, 'crontab');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        '[ "$1" = "-l" ] || exit 2',
        'if [ -f "$0.txt" ]; then exec /bin/cat "$0.txt"; fi',
        'echo "no crontab for medic-test" >&2',
        'exit 1',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    if (setup.crontab !== null) writeFileSync(`${script}.txt`, setup.crontab ?? goodCrontab(p));
  }
  const env: NodeJS.ProcessEnv = { PATH: bin, HOME: p.home, XDG_CONFIG_HOME: join(p.home, '.config'), PAGERDUTY_ROUTING_KEY: KEY };
  for (const [name, value] of Object.entries(setup.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return {
    loadConfig: () => loadConfig({ path: setup.configPath, cwd: p.dir, env, uid: process.getuid!() }),
    openStore: (cfg) => openStore(cfg, { uid: process.geteuid!(), readOnly: true }),
    env,
    now: () => setup.now ?? T + MIN,
    readCrontab: () => readUserCrontab(env),
    reach: (url, timeoutMs) => probeEventsUrl(url, timeoutMs, env),
    send: httpSender(env),
    sleep: async () => {},
    install: INSTALL,
    isExecutable,
  };
}

/** This checkout's medic and the node running the tests, as the CLI passes them. */
const INSTALL = { binPath: BIN, nodePath: process.execPath };
/** The check line as medic init prints it, with the key set for that line only. */
const checkLine = (args: string[]) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} ${medicCommand(INSTALL, args)}\n`;

const goodCrontab = (p: Project) => checkLine(['--config', p.configPath, 'check']);
const level = (findings: Finding[], check: string) => findings.find((f) => f.check === check)?.level;
const finding = (findings: Finding[], check: string) => findings.find((f) => f.check === check)!;

/** A real `medic check` at instant T (faketime), so the database records a last run. */
async function checkAt(p: Project, at = T): Promise<void> {
  const res = await p.run(['check'], { at, env: { PAGERDUTY_ROUTING_KEY: KEY } });
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
}

describe('medic doctor on a working setup', () => {
  it('finds nothing wrong, probes the events URL with an empty event that PagerDuty refuses, and never shows the key', async () => {
    const p = project();
    await checkAt(p);
    // PagerDuty's answer to an event without a key: the healthy answer to doctor's probe.
    pd.reply((req) => (req.body?.routing_key === undefined ? badRequestJson(["'routing_key' is missing"]) : 202));
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
    expect(findings.map((f) => `${f.check}: ${f.level}`)).toEqual([
      'config: ok',
      'database: ok',
      'database permissions: ok',
      'routing key (oncall): ok',
      'events URL: ok',
      'crontab: ok',
      'last check: ok',
    ]);
    expect(exitCode).toBe(0);
    expect(finding(findings, 'database').detail).toBe(`${join(p.dir, 'medic.db')}: opens and is writable, schema version ${SCHEMA_VERSION} (current)`);
    expect(finding(findings, 'events URL').detail).toBe(`${pd.url} (target oncall): reachable (answered HTTP 400: Event object is invalid: 'routing_key' is missing)`);
    // The check ran at 12:00:00 plus its own run time (the faked clock runs on); doctor looks at 12:01:00.
    expect(finding(findings, 'last check').detail).toMatch(/^last run 2026-11-26T12:00:\d\d\.\d{3}Z \((\d+s|1m) ago\)$/);
    expect(pd.requests.map((r) => `${r.method} ${r.path} ${r.rawBody}`)).toEqual(['POST /v2/enqueue {}']);
    expect(pd.accepted).toEqual([]);
    const text = formatFindings(findings) + JSON.stringify(findings);
    expect(text).not.toContain(KEY.slice(0, 8));
    expect(text).not.toContain(KEY.slice(-8));
    expect(formatFindings(findings).split('\n').at(-2)).toBe('everything looks right');
  });

  it('--send-test sends the guide trigger and then its resolve through the stand-in, and probes nothing else', async () => {
    const p = project();
    await checkAt(p);
    const { findings, exitCode } = await doctor({ sendTest: true }, realDeps(p));
    expect(exitCode).toBe(0);
    expect(level(findings, 'test alert (oncall)')).toBe('ok');
    expect(findings.some((f) => f.check === 'events URL')).toBe(false);
    expect(pd.requests.map((r) => [r.method, r.body?.event_action])).toEqual([
      ['POST', 'trigger'],
      ['POST', 'resolve'],
    ]);
    for (const r of pd.requests) expect(eventProblems(r.body)).toEqual([]);
    expect(pd.requests[0]!.body).toEqual({
      routing_key: KEY,
      event_action: 'trigger',
      dedup_key: 'medic-test-alert',
      payload: { summary: 'Medic test alert - integration working!', severity: 'info', source: 'medic-test', component: 'test-service', group: 'test-team', class: 'test' },
    });
    expect(pd.requests[1]!.body).toEqual({ routing_key: KEY, event_action: 'resolve', dedup_key: 'medic-test-alert' });
    expect(JSON.stringify(findings)).not.toContain(KEY);
  });
});

describe('medic doctor finds what is wrong, and exits with the code of the first failing area', () => {
  it('a database no check has written yet: not created (doctor changes nothing), last check fails (75)', async () => {
    const p = project();
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
    const db = join(p.dir, 'medic.db');
    expect(finding(findings, 'database')).toMatchObject({ level: 'ok', detail: `${db}: does not exist yet; the first \`medic check\` creates it` });
    expect(existsSync(db)).toBe(false);
    expect(finding(findings, 'last check')).toMatchObject({ level: 'fail', detail: '`medic check` has never completed a run on this database' });
    expect(exitCode).toBe(75);
  });

  it('a last run 10 minutes old is a warning with its age (exit 0)', async () => {
    const p = project();
    await checkAt(p);
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { now: T + 10 * MIN }));
    expect(finding(findings, 'last check').level).toBe('warn');
    expect(finding(findings, 'last check').detail).toMatch(/^last run 2026-11-26T12:0\d:\d\d\.\d{3}Z \(\dm ago\); it should run every minute$/);
    expect(exitCode).toBe(0);
  });

  it('a database other users can read is a warning naming the chmod', async () => {
    const p = project();
    await checkAt(p);
    const db = join(p.dir, 'medic.db');
    chmodSync(db, 0o644);
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
    expect(finding(findings, 'database permissions')).toMatchObject({ level: 'warn', fix: `chmod 600 ${db}` });
    expect(exitCode).toBe(0);
  });

  it('a database that opens but cannot be written fails (74): opening alone would not have noticed', async () => {
    const p = project();
    await checkAt(p);
    const db = join(p.dir, 'medic.db');
    const undo = makeReadOnly(db);
    try {
      const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
      expect(finding(findings, 'database').level).toBe('fail');
      expect(finding(findings, 'database').detail).toContain(`cannot write database ${db}`);
      expect(finding(findings, 'database').fix).toContain('write access');
      // The store still answers reads, so the last run is still reported.
      expect(level(findings, 'last check')).toBe('ok');
      expect(exitCode).toBe(74);
    } finally {
      undo();
    }
  });

  it('a database written by a newer Medic fails (74) naming both versions, and is left untouched', async () => {
    const p = project();
    const db = join(p.dir, 'medic.db');
    const raw = new Database(db);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
    expect(finding(findings, 'database').detail).toContain(`schema version ${SCHEMA_VERSION + 5}`);
    expect(finding(findings, 'database').detail).toContain(`up to version ${SCHEMA_VERSION}`);
    expect(level(findings, 'last check')).toBe('warn');
    expect(finding(findings, 'last check').detail).toBe('not checked: needs a working database');
    expect(exitCode).toBe(74);
    const after = new Database(db, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 5);
    after.close();
  });

  it('a file that is not a database fails (74)', async () => {
    const p = project();
    writeFileSync(join(p.dir, 'medic.db'), 'this is not SQLite, just text that happens to be long enough to have a header'.repeat(20));
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
    expect(finding(findings, 'database').detail).toContain('is not a Medic database');
    expect(exitCode).toBe(74);
  });

  it.each([
    ['unset', undefined, 'environment variable PAGERDUTY_ROUTING_KEY is not set'],
    ['31 characters', KEY.slice(1), 'the routing key in environment variable PAGERDUTY_ROUTING_KEY is 31 characters, expected 32 letters and digits'],
  ])('a routing key that is %s fails (78)', async (_label, value, detail) => {
    const p = project();
    await checkAt(p);
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { env: { PAGERDUTY_ROUTING_KEY: value } }));
    expect(finding(findings, 'routing key (oncall)')).toMatchObject({ level: 'fail', detail });
    expect(exitCode).toBe(78);
  });

  it('a routing key file of mode 0600 is fine', async () => {
    const p = project({ targets: { oncall: { type: 'pagerduty', routingKeyFile: 'secrets/pd', eventsUrl: pd.url } }, services: [{ slug: 'backup' }] });
    mkdirSync(join(p.dir, 'secrets'), { mode: 0o700 });
    writeFileSync(join(p.dir, 'secrets', 'pd'), `${KEY}\n`, { mode: 0o600 });
    await checkAt(p);
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { crontab: `* * * * * ${medicCommand(INSTALL, ['--config', p.configPath, 'check'])}\n` }));
    expect(finding(findings, 'routing key (oncall)')).toMatchObject({ level: 'ok', detail: `file ${join(p.dir, 'secrets', 'pd')}: set, 32 characters` });
    expect(exitCode).toBe(0);
  });

  it('an events URL where nothing listens fails (75): connection refused', async () => {
    const url = await refusedUrl();
    const p = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: url } }, services: [{ slug: 'backup' }] });
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { crontab: null }));
    expect(finding(findings, 'events URL')).toMatchObject({ level: 'fail', detail: `${url} (target oncall): connection refused` });
    // Events URL (75) comes before the crontab (78) and the last run (75).
    expect(level(findings, 'crontab')).toBe('fail');
    expect(exitCode).toBe(75);
  });

  it("an events URL that never answers fails after the target's timeout", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}/v2/enqueue`;
    try {
      const p = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: url, timeout: '1s' } }, services: [{ slug: 'backup' }] });
      await checkAt(p);
      const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
      expect(finding(findings, 'events URL')).toMatchObject({ level: 'fail', detail: `${url} (target oncall): no answer within 1000 ms (timeout)` });
      expect(exitCode).toBe(75);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 30_000);

  it('--send-test with a key PagerDuty rejects fails (76), quotes it, and sends no resolve', async () => {
    pd.reply(() => badRequestJson(["'routing_key' is invalid"]));
    const p = project();
    await checkAt(p);
    const { findings, exitCode } = await doctor({ sendTest: true }, realDeps(p));
    expect(finding(findings, 'test alert (oncall)').detail).toContain("Event object is invalid: 'routing_key' is invalid");
    expect(finding(findings, 'test alert (oncall)').fix).toContain('Invalid Routing Key');
    expect(pd.requests.map((r) => r.body?.event_action)).toEqual(['trigger']);
    expect(exitCode).toBe(76);
  });

  it.each<[string, Setup['crontab'], string, number]>([
    ['no crontab program: a warning (something else may run the checker)', 'not-installed', 'warn', 0],
    ['no crontab for the user', null, 'fail', 78],
    ['a crontab without a medic check line', `PAGERDUTY_ROUTING_KEY=${KEY}\n30 2 * * * /usr/local/bin/backup && medic beat backup\n`, 'fail', 78],
    ['a medic check line without --config, config only found from the project folder', checkLine(['check']), 'warn', 0],
    ['a bare medic, which cron\'s PATH (/usr/bin:/bin) does not have', `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} medic --config /x/medic.config.json check\n`, 'fail', 78],
    ['a check line that runs --dry-run', checkLine(['check', '--dry-run']), 'fail', 78],
    ['a check line every 5 minutes', checkLine(['check']).replace('* * * * *', '*/5 * * * *'), 'fail', 78],
  ])('crontab: %s', async (_label, crontab, expected, exitCode) => {
    const p = project();
    await checkAt(p);
    const { findings, exitCode: code } = await doctor({ sendTest: false }, realDeps(p, { crontab }));
    expect(level(findings, 'crontab')).toBe(expected);
    expect(finding(findings, 'crontab').fix).toBeTruthy();
    expect(code).toBe(exitCode);
  });

  it('the crontab reader reports "no crontab for …" in the finding', async () => {
    const p = project();
    const { findings } = await doctor({ sendTest: false }, realDeps(p, { crontab: null }));
    expect(finding(findings, 'crontab').detail).toBe('this user has no crontab (no crontab for medic-test), so nothing runs `medic check`');
    // The line to add names this install's real medic (and node, when cron's PATH lacks it).
    expect(finding(findings, 'crontab').fix).toBe(`add this line with \`crontab -e\`: ${checkerCrontabLine(INSTALL, p.configPath)}`);
    expect(finding(findings, 'crontab').fix).toContain(BIN);
  });

  it('fails when NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off (78)', async () => {
    const p = project();
    await checkAt(p);
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } }));
    expect(finding(findings, 'certificate checks')).toMatchObject({ level: 'fail', detail: expect.stringContaining('certificate checks are off') });
    expect(finding(findings, 'certificate checks').fix).toContain('NODE_EXTRA_CA_CERTS');
    expect(exitCode).toBe(78);
  });

  it('the stand-in crontab program gets no routing key in its environment', async () => {
    const p = project();
    const deps = realDeps(p);
    const bin = join(p.dir, 'bin');
    writeFileSync(join(bin, 'crontab'), '#!/bin/sh\n/usr/bin/env\n', { mode: 0o755 });
    const read = await deps.readCrontab();
    expect(read.kind).toBe('text');
    expect((read as { text: string }).text).not.toContain(KEY);
    expect((read as { text: string }).text).toContain(`HOME=${p.home}`);
  });

  it('an invalid config fails (78) with the key path, and the checks that need it are skipped', async () => {
    const p = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } }, services: [{ slug: 'backup', grace: '5 minutes' }] });
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p));
    expect(finding(findings, 'config').level).toBe('fail');
    expect(finding(findings, 'config').detail).toContain('services[0].grace');
    expect(findings.map((f) => `${f.check}: ${f.level}`)).toEqual(['config: fail', 'database: warn', 'routing keys: warn', 'events URL: warn', 'crontab: ok', 'last check: warn']);
    expect(pd.requests).toEqual([]);
    expect(exitCode).toBe(78);
  });

  it('a --config path that does not exist fails (78)', async () => {
    const p = project();
    const missing = join(p.dir, 'nope.json');
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { configPath: missing }));
    expect(finding(findings, 'config')).toMatchObject({ level: 'fail', detail: `config file ${missing} not found` });
    expect(exitCode).toBe(78);
  });
});

describe('[targets] medic doctor with Slack and webhook targets', () => {
  const HOOK = 'https://hooks.slack.com/services/T00000000/B00000000/FAKEfakeFAKEfake0';
  const TOKEN = 'xoxb-0000000000-1111111111-FAKEfakeFAKEfake';
  const SIGNING = 'correct-horse-battery-staple-42';

  function targetsProject(): Project {
    const p = project({
      targets: {
        oncall: { type: 'pagerduty', eventsUrl: pd.url, priorities: ['P1', 'P2'] },
        'team-channel': { type: 'slack', webhookUrlFile: 'secrets/slack-hook' },
        'bot-channel': { type: 'slack', tokenEnv: 'SLACK_BOT_TOKEN', channel: 'C0123ABCD', apiUrl: 'http://127.0.0.1:9/api' },
        tickets: { type: 'webhook', url: 'http://127.0.0.1:9/medic', secretFile: 'secrets/tickets' },
      },
      defaults: { targets: ['oncall', 'team-channel', 'bot-channel', 'tickets'] },
      services: [{ slug: 'payments', priority: 'P1', interval: '1h' }, { slug: 'report', priority: 'P3', interval: '1h' }],
    });
    mkdirSync(join(p.dir, 'secrets'), { mode: 0o700 });
    writeFileSync(join(p.dir, 'secrets', 'slack-hook'), `${HOOK}\n`, { mode: 0o600 });
    writeFileSync(join(p.dir, 'secrets', 'tickets'), `${SIGNING}\n`, { mode: 0o600 });
    return p;
  }
  const line = (p: Project) => `* * * * * PAGERDUTY_ROUTING_KEY=${KEY} SLACK_BOT_TOKEN=${TOKEN} ${medicCommand(INSTALL, ['--config', p.configPath, 'check'])}\n`;
  const shown = (findings: Finding[]) => formatFindings(findings) + JSON.stringify(findings);

  it('checks each secret without showing it, probes only PagerDuty, and says how to test the others', async () => {
    const p = targetsProject();
    await p.run(['check'], { at: T, env: { PAGERDUTY_ROUTING_KEY: KEY, SLACK_BOT_TOKEN: TOKEN } });
    pd.reply((req) => (req.body?.routing_key === undefined ? badRequestJson(["'routing_key' is missing"]) : 202));
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { crontab: line(p), env: { SLACK_BOT_TOKEN: TOKEN } }));
    expect(findings.map((f) => `${f.check}: ${f.level}`)).toEqual([
      'config: ok',
      'database: ok',
      'database permissions: ok',
      'routing key (oncall): ok',
      'Slack webhook URL (team-channel): ok',
      'Slack bot token (bot-channel): ok',
      'signing secret (tickets): ok',
      'Slack and webhook targets: ok',
      'events URL: ok',
      'crontab: ok',
      'last check: ok',
    ]);
    expect(exitCode).toBe(0);
    expect(finding(findings, 'routing key (oncall)').detail).toBe('environment variable PAGERDUTY_ROUTING_KEY: set, 32 characters; takes P1, P2');
    expect(finding(findings, 'Slack webhook URL (team-channel)').detail).toBe(`file ${join(p.dir, 'secrets', 'slack-hook')}: set, ${HOOK.length} characters`);
    expect(finding(findings, 'Slack bot token (bot-channel)').detail).toBe(`environment variable SLACK_BOT_TOKEN: set, ${TOKEN.length} characters`);
    expect(finding(findings, 'Slack and webhook targets').detail).toBe(
      'team-channel (slack), bot-channel (slack), tickets (webhook): not probed over the network (a probe would post a message); `medic test-alert --target <name>` sends a test',
    );
    // Only the PagerDuty probe went out.
    expect(pd.requests.map((r) => `${r.method} ${r.path} ${r.rawBody}`)).toEqual(['POST /v2/enqueue {}']);
    const text = shown(findings);
    for (const part of ['T00000000', 'FAKEfake', '1111111111', 'horse-battery']) expect(text).not.toContain(part);
  });

  it('a token of the wrong shape and a signing secret others can read: 78, each with its fix, nothing of either shown', async () => {
    const p = targetsProject();
    chmodSync(join(p.dir, 'secrets', 'tickets'), 0o644);
    const badToken = 'xoxb_FAKEfake1111111111';
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { crontab: line(p), env: { SLACK_BOT_TOKEN: badToken } }));
    expect(finding(findings, 'Slack bot token (bot-channel)')).toMatchObject({
      level: 'fail',
      detail: 'the Slack bot token in environment variable SLACK_BOT_TOKEN is not shaped like a Slack bot token (xoxb-, or another xox?- kind, then letters, digits and dashes)',
      fix: 'copy the Slack bot token again, whole, without quotes or spaces',
    });
    // check and test-alert refuse a secret file others can write; one they can only read is a warning.
    expect(finding(findings, 'signing secret (tickets)')).toMatchObject({ level: 'warn', fix: `chmod 600 ${join(p.dir, 'secrets', 'tickets')}` });
    expect(finding(findings, 'signing secret (tickets)').detail).toContain('other users can read it (mode 0644)');
    expect(exitCode).toBe(78);
    const text = shown(findings);
    for (const part of ['FAKEfake', '1111111111', 'horse-battery', 'T00000000']) expect(text).not.toContain(part);
  });

  it('a Slack token pasted into the config as "channel" fails the config (78) without echoing it', async () => {
    const p = project({ targets: { chat: { type: 'slack', tokenEnv: 'SLACK_BOT_TOKEN', channel: TOKEN } }, services: [{ slug: 'backup' }] });
    const { findings, exitCode } = await doctor({ sendTest: false }, realDeps(p, { crontab: line(p) }));
    expect(finding(findings, 'config')).toMatchObject({ level: 'fail' });
    expect(finding(findings, 'config').detail).toContain('targets.chat.channel: this looks like a Slack bot token (xoxb-…), which must not be written in the config file; put it in a file named by "tokenFile" or a variable named by "tokenEnv"');
    expect(exitCode).toBe(78);
    expect(shown(findings)).not.toContain('FAKEfake');
  });
});

/**
 * medic discover's pure parts as truth tables (cron's % rules, slugs, grace, the rewritten line),
 * the quoting round trip through the real /bin/sh, and discover() itself on real temp files with
 * a crontab reader and installer handed in (test/e2e/discover.test.ts uses the real `crontab`).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discover, decodeCrontab, discoverText, graceFor, jobWords, lineDiff, MAX_DIFF_CELLS, MAX_SYSTEM_CRONTAB_BYTES, medicProgram, proposeJobs, proposeSlugs, readSystemCrontabs, rewriteCrontab, rewrittenLine, slugify, type CrontabBytes, type DiscoverDeps } from '../../src/commands/discover.js';
import { starterConfig } from '../../src/commands/init.js';
import { buildConfig } from '../../src/config.js';
import { parseCron } from '../../src/core/cron.js';
import { cronShellText, parseCrontab, shQuote, stdinMarkerAt } from '../../src/crontab.js';
import { makeReadOnly, tempDir } from '../helpers/db.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const SLUG = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const INSTALL = { binPath: '/opt/medic/bin/medic', nodePath: '/usr/bin/node' };
const noFiles = () => false;
const same = (p: string) => p;

describe("cron's % rules: where the command ends and what the shell gets", () => {
  it.each([
    ['no %', 'backup.sh --full', -1, 'backup.sh --full'],
    ['a bare %: the rest is stdin', 'mail -s hi ops%body line', 14, 'mail -s hi ops'],
    ['\\% is a literal %', 'date +\\%Y-\\%m', -1, 'date +%Y-%m'],
    ['\\\\% is a backslash, then the marker', 'echo a\\\\%b', 8, 'echo a\\\\'],
    ['other backslashes stay', "echo a\\ b \\'x\\'", -1, "echo a\\ b \\'x\\'"],
    ['% inside quotes is still the marker', "date '+%F'", 7, "date '+"],
  ])('%s: %s', (_label, command, at, shell) => {
    expect(stdinMarkerAt(command)).toBe(at);
    expect(cronShellText(command)).toBe(shell);
  });
});

/** Commands whose every character matters to sh. None holds a bare % (discover skips those). */
const NASTY = [
  'echo plain',
  "echo 'single quoted'",
  `echo "it's" 'say "hi"'`,
  "echo it\\'s",
  `printf '%s\\n' "a'b" 'c"d'`.replace(/%/g, '\\%'),
  'echo $(echo sub) `echo tick`',
  'echo one; echo two && echo three || echo never',
  'false || echo rescued',
  'echo "$HOME" \'$HOME\' \\$HOME',
  'echo a\\\\b "c\\\\d"',
  'date -u -d @0 +\\%Y-\\%m-\\%dT\\%H',
  "x='' ; echo \"[$x]\" '' \"''\"",
  "echo '''' \"'\"'\"'\" end\"",
  'echo *.none-such-glob ? [z]',
  'for i in 1 2 3; do printf "$i "; done; echo',
  'echo tab\there | tr "\\t" _',
  "echo 'ünï ✓ 日本' {a,b} ~",
  'echo $((6 * 7)) $# "$@"',
  "echo 'ends with a quote'\"'\"",
  "(cd / && pwd) ; echo sub > /dev/null 2>&1; echo 'done'",
];

/** A stand-in medic: runs what follows `--`, as `medic run` does. */
function stubMedic(dir: string): string {
  const file = join(dir, 'medic');
  writeFileSync(file, '#!/bin/sh\nwhile [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n', { mode: 0o755 });
  return file;
}

function sh(script: string, cwd: string): { out: string; code: number } {
  try {
    return { out: execFileSync('/bin/sh', ['-c', script], { cwd, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: '/home/nobody' } }), code: 0 };
  } catch (err) {
    const e = err as { stdout: string; status: number };
    return { out: e.stdout, code: e.status };
  }
}

describe('the rewritten line runs the very same command through /bin/sh', () => {
  it.each(NASTY)('%s', (command) => {
    const dir = tempDir('medic-discover-');
    const medic = stubMedic(dir);
    const line = `15 2 * * * ${command}`;
    const [job] = parseCrontab(`${line}\n`).jobs;
    const rewritten = rewrittenLine(line, job!, medic, '/srv/my medic/it\'s%.json', 'job');
    const [again] = parseCrontab(`${rewritten}\n`).jobs;
    expect(again!.schedule).toBe('15 2 * * *');
    expect(stdinMarkerAt(again!.command)).toBe(-1);
    const original = sh(cronShellText(job!.command), dir);
    const wrapped = sh(cronShellText(again!.command), dir);
    expect(wrapped).toEqual(original);
    expect(original.out).not.toBe('');
  });

  it.each([
    ['plain', 'abc', "'abc'"],
    ['a quote', "it's", "'it'\\''s'"],
    ['only quotes', "''", "''\\'''\\'''"],
  ])('shQuote: %s', (_label, text, quoted) => {
    expect(shQuote(text)).toBe(quoted);
  });

  it("uses the crontab's SHELL, as cron does, and keeps the line's own spacing and schedule", () => {
    const text = 'SHELL=/bin/bash\n@daily\t  echo ${BASH_VERSION:+bash}\n';
    const [job] = parseCrontab(text).jobs;
    expect(rewrittenLine('@daily\t  echo ${BASH_VERSION:+bash}', job!, 'medic', null, 'echo')).toBe("@daily\t  medic run echo -- /bin/bash -c 'echo ${BASH_VERSION:+bash}'");
  });
});

describe('jobWords: what names a job', () => {
  it.each([
    ['/usr/local/bin/backup.sh --full db', ['backup', 'db']],
    ['cd /srv/app && php artisan schedule:run >> /dev/null 2>&1', ['artisan', 'schedule-run', 'cd']],
    ['nice -n 10 ionice -c 3 /opt/bin/reindex', ['reindex']],
    ['timeout 30m flock -n /tmp/lock /usr/bin/rsync -a /srv/a host:/b', ['rsync', 'a', 'b']],
    ['PATH=/x:/y FOO=1 python3 -u /opt/jobs/sync_users.py', ['sync_users']],
    ["sh -c 'cleanup --old'", ['cleanup']],
    ['test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )', ['cron-daily', 'test', 'cd']],
    ['test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }', ['cron-daily', 'test', 'cd']],
    ['cd / && run-parts --report /etc/cron.hourly', ['cron-hourly', 'cd']],
    ['run-parts /etc/periodic/daily/', ['daily']],
    ['mysqldump db | gzip > /backups/db.sql.gz', ['mysqldump', 'db', 'gzip']],
    ['echo "x" | tee -a f', ['echo', 'x', 'tee']],
    ['test -f f && echo ok', ['echo', 'ok', 'test']],
    ['[ -d /srv ] && /opt/sync --all', ['sync']],
    ['true && /opt/sync', ['sync', 'true']],
    ['sleep 30; mkdir -p /b && /opt/bin/backup', ['backup', 'sleep', 'mkdir']],
    ["FOO='a b' sh -c 'echo hi'", ['echo', 'hi']],
    ['! test -e /run/lock && /opt/job', ['job', 'test']],
    ['if [ -x /opt/job ]; then /opt/job --now; fi', ['job']],
    ['/opt/Weird Name!/RUN.SH', ['weird', 'run']],
  ])('%s → %j', (command, words) => {
    expect(jobWords(command)).toEqual(words);
  });
});

describe('proposeSlugs: unique, valid, and clear of existing services', () => {
  it.each<[string, string[][], string[], string[]]>([
    ['one job: the program', [['backup', 'db']], [], ['backup']],
    ['two of one program: the word only each has', [['backup', 'db'], ['backup', 'files']], [], ['backup-db', 'backup-files']],
    ['the same command twice: numbered', [['sync'], ['sync']], [], ['sync', 'sync-2']],
    ['a shared first word: the next one', [['sync', 'all', 'eu'], ['sync', 'all', 'us']], [], ['sync-eu', 'sync-us']],
    ['an existing service of that name', [['backup', 'db']], ['backup'], ['backup-db']],
    ['an existing service and no word', [['backup']], ['backup', 'backup-2'], ['backup-3']],
    ['no words at all', [[]], [], ['job']],
    ['a long name is cut to 64', [['a'.repeat(70)], ['a'.repeat(70)]], [], ['a'.repeat(64), `${'a'.repeat(62)}-2`]],
  ])('%s', (_label, jobs, taken, slugs) => {
    const got = proposeSlugs(jobs, taken).map((s) => s.slug);
    expect(got).toEqual(slugs);
    for (const s of got) expect(s).toMatch(SLUG);
    expect(new Set([...got, ...taken]).size).toBe(got.length + taken.length);
  });

  it.each<[string, string[][], string[], string[], string[], boolean[]]>([
    ['its own slug, a service of that schedule', [['backup', 'db'], ['backup', 'files']], ['backup-db', 'backup-files'], ['backup-db', 'backup-files'], ['backup-db', 'backup-files'], [true, true]],
    ['its program name, a service of that schedule', [['backup', 'db']], ['backup'], ['backup'], ['backup'], [true]],
    ['a service of that name but another schedule', [['rotate-logs']], ['rotate-logs'], [], ['rotate-logs-2'], [false]],
    ['two copies of a line: only the first takes the service over', [['sync'], ['sync']], ['sync'], ['sync'], ['sync', 'sync-2'], [true, false]],
    ['the numbered slug an earlier run gave', [['backup'], ['backup']], ['backup', 'backup-2', 'backup-3'], ['backup-3'], ['backup-3', 'backup-4'], [true, false]],
  ])('takes over a service of the config: %s', (_label, jobs, taken, sameSchedule, slugs, existing) => {
    const got = proposeSlugs(jobs, taken, (slug) => sameSchedule.includes(slug));
    expect(got).toEqual(slugs.map((slug, i) => ({ slug, existing: existing[i] })));
  });

  it('30,000 copies of one line: linear, not quadratic (it took 201 s)', () => {
    const started = performance.now();
    const got = proposeSlugs(Array.from({ length: 30_000 }, () => ['backup', 'db']), ['backup']);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(got[0]!.slug).toBe('backup-2');
    expect(got[29_999]!.slug).toBe('backup-30001');
    expect(new Set(got.map((s) => s.slug)).size).toBe(30_000);
    // Again after the undo: each copy takes its service back, still linear.
    const again = proposeSlugs(Array.from({ length: 30_000 }, () => ['backup', 'db']), ['backup', ...got.map((s) => s.slug)], () => true);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(again.every((s, i) => s.existing && s.slug === (i === 0 ? 'backup' : got[i - 1]!.slug))).toBe(true);
  });

  it.each([
    ['Backup_DB', 'backup_db'],
    ['--x', 'x'],
    ['..hidden', 'hidden'],
    ['a  b!!c', 'a-b-c'],
    ['日本', ''],
  ])('slugify(%j) = %j', (text, slug) => {
    expect(slugify(text)).toBe(slug);
  });
});

describe('graceFor: 10% of the shortest gap between runs, whole minutes, from 1m to 1h', () => {
  it.each([
    ['* * * * *', '1m'],
    ['*/5 * * * *', '1m'],
    ['*/15 * * * *', '1m'],
    ['15,45 * * * *', '3m'],
    ['0 * * * *', '6m'],
    ['0 */2 * * *', '12m'],
    ['0 9-17 * * 1-5', '6m'],
    ['0 3 * * *', '1h'],
    ['0 0,6 * * *: 6h apart, but 5h on the night DST starts', '30m'],
    ['0 0,6 * * * in a zone without DST', '36m', 'UTC'],
    ['@weekly', '1h'],
    ['0 0 29 2 *', '1h'],
  ])('%s → %s', (schedule, grace, zone = 'Europe/Berlin') => {
    const ms = graceFor(parseCron(schedule.replace(/:.*| in a.*/, '')), zone, NOW);
    expect(ms / 60_000 + 'm').toBe(grace === '1h' ? '60m' : grace);
  });
});

describe('medicProgram: how the new line starts medic', () => {
  const real = (links: Record<string, string>) => (p: string) => links[p] ?? p;
  it.each<[string, string[], Record<string, string>, string]>([
    ['this medic and node on cron PATH: bare medic', ['/usr/bin/node', '/usr/bin/medic'], { '/usr/bin/medic': '/opt/medic/bin/medic' }, 'medic'],
    ['another medic on the PATH: this one, by path', ['/usr/bin/node', '/usr/bin/medic'], {}, '/opt/medic/bin/medic'],
    ['node not on the PATH: node in front, no PATH= change', ['/opt/medic/bin/medic'], {}, '/usr/bin/node /opt/medic/bin/medic'],
  ])('%s', (_label, files, links, expected) => {
    expect(medicProgram(INSTALL, '/usr/bin:/bin', '/home/ops', (p) => files.includes(p), real(links))).toBe(expected);
  });

  it('quotes and escapes a path with a space and a %', () => {
    expect(medicProgram({ binPath: '/opt/my medic%/medic', nodePath: '/usr/bin/node' }, '/usr/bin', '/h', (p) => p === '/usr/bin/node', same)).toBe("'/opt/my medic\\%/medic'");
  });
});

const CRONTAB = [
  '# m h dom mon dow command',
  'MAILTO=ops@example.com',
  'PAGERDUTY_ROUTING_KEY=a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6',
  '0 3 * * * /usr/local/bin/backup.sh db',
  '30 3 * * * /usr/local/bin/backup.sh files',
  '@reboot /usr/local/bin/start-thing',
  '0 1 * * * mysqldump db > /b/db-$(date +%F).sql',
  '* * * * * PAGERDUTY_ROUTING_KEY=a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6 /usr/local/bin/medic check',
  '*/10 * * * * /opt/medic/bin/medic beat x || true',
  'CRON_TZ=America/New_York',
  '0 9 * * 1-5 /opt/report',
  'CRON_TZ=Mars/Olympus',
  '0 10 * * * /opt/other',
  'not a job line',
  '@every5 /opt/x',
  'CRON_TZ=',
  'TZ=Asia/Tokyo',
  '0 11 * * * /opt/tokyo',
  '0 4 * * * rm -rf /tmp/x/cache\u00a0',
  '',
].join('\n');

const OPTS = { existing: [], zone: 'Europe/Berlin', now: NOW, install: INSTALL, home: '/home/ops', isExecutable: noFiles, realpath: same, configFile: '/srv/medic.config.json' };

describe('proposeJobs: a service for each job, and why the others are left alone', () => {
  const { proposals, skipped } = proposeJobs([{ source: 'crontab', text: CRONTAB, system: false }], OPTS);

  it("proposes the jobs, all in the machine's zone: Debian's cron ignores CRON_TZ and TZ for scheduling", () => {
    expect(proposals.map((p) => [p.line, p.service])).toEqual([
      [4, { slug: 'backup-db', schedule: '0 3 * * *', timezone: 'Europe/Berlin', grace: '1h' }],
      [5, { slug: 'backup-files', schedule: '30 3 * * *', timezone: 'Europe/Berlin', grace: '1h' }],
      [11, { slug: 'report', schedule: '0 9 * * 1-5', timezone: 'Europe/Berlin', grace: '1h' }],
      [13, { slug: 'other', schedule: '0 10 * * *', timezone: 'Europe/Berlin', grace: '1h' }],
      [18, { slug: 'tokyo', schedule: '0 11 * * *', timezone: 'Europe/Berlin', grace: '1h' }],
      [19, { slug: 'rm', schedule: '0 4 * * *', timezone: 'Europe/Berlin', grace: '1h' }],
    ]);
    expect(proposals[0]!.rewritten).toBe("0 3 * * * /usr/bin/node /opt/medic/bin/medic --config /srv/medic.config.json run backup-db -- /bin/sh -c '/usr/local/bin/backup.sh db'");
  });

  it.each([
    [4, undefined],
    [11, `the crontab sets CRON_TZ="America/New_York" above this line; Debian's cron ignores it and runs the line in the machine's zone (Europe/Berlin), so the service uses that zone; if this machine's cron is cronie (it honours CRON_TZ), set the service's "timezone" to "America/New_York" instead`],
    [13, `the crontab sets CRON_TZ="Mars/Olympus" above this line; Debian's cron ignores it and runs the line in the machine's zone (Europe/Berlin), so the service uses that zone`],
    [18, `the crontab sets TZ="Asia/Tokyo" above this line; cron gives it to the job, but runs the line in the machine's zone (Europe/Berlin), so the service uses that zone`],
  ])('line %i: the note about the zone', (line, note) => {
    expect(proposals.find((p) => p.line === line)!.note).toBe(note);
  });

  it('keeps a trailing NBSP: cron and sh take it as part of the path (`cache\u00a0` is another folder)', () => {
    const p = proposals.find((x) => x.line === 19)!;
    expect(p.command).toBe('rm -rf /tmp/x/cache\u00a0');
    expect(p.rewritten).toBe("0 4 * * * /usr/bin/node /opt/medic/bin/medic --config /srv/medic.config.json run rm -- /bin/sh -c 'rm -rf /tmp/x/cache\u00a0'");
  });

  it.each<[string, { slug: string; schedule?: string; timezone?: string }[], string, boolean]>([
    ['same schedule, no timezone (the machine zone)', [{ slug: 'backup-db', schedule: '0  3 * * *' }], 'backup-db', true],
    ['same schedule and zone', [{ slug: 'backup-db', schedule: '0 3 * * *', timezone: 'Europe/Berlin' }], 'backup-db', true],
    ['same schedule, another zone', [{ slug: 'backup-db', schedule: '0 3 * * *', timezone: 'UTC' }], 'backup-db-2', false],
    ['another schedule', [{ slug: 'backup-db', schedule: '0 4 * * *' }], 'backup-db-2', false],
    ['an interval service', [{ slug: 'backup-db' }], 'backup-db-2', false],
  ])('a service of the config with the slug it would get: %s', (_label, existing, slug, isExisting) => {
    const r = proposeJobs([{ source: 'crontab', text: CRONTAB, system: false }], { ...OPTS, existing });
    const p = r.proposals.find((x) => x.line === 4)!;
    expect([p.service.slug, p.existing]).toEqual([slug, isExisting]);
    expect(p.rewritten).toContain(` run ${slug} -- `);
  });

  it.each([
    [1, 'a comment'],
    [2, 'an environment line (MAILTO=…)'],
    [3, 'an environment line (PAGERDUTY_ROUTING_KEY=…)'],
    [12, 'an environment line (CRON_TZ=…)'],
    [6, '@reboot'],
    [7, "cron's stdin marker"],
    [8, 'it already runs medic'],
    [9, 'it already runs medic'],
    [14, 'not a line cron reads as a job'],
    [15, 'its schedule "@every5" is not one Medic reads'],
  ])('line %i: %s', (line, reason) => {
    const s = skipped.find((x) => x.line === line);
    expect(s?.reason).toContain(reason);
  });

  it('never repeats an environment value or a medic line (either may hold a key)', () => {
    expect(JSON.stringify(skipped)).not.toContain('a1b2c3d4');
  });

  it('reads the user field of a system crontab and never applies its lines', () => {
    const tab = { source: '/etc/cron.d/app', text: '17 * * * * www-data /usr/bin/php /srv/cron.php\n', system: true };
    const r = proposeJobs([{ source: 'crontab', text: '0 5 * * * /usr/bin/cron\n', system: false }, tab], OPTS);
    expect(r.proposals.map((p) => [p.source, p.user, p.service.slug, p.applies])).toEqual([
      ['crontab', undefined, 'cron', true],
      ['/etc/cron.d/app', 'www-data', 'cron-2', false],
    ]);
    expect(r.proposals[1]!.rewritten).toMatch(/^17 \* \* \* \* www-data \/usr\/bin\/node \/opt\/medic\/bin\/medic --config \S+ run cron-2 -- \/bin\/sh -c '\/usr\/bin\/php \/srv\/cron.php'$/);
  });

  it('every proposal is a valid service of a config', () => {
    const raw = { targets: { oncall: { type: 'pagerduty' } }, services: proposals.map((p) => p.service) };
    expect(buildConfig(raw, '/srv/medic.config.json', { cwd: '/srv', env: {} }).services.map((s) => s.slug)).toEqual(['backup-db', 'backup-files', 'report', 'other', 'tokyo', 'rm']);
  });
});

describe('rewriteCrontab and lineDiff', () => {
  it('changes only the proposed lines of the user crontab and ends with a newline', () => {
    const { proposals } = proposeJobs([{ source: 'crontab', text: CRONTAB.trimEnd(), system: false }], OPTS);
    const out = rewriteCrontab(CRONTAB.trimEnd(), proposals);
    const before = CRONTAB.trimEnd().split('\n');
    const after = out.split('\n');
    expect(after.length).toBe(before.length + 1);
    expect(out.endsWith('\n')).toBe(true);
    expect(before.flatMap((l, i) => (l === after[i] ? [] : [i + 1]))).toEqual([4, 5, 11, 13, 18, 19]);
  });

  it('shows the changed lines with a little context', () => {
    expect(lineDiff('a\nb\nc\nd\ne\nf\ng\n', 'a\nb\nc\nD\ne\nf\ng\n')).toEqual(['  b', '  c', '- d', '+ D', '  e', '  f', '  …']);
    expect(lineDiff('', 'x\n')).toEqual(['+ x']);
  });

  it('a 20,000-line config with services appended: linear (it took 3.4 GB and 30 s), the same short diff', () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `    "line ${i}",`);
    const before = `{\n${lines.join('\n')}\n  ]\n}\n`;
    const after = `{\n${lines.join('\n')}\n    "new",\n  ]\n}\n`;
    const started = performance.now();
    expect(lineDiff(before, after)).toEqual(['      "line 19998",', '      "line 19999",', '+     "new",', '    ]', '  }']);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it.each([
    ['a middle within the bound: the line both share stays as context', 10, '  c', '- c'],
    ['a middle past the bound (1,001 × 1,001 lines): all removed, then all added, in linear time', 1_000, '- c', '  c'],
  ])('%s', (_label, n, shown, notShown) => {
    const side = (p: string) => ['start', `${p}0`, 'c', ...Array.from({ length: n - 1 }, (_, i) => `${p}${i + 1}`), 'end'].join('\n');
    expect((n + 1) ** 2 > MAX_DIFF_CELLS).toBe(n === 1_000);
    const diff = lineDiff(side('a'), side('b'));
    expect(diff).toContain(shown);
    expect(diff).not.toContain(notShown);
    expect(diff.filter((l) => l.startsWith('+ '))).toHaveLength(n === 1_000 ? n + 1 : n);
  });
});

describe('readSystemCrontabs: the files cron reads', () => {
  it("reads /etc/crontab and cron.d files named as Debian's cron wants, from the folder given", () => {
    const etc = tempDir('medic-etc-');
    mkdirSync(join(etc, 'cron.d'));
    writeFileSync(join(etc, 'crontab'), 'x');
    for (const name of ['app', 'php', 'old.dpkg-old', 'a.b']) writeFileSync(join(etc, 'cron.d', name), name);
    const files = readSystemCrontabs(etc, readdirSync, (f) => readFileSync(f, 'utf8'));
    expect(files.map((f) => [f.file.slice(etc.length), f.text])).toEqual([
      ['/crontab', 'x'],
      ['/cron.d/app', 'app'],
      ['/cron.d/php', 'php'],
    ]);
  });

  it('reads only regular files, up to 1 MB: a FIFO does not hang it, a link to /dev/zero does not fill memory', () => {
    const etc = tempDir('medic-etc-');
    mkdirSync(join(etc, 'cron.d'));
    writeFileSync(join(etc, 'crontab'), '17 * * * * root /opt/hourly\n');
    execFileSync('mkfifo', [join(etc, 'cron.d', 'fifo')]);
    symlinkSync('/dev/zero', join(etc, 'cron.d', 'zero'));
    writeFileSync(join(etc, 'cron.d', 'huge'), Buffer.alloc(MAX_SYSTEM_CRONTAB_BYTES + 1, 0x23));
    writeFileSync(join(etc, 'cron.d', 'limit'), Buffer.alloc(MAX_SYSTEM_CRONTAB_BYTES, 0x23));
    symlinkSync(join(etc, 'crontab'), join(etc, 'cron.d', 'linked'));
    const files = readSystemCrontabs(etc);
    expect(files.map((f) => [f.file.slice(etc.length), f.text?.length ?? null, f.error])).toEqual([
      ['/crontab', 28, undefined],
      ['/cron.d/fifo', null, 'not a regular file (a pipe, a device or a socket): not read'],
      ['/cron.d/huge', null, `bigger than ${MAX_SYSTEM_CRONTAB_BYTES} bytes: not read`],
      ['/cron.d/limit', MAX_SYSTEM_CRONTAB_BYTES, undefined],
      ['/cron.d/linked', 28, undefined],
      ['/cron.d/zero', null, 'not a regular file (a pipe, a device or a socket): not read'],
    ]);
  });
});

describe('decodeCrontab: only UTF-8 goes back to the same bytes', () => {
  it.each<[string, number[], number[]]>([
    ['ASCII', [...Buffer.from('0 3 * * * /x\n')], []],
    ['UTF-8 with a byte order mark', [0xef, 0xbb, 0xbf, ...Buffer.from('# café\n0 3 * * * /opt/café\n')], []],
    ['Latin-1 on lines 1 and 3', [...Buffer.from('# caf'), 0xe9, ...Buffer.from(' jobs\n@reboot /b\n0 3 * * * /opt/caf'), 0xe9, 0x0a], [1, 3]],
    ['a cut UTF-8 sequence on the last line, no newline', [...Buffer.from('0 3 * * * /x\n# '), 0xe2, 0x82], [2]],
  ])('%s', (_label, bytes, notUtf8) => {
    const got = decodeCrontab(Buffer.from(bytes));
    expect(got.notUtf8).toEqual(notUtf8);
    if (notUtf8.length === 0) expect(Buffer.from(got.text, 'utf8')).toEqual(Buffer.from(bytes));
  });
});

/** discover() on a temp folder: a JSON config, a crontab in memory, the installer recording what it got. */
function setup(opts: { crontab?: string | Buffer; config?: unknown; file?: string; confirm?: boolean | null; install?: 'ok' | 'fail'; changeBetweenReads?: boolean } = {}) {
  const dir = tempDir('medic-discover-');
  const file = join(dir, opts.file ?? 'medic.config.json');
  const configText = opts.file?.endsWith('.yaml') ? 'services: []\n' : `${JSON.stringify(opts.config ?? { services: [{ slug: 'backup', interval: '1d' }] }, null, 2)}\n`;
  writeFileSync(file, configText, { mode: 0o640 });
  let crontab = Buffer.from(opts.crontab ?? '0 3 * * * /usr/local/bin/backup.sh\n*/5 * * * * /opt/poll\n');
  let reads = 0;
  const installed: string[] = [];
  const said: string[] = [];
  const deps: DiscoverDeps = {
    readCrontab: async (): Promise<CrontabBytes> => {
      reads++;
      if (opts.changeBetweenReads && reads > 1) crontab = Buffer.concat([crontab, Buffer.from('# edited\n')]);
      return { kind: 'bytes', bytes: crontab };
    },
    installCrontab: async (text) => {
      if (opts.install === 'fail') throw Object.assign(new Error('crontab - refused it'), {});
      installed.push(text);
    },
    readSystem: () => [],
    findConfig: async () => ({ file, raw: JSON.parse(readFileSync(file, 'utf8')) }),
    checkConfig: (raw, f) => void buildConfig(raw, f, { cwd: dir, env: {} }),
    zone: 'UTC',
    now: () => NOW,
    install: INSTALL,
    home: dir,
    isExecutable: noFiles,
    realpath: same,
    uid: process.geteuid!(),
    gid: process.getegid!(),
    confirm: opts.confirm === null ? null : async () => opts.confirm ?? true,
    say: (t) => said.push(t),
  };
  if (opts.file?.endsWith('.yaml')) deps.findConfig = async () => ({ file, raw: { services: [] } });
  return { dir, file, configText, deps, installed, said, backups: () => readdirSync(dir).filter((f) => f.startsWith('crontab.')) };
}

describe('discover --apply: all or nothing', () => {
  it('adds the services, installs the crontab, and keeps a mode 600 backup of the old one', async () => {
    const s = setup();
    const report = await discover({ system: false, apply: true, yes: false }, s.deps);
    expect(report.applied).toEqual({ crontab: true, config: true, backup: join(s.dir, 'crontab.20261130T120000Z.bak') });
    const config = JSON.parse(readFileSync(s.file, 'utf8'));
    expect(config.services.map((x: any) => x.slug)).toEqual(['backup', 'backup-2', 'poll']);
    expect(statSync(s.file).mode & 0o777).toBe(0o640);
    expect(s.installed).toHaveLength(1);
    expect(s.installed[0]).toContain(`run backup-2 -- /bin/sh -c '/usr/local/bin/backup.sh'`);
    expect(readFileSync(report.applied!.backup!, 'utf8')).toBe('0 3 * * * /usr/local/bin/backup.sh\n*/5 * * * * /opt/poll\n');
    expect(statSync(report.applied!.backup!).mode & 0o777).toBe(0o600);
    expect(s.said.join('\n')).toContain('- 0 3 * * * /usr/local/bin/backup.sh');
    expect(s.said.join('\n')).toContain('+       "slug": "poll",');
  });

  it('without a terminal and without --yes: 64, nothing changed', async () => {
    const s = setup({ confirm: null });
    await expect(discover({ system: false, apply: true, yes: false }, s.deps)).rejects.toMatchObject({ exitCode: 64, message: expect.stringContaining('no terminal to ask on'), hint: expect.stringContaining('--yes') });
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.installed).toEqual([]);
    expect(s.backups()).toEqual([]);
  });

  it('--yes needs no terminal', async () => {
    const s = setup({ confirm: null });
    expect((await discover({ system: false, apply: true, yes: true }, s.deps)).applied?.crontab).toBe(true);
  });

  it('a "no" changes nothing', async () => {
    const s = setup({ confirm: false });
    expect((await discover({ system: false, apply: true, yes: false }, s.deps)).applied).toEqual({ crontab: false, config: false, backup: null });
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.installed).toEqual([]);
  });

  it('a config that cannot be written: the crontab is not installed, no backup is left', async () => {
    const s = setup();
    const undo = makeReadOnly(s.file);
    try {
      await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({ exitCode: 78, message: expect.stringContaining('the crontab was not changed') });
    } finally {
      undo();
    }
    expect(s.installed).toEqual([]);
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.backups()).toEqual([]);
  });

  it('a config that is a link is not written through', async () => {
    const s = setup();
    const link = join(s.dir, 'link.json');
    symlinkSync(s.file, link);
    s.deps.findConfig = async () => ({ file: link, raw: JSON.parse(readFileSync(s.file, 'utf8')) });
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({ exitCode: 78, message: expect.stringContaining('symbolic link') });
    expect(s.installed).toEqual([]);
  });

  it('crontab - fails: the config is put back byte for byte', async () => {
    const s = setup({ install: 'fail' });
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toThrow('crontab - refused it');
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.backups()).toEqual([]);
  });

  it('a crontab edited while discover ran: 75, nothing changed', async () => {
    const s = setup({ changeBetweenReads: true });
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({ exitCode: 75 });
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.installed).toEqual([]);
  });

  it('a YAML config: says what to add and changes nothing', async () => {
    const s = setup({ file: 'medic.config.yaml' });
    const report = await discover({ system: false, apply: true, yes: true }, s.deps);
    expect(report.applied).toEqual({ crontab: false, config: false, backup: null });
    expect(s.said.join('\n')).toContain('edits JSON configs only');
    expect(s.said.join('\n')).toContain('"slug": "backup"');
    expect(s.installed).toEqual([]);
    expect(existsSync(join(s.dir, 'crontab.20261130T120000Z.bak'))).toBe(false);
  });

  it('an invalid config is reported (78) and nothing changes', async () => {
    const s = setup({ config: { services: [{ slug: 'x', interval: 'often' }] } });
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({ exitCode: 78, message: expect.stringContaining('services[0].interval') });
    expect(s.installed).toEqual([]);
  });
});

describe('discover: system crontabs and a missing config', () => {
  it('--system --apply: /etc lines are listed, never installed, and the note says so', async () => {
    const s = setup({ confirm: null });
    s.deps.readSystem = () => [
      { file: '/etc/crontab', text: '17 * * * * root cd / && run-parts --report /etc/cron.hourly\n' },
      { file: '/etc/cron.d/locked', text: null, error: 'EACCES' },
    ];
    const report = await discover({ system: true, apply: true, yes: true }, s.deps);
    expect(report.proposals.map((p) => [p.source, p.service.slug, p.applies, p.user])).toEqual([
      ['crontab', 'backup-2', true, undefined],
      ['crontab', 'poll', true, undefined],
      ['/etc/crontab', 'cron-hourly', false, 'root'],
    ]);
    expect(s.installed).toHaveLength(1);
    expect(s.installed[0]).not.toContain('run-parts');
    expect(JSON.parse(readFileSync(s.file, 'utf8')).services.map((x: any) => x.slug)).toEqual(['backup', 'backup-2', 'poll']);
    expect(report.notes.join('\n')).toContain('cannot read /etc/cron.d/locked (EACCES)');
    expect(report.notes.join('\n')).toContain('jobs from /etc files are listed only');
  });

  it('without a config: lists, with a note; --apply is refused with the config error (78)', async () => {
    const s = setup();
    const { ConfigError } = await import('../../src/errors.js');
    s.deps.findConfig = async () => {
      throw new ConfigError('no Medic config found; looked in /x');
    };
    const report = await discover({ system: false, apply: false, yes: false }, s.deps);
    expect(report.config).toBeNull();
    expect(report.proposals.map((p) => p.service.slug)).toEqual(['backup', 'poll']);
    expect(report.proposals[0]!.rewritten).not.toContain('--config');
    expect(report.notes[0]).toContain('no config read (no Medic config found; looked in /x)');
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({ exitCode: 78 });
    expect(s.installed).toEqual([]);
  });

  it('a crontab with nothing to wrap: --apply changes nothing and says so', async () => {
    const s = setup({ crontab: '@reboot /x\n* * * * * medic check\n' });
    const report = await discover({ system: false, apply: true, yes: true }, s.deps);
    expect(report.applied).toEqual({ crontab: false, config: false, backup: null });
    expect(report.notes).toContain("nothing to apply: no job of this user's crontab needs a service");
    expect(s.installed).toEqual([]);
    expect(s.backups()).toEqual([]);
  });
});

describe('discover --apply: the crontab byte for byte', () => {
  const LATIN1 = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from(' jobs\n@reboot /opt/caf'), Buffer.from([0xe9]), Buffer.from('/boot.sh\n0 3 * * * /opt/caf'), Buffer.from([0xe9]), Buffer.from('/backup.sh\n')]);

  it('a crontab that is not UTF-8: --apply refuses (65), naming the lines, and changes nothing', async () => {
    const s = setup({ crontab: LATIN1 });
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({
      exitCode: 65,
      message: 'crontab lines 1, 2, 3 are not UTF-8 text: medic discover --apply would change their bytes, so nothing was changed',
      hint: expect.stringContaining('iconv'),
    });
    expect(s.installed).toEqual([]);
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.backups()).toEqual([]);
  });

  it('a crontab that is not UTF-8: listed, with a note that --apply refuses it', async () => {
    const s = setup({ crontab: LATIN1 });
    const report = await discover({ system: false, apply: false, yes: false }, s.deps);
    expect(report.proposals.map((p) => p.line)).toEqual([3]);
    expect(report.notes).toContain('crontab lines 1, 2, 3 are not UTF-8 text (shown with �): --apply refuses this crontab until it is converted to UTF-8');
  });

  it('UTF-8 with a byte order mark: the backup and every line left alone keep their bytes', async () => {
    const text = '\ufeff# café ☕ jobs\n@reboot /opt/café/boot.sh\n0 3 * * * /opt/café/backup.sh\n# 日本 %\n';
    const s = setup({ crontab: text });
    const report = await discover({ system: false, apply: true, yes: true }, s.deps);
    expect(readFileSync(report.applied!.backup!)).toEqual(Buffer.from(text));
    const before = text.split('\n');
    const after = s.installed[0]!.split('\n');
    expect(before.flatMap((l, i) => (l === after[i] ? [] : [i + 1]))).toEqual([3]);
    expect(after[2]).toContain(`run backup-2 -- /bin/sh -c '/opt/café/backup.sh'`);
  });
});

describe("discover --apply: the backup's folder", () => {
  it.each([
    ['a sticky folder every user can write (like /tmp)', 0o1777, 0o700, 'it', 'every user on this machine can write it'],
    ['a folder every user can write', 0o777, 0o700, 'it', 'every user on this machine can write it'],
    ['a folder of its own, below one every user can write (not sticky)', 0o700, 0o777, 'above', 'every user on this machine can write it'],
  ])('%s: refused (78), nothing changed', async (_label, mode, parentMode, which, problem) => {
    const parent = tempDir('medic-discover-parent-');
    const dir = join(parent, 'conf');
    mkdirSync(dir);
    chmodSync(dir, mode);
    chmodSync(parent, parentMode);
    const file = join(dir, 'medic.config.json');
    const configText = `${JSON.stringify({ services: [] }, null, 2)}\n`;
    writeFileSync(file, configText);
    const s = setup();
    s.deps.findConfig = async () => ({ file, raw: JSON.parse(readFileSync(file, 'utf8')) });
    const unsafe = which === 'it' ? dir : parent;
    await expect(discover({ system: false, apply: true, yes: true }, s.deps)).rejects.toMatchObject({
      exitCode: 78,
      message: `refusing --apply: the backup of the crontab would go beside the config, in ${unsafe}, which is not safe (${problem}): another user could swap the backup before it is put back; nothing was changed`,
      hint: mode & 0o1000 ? expect.not.stringContaining('chmod') : expect.stringContaining(`chmod go-w ${unsafe}`),
    });
    expect(readFileSync(file, 'utf8')).toBe(configText);
    expect(readdirSync(dir)).toEqual(['medic.config.json']);
    expect(s.installed).toEqual([]);
  });

  it('a folder of its own below a sticky /tmp is fine', async () => {
    const s = setup();
    expect(statSync(join(s.dir, '..')).mode & 0o1002).toBe(0o1002);
    expect((await discover({ system: false, apply: true, yes: true }, s.deps)).applied?.crontab).toBe(true);
  });
});

describe('discover: what the config already has', () => {
  it('after the documented undo (the old crontab back, the services kept): the lines beat the services again, none is added', async () => {
    const config = {
      services: [
        { slug: 'backup', interval: '1d' },
        { slug: 'backup-2', schedule: '0 3 * * *', timezone: 'UTC', grace: '1h' },
        { slug: 'poll', schedule: '*/5 * * * *', timezone: 'UTC', grace: '1m' },
      ],
    };
    const s = setup({ config });
    const report = await discover({ system: false, apply: true, yes: true }, s.deps);
    expect(report.proposals.map((p) => [p.service.slug, p.existing])).toEqual([
      ['backup-2', true],
      ['poll', true],
    ]);
    expect(report.applied).toEqual({ crontab: true, config: false, backup: join(s.dir, 'crontab.20261130T120000Z.bak') });
    expect(readFileSync(s.file, 'utf8')).toBe(s.configText);
    expect(s.installed[0]).toContain(" run backup-2 -- /bin/sh -c '/usr/local/bin/backup.sh'");
    expect(s.installed[0]).toContain(" run poll -- /bin/sh -c '/opt/poll'");
    const said = s.said.join('\n');
    expect(said).toContain('  service backup-2 already in the config: the line is rewritten to beat it');
    expect(said).toContain('stays as it is: its services already match these lines.');
    expect(said).toContain('Installed the new crontab (its services were already in the config).');
  });

  it("notes medic init's example service when it is still there unchanged, not once it was edited", async () => {
    const starter = JSON.parse(starterConfig('')).services[0];
    const s = setup({ config: { services: [starter] } });
    const report = await discover({ system: false, apply: false, yes: false }, s.deps);
    expect(report.notes.join('\n')).toContain('the config still has the example service "nightly-backup" that medic init wrote');
    const edited = setup({ config: { services: [{ ...starter, interval: '12h' }] } });
    expect((await discover({ system: false, apply: false, yes: false }, edited.deps)).notes.join('\n')).not.toContain('nightly-backup');
  });

  it('the text names a CRON_TZ cron ignores', async () => {
    const s = setup({ crontab: 'CRON_TZ=America/New_York\n0 9 * * * /opt/report\n' });
    const text = discoverText(await discover({ system: false, apply: false, yes: false }, s.deps)).join('\n');
    expect(text).toContain('  service: report  schedule "0 9 * * *"  timezone UTC  grace 1h\n  note: the crontab sets CRON_TZ="America/New_York" above this line; Debian\'s cron ignores it');
  });
});

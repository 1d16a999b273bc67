import { describe, expect, it } from 'vitest';
import { checkerLines, commentedChecker, everyMinute, medicCalls, medicCommand, parseCrontab, resolveProgram, shellWord, tokenize, trimBlanks } from '../../src/crontab.js';

describe('parseCrontab: settings, jobs and commented jobs, as cron reads them', () => {
  const text = [
    '# m h dom mon dow command',
    'MAILTO=ops@example.com',
    '',
    '0 3 * * * /usr/local/bin/backup',
    'PATH = "/opt/medic/bin:/usr/bin:/bin"',
    '*  *  * * *   medic check',
    '# * * * * * medic check --dry-run',
    '@daily   /usr/local/bin/rotate',
  ].join('\n');
  const parsed = parseCrontab(text);

  it('finds the settings in order, quotes and spaces around "=" removed', () => {
    expect(parsed.settings).toEqual([
      { lineNo: 2, name: 'MAILTO', value: 'ops@example.com' },
      { lineNo: 5, name: 'PATH', value: '/opt/medic/bin:/usr/bin:/bin' },
    ]);
  });

  it.each([
    [0, { lineNo: 4, schedule: '0 3 * * *', command: '/usr/local/bin/backup', env: { MAILTO: 'ops@example.com' } }],
    [1, { lineNo: 6, schedule: '* * * * *', command: 'medic check', env: { MAILTO: 'ops@example.com', PATH: '/opt/medic/bin:/usr/bin:/bin' } }],
    [2, { lineNo: 8, schedule: '@daily', command: '/usr/local/bin/rotate', env: { MAILTO: 'ops@example.com', PATH: '/opt/medic/bin:/usr/bin:/bin' } }],
  ])('job %i: a setting applies to the lines after it only', (i, job) => {
    expect(parsed.jobs[i]).toEqual(job);
  });

  it('keeps a commented-out job apart, and not the header comment', () => {
    expect(parsed.commented.map((j) => [j.lineNo, j.command])).toEqual([[7, 'medic check --dry-run']]);
    expect(commentedChecker(parsed)?.lineNo).toBe(7);
  });
});

describe('blanks are spaces and tabs only, as cron and sh read them (JS trim and \\s take NBSP, U+FEFF, U+3000, \\f, \\v)', () => {
  it.each([
    ['a trailing NBSP stays in the command', '0 3 * * * rm -rf /tmp/x/cache\u00a0', '0 3 * * *', 'rm -rf /tmp/x/cache\u00a0'],
    ['a trailing U+FEFF stays', '0 3 * * * /opt/job\ufeff', '0 3 * * *', '/opt/job\ufeff'],
    ['a trailing U+3000 stays', '0 3 * * * /opt/job\u3000', '0 3 * * *', '/opt/job\u3000'],
    ['a trailing \\f and \\v stay', '0 3 * * * /opt/job\f\v', '0 3 * * *', '/opt/job\f\v'],
    ['trailing spaces and tabs go', '\t 0 3 * * * /opt/job \t ', '0 3 * * *', '/opt/job'],
    ['tabs between the fields', '0\t3\t*\t*\t*\t/opt/job', '0 3 * * *', '/opt/job'],
    ['a \\r stays (cron hands it to the shell)', '0 3 * * * /opt/job\r', '0 3 * * *', '/opt/job\r'],
  ])('%s', (_label, line, schedule, command) => {
    const [job] = parseCrontab(`${line}\n`).jobs;
    expect(job).toMatchObject({ schedule, command });
  });

  it.each([
    ['an NBSP between the fields: not a field separator, not a job', '0\u00a03 * * * * /opt/job'],
    ['a leading U+3000: not a blank to cron', '\u30000 3 * * * /opt/job'],
  ])('%s', (_label, line) => {
    const parsed = parseCrontab(`${line}\n`);
    expect(parsed.jobs.map((j) => j.schedule)).not.toContain('0 3 * * *');
  });

  it('a system line: the user field ends at a space or tab only', () => {
    expect(parseCrontab('0 3 * * * root /opt/job\u00a0\n', { system: true }).jobs[0]).toMatchObject({ user: 'root', command: '/opt/job\u00a0' });
  });

  it.each([
    ['NBSP is part of a word', 'rm -rf /x/cache\u00a0', ['rm', '-rf', '/x/cache\u00a0']],
    ['\\v and \\f are part of a word', 'a\vb c\f', ['a\vb', 'c\f']],
    ['tabs and spaces split', 'a\tb  c', ['a', 'b', 'c']],
  ])('tokenize: %s', (_label, command, words) => {
    expect(tokenize(command).map((t) => ('word' in t ? t.word : t.op))).toEqual(words);
  });

  it.each([
    [' \t x \t ', 'x'],
    ['\u00a0x\u3000', '\u00a0x\u3000'],
  ])('trimBlanks(%j) = %j', (text, trimmed) => {
    expect(trimBlanks(text)).toBe(trimmed);
  });
});

describe('everyMinute: only a schedule that runs every minute runs the checker', () => {
  it.each([
    ['* * * * *', true, ''],
    ['*/1 * * * *', true, ''],
    ['0-59 * * * *', true, ''],
    ['*/5 * * * *', false, 'is not every minute'],
    ['* 9-17 * * *', false, 'is not every minute'],
    ['* * * * 1-5', false, 'is not every minute'],
    ['@hourly', false, 'is not every minute'],
    ['0 0 31 2 *', false, 'never runs (that day never comes in those months)'],
    ['@reboot', false, 'never runs'],
  ])('"%s" → %s', (schedule, ok, why) => {
    const r = everyMinute(schedule);
    expect(r.ok).toBe(ok);
    if (!r.ok) expect(r.why).toContain(why);
  });
});

describe('medicCalls: the calls of medic in a command line', () => {
  it.each([
    ['a plain check', 'medic check', [{ program: 'medic', command: 'check', config: null, dryRun: false, prefix: {}, runner: null }]],
    ['absolute path, --config, -v', '/opt/medic/bin/medic --config /etc/medic/m.json check -v', [{ program: '/opt/medic/bin/medic', command: 'check', config: '/etc/medic/m.json' }]],
    ['-c after the command', 'medic check -c m.json', [{ command: 'check', config: 'm.json' }]],
    ['--config=', 'medic --config="/srv/my medic.json" check', [{ command: 'check', config: '/srv/my medic.json' }]],
    ['--dry-run', 'medic check --dry-run', [{ command: 'check', dryRun: true }]],
    ['NAME=value prefixes', 'PATH=/opt/node/bin:/usr/bin:/bin PAGERDUTY_ROUTING_KEY=x medic check', [{ prefix: { PATH: '/opt/node/bin:/usr/bin:/bin', PAGERDUTY_ROUTING_KEY: 'x' } }]],
    ['through node', 'PATH=/x /opt/node/bin/node /opt/medic/bin/medic check', [{ runner: '/opt/node/bin/node', prefix: { PATH: '/x' }, command: 'check' }]],
    ['inside sh -c', "sh -c 'medic --config m.json check'", [{ command: 'check', config: 'm.json' }]],
    ['two calls joined by &&', 'medic beat checkout && medic beat health-check', [{ command: 'beat' }, { command: 'beat' }]],
    ['a redirect ends the arguments', 'medic check >/dev/null 2>&1', [{ command: 'check', dryRun: false }]],
    ['after cd', 'cd /srv && ./bin/medic check;', [{ program: './bin/medic', command: 'check' }]],
    ['a word that only contains medic', '/usr/local/bin/medic-report check', []],
    ['--since takes a value, not the command', 'medic --since 7d history backup', [{ command: 'history' }]],
  ])('%s: %s', (_label, command, expected) => {
    const calls = medicCalls(command);
    expect(calls).toHaveLength(expected.length);
    expected.forEach((e, i) => expect(calls[i]).toMatchObject(e));
  });
});

describe('resolveProgram: where cron finds a program', () => {
  const exists = (path: string) => ['/usr/bin/node', '/opt/medic/bin/medic', '/home/ops/bin/medic'].includes(path);
  it.each([
    ['an absolute path that is there', '/opt/medic/bin/medic', '/usr/bin:/bin', '/opt/medic/bin/medic'],
    ['an absolute path that is not', '/usr/local/bin/medic', '/usr/bin:/bin', null],
    ['a bare name on the default PATH', 'node', '/usr/bin:/bin', '/usr/bin/node'],
    ['a bare name not on the default PATH', 'medic', '/usr/bin:/bin', null],
    ['a bare name on a PATH that has it', 'medic', '/opt/medic/bin:/usr/bin', '/opt/medic/bin/medic'],
    ['a relative path, from $HOME (where cron starts)', 'bin/medic', '/usr/bin', '/home/ops/bin/medic'],
    ['relative PATH entries are ignored', 'medic', 'bin:/usr/bin', null],
  ])('%s', (_label, program, path, expected) => {
    expect(resolveProgram(program, path, '/home/ops', exists)).toBe(expected);
  });
});

describe('checkerLines: the lines that call medic check, and what is wrong with each', () => {
  const exists = (path: string) => ['/usr/bin/node', '/opt/medic/bin/medic'].includes(path);
  it.each([
    ['fine', '* * * * * /opt/medic/bin/medic check', []],
    ['dry run', '* * * * * /opt/medic/bin/medic check --dry-run', ['it runs `medic check --dry-run`, which records and sends nothing']],
    ['every 5 minutes and a bare medic', '*/5 * * * * medic check', ['its schedule "*/5 * * * *" is not every minute', 'cron cannot find a bare `medic` on its PATH (/usr/bin:/bin)']],
    ['node not on the PATH given', '* * * * * PATH=/opt/medic/bin medic check', ['cron cannot find node, which medic needs, on its PATH (/opt/medic/bin)']],
  ])('%s', (_label, line, problems) => {
    const lines = checkerLines(parseCrontab(line), '/home/ops', exists);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.problems).toEqual(problems);
  });

  it('ignores lines that call other medic commands', () => {
    expect(checkerLines(parseCrontab('* * * * * /opt/medic/bin/medic beat check-disk'), '/home/ops', exists)).toEqual([]);
  });
});

describe('medicCommand: how Medic prints a command line that cron can run', () => {
  it.each([
    ['node in /usr/bin', '/usr/bin/node', ['--config', '/srv/m.json', 'check'], '/opt/medic/bin/medic --config /srv/m.json check'],
    ['node in /bin', '/bin/node', ['check'], '/opt/medic/bin/medic check'],
    ['node elsewhere', '/opt/node/bin/node', ['check'], 'PATH=/opt/node/bin:/usr/bin:/bin /opt/medic/bin/medic check'],
    ['a path with a space', '/usr/bin/node', ['--config', '/srv/my medic.json', 'check'], "/opt/medic/bin/medic --config '/srv/my medic.json' check"],
  ])('%s', (_label, nodePath, args, expected) => {
    expect(medicCommand({ binPath: '/opt/medic/bin/medic', nodePath }, args)).toBe(expected);
  });

  it.each([
    ['plain', '/a/b-c_d.json', '/a/b-c_d.json'],
    ['a space', 'a b', "'a b'"],
    ["a quote", "it's", `'it'\\''s'`],
    ['a dollar', '$HOME/x', "'$HOME/x'"],
  ])('shellWord: %s', (_label, word, expected) => {
    expect(shellWord(word)).toBe(expected);
  });
});

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Argument, Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { completeArgs, completeNames, completionScript, describeCli, namesIn, SHELLS, type CliSpec, type NameKind } from '../../src/commands/completion.js';
import { findConfig } from '../../src/config-file.js';

/** Runs the CLI in-process and returns what it printed. */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => ((stdout += s), true) }, stderr: { write: (s: string) => ((stderr += s), true) }, cwd: tmpdir() };
  const code = await main(argv, { PATH: process.env.PATH }, io as never);
  return { code, stdout, stderr };
}

describe('describeCli reads commander’s own definitions', () => {
  const program = new Command('medic').option('-c, --config <path>', 'config file');
  program.command('beat').argument('<slug>', 'a slug').option('--fail', 'failed').option('-m, --message <text>', 'a message');
  program.command('pause').argument('[slug...]', 'slugs').option('--team <team>', 'a team').option('--for <duration>', 'how long');
  program.command('test-alert').option('--target <name>', 'a target');
  program.command('replay').option('--with <config>', 'another config');
  program.command('init-ish').option('--dir <folder>', 'where');
  program.command('completion').addArgument(new Argument('<shell>').choices(['bash', 'zsh', 'fish']));
  program.command('secret', { hidden: true });
  const cli = describeCli(program);
  const command = (name: string) => cli.commands.find((c) => c.name === name)!;
  const option = (cmd: string, name: string) => command(cmd).options.find((o) => o.names.includes(name))?.value;

  it('lists the visible commands, not the hidden ones', () => {
    expect(cli.commands.map((c) => c.name)).toEqual(['beat', 'pause', 'test-alert', 'replay', 'init-ish', 'completion', 'help']);
  });

  it('gives the program’s own options with short and long names', () => {
    expect(cli.options.find((o) => o.names.includes('--config'))).toEqual({ names: ['-c', '--config'], value: 'file', description: 'config file' });
  });

  it.each([
    ['beat', '--fail', 'flag'],
    ['beat', '-m', 'value'],
    ['pause', '--team', 'team'],
    ['pause', '--for', 'value'],
    ['test-alert', '--target', 'target'],
    ['replay', '--with', 'file'],
    ['init-ish', '--dir', 'dir'],
    ['beat', '--help', 'flag'],
  ])('%s %s takes a %s', (cmd, name, kind) => {
    expect(option(cmd, name)).toBe(kind);
  });

  it.each([
    ['beat', [{ kind: 'slug', variadic: false, choices: [] }]],
    ['pause', [{ kind: 'slug', variadic: true, choices: [] }]],
    ['completion', [{ kind: 'choice', variadic: false, choices: ['bash', 'zsh', 'fish'] }]],
    ['help', [{ kind: 'command', variadic: false, choices: [] }]],
  ])('%s takes %j', (cmd, args) => {
    expect(command(cmd).args).toEqual(args);
  });
});

describe('the scripts', () => {
  /** Descriptions with every character a shell could take for syntax. */
  const hostile = `it's "quoted" $(touch x) \`y\` [a]:b \\ {c}; d | e & f`;
  const cli: CliSpec = {
    options: [{ names: ['-c', '--config'], value: 'file', description: hostile }],
    commands: [
      { name: 'beat', description: hostile, options: [{ names: ['--fail'], value: 'flag', description: hostile }], args: [{ kind: 'slug', variadic: false, choices: [] }] },
      { name: 'pause', description: 'mute', options: [{ names: ['--team'], value: 'team', description: hostile }], args: [{ kind: 'slug', variadic: true, choices: [] }] },
    ],
  };

  it('bash registers with complete -F and needs nothing from the bash-completion package, nor eval', () => {
    const script = completionScript('bash', cli);
    expect(script).toContain('complete -F _medic medic');
    for (const word of ['_init_completion', '_get_comp_words_by_ref', '_comp_', 'eval ', 'compgen -W']) expect(script).not.toContain(word);
  });

  it('zsh is a #compdef file that also registers itself when sourced', () => {
    const script = completionScript('zsh', cli);
    expect(script.startsWith('#compdef medic\n')).toBe(true);
    expect(script).toContain('compdef _medic medic');
    expect(script).not.toContain('eval ');
  });

  it('fish completes medic with complete -c', () => {
    const script = completionScript('fish', cli);
    expect(script).toContain("complete -c medic -n 'not __medic_command' -a 'beat'");
    expect(script).toContain("complete -c medic -n '__medic_using pause' -l team -x -a '(__medic_names teams)'");
    expect(script).not.toContain('eval ');
  });

  it.each([
    ['bash', ['bash', '-n']],
    ['zsh', ['zsh', '-n']],
    ['fish', ['fish', '--no-config', '--no-execute']],
  ] as const)('%s parses its script whatever the descriptions hold', (shell, [cmd, ...args]) => {
    const dir = mkdtempSync(join(tmpdir(), 'medic-completion-'));
    try {
      const file = join(dir, 'script');
      writeFileSync(file, completionScript(shell, cli));
      const res = spawnSync(cmd, [...args, file], { cwd: dir, encoding: 'utf8' });
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      expect(existsSync(join(dir, 'x'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('medic completion <shell> prints the script for every shell, with every command of --help', async () => {
    const help = await run(['--help']);
    const commands = [...help.stdout.slice(help.stdout.indexOf('Commands:')).matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]!);
    expect(commands).toContain('completion');
    for (const shell of SHELLS) {
      const res = await run(['completion', shell]);
      expect(res).toMatchObject({ code: 0, stderr: '' });
      for (const name of commands) expect(res.stdout).toContain(`'${name}'`);
    }
  });

  it('medic completion with an unknown shell is a usage error naming the shells', async () => {
    const res = await run(['completion', 'tcsh']);
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('bash, zsh, fish');
    expect(res.stdout).toBe('');
  });
});

describe('namesIn', () => {
  const config = {
    targets: { oncall: {}, 'team.slack': {}, 'bad name': {}, '$(touch x)': {} },
    teams: { payments: {}, '`id`': {} },
    services: [
      { slug: 'nightly-backup', team: 'platform' },
      { slug: 'db-dump', team: 'payments' },
      { slug: 'Upper', team: "o'neil" },
      { slug: '$(reboot)' },
      { slug: 42 },
      'not a service',
      { slug: 'nightly-backup' },
      { slug: 'esc\u001b[31m' },
    ],
  };
  it.each<[NameKind, unknown, string[]]>([
    ['slugs', config, ['nightly-backup', 'db-dump']],
    ['teams', config, ['payments', 'platform']],
    ['targets', config, ['oncall', 'team.slack']],
    ['targets', { services: [] }, ['pagerduty']],
    ['targets', { targets: [] }, []],
    ['slugs', null, []],
    ['slugs', { services: 'x' }, []],
    ['teams', { teams: ['a'], services: [{ slug: 'a' }] }, []],
  ])('%s of %j: %j', (kind, raw, names) => {
    expect(namesIn(raw, kind)).toEqual(names);
  });
});

describe('completeArgs', () => {
  it.each([
    [['slugs'], { kind: 'slugs' }],
    [['teams', '--config=/a b/c.json'], { kind: 'teams', config: '/a b/c.json' }],
    [['targets', '--config='], { kind: 'targets', config: '' }],
    [['services'], null],
    [[], null],
    [['slugs', '-c', 'x'], null],
    [['slugs', '--config=a', 'extra'], null],
  ])('%j -> %j', (argv, expected) => {
    expect(completeArgs(argv)).toEqual(expected);
  });
});

describe('completeNames reads the config file alone and says nothing on any error', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const deps = (env: NodeJS.ProcessEnv = {}) => ({ load: { cwd: dir, env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg'), ...env }, uid: process.geteuid!(), gid: process.getegid!() }, findConfig });

  it.each([
    ['medic.config.json', '{"services":[{"slug":"a"},{"slug":"b"}]}', 'a\nb\n'],
    ['medic.config.yaml', 'services:\n  - slug: from-yaml\n', 'from-yaml\n'],
    ['medic.config.json', '{"services":[{"slug":"a"},', ''],
    ['medic.config.yaml', 'services: [\n', ''],
    ['other.json', '{"services":[{"slug":"a"}]}', ''],
  ])('found by the search: %s holding %j gives %j', async (name, text, out) => {
    dir = mkdtempSync(join(tmpdir(), 'medic-completion-'));
    writeFileSync(join(dir, name), text);
    expect(await completeNames(['slugs'], deps())).toBe(out);
  });

  it('honours --config, then MEDIC_CONFIG', async () => {
    dir = mkdtempSync(join(tmpdir(), 'medic-completion-'));
    writeFileSync(join(dir, 'one.json'), '{"services":[{"slug":"one"}]}');
    writeFileSync(join(dir, 'two.json'), '{"services":[{"slug":"two"}]}');
    expect(await completeNames(['slugs', '--config=one.json'], deps({ MEDIC_CONFIG: 'two.json' }))).toBe('one\n');
    expect(await completeNames(['slugs'], deps({ MEDIC_CONFIG: 'two.json' }))).toBe('two\n');
    expect(await completeNames(['slugs', '--config=missing.json'], deps())).toBe('');
  });

  it('does not run an explicit JavaScript config to complete a word', async () => {
    dir = mkdtempSync(join(tmpdir(), 'medic-completion-'));
    const marker = join(dir, 'ran');
    writeFileSync(join(dir, 'medic.config.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, '');\nexport default { services: [{ slug: 'js' }] };\n`);
    expect(await completeNames(['slugs', '--config=medic.config.mjs'], deps())).toBe('');
    expect(existsSync(marker)).toBe(false);
  });

  it('gives nothing for a config another user could have written', async () => {
    dir = mkdtempSync(join(tmpdir(), 'medic-completion-'));
    const file = join(dir, 'medic.config.json');
    writeFileSync(file, '{"services":[{"slug":"a"}]}');
    expect(await completeNames(['slugs', `--config=${file}`], deps())).toBe('a\n');
    chmodSync(file, 0o666);
    expect(await completeNames(['slugs', `--config=${file}`], deps())).toBe('');
  });
});

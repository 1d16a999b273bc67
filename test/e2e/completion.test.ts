/**
 * `medic completion bash|zsh|fish` in the real shells, with the real `bin/medic` answering the
 * scripts' `medic __complete` calls: bash by calling the completion function as readline would,
 * zsh through its completion system on a pseudo-terminal (zpty), fish with `complete -C`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempProject, type Project } from '../helpers/cli.js';

const exec = promisify(execFile);

const CONFIG = {
  targets: { oncall: { type: 'pagerduty' }, chat: { type: 'pagerduty' } },
  teams: { payments: {} },
  services: [
    { slug: 'nightly-backup', team: 'platform' },
    { slug: 'db-dump', team: 'data' },
  ],
};
const SLUGS = ['nightly-backup', 'db-dump'];
const TEAMS = ['payments', 'platform', 'data'];
/** A folder name that runs commands if any script evaluates it. */
const HOSTILE_DIR = `we ird'"$(touch pwned1)\`touch pwned2\`;touch pwned3`;

let project: Project;
/** Where `medic` is on the PATH of every shell. */
let env: Record<string, string>;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  project = tempProject(CONFIG);
  const bin = join(project.dir, 'bin');
  mkdirSync(bin);
  symlinkSync(BIN, join(bin, 'medic'));
  env = { PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: project.home, XDG_CONFIG_HOME: join(project.home, '.config'), TZ: 'UTC' };
  writeFileSync(join(project.dir, 'other.json'), JSON.stringify({ services: [{ slug: 'other-job', team: 'other-team' }] }));
  writeFileSync(join(project.dir, 'broken.json'), '{"services": [{"slug": "half"}');
  writeFileSync(join(project.dir, 'hostile-names.json'), JSON.stringify({ teams: { '$(touch pwned4)': {}, 'ok-team': {} }, services: [{ slug: 'a', team: '`touch pwned5`' }] }));
  mkdirSync(join(project.dir, HOSTILE_DIR));
  writeFileSync(join(project.dir, HOSTILE_DIR, 'medic.config.json'), JSON.stringify({ services: [{ slug: 'odd-place', team: 'odd-team' }] }));
  for (const shell of ['bash', 'zsh', 'fish']) {
    const res = await project.run(['completion', shell], { env: { MEDIC_CONFIG: undefined } });
    expect(res).toMatchObject({ code: 0, stderr: '' });
    scripts[shell] = join(project.dir, shell === 'zsh' ? '_medic' : `medic.${shell}`);
    writeFileSync(scripts[shell]!, res.stdout);
  }
}, 60_000);

afterAll(() => project?.remove());

/** No command ran from a name, a path or a line: no pwned file anywhere in the project. */
function nothingRan(): void {
  const found = [project.dir, join(project.dir, HOSTILE_DIR), project.home].flatMap((d) => readdirSync(d).filter((f) => f.startsWith('pwned')));
  expect(found).toEqual([]);
}

/** A path as a user types it in single quotes (bash, zsh). */
const singleQuoted = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
/** A path as a user types it with backslashes (bash, zsh). */
const backslashed = (text: string) => text.replace(/[^A-Za-z0-9_./-]/g, (c) => `\\${c}`);

describe('printing the scripts', () => {
  it('works without any config', async () => {
    const p = tempProject();
    try {
      for (const shell of ['bash', 'zsh', 'fish']) {
        const res = await p.run(['completion', shell]);
        expect(res.code).toBe(0);
        expect(res.stderr).toBe('');
        expect(res.stdout).toContain('medic');
      }
    } finally {
      p.remove();
    }
  });

  it('refuses an unknown shell with 64 and the list', async () => {
    const res = await project.run(['completion', 'tcsh']);
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('bash, zsh, fish');
    expect(res.stdout).toBe('');
  });

  it('medic __complete prints the names, and nothing at all for a broken or missing config', async () => {
    expect(await project.run(['__complete', 'slugs'])).toEqual({ code: 0, stdout: 'nightly-backup\ndb-dump\n', stderr: '' });
    expect(await project.run(['__complete', 'teams'])).toEqual({ code: 0, stdout: 'payments\nplatform\ndata\n', stderr: '' });
    expect(await project.run(['__complete', 'targets'])).toEqual({ code: 0, stdout: 'oncall\nchat\n', stderr: '' });
    expect(await project.run(['__complete', 'slugs', '--config=broken.json'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['__complete', 'slugs', '--config=missing.json'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['__complete', 'nonsense'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

/**
 * Completes `line` (the text before the cursor) in `bash --norc --noprofile`, without the
 * bash-completion package: COMP_* set as readline sets them, the function called as `complete -F`
 * calls it. Returns COMPREPLY and what the shell wrote on stderr.
 */
async function bashComplete(line: string, extraEnv: Record<string, string> = {}): Promise<{ reply: string[]; stderr: string }> {
  const driver = `
source "$1"
line=$2
COMP_LINE=$line
COMP_POINT=\${#line}
read -ra COMP_WORDS <<<"$line"
if [[ $line == *' ' ]]; then COMP_WORDS+=(''); fi
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_medic medic "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout, stderr } = await exec('bash', ['--norc', '--noprofile', '-c', driver, 'bash', scripts.bash!, line], { cwd: project.dir, env: { ...env, ...extraEnv } });
  return { reply: stdout.split('\n').filter((l) => l !== ''), stderr };
}

/**
 * Completes `line` in a real interactive `bash --norc --noprofile -i` on a pseudo-terminal (driven
 * by zsh's zpty): readline splits the line and sets COMP_* itself. Returns what _medic put in
 * COMPREPLY.
 */
async function bashReadline(line: string): Promise<string[]> {
  const out = join(project.dir, `bash-out-${Math.random().toString(36).slice(2)}`);
  const setup = join(project.dir, `bash-setup-${Math.random().toString(36).slice(2)}.bash`);
  writeFileSync(
    setup,
    `PS1='> '
source "$MEDIC_SCRIPT"
_medic_recorded() { _medic "$@"; { printf '%s\\n' "\${COMPREPLY[@]}"; printf -- '--end--\\n'; } >> "$MEDIC_BASH_OUT"; }
complete -F _medic_recorded medic
`,
  );
  const driver = `
zmodload zsh/zpty
zpty b bash --norc --noprofile -i
zpty -w b "source \${(q)1}"
zpty -w -n b "$2"$'\\t'
for i in {1..300}; do
  [[ -f $MEDIC_BASH_OUT ]] && grep -q -- '--end--' $MEDIC_BASH_OUT && break
  sleep 0.1
done
zpty -d b
cat $MEDIC_BASH_OUT`;
  const { stdout } = await exec('zsh', ['-f', '-c', driver, 'zsh', setup, line], { cwd: project.dir, env: { ...env, MEDIC_BASH_OUT: out, MEDIC_SCRIPT: scripts.bash! } });
  const lines = stdout.split('\n').filter((l) => l !== '');
  expect(lines.at(-1)).toBe('--end--');
  return lines.slice(0, -1);
}

describe('bash, through readline itself', () => {
  it.each([
    ['medic be', ['beat']],
    ['medic beat n', ['nightly-backup']],
    ['medic status --', ['--config', '--json', '--watch', '--interval', '--help']],
    ['medic pause --team=p', ['payments', 'platform']],
    ['cd . && medic pause --team ', TEAMS],
    ['medic -c other.json beat ', ['other-job']],
    [`medic -c ${singleQuoted(join(HOSTILE_DIR, 'medic.config.json'))} pause --team `, ['odd-team']],
    [`medic -c "${join(HOSTILE_DIR, 'medic.config.json').replace(/["$`\\]/g, (c) => `\\${c}`)}" beat `, ['odd-place']],
  ])('%j completes to %j', { timeout: 60_000 }, async (line, expected) => {
    expect(await bashReadline(line)).toEqual(expected);
    nothingRan();
  });
});

describe('bash', () => {
  it('registers _medic with complete -F', async () => {
    const { stdout } = await exec('bash', ['--norc', '--noprofile', '-c', 'source "$1"; complete -p medic', 'bash', scripts.bash!], { cwd: project.dir, env });
    expect(stdout.trim()).toBe('complete -F _medic medic');
  });

  it('completes the command names', async () => {
    const { reply, stderr } = await bashComplete('medic ');
    expect(reply).toEqual(expect.arrayContaining(['init', 'beat', 'run', 'check', 'status', 'pause', 'resume', 'history', 'replay', 'completion']));
    expect(reply).not.toContain('__complete');
    expect(stderr).toBe('');
  });

  it.each([
    ['medic be', ['beat']],
    ['medic status --', ['--config', '--json', '--watch', '--interval', '--help']],
    ['medic status -', ['-c', '--config', '--json', '--watch', '--interval', '-h', '--help']],
    ['medic -', ['-V', '--version', '-c', '--config', '-h', '--help']],
    ['medic beat ', SLUGS],
    ['medic beat n', ['nightly-backup']],
    ['medic beat nightly-backup ', []],
    ['medic status db-dump ', SLUGS],
    ['medic history ', SLUGS],
    ['medic run ', SLUGS],
    ['medic pause --team ', TEAMS],
    ['medic pause --team p', ['payments', 'platform']],
    ['medic pause --team=p', ['payments', 'platform']],
    ['medic resume --all --team d', ['data']],
    ['medic test-alert --target ', ['oncall', 'chat']],
    ['medic completion ', ['bash', 'zsh', 'fish']],
    ['medic history --since ', []],
    ['medic help st', ['status']],
    ['medic -c other.json beat ', ['other-job']],
    ['medic beat -c other.json ', ['other-job']],
    ['medic --config=other.json pause --team ', ['other-team']],
    ['medic pause --config other.json --team ', ['other-team']],
    ["medic -c 'other.json' beat ", ['other-job']],
    ['medic -c missing.json beat ', []],
    ['medic -c broken.json beat ', []],
  ])('%j completes to %j', async (line, expected) => {
    const { reply, stderr } = await bashComplete(line);
    expect(reply).toEqual(expected);
    expect(stderr).toBe('');
  });

  it.each([
    ['single-quoted', singleQuoted(join(HOSTILE_DIR, 'medic.config.json'))],
    ['backslashed', backslashed(join(HOSTILE_DIR, 'medic.config.json'))],
    ['double-quoted', `"${join(HOSTILE_DIR, 'medic.config.json').replace(/["$`\\]/g, (c) => `\\${c}`)}"`],
  ])('a config path with spaces, quotes and $() (%s) is read, never run', async (_how, typed) => {
    expect((await bashComplete(`medic -c ${typed} pause --team `)).reply).toEqual(['odd-team']);
    expect((await bashComplete(`medic -c ${typed} beat `)).reply).toEqual(['odd-place']);
    nothingRan();
  });

  it('honours an exported MEDIC_CONFIG, and -c over it', async () => {
    expect((await bashComplete('medic status ', { MEDIC_CONFIG: 'other.json' })).reply).toEqual(['other-job']);
    expect((await bashComplete('medic -c medic.config.json status ', { MEDIC_CONFIG: 'other.json' })).reply).toEqual(SLUGS);
  });

  it('team names that are shell code are neither offered nor run', async () => {
    const { reply, stderr } = await bashComplete('medic -c hostile-names.json pause --team ');
    expect(reply).toEqual(['ok-team']);
    expect(stderr).toBe('');
    nothingRan();
  });

  it('a word with shell code in it is matched literally, not run', async () => {
    const { reply } = await bashComplete('medic beat $(touch pwned6)');
    expect(reply).toEqual([]);
    expect(existsSync(join(project.dir, 'pwned6'))).toBe(false);
  });
});

/**
 * Completes `line` in `zsh -f -i` on a pseudo-terminal (zpty) with compinit: types the line and a
 * Tab, and collects what the completion system offered (every compadd call that adds matches).
 * `fpath`: install the script as `_medic` in a folder of $fpath (the documented way) instead of
 * sourcing it.
 */
async function zshComplete(line: string, how: 'source' | 'fpath' = 'source'): Promise<string[]> {
  const out = join(project.dir, `zsh-out-${Math.random().toString(36).slice(2)}`);
  const setup = join(project.dir, `zsh-setup-${Math.random().toString(36).slice(2)}.zsh`);
  writeFileSync(
    setup,
    `PS1='' RPROMPT=''
${how === 'fpath' ? 'fpath=("$MEDIC_SCRIPT_DIR" $fpath)' : ''}
autoload -U compinit && compinit -u -D
${how === 'source' ? 'source "$MEDIC_SCRIPT"' : ''}
compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return; fi
  local -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) && print -rl -- $__hits >> "$MEDIC_ZSH_OUT"
  builtin compadd "$@"
}
_medic_test_done() { print -r -- '--end--' >> "$MEDIC_ZSH_OUT" }
comppostfuncs=(_medic_test_done)
zstyle ':completion:*' insert-tab false
bindkey '^I' complete-word
`,
  );
  const driver = `
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "source \${(q)1}"
zpty -w -n z "$2"$'\\t'
for i in {1..300}; do
  [[ -f $MEDIC_ZSH_OUT ]] && grep -q -- '--end--' $MEDIC_ZSH_OUT && break
  sleep 0.1
done
zpty -d z
cat $MEDIC_ZSH_OUT`;
  const { stdout } = await exec('zsh', ['-f', '-c', driver, 'zsh', setup, line], {
    cwd: project.dir,
    env: { ...env, MEDIC_ZSH_OUT: out, MEDIC_SCRIPT: scripts.zsh!, MEDIC_SCRIPT_DIR: project.dir },
  });
  const lines = stdout.split('\n').filter((l) => l !== '');
  expect(lines.at(-1)).toBe('--end--');
  return lines.slice(0, -1);
}

describe('zsh', () => {
  it('parses the script (zsh -n) and loads it in zsh -f with compinit', async () => {
    await exec('zsh', ['-n', scripts.zsh!], { cwd: project.dir, env });
    const { stdout, stderr } = await exec('zsh', ['-f', '-c', 'autoload -U compinit && compinit -u -D && source "$1" && print -r -- $_comps[medic]', 'zsh', scripts.zsh!], { cwd: project.dir, env });
    expect(stderr).toBe('');
    expect(stdout.trim()).toBe('_medic');
  });

  it.each([
    ['medic be', ['beat']],
    ['medic completion ', ['bash', 'zsh', 'fish']],
    ['medic beat ', SLUGS],
    ['medic status db-dump n', ['nightly-backup']],
    ['medic pause --team ', TEAMS],
    ['medic test-alert --target ', ['oncall', 'chat']],
    ['medic -c other.json beat ', ['other-job']],
    ['medic beat --config=other.json ', ['other-job']],
    ['medic beat --config other.json ', ['other-job']],
    ['medic --config=other.json pause --team ', ['other-team']],
    ['MEDIC_CONFIG=other.json medic status ', ['other-job']],
    ['medic -c broken.json beat ', []],
  ])('%j completes to %j', { timeout: 60_000 }, async (line, expected) => {
    expect((await zshComplete(line)).sort()).toEqual([...expected].sort());
  });

  it('completes the options of status', { timeout: 60_000 }, async () => {
    expect(await zshComplete('medic status --')).toEqual(expect.arrayContaining(['--config', '--json', '--help']));
  });

  it('works installed as _medic in a folder of $fpath', { timeout: 60_000 }, async () => {
    expect(await zshComplete('medic be', 'fpath')).toEqual(['beat']);
    expect((await zshComplete('medic beat ', 'fpath')).sort()).toEqual([...SLUGS].sort());
  });

  it('a config path with spaces, quotes and $() is read, never run; shell-code team names are not offered', { timeout: 60_000 }, async () => {
    expect(await zshComplete(`medic -c ${singleQuoted(join(HOSTILE_DIR, 'medic.config.json'))} pause --team `)).toEqual(['odd-team']);
    expect(await zshComplete(`medic -c ${backslashed(join(HOSTILE_DIR, 'medic.config.json'))} beat `)).toEqual(['odd-place']);
    expect(await zshComplete(`MEDIC_CONFIG=${singleQuoted(join(HOSTILE_DIR, 'medic.config.json'))} medic pause --team `)).toEqual(['odd-team']);
    expect(await zshComplete('medic -c hostile-names.json pause --team ')).toEqual(['ok-team']);
    nothingRan();
  });
});

/** What `complete -C` offers for `line` in `fish --no-config` with the script sourced (candidates without descriptions). */
async function fishComplete(line: string): Promise<string[]> {
  const { stdout, stderr } = await exec('fish', ['--no-config', '-c', 'source $MEDIC_SCRIPT; complete -C $MEDIC_LINE'], { cwd: project.dir, env: { ...env, MEDIC_SCRIPT: scripts.fish!, MEDIC_LINE: line } });
  expect(stderr).toBe('');
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t')[0]!);
}

describe('fish', () => {
  it.each([
    ['medic be', ['beat']],
    ['medic completion ', ['bash', 'fish', 'zsh']],
    ['medic beat ', SLUGS],
    ['medic status db-dump n', ['nightly-backup']],
    ['medic pause --team ', TEAMS],
    ['medic test-alert --target ', ['oncall', 'chat']],
    ['medic -c other.json beat ', ['other-job']],
    ['medic beat --config=other.json ', ['other-job']],
    ['MEDIC_CONFIG=other.json medic status ', ['other-job']],
    ['medic -c broken.json beat ', []],
  ])('%j completes to %j', async (line, expected) => {
    expect((await fishComplete(line)).sort()).toEqual([...expected].sort());
  });

  it('completes the options of status', async () => {
    expect(await fishComplete('medic status --')).toEqual(expect.arrayContaining(['--config', '--json', '--help']));
  });

  it('a config path with spaces, quotes and $() is read, never run; shell-code team names are not offered', async () => {
    const fishQuoted = `'${join(HOSTILE_DIR, 'medic.config.json').replace(/[\\']/g, (c) => `\\${c}`)}'`;
    expect(await fishComplete(`medic -c ${fishQuoted} pause --team `)).toEqual(['odd-team']);
    expect(await fishComplete('medic -c hostile-names.json pause --team ')).toEqual(['ok-team']);
    nothingRan();
  });
});

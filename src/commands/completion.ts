/**
 * `medic completion bash|zsh|fish`: completion scripts generated from the CLI's own definitions at
 * print time (so they never drift from the commands), and the hidden `medic __complete` that the
 * scripts call while a line is being typed: the config's slugs, team names or target names, one a
 * line, read from the config file alone (no database, no network), and nothing at all on any error.
 */
import { extname, resolve } from 'node:path';
import type { FoundConfig, LoadOptions } from '../config-file.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What an option's value is, for completing it. */
export type ValueKind = 'flag' | 'file' | 'dir' | 'team' | 'target' | 'value';
/** What a positional argument is: a service slug, one of a fixed list, a command name, anything else. */
export type ArgKind = 'slug' | 'choice' | 'command' | 'other';

export interface OptionSpec {
  /** Short and long names, e.g. ['-c', '--config']. */
  names: string[];
  value: ValueKind;
  description: string;
}
export interface ArgSpec {
  kind: ArgKind;
  variadic: boolean;
  choices: string[];
}
export interface CommandSpec {
  name: string;
  description: string;
  options: OptionSpec[];
  args: ArgSpec[];
}
/** The program: its own options (given before a command) and its commands. */
export interface CliSpec {
  options: OptionSpec[];
  commands: CommandSpec[];
}

/** The parts of a commander Command and Help that completion reads (structural: no commander types here). */
export interface OptionLike {
  flags: string;
  short?: string;
  long?: string;
  required: boolean;
  optional: boolean;
  description: string;
}
export interface ArgumentLike {
  name(): string;
  variadic: boolean;
  argChoices?: string[];
}
export interface CommandLike {
  name(): string;
  description(): string;
  readonly registeredArguments: readonly ArgumentLike[];
  createHelp(): HelpLike;
}
export interface HelpLike {
  visibleCommands(cmd: never): CommandLike[];
  visibleOptions(cmd: never): OptionLike[];
}

/** The visible commands and options of `program`, as commander itself lists them in --help. */
export function describeCli(program: CommandLike): CliSpec {
  const help = program.createHelp();
  const visibleOptions = (cmd: CommandLike) => (help.visibleOptions as (c: CommandLike) => OptionLike[])(cmd).map(optionSpec);
  const commands = (help.visibleCommands as (c: CommandLike) => CommandLike[])(program).map((cmd) => ({
    name: cmd.name(),
    description: cmd.description(),
    options: visibleOptions(cmd),
    args: cmd.registeredArguments.map(argSpec),
  }));
  return { options: visibleOptions(program), commands };
}

/** An option's value kind from its flags: `--team`/`--target` name config entries, `<path>`-like values are files. */
export function optionSpec(o: OptionLike): OptionSpec {
  const names = [o.short, o.long].filter((n): n is string => n !== undefined);
  let value: ValueKind = 'flag';
  if (o.required || o.optional) {
    const placeholder = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1] ?? '';
    if (o.long === '--team') value = 'team';
    else if (o.long === '--target') value = 'target';
    else if (/^(path|file|config)$/.test(placeholder)) value = 'file';
    else if (/^(dir|folder)$/.test(placeholder)) value = 'dir';
    else value = 'value';
  }
  return { names, value, description: o.description };
}

function argSpec(a: ArgumentLike): ArgSpec {
  const choices = a.argChoices ?? [];
  const kind: ArgKind = choices.length > 0 ? 'choice' : a.name() === 'slug' ? 'slug' : a.name() === 'command' && !a.variadic ? 'command' : 'other';
  return { kind, variadic: a.variadic, choices };
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, cli: CliSpec): string {
  return shell === 'bash' ? bashScript(cli) : shell === 'zsh' ? zshScript(cli) : fishScript(cli);
}

/** A POSIX shell single-quoted word (bash, zsh). */
export function sq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A fish single-quoted word: only \ and ' are special inside. */
function fq(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** One line of help text, for a description shown beside a candidate. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** An option's entries for the bash script: name:kind. */
function bashOptions(options: OptionSpec[]): string {
  return options.flatMap((o) => o.names.map((n) => sq(`${n}:${o.value}`))).join(' ');
}

/** An argument list for the bash script: kind, `+` when variadic, `=a,b` for choices. */
function bashArgs(args: ArgSpec[]): string {
  return args.map((a) => sq(`${a.kind}${a.variadic ? '+' : ''}${a.kind === 'choice' ? `=${a.choices.join(',')}` : ''}`)).join(' ');
}

function bashScript(cli: CliSpec): string {
  const names = cli.commands.map((c) => c.name);
  const optionCases = cli.commands.map((c) => `    ${sq(c.name)}) REPLY=(${bashOptions(c.options)}) ;;`).join('\n');
  const argCases = cli.commands.map((c) => `    ${sq(c.name)}) REPLY=(${bashArgs(c.args)}) ;;`).join('\n');
  return `# bash completion for medic, generated by \`medic completion bash\`. Needs no bash-completion package.
# Nothing typed on the line is evaluated: words are split and unquoted here, without eval.

_medic_commands=(${names.map(sq).join(' ')})

# The options of command $1 ('' for the program's own), as name:kind words in REPLY.
_medic_opts() {
  case $1 in
    '') REPLY=(${bashOptions(cli.options)}) ;;
${optionCases}
    *) REPLY=() ;;
  esac
}

# The positional arguments of command $1, as kind[+][=choices] words in REPLY.
_medic_args() {
  case $1 in
${argCases}
    *) REPLY=() ;;
  esac
}

# Splits $1 (the line up to the cursor) into _medic_words as the shell would read them, quotes and
# backslashes removed, without running anything; REPLY is the word being typed.
_medic_split() {
  local line=$1 w= q= c i in=
  _medic_words=()
  for ((i = 0; i < \${#line}; i++)); do
    c=\${line:i:1}
    if [[ $q == "'" ]]; then
      if [[ $c == "'" ]]; then q=; else w+=$c; fi
    elif [[ $c == '\\' ]]; then
      i=$((i + 1))
      c=\${line:i:1}
      if [[ $q == '"' && $c != '"' && $c != '\\' && $c != '$' && $c != '\`' ]]; then w+='\\'; fi
      w+=$c
      in=1
    elif [[ $c == '"' ]]; then
      if [[ $q ]]; then q=; else q='"'; fi
      in=1
    elif [[ $q ]]; then
      w+=$c
    elif [[ $c == "'" ]]; then
      q="'"
      in=1
    elif [[ $c == ' ' || $c == $'\\t' || $c == $'\\n' ]]; then
      if [[ $in ]]; then _medic_words+=("$w"); fi
      w= in=
    else
      w+=$c
      in=1
    fi
  done
  REPLY=$w
}

# The kind of value option $2 of command $1 takes (flag when none), in REPLY; empty when unknown.
_medic_kind() {
  local o
  _medic_opts "$1"
  for o in "\${REPLY[@]}"; do
    if [[ \${o%:*} == "$2" ]]; then REPLY=\${o##*:}; return; fi
  done
  _medic_opts ''
  for o in "\${REPLY[@]}"; do
    if [[ \${o%:*} == "$2" ]]; then REPLY=\${o##*:}; return; fi
  done
  REPLY=
}

# Adds the words of $2... that start with $1 to COMPREPLY (a literal prefix test: nothing is expanded).
_medic_add() {
  local cur=$1 w
  shift
  for w in "$@"; do
    if [[ $w == "$cur"* ]]; then COMPREPLY+=("$w"); fi
  done
}

_medic() {
  local REPLY cur cmd= config= pos=0 i w want= wantopt= dash= prefix= names
  local -a _medic_words
  COMPREPLY=()
  _medic_split "\${COMP_LINE:0:COMP_POINT}"
  cur=$REPLY
  # Readline gives the words of this command only, from medic on (not a MEDIC_CONFIG=... before it).
  for ((i = 1; i < \${#_medic_words[@]}; i++)); do
    w=\${_medic_words[i]}
    if [[ $want ]]; then
      if [[ $wantopt == -c || $wantopt == --config ]]; then config=$w; fi
      want=
    elif [[ $dash ]]; then
      :
    elif [[ $w == -- ]]; then
      dash=1
    elif [[ $w == --*=* ]]; then
      if [[ \${w%%=*} == --config ]]; then config=\${w#*=}; fi
    elif [[ $w == -* ]]; then
      _medic_kind "$cmd" "$w"
      if [[ $REPLY && $REPLY != flag ]]; then want=$REPLY wantopt=$w; fi
    elif [[ -z $cmd ]]; then
      cmd=$w
    else
      pos=$((pos + 1))
    fi
  done
  if [[ -z $want && -z $dash && $cur == --*=* ]]; then
    _medic_kind "$cmd" "\${cur%%=*}"
    want=$REPLY
    prefix=\${cur%%=*}=
    cur=\${cur#*=}
    # Readline splits the word at = when COMP_WORDBREAKS says so: then only the value is replaced.
    if [[ $COMP_WORDBREAKS == *=* ]]; then prefix=; fi
    [[ $want == flag ]] && return 0
  fi
  if [[ $config == '~' || $config == '~/'* ]]; then config=$HOME\${config:1}; fi
  if [[ -z $want && -z $dash ]]; then
    if [[ $cur == -* ]]; then
      _medic_opts "$cmd"
      _medic_add "$cur" "\${REPLY[@]%:*}"
      return 0
    elif [[ -z $cmd ]]; then
      _medic_add "$cur" "\${_medic_commands[@]}"
      return 0
    fi
    _medic_args "$cmd"
    # The argument at pos; a variadic last one takes every word after it.
    w=
    for ((i = 0; i < \${#REPLY[@]}; i++)); do
      w=\${REPLY[i]}
      if ((i == pos)) || [[ $w == *+* && i -lt pos ]]; then break; fi
      w=
    done
    case $w in
      slug*) want=slugs ;;
      choice*) w=\${w#*=}; _medic_add "$cur" \${w//,/ }; return 0 ;;
      command*) _medic_add "$cur" "\${_medic_commands[@]}"; return 0 ;;
      other*) want=file ;;
      *) return 0 ;;
    esac
  fi
  if [[ $dash ]]; then want=file; fi
  case $want in
    file | dir)
      compopt -o filenames 2>/dev/null
      local -a found
      if [[ $want == dir ]]; then mapfile -t found < <(compgen -d -- "$cur"); else mapfile -t found < <(compgen -f -- "$cur"); fi
      COMPREPLY=("\${found[@]}")
      ;;
    slugs | team | target)
      [[ $want == slugs ]] || want+=s
      # Read from the config at this moment; a broken one completes nothing and says nothing.
      if [[ $config ]]; then names=$("$1" __complete "$want" --config="$config" 2>/dev/null); else names=$("$1" __complete "$want" 2>/dev/null); fi
      local -a list
      mapfile -t list <<<"$names"
      _medic_add "$cur" "\${list[@]}"
      if [[ $prefix ]]; then COMPREPLY=("\${COMPREPLY[@]/#/$prefix}"); fi
      ;;
  esac
  return 0
}

complete -F _medic medic
`;
}

function zshDescription(text: string): string {
  return oneLine(text).replace(/[\\[\]:]/g, (c) => `\\${c}`);
}

function zshOptionSpecs(options: OptionSpec[]): string[] {
  return options.flatMap((o) => {
    const exclusive = o.names.length > 1 ? `(${o.names.join(' ')})` : '';
    const action = { flag: '', file: ':file:_files', dir: ':folder:_files -/', team: ':team:_medic_names teams', target: ':target:_medic_names targets', value: ':value: ' }[o.value];
    // `--name=`: the value in the next word or after an = in the same one.
    const eq = (n: string) => (o.value !== 'flag' && n.startsWith('--') ? '=' : '');
    return o.names.map((n) => sq(`${exclusive}${n}${eq(n)}[${zshDescription(o.description)}]${action}`));
  });
}

function zshArgSpecs(args: ArgSpec[]): string[] {
  return args.map((a, i) => {
    const at = a.variadic ? '*' : String(i + 1);
    const action = a.kind === 'slug' ? 'slug:_medic_names slugs' : a.kind === 'choice' ? `value:(${a.choices.join(' ')})` : a.kind === 'command' ? 'command:_medic_commands' : 'argument:_files';
    return sq(`${at}:${action}`);
  });
}

function zshScript(cli: CliSpec): string {
  const commandList = cli.commands.map((c) => sq(`${c.name}:${oneLine(c.description).replace(/\\/g, '\\\\')}`)).join(' \\\n    ');
  const cases = cli.commands
    .map((c) => `    ${sq(c.name)})\n      _arguments -s -S \\\n        ${[...zshOptionSpecs(c.options), ...zshArgSpecs(c.args)].join(' \\\n        ')}\n      ;;`)
    .join('\n');
  return `#compdef medic
# zsh completion for medic, generated by \`medic completion zsh\`. Nothing typed on the line is evaluated.

_medic_commands() {
  local -a commands
  commands=(
    ${commandList}
  )
  _describe -t commands 'medic command' commands
}

# Slugs, teams or targets (the last argument; _arguments puts compadd's options before it) read
# from the config at this moment (-c/--config on the line, else MEDIC_CONFIG, else the search); a
# broken config completes nothing and says nothing.
_medic_names() {
  local -a names
  local kind=\${@[-1]} config= i w seen=
  # MEDIC_CONFIG=... before medic on the line: the line split into words as the shell would ((z), which runs nothing).
  for w in \${(z)LBUFFER}; do
    case $w in
      ';' | '|' | '||' | '&&' | '&' | '|&') config= seen= ;;
      MEDIC_CONFIG=*) [[ -z $seen ]] && config=\${(Q)\${w#MEDIC_CONFIG=}} ;;
      [A-Za-z_]*=*) ;;
      *) seen=1 ;;
    esac
  done
  for ((i = 2; i < \${#_medic_line}; i++)); do
    w=\${(Q)_medic_line[i]}
    case $w in
      -c | --config) config=\${(Q)_medic_line[i+1]} ;;
      --config=*) config=\${w#--config=} ;;
    esac
  done
  if [[ $config == '~' || $config == '~/'* ]]; then config=$HOME\${config:1}; fi
  if [[ -n $config ]]; then
    names=(\${(f)"$("\${(Q)_medic_line[1]}" __complete "$kind" "--config=$config" 2>/dev/null)"})
  else
    names=(\${(f)"$("\${(Q)_medic_line[1]}" __complete "$kind" 2>/dev/null)"})
  fi
  compadd "\${@[1,-2]}" -a names
}

_medic() {
  local -a _medic_line
  _medic_line=("\${words[@]}")
  local curcontext=$curcontext state line
  typeset -A opt_args
  # -A '-*': the program's options come before the command; after it, the command's own.
  _arguments -s -S -C -A '-*' \\
    ${zshOptionSpecs(cli.options).join(' \\\n    ')} \\
    '1: :_medic_commands' \\
    '*:: :->args' && return 0
  case $state in
    args)
      curcontext=\${curcontext%:*:*}:medic-$words[1]:
      case $words[1] in
${cases}
      esac
      ;;
  esac
}

if [[ $funcstack[1] == _medic ]]; then
  _medic "$@"
else
  compdef _medic medic
fi
`;
}

function fishScript(cli: CliSpec): string {
  const lines: string[] = [];
  const optionLine = (condition: string, o: OptionSpec) => {
    const names = o.names.map((n) => (n.startsWith('--') ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(' ');
    const value = { flag: '', file: ' -r -F', dir: " -x -a '(__fish_complete_directories)'", team: " -x -a '(__medic_names teams)'", target: " -x -a '(__medic_names targets)'", value: ' -x' }[o.value];
    return `complete -c medic -n ${fq(condition)} ${names}${value} -d ${fq(oneLine(o.description))}`;
  };
  for (const o of cli.options) lines.push(optionLine('not __medic_command', o));
  for (const c of cli.commands) lines.push(`complete -c medic -n 'not __medic_command' -a ${fq(c.name)} -d ${fq(oneLine(c.description))}`);
  for (const c of cli.commands) {
    const using = `__medic_using ${c.name}`;
    for (const o of c.options) lines.push(optionLine(using, o));
    const kinds = new Set(c.args.map((a) => a.kind));
    if (kinds.has('slug')) lines.push(`complete -c medic -n ${fq(using)} -a '(__medic_names slugs)'`);
    for (const a of c.args) if (a.kind === 'choice') lines.push(`complete -c medic -n ${fq(using)} -a ${fq(a.choices.join(' '))}`);
    if (kinds.has('command')) lines.push(`complete -c medic -n ${fq(using)} -a ${fq(cli.commands.map((x) => x.name).join(' '))}`);
    if (kinds.has('other')) lines.push(`complete -c medic -n ${fq(using)} -F`);
  }
  return `# fish completion for medic, generated by \`medic completion fish\`. Nothing typed on the line is evaluated.

# The command typed so far (the first word that is not an option or an option's value); fails when none.
function __medic_command
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case -c --config
                set skip 1
            case '-*'
            case '*'
                echo $t
                return 0
        end
    end
    return 1
end

function __medic_using -a name
    set -l command (__medic_command)
    test "$command" = "$name"
end

# Slugs, teams or targets ($argv[1]) read from the config at this moment (-c/--config on the line,
# else MEDIC_CONFIG, else the search); a broken config completes nothing and says nothing.
function __medic_names -a kind
    set -l tokens (commandline -opc)
    set -l config
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case -c --config
                set i (math $i + 1)
                set config $tokens[$i]
            case '--config=*'
                set config (string replace -- --config= '' $tokens[$i])
        end
        set i (math $i + 1)
    end
    set config (string replace -r -- '^~(?=/|$)' $HOME $config)
    if set -q config[1]; and test -n "$config"
        command $tokens[1] __complete $kind --config=$config 2>/dev/null
    else
        command $tokens[1] __complete $kind 2>/dev/null
    end
end

complete -c medic -f
${lines.join('\n')}
`;
}

export const NAME_KINDS = ['slugs', 'teams', 'targets'] as const;
export type NameKind = (typeof NAME_KINDS)[number];

const SLUG_RULE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const NAME_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The slugs, team names or target names of a parsed (not validated) config, in config order, once
 * each. Only names that keep the slug or name rule are given: whatever else a broken config holds
 * (quotes, `$(...)`, escape codes) never reaches the shell.
 */
export function namesIn(raw: unknown, kind: NameKind): string[] {
  const cfg = isObject(raw) ? raw : {};
  const services = Array.isArray(cfg.services) ? cfg.services.filter(isObject) : [];
  let names: unknown[];
  if (kind === 'slugs') names = services.map((s) => s.slug);
  else if (kind === 'teams') names = [...Object.keys(isObject(cfg.teams) ? cfg.teams : {}), ...services.map((s) => s.team)];
  // Without a "targets" key there is one target, "pagerduty" (SPEC §2).
  else names = cfg.targets === undefined ? ['pagerduty'] : Object.keys(isObject(cfg.targets) ? cfg.targets : {});
  const rule = kind === 'slugs' ? SLUG_RULE : NAME_RULE;
  return [...new Set(names.filter((n): n is string => typeof n === 'string' && rule.test(n)))];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `medic __complete <kind> [--config=<path>]`, as the scripts call it; null for anything else. */
export function completeArgs(argv: string[]): { kind: NameKind; config?: string } | null {
  const [kind, ...rest] = argv;
  if (!NAME_KINDS.includes(kind as NameKind)) return null;
  if (rest.length === 0) return { kind: kind as NameKind };
  if (rest.length === 1 && rest[0]!.startsWith('--config=')) return { kind: kind as NameKind, config: rest[0]!.slice('--config='.length) };
  return null;
}

/**
 * The names for `medic __complete`, one a line, or '' on any error: a prompt must never receive a
 * message. An explicit JavaScript config is not run to complete a word (pressing Tab must not
 * execute code); a searched one never is (SPEC §8).
 */
export async function completeNames(argv: string[], deps: { load: LoadOptions; findConfig: (opts: LoadOptions) => Promise<FoundConfig> }): Promise<string> {
  const args = completeArgs(argv);
  if (!args) return '';
  const load = { ...deps.load, ...(args.config !== undefined && { path: args.config }) };
  const explicit = load.path ?? load.env.MEDIC_CONFIG;
  if (explicit && ['.js', '.mjs', '.cjs'].includes(extname(resolve(load.cwd, explicit)))) return '';
  try {
    const names = namesIn((await deps.findConfig(load)).raw, args.kind);
    return names.map((n) => `${n}\n`).join('');
  } catch {
    return '';
  }
}

/**
 * The man page's pieces: roff escaping (what a roff reader must not take for a request, a font
 * change or a hyphen), the help's wrapping and its Examples block, and a page from a small program
 * with hostile texts. test/e2e/help.test.ts checks the real page with groff.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { manPage, manSpec, roffText } from '../../src/commands/man.js';
import { examplesHelp, exitCodesHelp, wrap } from '../../src/help.js';

describe('roffText', () => {
  it.each([
    ['plain words', 'plain words'],
    ['.starts like a request', '\\&.starts like a request'],
    ["'starts like a request too", "\\&'starts like a request too"],
    ['two lines\n.second starts with a dot', 'two lines\n\\&.second starts with a dot'],
    ['a dot. inside', 'a dot. inside'],
    ['back\\slash and \\fB font', 'back\\eslash and \\efB font'],
    ['read-only, nightly-backup', 'read-only, nightly-backup'],
    ['use --retry-refused now', 'use \\-\\-retry\\-refused now'],
    ['-m text, (--json)', '\\-m text, (\\-\\-json)'],
    ['interval × threshold — grace', 'interval \\[u00D7] threshold \\[u2014] grace'],
  ])('prose %j → %j', (text, roff) => {
    expect(roffText(text)).toBe(roff);
  });

  it.each([
    ['medic beat nightly-backup', 'medic beat nightly\\-backup'],
    ['-c, --config <path>', '\\-c, \\-\\-config <path>'],
    ['.hidden', '\\&.hidden'],
    ['sh -c \'a\\b\'', "sh \\-c 'a\\eb'"],
  ])('code %j → %j', (text, roff) => {
    expect(roffText(text, { code: true })).toBe(roff);
  });
});

describe('wrap', () => {
  it.each([
    ['one two three four', 10, '', ['one two', 'three four']],
    ['one two three four', 10, '# ', ['# one two', '# three', '# four']],
    ['averyveryverylongword short', 8, '', ['averyveryverylongword', 'short']],
    ['  spaced   out\nwords ', 80, '', ['spaced out words']],
    ['', 80, '', []],
  ])('%j in %i columns with %j', (text, width, indent, lines) => {
    expect(wrap(text, width, indent)).toEqual(lines);
  });
});

describe('the help blocks', () => {
  it('shows each example as a comment line and the line to paste; crontab lines without a prompt', () => {
    expect(
      examplesHelp([
        { says: 'one beat', line: 'medic beat nightly-backup' },
        { says: 'every minute', line: '* * * * * medic check', crontab: true },
      ]),
    ).toBe('\nExamples:\n  # one beat\n  $ medic beat nightly-backup\n\n  # every minute\n  * * * * * medic check');
  });

  it('lists every exit code of SPEC §6 within 80 columns', () => {
    const text = exitCodesHelp();
    expect([...text.matchAll(/^ {2}(\d+) /gm)].map((m) => Number(m[1]))).toEqual([0, 64, 65, 70, 74, 75, 76, 78]);
    expect(text.split('\n').filter((l) => l.length > 80)).toEqual([]);
  });
});

describe('manPage', () => {
  const EXAMPLES = { beat: [{ says: 'one beat', line: 'medic beat nightly-backup' }] };
  const program = new Command('medic').description('Watch heartbeats.').option('-c, --config <path>', 'config file');
  program
    .command('beat')
    .description('.record a beat \\ now')
    .argument('<slug>', 'the slug')
    .option('--fail', "'failed' run")
    .addHelpText('after', '\nNotes first line.\n.Second line starts with a dot.\n\nA second paragraph.')
    .addHelpText('after', examplesHelp(EXAMPLES.beat));
  const page = manPage(manSpec(program, EXAMPLES, examplesHelp), '1.2.3');

  it('names the program and version', () => {
    expect(page.split('\n').slice(0, 6)).toEqual(['.TH MEDIC 1 "" "medic 1.2.3" "User Commands"', '.nh', '.ad l', '.SH NAME', 'medic \\- watch heartbeats', '.SH SYNOPSIS']);
  });

  it('has a command with its usage, arguments, options, notes and examples, every text escaped', () => {
    const part = page.slice(page.indexOf('.SS \\fBmedic beat\\fR'), page.indexOf('.SS \\fBmedic help\\fR'));
    expect(part.split('\n')).toEqual([
      '.SS \\fBmedic beat\\fR',
      '\\fBmedic beat [options] <slug>\\fR',
      '.PP',
      '\\&.record a beat \\e now',
      '.PP',
      'Arguments:',
      '.TP',
      '\\fBslug\\fR',
      'the slug',
      '.PP',
      'Options:',
      '.TP',
      '\\fB\\-\\-fail\\fR',
      "\\&'failed' run",
      '.TP',
      '\\fB\\-h, \\-\\-help\\fR',
      'display help for command',
      '.PP',
      'Notes first line.',
      '\\&.Second line starts with a dot.',
      '.PP',
      'A second paragraph.',
      '.PP',
      'Examples:',
      '.PP',
      'one beat:',
      '.RS',
      '.nf',
      '\\fBmedic beat nightly\\-backup\\fR',
      '.fi',
      '.RE',
      '',
    ]);
  });

  it('keeps the examples out of the notes (shown once)', () => {
    expect(page.match(/nightly\\-backup/g)).toHaveLength(1);
  });
});

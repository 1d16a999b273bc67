import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { statusBySlug, tempProject, type Project } from '../helpers/cli.js';

const T = Date.parse('2026-03-02T09:00:00Z');
let project: Project;
afterEach(() => project?.remove());

describe('beats through a spool folder (job users need no write access to the database)', { timeout: 120_000 }, () => {
  it('beat writes one empty file and never opens the database; check records it and deletes the file', async () => {
    project = tempProject({ spool: 'spool', services: [{ slug: 'nightly-backup', interval: '1h' }, { slug: 'queue-worker', interval: '1h' }] });
    const spool = join(project.dir, 'spool');
    mkdirSync(spool);
    chmodSync(spool, 0o1733);

    const beat = await project.run(['--config', project.configPath, 'beat', 'nightly-backup'], { at: T, frozen: true });
    expect(beat).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(spool)).toEqual([expect.stringMatching(new RegExp(`^nightly-backup\\.${T}\\.\\d+\\.[a-z0-9]+$`))]);
    expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);

    const check = await project.run(['check', '-v'], { at: T + 60_000, frozen: true });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('recorded 1 beat from the spool');
    expect(readdirSync(spool)).toEqual([]);

    const rows = await statusBySlug(project, { at: T + 61_000, frozen: true });
    expect(rows.get('nightly-backup')).toMatchObject({ lastSeen: new Date(T).toISOString(), state: 'up' });
    expect(rows.get('queue-worker')).toMatchObject({ lastSeen: null });
  });

  it('an unknown slug is refused at the beat (65) and writes nothing', async () => {
    project = tempProject({ spool: 'spool', services: [{ slug: 'nightly-backup' }] });
    const spool = join(project.dir, 'spool');
    mkdirSync(spool);
    chmodSync(spool, 0o1733);
    const beat = await project.run(['--config', project.configPath, 'beat', 'nightly-bakup']);
    expect(beat.code).toBe(65);
    expect(beat.stderr).toContain("did you mean 'nightly-backup'?");
    expect(readdirSync(spool)).toEqual([]);
  });

  it('check refuses a spool folder anyone can write without the sticky bit (74) and says why', async () => {
    project = tempProject({ spool: 'spool', services: [{ slug: 'nightly-backup' }] });
    const spool = join(project.dir, 'spool');
    mkdirSync(spool);
    chmodSync(spool, 0o777);
    const check = await project.run(['check']);
    expect(check.code).toBe(74);
    expect(check.stderr).toContain(`refusing spool folder ${spool}`);
    expect(check.stderr).toContain("any of them could delete others' beats");
    expect(check.stderr).not.toMatch(/^\s+at /m);
  });
});

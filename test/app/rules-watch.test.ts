import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig, PROJECT_ROOT } from '../../src/config/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { lastReloadError } from '../../src/rules/index.ts';
import { freePort, waitFor } from '../harness/index.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SHIPPED_RULES = path.join(PROJECT_ROOT, 'rules');

/** A mailroom with the scheduler role on a copy of the shipped rules folder. */
async function runningWithRulesCopy() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-rules-watch-'));
  const rulesDir = path.join(dir, 'rules');
  cpSync(SHIPPED_RULES, rulesDir, { recursive: true });
  const config = loadConfig({
    env: { MAILROOM_DATA_DIR: dir, MAILROOM_RULES_DIR: rulesDir, MAILROOM_PORT: String(await freePort()) },
    cwd: dir,
  });
  const app = await createApp({ config, logger: silentLogger() });
  cleanups.push(async () => {
    await app.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });
  await app.start(['scheduler']);
  return { app, rulesDir, shipped: app.rules.current().rules.length };
}

describe('a running mailroom and its rules folder', () => {
  it('takes a saved rules file by itself, and refuses a broken one while the running rules stay', async () => {
    const { app, rulesDir, shipped } = await runningWithRulesCopy();

    const extra = path.join(rulesDir, '50-extra.yaml');
    writeFileSync(
      extra,
      'rules:\n  - name: invoices-to-finance\n    when:\n      any_text:\n        contains_any: [invoice]\n    then:\n      department: finance\n',
    );
    await waitFor('the new rule to be in force', () => app.rules.current().rules.length === shipped + 1);

    writeFileSync(extra, 'rules:\n  - name: broken\n    then:\n      department: marketing-dept\n');
    await waitFor('the broken file to be refused', () => lastReloadError(app.rules) !== null);
    expect(lastReloadError(app.rules)?.message).toContain('50-extra.yaml');
    expect(app.rules.current().rules.length).toBe(shipped + 1);

    unlinkSync(extra);
    await waitFor('the folder to be good again', () => lastReloadError(app.rules) === null);
    expect(app.rules.current().rules.length).toBe(shipped);
  });

  it('keeps watching a rules folder that is replaced, and never takes an empty one', async () => {
    const { app, rulesDir, shipped } = await runningWithRulesCopy();

    // Replaced by a fresh copy, the way a deploy does it: removed, made again, filled.
    rmSync(rulesDir, { recursive: true });
    mkdirSync(rulesDir);
    await waitFor('the empty folder to be refused', () => lastReloadError(app.rules) !== null);
    expect(lastReloadError(app.rules)?.message).toContain('no rules files');
    expect(app.rules.current().rules.length).toBe(shipped);
    for (const f of readdirSync(SHIPPED_RULES))
      cpSync(path.join(SHIPPED_RULES, f), path.join(rulesDir, f), { recursive: true });
    await waitFor('the copied folder to be taken', () => lastReloadError(app.rules) === null);

    // And the new folder is watched: a rule saved in it takes effect.
    writeFileSync(
      path.join(rulesDir, '50-extra.yaml'),
      'rules:\n  - name: invoices-to-finance\n    when:\n      any_text:\n        contains_any: [invoice]\n    then:\n      department: finance\n',
    );
    await waitFor('the new rule to be in force', () => app.rules.current().rules.length === shipped + 1);
  });
});

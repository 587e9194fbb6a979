import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { DEFAULT_SETTINGS, listsSettingsFromConfig } from '../../src/lists/index.ts';
import { tempDir } from '../harness/index.ts';

describe('lists settings from mailroom.yaml', () => {
  it('takes throttles and pause thresholds from the lists section, defaults otherwise', () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'mailroom.yaml'),
      'lists:\n  rate_per_second: 50\n  per_domain_per_second: 2\n  bounce_threshold: 0.02\n  soft_bounce_window_days: 10\n',
    );
    const settings = listsSettingsFromConfig(loadConfig({ env: {}, cwd: dir }));
    expect(settings).toMatchObject({
      ratePerSecond: 50,
      perDomainPerSecond: 2,
      bounceThreshold: 0.02,
      complaintThreshold: DEFAULT_SETTINGS.complaintThreshold,
      softBounceLimit: 3,
      softBounceWindowMs: 10 * 24 * 3600_000,
      confirmTtlMs: DEFAULT_SETTINGS.confirmTtlMs,
    });
  });

  it('refuses a threshold that is not a share, naming the key and the line', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'mailroom.yaml'), 'lists:\n  bounce_threshold: 5\n');
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow(/mailroom\.yaml:2: lists\.bounce_threshold: /);
  });
});

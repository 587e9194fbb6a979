import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../../src/config/index.ts';

describe('mailroom.example.yaml', () => {
  it('loads as shipped, with the 24-hour response target for normal mail counted around the clock', () => {
    const config = loadConfig({
      configPath: path.join(PROJECT_ROOT, 'mailroom.example.yaml'),
      env: { MAILROOM_IMAP_SHOP_PASSWORD: 'x' },
    });
    expect(config.sla.holidays.length).toBeGreaterThan(0);
    expect(config.sla.targets.normal).toMatchObject({ first_response_h: 24, business_hours: false });
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/index.ts';

describe('logger', () => {
  it('writes one JSON line per event and never writes secrets or message bodies', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...chunk.toString().trim().split('\n'));
        cb();
      },
    });
    const log = createLogger({ level: 'info', pretty: false, destination });
    log.info(
      {
        account: 'shop',
        password: 'hunter2',
        auth: { user: 'u', pass: 'hunter3', accessToken: 'tok' },
        msg: { subject: 'hi', text: 'private body', html: '<p>private</p>' },
        smtp: { secret: 's3' },
      },
      'connected',
    );
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] as string);
    expect(entry).toMatchObject({ msg: 'connected', account: 'shop' });
    const text = lines.join('\n');
    for (const secret of ['hunter2', 'hunter3', 'tok', 'private body', '<p>private</p>', 's3']) {
      expect(text).not.toContain(secret);
    }
  });
});

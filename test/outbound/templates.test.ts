import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { isMailroomError } from '../../src/lib/index.ts';
import { createTemplateRenderer, localeChain, type TemplateRenderer } from '../../src/outbound/index.ts';
import { tempDir } from '../harness/index.ts';

const SHIPPED = path.join(PROJECT_ROOT, 'templates');
const FIXTURES = path.join(PROJECT_ROOT, 'test/fixtures/outbound/templates');
const EXPECTED = [
  'acknowledgement',
  'follow-up',
  'newsletter',
  'optin-confirmation',
  'order-confirmation',
  'payment-reminder',
  'review-request',
  'sla-escalation',
  'thank-you',
];

const shipped = (): TemplateRenderer =>
  createTemplateRenderer({ dir: SHIPPED, publicUrl: 'https://shop.example.com' });

function thrown(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('shipped templates', () => {
  it('ship every template in en, zh-CN and zh-TW, and all render with their sample.json', () => {
    const r = shipped();
    for (const locale of ['en', 'zh-CN', 'zh-TW']) {
      expect(
        r
          .list()
          .filter((t) => t.locale === locale)
          .map((t) => t.template),
      ).toEqual(EXPECTED);
    }
    const results = r.check();
    expect(results.filter((x) => !x.ok)).toEqual([]);
    expect(results).toHaveLength(27);
  });

  it('order confirmation shows items, amount due, how to pay, order number and shipping terms, in HTML and text', () => {
    const r = shipped();
    const m = r.renderTemplate('order-confirmation', 'zh-CN', r.sample('order-confirmation', 'zh-CN'));
    expect(m.subject).toBe('订单确认：A-20260105-017');
    for (const part of [m.html, m.text]) {
      expect(part).toContain('西湖龙井 250 克');
      expect(part).toContain('¥344.00');
      expect(part).toContain('招商银行');
      expect(part).toContain('顺丰包邮');
    }
    // The generated text keeps the items as a readable table, one item per line.
    expect(m.text).toMatch(/西湖龙井 250 克\s+2\s+¥128\.00\s+¥256\.00/);
  });

  it('the acknowledgement names the conversation reference and the answer time in the customer time zone', () => {
    const r = shipped();
    const m = r.renderTemplate('acknowledgement', 'zh-TW', {
      ...r.sample('acknowledgement', 'zh-TW'),
      expected_answer_at: Date.UTC(2026, 0, 6, 1, 0, 0),
      time_zone: 'Asia/Taipei',
    });
    expect(m.html).toContain('MR-1042');
    expect(m.html).toContain('2026年1月6日 上午9:00');
  });

  it('the newsletter layout carries a visible unsubscribe link', () => {
    const r = shipped();
    for (const locale of ['en', 'zh-CN', 'zh-TW']) {
      const m = r.renderTemplate('newsletter', locale, r.sample('newsletter', locale));
      expect(m.html).toMatch(
        /<a href="https:\/\/shop\.example\.com\/u\/sample-token"[^>]*>(Unsubscribe|退订|取消訂閱)<\/a>/,
      );
      expect(m.text).toContain('https://shop.example.com/u/sample-token');
    }
  });

  it('the newsletter renders for a campaign to a customer segment (no list)', () => {
    const r = shipped();
    for (const locale of ['en', 'zh-CN', 'zh-TW']) {
      const m = r.renderTemplate('newsletter', locale, { ...r.sample('newsletter', locale), list: null });
      expect(m.html).toContain('https://shop.example.com/u/sample-token');
      expect(m.html).not.toContain('「」');
    }
  });

  it('the automations’ underscore names find the same templates', () => {
    const r = shipped();
    const m = r.renderTemplate('payment_reminder', 'en', r.sample('payment-reminder', 'en'));
    expect(m.template).toBe('payment-reminder');
    expect(m.subject).toBe('A friendly reminder about order A-20260105-017');
  });
});

describe('strict rendering', () => {
  it('a missing variable is an error naming the template file, line and full variable path', () => {
    const r = createTemplateRenderer({ dir: FIXTURES });
    const e = thrown(() => r.renderTemplate('broken', 'en', { customer: { name: 'Ann' } }));
    expect(isMailroomError(e, 'TEMPLATE_MISSING_VARIABLE')).toBe(true);
    expect(e.message).toContain('en/broken/html.hbs:3');
    expect(e.details).toMatchObject({ line: 3, variable: 'order.total' });
  });

  it('a customer with no name never gets "Dear ,": the shipped templates greet without it, missing data throws', () => {
    const r = shipped();
    const sample = r.sample('thank-you', 'en');
    const m = r.renderTemplate('thank-you', 'en', { ...sample, customer: { name: null } });
    expect(m.html).toContain('Hello,');
    expect(m.html).not.toMatch(/Dear\s*,/);
    const e = thrown(() => r.renderTemplate('thank-you', 'en', { shop: { name: 'x' } }));
    expect(isMailroomError(e, 'TEMPLATE_MISSING_VARIABLE')).toBe(true);
    expect(e.message).toMatch(/en\/thank-you\/html\.hbs:1: the data has no value for "customer"/);
  });

  it('templates check reports the failing template and exits 1', async () => {
    const cwd = tempDir();
    const res = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [path.join(PROJECT_ROOT, 'bin/mailroom.js'), 'templates', 'check'],
        {
          cwd,
          env: {
            PATH: process.env.PATH ?? '',
            MAILROOM_TEMPLATES_DIR: FIXTURES,
            MAILROOM_PUBLIC_URL: 'https://s.example',
          },
        },
      );
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.on('exit', (code) => resolve({ code, stdout }));
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('FAIL  en/broken: templates/en/broken/html.hbs:3');
    expect(res.stdout).toContain('ok    en/plain');
  });

  it('templates preview writes the rendered HTML for a browser', async () => {
    const cwd = tempDir();
    const out = path.join(cwd, 'ack.html');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          path.join(PROJECT_ROOT, 'bin/mailroom.js'),
          'templates',
          'preview',
          'acknowledgement',
          '--locale',
          'zh-HK',
          '--out',
          out,
        ],
        { cwd, env: { PATH: process.env.PATH ?? '' } },
      );
      child.on('exit', resolve);
    });
    expect(code).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(readFileSync(out, 'utf8')).toContain('我們已收到您的來信');
  });
});

describe('locales and helpers', () => {
  it('falls back zh-HK -> zh-TW -> en, zh -> zh-CN -> en, zh-TW -> en, unknown -> en', () => {
    expect(localeChain('zh-HK')).toEqual(['zh-TW', 'en']);
    expect(localeChain('zh')).toEqual(['zh-CN', 'en']);
    expect(localeChain('zh_tw')).toEqual(['zh-TW', 'en']);
    expect(localeChain('zh-Hant')).toEqual(['zh-TW', 'en']);
    expect(localeChain('fr-FR')).toEqual(['en']);
    expect(localeChain(null)).toEqual(['en']);
    const r = createTemplateRenderer({ dir: FIXTURES });
    expect(r.renderTemplate('plain', 'zh-HK', { customer: { name: 'A' } }).locale).toBe('en');
  });

  it('money in minor units, dates in the given zone, absolute links from web.public_url', () => {
    const r = createTemplateRenderer({ dir: FIXTURES, publicUrl: 'https://shop.example.com/mr/' });
    const data = JSON.parse(readFileSync(path.join(FIXTURES, 'en/greeting/sample.json'), 'utf8'));
    const en = r.renderTemplate('greeting', 'en', { ...data, time_zone: 'Asia/Shanghai' });
    expect(en.html).toContain('CN¥1,234.56');
    expect(en.html).toContain('January 6, 2026');
    expect(en.text).toContain('https://shop.example.com/mr/orders?id=A-1');
    const utc = r.renderTemplate('greeting', 'en', data);
    expect(utc.html).toContain('January 5, 2026');
    const noUrl = createTemplateRenderer({ dir: FIXTURES });
    expect(thrown(() => noUrl.renderTemplate('greeting', 'en', data)).message).toContain('web.public_url');
  });

  it('uses text.hbs when present, else text generated from the HTML; data is HTML-escaped', () => {
    const r = createTemplateRenderer({ dir: FIXTURES });
    const m = r.renderTemplate('plain', 'en', { customer: { name: '<script>x</script>' } });
    expect(m.text).toBe('Hi <script>x</script>, this is the hand-written text part.\n');
    expect(m.html).toContain('&lt;script&gt;');
    const s = shipped();
    expect(s.renderTemplate('thank-you', 'en', s.sample('thank-you', 'en')).text).toContain(
      'Dear Alice Chen,',
    );
  });

  it('a subject never carries CR, LF or other line breaks from data', () => {
    const r = createTemplateRenderer({ dir: FIXTURES });
    const m = r.renderTemplate('plain', 'en', { customer: { name: 'Ann\r\nBcc: evil@x.example\u2028X' } });
    expect(m.subject).toBe('Note for Ann Bcc: evil@x.example X');
    expect(m.subject).not.toMatch(/[\r\n\u2028]/);
  });
});

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { isMailroomError } from '../../src/lib/index.ts';
import { composeMail } from '../../src/outbound/compose.ts';
import { parseMailbox, safeDisplayName, stripHeaderControls } from '../../src/outbound/header-safety.ts';
import { tempDir } from '../harness/index.ts';

/**
 * Config values that end up in a header of every mail we send (mail.from, mail.domain in
 * Message-ID and X-Loop, the departments' Reply-To, web.public_url in List-Unsubscribe, the DKIM
 * domain and selector) are refused at start-up when they hold a control or line-separator
 * character, with a message naming the key and the character. Before, a U+2028 in the From name
 * loaded fine and then made every single send fail.
 *
 * Data (customer names, a From given per mail) is stripped instead, the same way for every separator.
 */

/** YAML double-quoted escapes, so the file really holds the character. */
const SEPARATORS: Record<string, { yaml: string; char: string; code: string }> = {
  LS: { yaml: '\\u2028', char: '\u2028', code: 'U+2028' },
  PS: { yaml: '\\u2029', char: '\u2029', code: 'U+2029' },
  NEL: { yaml: '\\u0085', char: '\u0085', code: 'U+0085' },
  CSI: { yaml: '\\u009b', char: '\u009b', code: 'U+009B' },
  CR: { yaml: '\\r', char: '\r', code: 'U+000D' },
  LF: { yaml: '\\n', char: '\n', code: 'U+000A' },
  NUL: { yaml: '\\0', char: '\u0000', code: 'U+0000' },
  TAB: { yaml: '\\t', char: '\t', code: 'U+0009' },
  DEL: { yaml: '\\x7f', char: '\u007f', code: 'U+007F' },
};

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isMailroomError(e, 'CONFIG_INVALID')) return e.message;
    throw e;
  }
  throw new Error('expected CONFIG_INVALID');
}

function load(yaml: string, env: Record<string, string> = {}) {
  const cwd = tempDir('mailroom-hdr-config-');
  writeFileSync(path.join(cwd, 'mailroom.yaml'), yaml);
  return loadConfig({ env: { MAILROOM_DATA_DIR: cwd, ...env }, cwd });
}

const DKIM = (domain: string, selector: string) =>
  `smtp:\n  dkim:\n    domain: "${domain}"\n    selector: "${selector}"\n    private_key_file: key.pem\n`;

describe('config values that reach a mail header', () => {
  for (const [name, sep] of Object.entries(SEPARATORS)) {
    it(`refuses ${name} (${sep.code}) in each of them, naming the key, line and character`, () => {
      const cases: Array<[string, string, number]> = [
        ['mail.from', `mail:\n  from: "Lotus Tea${sep.yaml}House <support@shop.example>"\n`, 2],
        ['mail.domain', `mail:\n  domain: "shop${sep.yaml}.example"\n`, 2],
        [
          'mail.departments.sales.name',
          `mail:\n  departments:\n    sales:\n      name: "Sales${sep.yaml}Team"\n`,
          4,
        ],
        [
          'mail.departments.finance.reply_to',
          `mail:\n  departments:\n    finance:\n      reply_to: "finance@shop.example${sep.yaml}"\n`,
          4,
        ],
        ['web.public_url', `web:\n  public_url: "https://mail.shop.example/${sep.yaml}x"\n`, 2],
        ['smtp.dkim.domain', DKIM(`shop${sep.yaml}.example`, 'mr1'), 3],
        ['smtp.dkim.selector', DKIM('shop.example', `mr${sep.yaml}1`), 4],
      ];
      for (const [key, yaml, line] of cases) {
        const msg = errorOf(() => load(yaml));
        expect(msg, key).toContain(`mailroom.yaml:${line}: ${key}: `);
        expect(msg, key).toContain(sep.code);
        expect(msg, key).toMatch(/remove it/);
        // The message itself shows the character escaped, not raw (a raw U+2028 is invisible).
        expect(msg, key).not.toContain(sep.char);
      }
    });
  }

  it('names the environment variable when the bad From comes from MAILROOM_MAIL_FROM', () => {
    const msg = errorOf(() =>
      load('', { MAILROOM_MAIL_FROM: 'Lotus Tea\u2028House <support@shop.example>' }),
    );
    expect(msg).toContain('MAILROOM_MAIL_FROM (environment): mail.from: contains U+2028 (line separator)');
    expect(msg).toContain('"Lotus Tea\\u2028House <support@shop.example>"');
  });

  it('refuses a From that is not a mailbox at all, instead of failing every send later', () => {
    for (const from of ['Lotus Tea House', 'Lotus <support>', 'support@shop.example, x@y.example']) {
      const msg = errorOf(() => load(`mail:\n  from: ${JSON.stringify(from)}\n`));
      expect(msg, from).toContain('mailroom.yaml:2: mail.from: expected "Name <address@domain>"');
    }
    const msg = errorOf(() => load('mail:\n  domain: "shop example"\n'));
    expect(msg).toContain('mail.domain: expected a domain name such as shop.example');
  });

  it('still loads ordinary values, Chinese names and quoted names included', () => {
    for (const from of [
      'Lotus Tea House <support@shop.example>',
      '"Lotus Tea, House" <support@shop.example>',
      '莲花茶馆 <support@shop.example>',
      'support@shop.example',
    ]) {
      const cfg = load(
        `mail:\n  from: ${JSON.stringify(from)}\n  domain: mr.shop.example\n  departments:\n    sales: { name: 销售部, reply_to: sales@shop.example }\nweb:\n  public_url: https://mail.shop.example/mr\n${DKIM('shop.example', 'mr-2026.01')}`,
      );
      expect(cfg.mail.from).toBe(from);
    }
  });
});

describe('data with separators in header values is stripped, never fatal', () => {
  for (const [name, sep] of Object.entries(SEPARATORS)) {
    it(`${name}: a display name keeps its words, loses the ${sep.code}, and the address still parses`, async () => {
      // Line breaks and tabs become a space, other controls go.
      const spaced = /[\r\n\t\u0085\u2028\u2029]/.test(sep.char);
      expect(parseMailbox(`Ann${sep.char}Lee <ann@customer.example>`)).toEqual({
        name: spaced ? 'Ann Lee' : 'AnnLee',
        address: 'ann@customer.example',
      });
      expect(safeDisplayName(`Ann${sep.char}Lee`)).not.toContain(sep.char);
      expect(stripHeaderControls(`Re: order${sep.char}42`)).not.toContain(sep.char);
      // A From given per mail (not from config) with the separator still composes a clean mail.
      const mail = await composeMail(
        { domain: 'shop.example', from: 'Shop <support@shop.example>', departments: {} },
        {
          from: `Sales${sep.char}Team <sales@shop.example>`,
          to: `Ann${sep.char}Lee <ann@customer.example>`,
          subject: 'Hello',
          html: '<p>Hi</p>',
          text: 'Hi',
        },
      );
      const head = mail.raw.toString('latin1').split('\r\n\r\n')[0] ?? '';
      expect(head.replace(/\r\n/g, '')).toMatch(/^[\x20-\x7e\t]*$/);
      expect(head).toMatch(/^From: Sales ?Team <sales@shop\.example>$/m);
      expect(mail.envelope.to).toEqual(['ann@customer.example']);
    });
  }
});

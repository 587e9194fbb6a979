import path from 'node:path';
import libmime from 'libmime';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { createTemplateRenderer } from '../../src/outbound/index.ts';
import { type AlternativeMail, buildAlternativeMail } from '../../src/outbound/mime-build.ts';
import { buildMimeWithComposer } from '../../src/outbound/smtp-compose.ts';

/** What a mail client shows of a message, read back with mailparser. */
async function seen(raw: Buffer) {
  const p = await simpleParser(raw);
  const custom: Record<string, unknown> = {};
  for (const k of [
    'list-unsubscribe',
    'list-unsubscribe-post',
    'auto-submitted',
    'x-loop',
    'x-note',
    'precedence',
  ])
    custom[k] =
      typeof p.headers.get(k) === 'string'
        ? libmime.decodeWords(p.headers.get(k) as string)
        : p.headers.get(k);
  return {
    subject: p.subject,
    from: p.from?.value,
    to: Array.isArray(p.to) ? p.to.flatMap((a) => a.value) : p.to?.value,
    replyTo: p.replyTo?.value,
    messageId: p.messageId,
    inReplyTo: p.inReplyTo,
    references: p.references,
    date: p.date?.toISOString(),
    text: p.text?.replace(/\r\n/g, '\n').trimEnd(),
    html: typeof p.html === 'string' ? p.html.replace(/\r\n/g, '\n').trimEnd() : p.html,
    attachments: p.attachments.length,
    custom,
  };
}

const base: AlternativeMail = {
  from: { name: 'Lotus Tea House', address: 'support@shop.example' },
  to: { name: 'Alice Chen', address: 'alice@customer.example' },
  subject: 'Your order',
  messageId: 'm1.abc@mr.shop.example',
  date: new Date(Date.UTC(2026, 0, 5, 8, 0, 0)),
  html: '<p>Hello</p>',
  text: 'Hello\n',
  headers: {},
};

const cases: Array<[string, Partial<AlternativeMail>]> = [
  ['plain ASCII', {}],
  [
    'Chinese subject, names and bodies (mostly non-Latin: base64)',
    {
      subject: '您的订单已确认 [#MR-12]',
      from: { name: '莲花茶馆 客服', address: 'support@shop.example' },
      to: { name: '陳小姐', address: 'chen@customer.example' },
      text: '陳小姐您好：\n\n您的訂單已確認，我們將於三個工作天內出貨。\n謝謝！\n',
      html: '<p>陳小姐您好：</p><p>您的訂單已確認，我們將於三個工作天內出貨。</p>',
    },
  ],
  [
    'mixed Latin and CJK with long lines (quoted-printable), accents, emoji, trailing spaces',
    {
      subject: 'Spring harvest 春茶上市 — a rather long subject line that needs folding somewhere 🍵',
      text: `Dear Zoë,   \n${'Longjing and Biluochun are in. '.repeat(12)}\n春茶\n.\n.leading dot\nFrom the shop\n`,
      html: `<p>${'Longjing and Biluochun are in. '.repeat(20)}</p>\n<p>春茶 ✓</p>`,
    },
  ],
  [
    'display names that need quoting or encoding',
    {
      from: { name: 'Shop, "the best" (tea)', address: 'a@shop.example' },
      to: { name: "O'Brien, Pat \\ Co.", address: 'pat@customer.example' },
    },
  ],
  ['no display names', { from: { address: 'a@shop.example' }, to: { address: 'b@customer.example' } }],
  [
    'non-ASCII display names with commas and colons (encoded whole: one address, never a group)',
    {
      from: { name: 'Acme: Kundenservice Zürich', address: 'support@shop.example' },
      to: { name: 'Smith, Zoë', address: 'zoe@customer.example' },
    },
  ],
  [
    'a long subject of mixed scripts',
    { subject: `${'退款申请 refund request for order 20260105-0042, '.repeat(4)}谢谢` },
  ],
  [
    'reply with threading, Reply-To and list headers',
    {
      replyTo: 'sales@shop.example',
      inReplyTo: 'parent@customer.example',
      references: Array.from({ length: 12 }, (_, i) => `ref-${i}.${'x'.repeat(20)}@customer.example`),
      headers: {
        'List-Unsubscribe': `<https://shop.example.com/u/1.${'x'.repeat(60)}>, <mailto:unsubscribe+1@mr.shop.example>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'Auto-Submitted': 'auto-generated',
        'X-Loop': 'mr.shop.example',
        'X-Note': 'naïve 値 note',
        Precedence: 'bulk',
      },
    },
  ],
  ['CRLF bodies and a 1,000-character line', { text: `a\r\n${'y'.repeat(1000)}\r\nb\r\n` }],
];

describe('building mailroom’s MIME directly', () => {
  it.each(cases)(
    '%s: a mail client sees the same mail as from nodemailer’s MailComposer',
    async (_name, over) => {
      const m = { ...base, ...over };
      const direct = buildAlternativeMail(m);
      expect(direct).not.toBeNull();
      const ours = await seen(direct as Buffer);
      expect(ours).toEqual(await seen(await buildMimeWithComposer(m)));
      const raw = (direct as Buffer).toString('latin1');
      // CRLF everywhere, no bare LF or CR, no line over 998 octets, nothing but ASCII on the wire.
      expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      expect(Math.max(...raw.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
      expect(raw).toMatch(/^[\x00-\x7f]*$/);
    },
  );

  it('every shipped template in every locale reads back the same as from MailComposer', async () => {
    const r = createTemplateRenderer({
      dir: path.join(PROJECT_ROOT, 'templates'),
      publicUrl: 'https://shop.example',
    });
    const all = r.list();
    expect(all.length).toBeGreaterThanOrEqual(20);
    for (const t of all) {
      const out = r.renderTemplate(t.template, t.locale, r.sample(t.template, t.locale));
      const m = { ...base, subject: out.subject, html: out.html, text: out.text };
      const direct = buildAlternativeMail(m) as Buffer;
      expect(await seen(direct), `${t.locale}/${t.template}`).toEqual(
        await seen(await buildMimeWithComposer(m)),
      );
    }
  });

  it('declines what it does not build (a non-ASCII address, an empty part), so the caller falls back to MailComposer', () => {
    expect(buildAlternativeMail({ ...base, to: { address: '用户@例子.中国' } })).toBeNull();
    expect(buildAlternativeMail({ ...base, text: '' })).toBeNull();
    expect(buildAlternativeMail({ ...base, html: '' })).toBeNull();
  });

  it('writes one address per non-ASCII display name, whatever punctuation it holds', async () => {
    const raw = buildAlternativeMail({
      ...base,
      from: { name: 'Acme: Kundenservice Zürich', address: 'support@shop.example' },
      to: { name: 'Smith, Zoë', address: 'zoe@customer.example' },
    }) as Buffer;
    const p = await simpleParser(raw);
    expect(p.from?.value).toEqual([{ name: 'Acme: Kundenservice Zürich', address: 'support@shop.example' }]);
    expect(p.to && !Array.isArray(p.to) ? p.to.value : null).toEqual([
      { name: 'Smith, Zoë', address: 'zoe@customer.example' },
    ]);
    const header = raw.toString('latin1').split('\r\n\r\n')[0] as string;
    expect(header).not.toMatch(/^To: Smith,/m);
  });

  it('declines fields with line breaks and custom headers named like its own; skips empty custom headers', () => {
    const bads: Array<Partial<AlternativeMail>> = [
      { subject: 'Hi\r\nBcc: x@evil.example' },
      { to: { name: 'Eve\u2028Bcc: x@evil.example', address: 'e@customer.example' } },
      { headers: { 'X-Note': 'a\nb' } },
      { headers: { Bcc: 'x@evil.example' } },
      { headers: { 'Content-Type': 'text/plain' } },
      { headers: { 'Bad Name': 'x' } },
    ];
    for (const bad of bads) expect(buildAlternativeMail({ ...base, ...bad }), JSON.stringify(bad)).toBeNull();
    const raw = (
      buildAlternativeMail({ ...base, headers: { 'X-Empty': ' ', 'X-Kept': 'yes' } }) as Buffer
    ).toString();
    expect(raw).not.toContain('X-Empty');
    expect(raw).toContain('X-Kept: yes');
  });

  it('turns a lone CR in a body into a line break, never a bare CR on the wire', async () => {
    const raw = buildAlternativeMail({ ...base, text: 'a\rb\n', html: '<p>a</p>\r<p>b</p>' }) as Buffer;
    expect(raw.toString('latin1').replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect((await seen(raw)).text).toBe('a\nb');
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isMailroomError } from '../../src/lib/index.ts';
import { composeMail, safeAddress, safeHeaders, stripHeaderControls } from '../../src/outbound/index.ts';
import { headerLines, parse, settings } from './helpers.ts';

const base = { to: 'alice@customer.example', subject: 'Hello', html: '<p>Hi</p>', text: 'Hi\n' };

async function rejects(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('compose', () => {
  it('gives every mail its own Message-ID on our domain', async () => {
    const a = await composeMail(settings, base);
    const b = await composeMail(settings, base);
    expect(a.messageId).toMatch(/^[A-Za-z0-9_-]+@mr\.shop\.example$/);
    expect(a.messageId).not.toBe(b.messageId);
    expect((await parse(a.raw)).messageId).toBe(`<${a.messageId}>`);
  });

  it('threads a reply: In-Reply-To, References ending with the parent, [#MR-id] in the subject once', async () => {
    const m = await composeMail(settings, {
      ...base,
      subject: 'Re: Where is my parcel? [#MR-42]',
      conversationId: 42,
      inReplyTo: 'parent@customer.example',
      references: ['root@customer.example'],
    });
    const p = await parse(m.raw);
    expect(p.inReplyTo).toBe('<parent@customer.example>');
    expect(p.references).toEqual(['<root@customer.example>', '<parent@customer.example>']);
    expect(p.subject).toBe('Re: Where is my parcel? [#MR-42]');
    const fresh = await composeMail(settings, { ...base, subject: '订单确认', conversationId: 7 });
    expect((await parse(fresh.raw)).subject).toBe('订单确认 [#MR-7]');
  });

  it('marks automatic mail (Auto-Submitted, X-Loop) and sets Reply-To per department', async () => {
    const m = await composeMail(settings, { ...base, automatic: 'auto-replied', department: 'sales' });
    const p = await parse(m.raw);
    expect(p.headers.get('auto-submitted')).toBe('auto-replied');
    expect(p.headers.get('x-loop')).toBe('mr.shop.example');
    expect(p.replyTo?.value[0]?.address).toBe('sales@shop.example');
    const staff = await parse((await composeMail(settings, { ...base, department: 'hr' })).raw);
    expect(staff.headers.get('auto-submitted')).toBeUndefined();
    expect(staff.replyTo).toBeUndefined();
  });

  it('list mail carries List-Unsubscribe (https + mailto in one header) and One-Click post', async () => {
    const m = await composeMail(settings, {
      ...base,
      automatic: 'auto-generated',
      list: {
        unsubscribeUrl: 'https://shop.example/u/t1',
        unsubscribeMailto: 'mailto:unsub+t1@mr.shop.example',
      },
    });
    const lines = headerLines(m.raw.toString('utf8'));
    expect(lines).toContain(
      'List-Unsubscribe: <https://shop.example/u/t1>, <mailto:unsub+t1@mr.shop.example>',
    );
    expect(lines).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
  });

  it('signs with DKIM from config, covering both List-Unsubscribe headers', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const m = await composeMail(
      {
        ...settings,
        dkim: {
          domainName: 'shop.example',
          keySelector: 'mr',
          privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        },
      },
      { ...base, list: { unsubscribeUrl: 'https://shop.example/u/t1' } },
    );
    const sig = headerLines(m.raw.toString('utf8')).find((l) => l.startsWith('DKIM-Signature:')) ?? '';
    expect(sig).toContain('d=shop.example');
    expect(sig).toContain('s=mr');
    expect(sig.replace(/\s/g, '')).toMatch(/h=[^;]*List-Unsubscribe:List-Unsubscribe-Post/i);
  });
});

describe('header injection', () => {
  const evil = 'x\r\nBcc: victim@evil.example\r\n\r\n<b>injected body</b>';

  it('names, subjects and extra header values from data cannot add a header or a body', async () => {
    const m = await composeMail(settings, {
      ...base,
      toName: `Alice${evil}`,
      subject: `Order ${evil}\u2028X-Evil: 1\u0085Y\u0000`,
      headers: { 'X-Campaign': `7${evil}` },
    });
    const raw = m.raw.toString('utf8');
    const lines = headerLines(raw);
    expect(lines.filter((l) => /^bcc:/i.test(l))).toEqual([]);
    expect(lines.filter((l) => /^x-evil:/i.test(l))).toEqual([]);
    expect(lines.filter((l) => /^subject:/i.test(l))).toHaveLength(1);
    const p = await parse(m.raw);
    expect(p.bcc).toBeUndefined();
    expect(p.subject).toBe('Order x Bcc: victim@evil.example <b>injected body</b> X-Evil: 1 Y');
    expect(p.to && !Array.isArray(p.to) ? p.to.value[0]?.address : undefined).toBe('alice@customer.example');
    expect(p.headers.get('x-campaign')).toBe('7x Bcc: victim@evil.example <b>injected body</b>');
    expect(p.text).toBe('Hi\n');
    expect(m.envelope.to).toEqual(['alice@customer.example']);
  });

  it('addresses with line breaks or extra recipients are refused, not cleaned', async () => {
    for (const to of [
      'alice@customer.example\r\nBcc: v@evil.example',
      'alice@customer.example, v@evil.example',
      'alice@customer.example\u2028',
      'Alice <alice@customer.example>\nBcc: v@evil.example',
    ]) {
      const e = await rejects(composeMail(settings, { ...base, to }));
      expect(isMailroomError(e, 'HEADER_INVALID')).toBe(true);
    }
    expect(() => safeAddress('a@b.example\u0000')).toThrow(/not a plain email address/);
    expect(() => safeHeaders({ 'X-A\r\nBcc': 'x' })).toThrow(/header name/);
    const e = await rejects(composeMail(settings, { ...base, inReplyTo: 'a@b>\r\nBcc: v@evil.example' }));
    expect(isMailroomError(e, 'HEADER_INVALID')).toBe(true);
  });

  it('strips every C0 control and Unicode line separator from free text', () => {
    expect(stripHeaderControls('a\rb\nc\u0000d\u0007e\u001bf\u0085g\u2028h\u2029i\tj')).toBe(
      'a b cdef g h i j',
    );
  });
});

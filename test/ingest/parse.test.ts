import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, flagsOf, messageRow, setup } from './helpers.ts';

async function ingestFixture(name: string) {
  const t = setup();
  const res = await t.pipeline.ingestRaw(fixture(name), { kind: 'import', file: name });
  const row = messageRow(t.db, res.messageId);
  const atts = t.db
    .prepare('SELECT filename, content_type, size, sha256 FROM attachments WHERE message_id = ? ORDER BY id')
    .all(res.messageId) as Array<{
    filename: string | null;
    content_type: string;
    size: number;
    sha256: string;
  }>;
  return { ...t, res, row, atts, flags: flagsOf(t.db, res.messageId) };
}

describe('parsing customer mail into readable text', () => {
  it.each([
    ['gb2312-encoded-word.eml', '请问这款产品还有库存吗', '您好，请问这款产品还有库存吗？谢谢。', '王小明'],
    ['gbk-quoted-printable.eml', '退款申请', '我要申请退款，订单号 12345。镕', null],
    ['gb18030-four-byte.eml', '生僻字𠮷', '名字里有𠮷字，还有€符号。', null],
    ['big5-attachment-name.eml', '發票問題', '請寄給我發票，謝謝。', '陳大文'],
    ['iso-2022-jp.eml', '注文について', '注文の状況を教えてください。', '山田太郎'],
  ])(
    '%s: subject, sender name and body come out in the right characters',
    async (file, subject, body, name) => {
      const { row } = await ingestFixture(file);
      expect(row.subject).toBe(subject);
      expect(row.text_body).toContain(body);
      expect(row.from_name).toBe(name);
      expect(`${row.subject}${row.text_body}`).not.toContain('\uFFFD');
    },
  );

  it('raw 8-bit GBK Subject and From name (no encoded-words) are re-decoded, not shown as �', async () => {
    const { row } = await ingestFixture('8bit-headers-gbk.eml');
    expect(row.subject).toBe('发票和退款问题');
    expect(row.from_name).toBe('李四');
    expect(row.text_body).toContain('请开发票');
  });

  it('an 8-bit Big5 body without a declared charset is re-decoded', async () => {
    const { row } = await ingestFixture('8bit-body-no-charset-big5.eml');
    expect(row.text_body).toContain('我想詢問商品的價格與庫存');
  });

  it('UTF-8 with broken bytes keeps every valid character around the damage', async () => {
    const { row, flags } = await ingestFixture('utf8-broken-bytes.eml');
    expect(row.text_body).toContain('订单');
    expect(row.text_body).toContain('still readable 谢谢');
    expect(flags).not.toContain('parse_error');
  });

  it('an RFC 2047 Big5 attachment name is decoded and the file is stored content-addressed', async () => {
    const { atts, blobs } = await ingestFixture('big5-attachment-name.eml');
    expect(atts).toHaveLength(1);
    expect(atts[0]).toMatchObject({ filename: '發票.pdf', content_type: 'application/pdf', size: 21 });
    const chunks: Buffer[] = [];
    for await (const c of blobs.openFile(atts[0]?.sha256 ?? '')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('%PDF-1.4 fake invoice');
  });

  it('nested multiparts: text, HTML, inline image, RFC 2231 file name and an attached message', async () => {
    const { row, atts } = await ingestFixture('nested-multipart.eml');
    expect(row.subject).toBe('嵌套邮件 nested');
    expect(row.text_body).toContain('Plain version of the complaint.');
    expect(row.html_body).toContain('HTML version');
    expect(atts.map((a) => a.filename)).toEqual(expect.arrayContaining(['logo.png', '订单.csv']));
    expect(atts.some((a) => a.content_type === 'message/rfc822')).toBe(true);
  });

  it('broken base64 in an attachment keeps the message and its text', async () => {
    const { row, atts, res } = await ingestFixture('broken-base64.eml');
    expect(res.status).toBe('stored');
    expect(row.text_body).toContain('arrived damaged');
    expect(atts[0]?.filename).toBe('parcel.jpg');
  });

  it('a multipart without a boundary parameter keeps its body as text', async () => {
    const { row } = await ingestFixture('missing-boundary.eml');
    expect(row.text_body).toContain('Where is my order?');
  });

  it('a multipart whose closing boundary never comes keeps the part that is there', async () => {
    const { row } = await ingestFixture('missing-closing-boundary.eml');
    expect(row.text_body).toContain('Please cancel order 777.');
  });

  it('the raw message is kept compressed and reads back byte for byte', async () => {
    const { row, blobs } = await ingestFixture('8bit-headers-gbk.eml');
    expect((await blobs.readRaw(row.raw_sha256)).equals(fixture('8bit-headers-gbk.eml'))).toBe(true);
  });

  it('a 50 MB attachment streams to disk intact (generated at test time)', async () => {
    const t = setup({ config: { imap: { max_message_bytes: 100 * 1024 * 1024 } } });
    const file = path.join(t.dir, 'big.eml');
    const out = createWriteStream(file);
    out.write(
      'From: big@customer.example\r\nTo: support@shop.example\r\nSubject: big file\r\nMessage-ID: <big@customer.example>\r\n' +
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n' +
        '--B\r\nContent-Type: application/octet-stream; name="big.bin"\r\nContent-Disposition: attachment; filename="big.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n',
    );
    const chunk = Buffer.alloc(57 * 1024, 7); // 57 bytes -> one 76-char base64 line
    const line = chunk.toString('base64').replace(/.{76}/g, '$&\r\n');
    const copies = Math.ceil((50 * 1024 * 1024) / chunk.length);
    for (let i = 0; i < copies; i++) if (!out.write(line)) await once(out, 'drain');
    out.end('\r\n--B--\r\n');
    await once(out, 'finish');
    const res = await t.pipeline.ingestRaw(createReadStream(file), { kind: 'import', file });
    const att = t.db
      .prepare('SELECT filename, size FROM attachments WHERE message_id = ?')
      .get(res.messageId);
    expect(att).toEqual({ filename: 'big.bin', size: copies * chunk.length });
    expect(messageRow(t.db, res.messageId).text_body).toContain('See attached.');
  });
});

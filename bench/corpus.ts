// A deterministic mixed corpus for benchmarks: plain and HTML mail, attachments, and Chinese in
// UTF-8, GB18030 and Big5, with RFC 2047 subjects, in the proportions a shop's inbox sees.
import iconv from 'iconv-lite';

const EN_SUBJECTS = [
  'Question about the price of the blue teapot',
  'Where is my parcel? Order 10452',
  'Refund for a broken cup',
  'Invoice request for order 10388',
  'Thank you, lovely service',
  'URGENT: charged twice',
  'Press enquiry about your brand',
  'Application for the customer service job',
];
const ZH_SUBJECTS = [
  '请问茶壶的价格',
  '我的包裹到哪里了？',
  '申请退款：杯子破损',
  '请开具发票',
  '谢谢你们的服务',
  '紧急：重复扣款',
];
const TW_SUBJECTS = [
  '請問茶壺的價格',
  '我的包裹到哪裡了？',
  '申請退款：杯子破損',
  '請開立發票',
  '謝謝你們的服務',
];
const EN_BODY =
  'Hello,\r\n\r\nI ordered the ceramic tea set last week and would like to know when it ships. Could you also tell me whether the matching cups are in stock? Many thanks for your help.\r\n\r\nBest regards,\r\nA customer\r\n';
const ZH_BODY =
  '您好，\r\n\r\n我上周订购了陶瓷茶具，想知道什么时候发货。另外请问配套的杯子有货吗？非常感谢！\r\n\r\n此致\r\n顾客\r\n';
const TW_BODY =
  '您好：\r\n\r\n我上週訂購了陶瓷茶具，想知道什麼時候出貨。另外請問配套的杯子有貨嗎？非常感謝！\r\n\r\n顧客\r\n';

function encodedWord(text: string): string {
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

function pick<T>(list: T[], i: number): T {
  return list[i % list.length] as T;
}

/** Message i of the corpus, as raw RFC 5322 bytes. */
export function corpusMessage(i: number): Buffer {
  const kind = i % 10;
  const date = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toUTCString();
  const head = (subject: string, extra = '') =>
    `From: Customer ${i} <customer${i % 5000}@example.com>\r\nTo: support@shop.example\r\nSubject: ${subject}\r\nDate: ${date}\r\nMessage-ID: <bench-${i}@example.com>\r\nMIME-Version: 1.0\r\n${extra}`;
  if (kind <= 2) {
    return Buffer.from(
      `${head(pick(EN_SUBJECTS, i))}Content-Type: text/plain; charset=utf-8\r\n\r\n${EN_BODY}`,
    );
  }
  if (kind === 3 || kind === 4) {
    const html = `<html><body><p>${EN_BODY.replace(/\r\n/g, '<br>')}</p><p><b>Order</b> ${10000 + i}</p></body></html>`;
    return Buffer.from(
      `${head(pick(EN_SUBJECTS, i))}Content-Type: multipart/alternative; boundary="b${i}"\r\n\r\n--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${EN_BODY}\r\n--b${i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n--b${i}--\r\n`,
    );
  }
  if (kind === 5) {
    const attachment = Buffer.alloc(24 * 1024, i % 251)
      .toString('base64')
      .replace(/(.{76})/g, '$1\r\n');
    return Buffer.from(
      `${head(pick(EN_SUBJECTS, i))}Content-Type: multipart/mixed; boundary="m${i}"\r\n\r\n--m${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${EN_BODY}\r\n--m${i}\r\nContent-Type: image/jpeg; name="photo-${i}.jpg"\r\nContent-Disposition: attachment; filename="photo-${i}.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--m${i}--\r\n`,
    );
  }
  if (kind === 6 || kind === 7) {
    const body = iconv.encode(ZH_BODY, 'gb18030');
    return Buffer.concat([
      Buffer.from(
        `${head(encodedWord(pick(ZH_SUBJECTS, i)))}Content-Type: text/plain; charset=gb18030\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
      ),
      body,
    ]);
  }
  if (kind === 8) {
    const body = iconv.encode(TW_BODY, 'big5');
    return Buffer.concat([
      Buffer.from(
        `${head(encodedWord(pick(TW_SUBJECTS, i)))}Content-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
      ),
      body,
    ]);
  }
  return Buffer.from(
    `${head(encodedWord(pick(ZH_SUBJECTS, i)))}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(ZH_BODY).toString('base64')}\r\n`,
  );
}

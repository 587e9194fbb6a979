// Generates the stored-mail database the inbox benchmark reads: N messages in English, Simplified
// and Traditional Chinese, threaded into conversations with customers and SLA clocks, written with
// bulk SQL straight into the real schema (the real migrations, the real FTS5 triggers). The result
// is cached in bench/.cache/ keyed by GENERATOR_VERSION and the message count; bump the version
// whenever the generator's output changes so stale caches are regenerated.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { migrate, openDatabase } from '../src/store/index.ts';
import { rng } from './lib.ts';

export const GENERATOR_VERSION = 3;
/** The fixed "now" of the generated data; the benchmark's web server runs on a clock set to it. */
export const NOW = Date.UTC(2026, 2, 2, 10, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Two years of mail. */
const SPAN = 730 * DAY;
/** Rows per transaction. */
const TX_ROWS = 50_000;

export const DEPARTMENTS = ['customer_service', 'sales', 'finance', 'hr', 'pr'] as const;
const DEPT_WEIGHTS = [0.5, 0.2, 0.15, 0.1, 0.05];
export const AGENTS = ['amy', 'ben', 'chen.wei', 'dora', 'li.na', 'mark', 'wang.fang', 'zoe'];
const TARGET_H = { urgent: 4, normal: 24, thanks: 72 } as const;

export interface GeneratedDb {
  /** A mailroom data dir holding the database (mailroom.sqlite). */
  dataDir: string;
  file: string;
  messages: number;
  conversations: number;
  customers: number;
  active: number;
  /** Seconds the generation took (0 when read from the cache). */
  seconds: number;
  /** Seconds of it the CJK pair index (migration 0016's backfill statement) took. */
  cjkIndexSeconds: number;
  cached: boolean;
}

type Lang = 'en' | 'zh-CN' | 'zh-TW';

const EN_PRODUCTS =
  'teapot,kettle,tea set,mug,cup,saucer,bowl,vase,dinner plate,milk jug,tea caddy,tea infuser,serving tray,coaster set,candle,table lamp,cushion,wool blanket,silk scarf,notebook,fountain pen,linen napkins,butter dish,sugar bowl,cake stand,salad bowl,rice bowl,chopsticks,bamboo whisk,gift box'.split(
    ',',
  );
const ZH_PRODUCTS =
  '茶壶,水壶,茶具,马克杯,杯子,碟子,瓷碗,花瓶,餐盘,奶壶,茶叶罐,滤茶器,托盘,杯垫,香薰蜡烛,台灯,靠垫,羊毛毯,丝巾,笔记本,钢笔,餐巾,黄油碟,糖罐,蛋糕架,沙拉碗,饭碗,筷子,茶筅,礼盒'.split(
    ',',
  );
const TW_PRODUCTS =
  '茶壺,水壺,茶具,馬克杯,杯子,碟子,瓷碗,花瓶,餐盤,奶壺,茶葉罐,濾茶器,托盤,杯墊,香氛蠟燭,檯燈,靠墊,羊毛毯,絲巾,筆記本,鋼筆,餐巾,奶油碟,糖罐,蛋糕架,沙拉碗,飯碗,筷子,茶筅,禮盒'.split(
    ',',
  );
const EN_FIRST = 'Anna,Ben,Clara,David,Emma,Felix,Grace,Henry,Isla,Jack,Kate,Leo,Maya,Noah,Olivia,Paul'.split(
  ',',
);
const EN_LAST = 'Smith,Jones,Brown,Taylor,Wilson,Evans,Walker,Wright,Green,Hall,Wood,Clarke'.split(',');
const ZH_SURNAMES = '王李张刘陈杨黄赵吴周徐孙马朱胡郭'.split('');
const TW_SURNAMES = '王李張劉陳楊黃趙吳周徐孫馬朱胡郭'.split('');
const ZH_GIVEN = '伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚'.split('');
const TW_GIVEN = '偉芳娜敏靜麗強磊軍洋勇豔傑娟濤明超秀霞平剛'.split('');
const DOMAINS = ['example.com', 'mail.example.net', 'customer.example', 'example.org', 'qq.example.cn'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function inboundText(
  r: () => number,
  lang: Lang,
  order: number,
  name: string,
): { subject: string; body: string } {
  if (lang === 'en') {
    const p = pick(r, EN_PRODUCTS);
    const subjects = [
      `Question about the ${p}`,
      `Where is my order ${order}?`,
      `Refund for a broken ${p}`,
      `Invoice for order ${order}`,
      `Thank you for the lovely ${p}`,
      `URGENT: charged twice for order ${order}`,
      `Is the ${p} back in stock?`,
      `Wholesale price for the ${p}`,
    ];
    const sentences = [
      `I ordered the ${p} last week (order ${order}) and would like to know when it ships.`,
      `The parcel arrived today but the ${p} was broken in the box, so I would like a refund or a replacement.`,
      `Could you send me an invoice for order ${order} with our company name on it?`,
      `My card was charged twice for order ${order}; please refund the second payment as soon as possible.`,
      `Is the ${p} also available in blue, and how long does delivery to Manchester take?`,
      `We run a small cafe and would like a quote for twenty of the ${p}.`,
      `The tracking link for order ${order} has not changed for five days.`,
      `Thank you so much, the ${p} is beautiful and arrived well packed.`,
    ];
    const n = 2 + Math.floor(r() * 3);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(pick(r, sentences));
    return { subject: pick(r, subjects), body: `Hello,\n\n${parts.join(' ')}\n\nBest regards,\n${name}\n` };
  }
  const tw = lang === 'zh-TW';
  const p = pick(r, tw ? TW_PRODUCTS : ZH_PRODUCTS);
  const subjects = tw
    ? [
        `請問${p}的價格`,
        `訂單${order}的包裹到哪裡了？`,
        `申請退款：${p}破損`,
        `請開立訂單${order}的發票`,
        `謝謝你們的${p}`,
        `緊急：訂單${order}重複扣款`,
      ]
    : [
        `请问${p}的价格`,
        `订单${order}的包裹到哪里了？`,
        `申请退款：${p}破损`,
        `请开具订单${order}的发票`,
        `谢谢你们的${p}`,
        `紧急：订单${order}重复扣款`,
      ];
  const sentences = tw
    ? [
        `我上週訂購了${p}，訂單號${order}，想知道什麼時候出貨。`,
        `收到的${p}在盒子裡破損了，請幫我退款或換貨。`,
        `請為訂單${order}開立發票，抬頭是公司名稱。`,
        `訂單${order}被重複扣款了，請盡快處理。`,
        `請問${p}還有藍色的嗎？寄到台北要多久？`,
        `物流資訊已經五天沒有更新了。`,
        `非常感謝，${p}很漂亮，包裝也很好。`,
      ]
    : [
        `我上周订购了${p}，订单号${order}，想知道什么时候发货。`,
        `收到的${p}在盒子里破损了，请帮我退款或换货。`,
        `请为订单${order}开具发票，抬头是公司名称。`,
        `订单${order}被重复扣款了，请尽快处理。`,
        `请问${p}还有蓝色的吗？寄到上海要多久？`,
        `物流信息已经五天没有更新了。`,
        `非常感谢，${p}很漂亮，包装也很好。`,
      ];
  const n = 2 + Math.floor(r() * 3);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(pick(r, sentences));
  return { subject: pick(r, subjects), body: `您好${tw ? '：' : '，'}\n\n${parts.join('')}\n\n${name}\n` };
}

function replyText(r: () => number, lang: Lang, order: number, agent: string): string {
  if (lang === 'en') {
    const s = [
      `Thank you for your message about order ${order}.`,
      'We have passed this on to our warehouse and will get back to you within one working day.',
      'A replacement is on its way; you do not need to send the broken item back.',
      'The refund has been issued and should reach your card within five working days.',
      'Please find the invoice attached.',
    ];
    return `Hello,\n\n${pick(r, s)} ${pick(r, s)}\n\nKind regards,\n${agent}, Customer Service\n`;
  }
  const tw = lang === 'zh-TW';
  const s = tw
    ? [
        `感謝您關於訂單${order}的來信。`,
        '我們已轉交倉庫，將在一個工作日內回覆您。',
        '退款已辦理，五個工作日內到帳。',
        '補發的商品已寄出。',
      ]
    : [
        `感谢您关于订单${order}的来信。`,
        '我们已转交仓库，将在一个工作日内回复您。',
        '退款已办理，五个工作日内到账。',
        '补发的商品已寄出。',
      ];
  return `您好，\n\n${pick(r, s)}${pick(r, s)}\n\n${agent}\n`;
}

function weighted<T>(r: () => number, xs: readonly T[], ws: readonly number[]): T {
  let x = r();
  for (let i = 0; i < xs.length; i++) {
    x -= ws[i] ?? 0;
    if (x < 0) return xs[i] as T;
  }
  return xs[xs.length - 1] as T;
}

/** Writes a fresh database of `messages` messages to `file`. */
export function generateInboxDb(
  file: string,
  messages: number,
): Omit<GeneratedDb, 'file' | 'dataDir' | 'seconds' | 'cached'> {
  const r = rng(20260302);
  rmSync(file, { force: true });
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  const db = openDatabase(file);
  migrate(db);
  // Bulk-load settings: no rollback journal or fsync (a crash leaves a partial file that is never
  // renamed into the cache), and a big page cache for the indexes and the FTS segments.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  db.pragma('foreign_keys = OFF');
  // The full-text index is filled in one 'rebuild' pass at the end (what migration 0007 does for
  // mail stored before it), ~3x faster than its per-row insert trigger, and the CJK pair index in
  // one INSERT ... SELECT (what migration 0016 does); their insert triggers are dropped for the
  // load and put back from their own stored SQL, so the schema ends up exactly as migrated.
  const ftsTriggers = (
    db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'")
      .all() as {
      name: string;
      sql: string;
    }[]
  ).filter(
    (t) =>
      /\bAFTER\s+INSERT\s+ON\s+messages\b/i.test(t.sql) &&
      (t.sql.includes('messages_fts') || t.sql.includes('messages_cjk')),
  );
  for (const t of ftsTriggers) db.exec(`DROP TRIGGER ${t.name}`);

  // Conversation sizes first (1..7 messages, 4 on average), so times can spread evenly.
  const sizes: number[] = [];
  for (let left = messages; left > 0; ) {
    const k = Math.min(left, 1 + Math.floor(r() * 7));
    sizes.push(k);
    left -= k;
  }
  const C = sizes.length;
  const CUST = Math.max(1, Math.round(C / 2.5));

  const insCustomer = db.prepare(
    `INSERT INTO customers (id, email, base_email, name, locale, first_contact_at, last_contact_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insConv = db.prepare(
    `INSERT INTO conversations (id, customer_id, subject, department, urgency, status, assignee, tags, created_at,
       last_message_at, last_inbound_at, snoozed_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insMsg = db.prepare(
    `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, in_reply_to, refs, from_addr, from_name,
       to_addrs, subject, sent_at, received_at, text_body, size, source, author)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insClock = db.prepare(
    `INSERT INTO sla_clocks (conversation_id, state, kind, generation, started_at, due_at, warn_at, responded_at,
       urgency, department, policy_key, first_started_at, first_due_at, first_response_at, sla_stage, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );

  const custLang: Lang[] = [];
  const custEmail: string[] = [];
  const custName: string[] = [];
  db.exec('BEGIN');
  for (let id = 1; id <= CUST; id++) {
    const x = r();
    const lang: Lang = x < 0.5 ? 'en' : x < 0.8 ? 'zh-CN' : 'zh-TW';
    const name =
      lang === 'en'
        ? `${pick(r, EN_FIRST)} ${pick(r, EN_LAST)}`
        : lang === 'zh-TW'
          ? `${pick(r, TW_SURNAMES)}${pick(r, TW_GIVEN)}${pick(r, TW_GIVEN)}`
          : `${pick(r, ZH_SURNAMES)}${pick(r, ZH_GIVEN)}${pick(r, ZH_GIVEN)}`;
    const email = `customer${id}@${pick(r, DOMAINS)}`;
    custLang[id] = lang;
    custEmail[id] = email;
    custName[id] = name;
    insCustomer.run(id, email, email, name, lang, NOW - SPAN, NOW, NOW - SPAN);
  }
  db.exec('COMMIT');

  let active = 0;
  let msgNo = 0;
  let inTx = 0;
  db.exec('BEGIN');
  for (let c = 0; c < C; c++) {
    const convId = c + 1;
    const k = sizes[c] as number;
    const cust = 1 + Math.floor(r() * CUST);
    const lang = custLang[cust] as Lang;
    const email = custEmail[cust] as string;
    const name = custName[cust] as string;
    const order = 100000 + c;
    const department = weighted(r, DEPARTMENTS, DEPT_WEIGHTS);
    const u = r();
    const urgency = u < 0.1 ? 'urgent' : u < 0.9 ? 'normal' : 'thanks';
    const target = TARGET_H[urgency] * HOUR;
    const t0 = Math.round(NOW - SPAN + ((c + r()) / C) * SPAN);
    // Customer messages at even positions, staff replies at odd ones; a reply is on time 85% of the time.
    const times = [t0];
    for (let j = 1; j < k; j++) {
      const prev = times[j - 1] as number;
      const gap = j % 2 === 1 ? (r() < 0.85 ? 0.1 + r() * 0.8 : 1 + r() * 2) * target : (2 + r() * 46) * HOUR;
      times.push(Math.round(prev + gap));
    }
    const last = times[k - 1] as number;
    if (last > NOW - 10 * 60_000) {
      const scale = (NOW - 10 * 60_000 - t0) / (last - t0 || 1);
      for (let j = 1; j < k; j++) times[j] = Math.round(t0 + ((times[j] as number) - t0) * scale);
    }
    const lastIn = k % 2 === 1 ? k - 1 : k - 2;
    const answered = lastIn + 1 < k;
    const isActive = NOW - t0 < 10 * DAY || r() < 0.01;
    let status: string;
    let snoozedUntil: number | null = null;
    if (!isActive) status = 'closed';
    else if (!answered) status = 'open';
    else if (r() < 0.2) {
      status = 'snoozed';
      snoozedUntil = NOW + (r() < 0.5 ? -1 : 1) * (1 + r() * 48) * HOUR;
    } else status = 'waiting';
    if (isActive) active++;
    const assignee = r() < 0.6 ? pick(r, AGENTS) : null;
    const agent = assignee ?? pick(r, AGENTS);
    const first = inboundText(r, lang, order, name);
    const tags =
      r() < 0.3 ? JSON.stringify([pick(r, ['order', 'refund', 'invoice', 'wholesale', 'vip'])]) : '[]';
    insConv.run(
      convId,
      cust,
      first.subject,
      department,
      urgency,
      status,
      assignee,
      tags,
      t0,
      times[k - 1],
      times[lastIn],
      snoozedUntil,
    );
    let prevId: string | null = null;
    const refs: string[] = [];
    for (let j = 0; j < k; j++) {
      const inbound = j % 2 === 0;
      const text = j === 0 ? first : inbound ? inboundText(r, lang, order, name) : null;
      const body = text ? text.body : replyText(r, lang, order, agent);
      const subject = j === 0 ? first.subject : `Re: ${first.subject}`;
      const mid = inbound
        ? `g${convId}.${j}@${email.slice(email.indexOf('@') + 1)}`
        : `g${convId}.${j}@shop.example`;
      msgNo++;
      insMsg.run(
        convId,
        inbound ? 'in' : 'out',
        mid,
        `mid:${mid}`,
        prevId,
        JSON.stringify(refs),
        inbound ? email : 'support@shop.example',
        inbound ? name : 'Shop Support',
        inbound ? '["support@shop.example"]' : JSON.stringify([email]),
        subject,
        Math.round(times[j] as number),
        Math.round(times[j] as number),
        body,
        Buffer.byteLength(body) + 600,
        inbound ? `imap:shop/INBOX/1/${msgNo}` : null,
        inbound ? null : agent,
      );
      prevId = mid;
      refs.push(mid);
      if (++inTx >= TX_ROWS) {
        db.exec('COMMIT');
        db.exec('BEGIN');
        inTx = 0;
      }
    }
    // The clock of the last customer message, as the SLA engine would have left it.
    const started = times[lastIn] as number;
    const due = started + target;
    const warn = due - 0.2 * target;
    let state: string;
    let stage: string | null = null;
    const dueAt: number | null = due;
    let warnAt: number | null = null;
    let responded: number | null = null;
    if (answered) {
      responded = times[lastIn + 1] as number;
      state = responded <= due ? 'met' : 'breached';
    } else if (status === 'closed') {
      responded = Math.min(NOW, started + target / 2);
      state = 'met';
    } else if (NOW > due) {
      state = 'breached';
      stage = 'breach';
      warnAt = warn;
    } else {
      state = 'running';
      warnAt = warn;
      if (NOW >= warn) stage = 'warning';
    }
    insClock.run(
      convId,
      state,
      lastIn === 0 ? 'first' : 'next',
      lastIn / 2 + 1,
      Math.round(started),
      dueAt === null ? null : Math.round(dueAt),
      warnAt === null ? null : Math.round(warnAt),
      responded === null ? null : Math.round(responded),
      urgency,
      department,
      urgency,
      Math.round(t0),
      Math.round(t0 + target),
      k > 1 ? Math.round(times[1] as number) : null,
      stage,
      Math.round(responded ?? started),
    );
  }
  db.exec('COMMIT');
  db.exec("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')");
  const cjkStarted = Date.now();
  db.exec(`INSERT INTO messages_cjk(rowid, grams)
    SELECT id, g FROM (SELECT id, cjk_bigrams(subject, text_body, from_name, from_addr) AS g FROM messages
                       ORDER BY id LIMIT -1)
    WHERE g != ''`);
  const cjkIndexSeconds = (Date.now() - cjkStarted) / 1000;
  for (const t of ftsTriggers) db.exec(t.sql);
  db.pragma('journal_mode = WAL');
  db.close();
  return { messages: msgNo, conversations: C, customers: CUST, active, cjkIndexSeconds };
}

/**
 * A mailroom data dir (bench/.cache/inbox-v<version>-<messages>/) whose mailroom.sqlite holds
 * `messages` generated messages; generated on first use, reused after. Caches of other generator
 * versions are removed.
 */
export function ensureInboxDb(cacheDir: string, messages: number, log: (s: string) => void): GeneratedDb {
  mkdirSync(cacheDir, { recursive: true });
  const base = `inbox-v${GENERATOR_VERSION}-${messages}`;
  for (const f of readdirSync(cacheDir))
    if (f.startsWith('inbox-v') && !f.startsWith(`inbox-v${GENERATOR_VERSION}-`))
      rmSync(path.join(cacheDir, f), { recursive: true, force: true });
  const dataDir = path.join(cacheDir, base);
  const file = path.join(dataDir, 'mailroom.sqlite');
  const meta = path.join(dataDir, 'generated.json');
  if (existsSync(file) && existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as Omit<GeneratedDb, 'file' | 'dataDir' | 'cached'>;
    return { ...m, file, dataDir, seconds: 0, cached: true };
  }
  log(`generating ${messages.toLocaleString('en-US')} messages into ${dataDir} (cached for later runs)`);
  const started = Date.now();
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const tmp = path.join(dataDir, 'generating.partial');
  const counts = generateInboxDb(tmp, messages);
  renameSync(tmp, file);
  const seconds = (Date.now() - started) / 1000;
  writeFileSync(meta, `${JSON.stringify({ ...counts, seconds }, null, 2)}\n`);
  return { ...counts, file, dataDir, seconds, cached: false };
}

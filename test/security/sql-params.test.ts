import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createList } from '../../src/lists/index.ts';
import { seedConversation } from '../web/helpers.ts';
import {
  addStaff,
  dbFingerprint,
  type FullApp,
  fillRoute,
  type LoggedIn,
  login,
  routesOf,
  startFullApp,
} from './helpers.ts';

/**
 * SQL is built with bound parameters only: hostile text in every search and filter parameter of the
 * staff pages (read from the inbox page itself) and in every path parameter (read from the router)
 * answers without a server error, finds exactly what it literally says, and leaves the database as
 * it was.
 */
const HOSTILE = [
  "'",
  '"',
  '%',
  '_',
  '\\',
  '\\%',
  '%_%',
  "'; DROP TABLE conversations; --",
  '" OR 1=1 --',
  "' OR '1'='1",
  "' UNION SELECT password_hash FROM users --",
  ');--',
  '/*',
  '*',
  'NEAR(a b)',
  'subject:x',
  '-x OR ^y',
  '退款',
  '退款申请',
  '😀',
  'x\u0000y',
  '%00',
  '../../etc/passwd',
];

let f: FullApp;
let ada: LoggedIn;
const c: Record<string, number> = {};

beforeAll(async () => {
  f = await startFullApp();
  await addStaff(f.db, 'ada', 'admin');
  ada = await login(f.web, 'ada');
  const seed = (name: string, s: Parameters<typeof seedConversation>[1]) => {
    c[name] = seedConversation(f.db, { status: 'open', ...s }).conversationId;
  };
  seed('pct', {
    department: 'sales',
    subject: 'Discount 100% off',
    text: 'Really 100% true?',
    tags: ['promo%'],
    assignee: 'ada',
  });
  seed('under', {
    department: 'sales',
    subject: 'Error in file_name field',
    text: 'see above',
    tags: ['a_b'],
  });
  seed('back', { department: 'finance', subject: 'Path C:\\temp\\report', text: 'attached' });
  seed('quote', {
    department: 'sales',
    subject: "O'Brien's order",
    fromName: 'Dara Kelly',
    tags: ["o'brien"],
  });
  seed('dquote', { department: 'sales', subject: 'The "premium" tea', text: 'which one' });
  seed('cjk', { department: 'finance', subject: '退款申请', text: '我要退款' });
  // Enough plain mail for a second page, so the pager's parameter is on the page too.
  for (let i = 0; i < 52; i++)
    seed(`filler${i}`, { department: 'pr', subject: `Filler message ${i}`, text: 'nothing to see' });
  createList(f.db, { slug: 'news', name: 'News', consentWording: 'Yes' }, f.clock.now());
});

afterAll(async () => {
  await f?.close();
});

async function inbox(query: Record<string, string>) {
  const res = await f.web.inject({
    url: `/inbox?${new URLSearchParams({ status: 'all', ...query }).toString()}`,
    headers: { cookie: ada.cookie },
  });
  const ids = [...res.body.matchAll(/<tr class="row [^"]*" data-id="(\d+)"/g)].map((m) => Number(m[1]));
  return { status: res.statusCode, ids: ids.sort((a, b) => a - b), body: res.body };
}

/** Attribute text as the browser reads it (Handlebars writes = as &#x3D; and & as &amp;). */
const unescapeHtml = (s: string) =>
  s
    .replace(/&#x([0-9a-f]+);/gi, (_m, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');

const idsOf = (...names: string[]) => names.map((n) => c[n] as number).sort((a, b) => a - b);

describe('search and filters take hostile text literally', () => {
  it('every filter parameter of the inbox page answers without a server error and changes nothing', async () => {
    const page = await inbox({});
    // The parameters the page itself sends: its filter form and its links (views, pager).
    const names = new Set(
      [...page.body.matchAll(/<(?:input|select)[^>]* name="([^"]+)"/g)].map((m) => m[1] as string),
    );
    for (const m of page.body.matchAll(/href="\/inbox\?([^"]*)"/g))
      for (const k of new URLSearchParams(unescapeHtml(m[1] as string)).keys()) names.add(k);
    names.delete('_csrf');
    expect([...names].sort()).toEqual(['assignee', 'page', 'q', 'status', 'tag', 'urgency', 'view']);
    const before = dbFingerprint(f.db);
    for (const name of names) {
      for (const v of HOSTILE) {
        const res = await inbox({ [name]: v });
        expect(res.status, `${name}=${JSON.stringify(v)}`).toBe(200);
      }
    }
    expect(dbFingerprint(f.db)).toBe(before);
  });

  it('search finds exactly the conversations containing the text, wildcards and quotes included', async () => {
    const cases: Array<[string, string[]]> = [
      ['%', ['pct']],
      ['100%', ['pct']],
      ['e%', []],
      ['_', ['under']],
      ['e_', ['under']],
      ['file_name', ['under']],
      ['\\', ['back']],
      ['C:\\temp', ['back']],
      ["'", ['quote']],
      ["O'Brien's", ['quote']],
      ['"', ['dquote']],
      ['"premium"', ['dquote']],
      ['%_%', []],
      ['*', []],
      ["'; DROP TABLE conversations; --", []],
      ['" OR 1=1 --', []],
      ["' OR '1'='1", []],
      ['NEAR(a b)', []],
      ['subject:Discount', []],
      ['退款', ['cjk']],
      ['退款申请', ['cjk']],
      ['x\u0000y', []],
      ['Discount', ['pct']],
    ];
    for (const [q, want] of cases) {
      const res = await inbox({ q });
      expect(res.status, `q=${JSON.stringify(q)}`).toBe(200);
      expect(res.ids, `q=${JSON.stringify(q)}`).toEqual(idsOf(...want));
    }
    expect(f.db.prepare('SELECT count(*) AS n FROM conversations').get()).toEqual({ n: 58 });
  });

  it('tag and assignee filters match whole values only', async () => {
    const cases: Array<[Record<string, string>, string[]]> = [
      [{ tag: '%' }, []],
      [{ tag: 'promo%' }, ['pct']],
      [{ tag: 'promo' }, []],
      [{ tag: 'a_b' }, ['under']],
      [{ tag: 'a%' }, []],
      [{ tag: "o'brien" }, ['quote']],
      [{ tag: "' OR '1'='1" }, []],
      [{ assignee: '%' }, []],
      [{ assignee: "' OR 1=1 --" }, []],
      [{ assignee: 'ada' }, ['pct']],
      [{ assignee: 'ad_' }, []],
    ];
    for (const [query, want] of cases) {
      const res = await inbox(query);
      expect(res.status, JSON.stringify(query)).toBe(200);
      expect(res.ids, JSON.stringify(query)).toEqual(idsOf(...want));
    }
  });

  it('every path parameter of every GET route (enumerated) answers hostile text without a server error', async () => {
    const routes = routesOf(f.web).filter((r) => r.method === 'GET' && /[:*]/.test(r.url));
    expect(routes.length).toBeGreaterThanOrEqual(8);
    const before = dbFingerprint(f.db);
    for (const r of routes) {
      for (const v of HOSTILE) {
        const names = [...r.url.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
        const url = fillRoute(r.url, Object.fromEntries(names.map((n) => [n, v])));
        const res = await f.web.inject({ url, headers: { cookie: ada.cookie } });
        expect(res.statusCode, `${url}`).toBeLessThan(500);
      }
    }
    for (const v of HOSTILE) {
      const res = await f.web.inject({ url: `/lists/confirm?token=${encodeURIComponent(v)}` });
      expect(res.statusCode, v).toBe(400);
    }
    expect(dbFingerprint(f.db)).toBe(before);
  });
});

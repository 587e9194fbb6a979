import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import type { ListsDeps, OutgoingMail, RenderFn } from '../../src/lists/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';

export const SECRET = 'test-secret-0123456789abcdef';

export interface TestLists {
  db: Db;
  clock: ManualClock;
  deps: ListsDeps;
  outbox: OutgoingMail[];
}

/** A simple renderer standing in for the outbound Handlebars templates. */
export const testRender: RenderFn = async (template, locale, data) => ({
  html: `<p>${template}/${locale}: Hello ${String(data.name ?? '')}</p><p><a href="${String(data.unsubscribeUrl)}">unsubscribe</a></p>`,
  text: `Hello ${String(data.name ?? '')}\nLeave: ${String(data.unsubscribeUrl)}\n`,
});

export function setupLists(overrides: Partial<ListsDeps> = {}, file = ':memory:'): TestLists {
  const db = openDatabase(file);
  migrate(db);
  const clock = new ManualClock();
  const outbox: OutgoingMail[] = [];
  const deps: ListsDeps = {
    db,
    clock,
    logger: silentLogger(),
    secret: SECRET,
    publicUrl: 'https://shop.example.com',
    mailDomain: 'shop.example.com',
    from: 'news@shop.example.com',
    send: async (m) => {
      outbox.push(m);
    },
    render: testRender,
    ...overrides,
  };
  return { db, clock, deps, outbox };
}

/** The confirm link from a confirmation mail body, as a person would click it. */
export function linkFrom(text: string, pathPart: string): string {
  const m = new RegExp(`https://shop\\.example\\.com(${pathPart}[^\\s"<]*)`).exec(text);
  if (!m) throw new Error(`no ${pathPart} link in mail`);
  return (m[1] as string).replace(/&amp;/g, '&');
}

import path from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import {
  createCampaign,
  createCampaignRunner,
  createList,
  eraseAddress,
  exportAddress,
  type OutgoingMail,
  progress,
  type RenderFn,
  startCampaign,
  subscribe,
  TRACKING_NOTE_MARKER,
  TRACKING_NOTES,
  testSend,
} from '../../src/lists/index.ts';
import { createTemplateRenderer } from '../../src/outbound/index.ts';
import { listsPublicRoutes, PIXEL_GIF } from '../../src/web/lists/index.ts';
import { setupLists, type TestLists } from './helpers.ts';
import { testQueue } from './test-queue.ts';

const TEA = 'https://example.org/tea?x=1&y=2';

/** A body as Handlebars would escape it: `&` and `=` in hrefs are character references. */
const linkRender: RenderFn = async (_template, _locale, data) => ({
  html: `<html><body><p>Hello ${String(data.name ?? '')}</p>
<p><a href="https://example.org/tea?x&#x3D;1&amp;y&#x3D;2">Spring tea</a>
<a class="x" href='http://example.net/cups'>Cups</a>
<a href="mailto:hello@shop.example.com">Write to us</a></p>
<p><a href="${String(data.unsubscribeUrl)}">unsubscribe</a></p></body></html>`,
  text: `Hello\nTea: ${TEA}\nLeave: ${String(data.unsubscribeUrl)}\n`,
});

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups) await c();
  cleanups = [];
});

async function world(opts: { tracking?: boolean; render?: RenderFn; people?: Array<[string, string]> } = {}) {
  const t = setupLists({ render: opts.render ?? linkRender });
  cleanups.push(() => t.db.close());
  const news = createList(t.db, { slug: 'news', name: 'News', consentWording: 'ok', optin: 'single' }, 1);
  for (const [email, locale] of opts.people ?? [
    ['ann@example.com', 'en'],
    ['bo@example.com', 'en'],
  ])
    await subscribe(t.deps, { slug: 'news', email, name: null, locale, source: 'staff' });
  const c = createCampaign(
    t.db,
    {
      name: 'Spring',
      listIds: [news.id],
      template: 'newsletter',
      subject: 'Spring',
      ...(opts.tracking === undefined ? {} : { tracking: opts.tracking }),
    },
    1,
  );
  return { t, c };
}

async function runCampaign(t: TestLists, id: number): Promise<void> {
  const queue = testQueue();
  const runner = createCampaignRunner({ deps: t.deps, queue });
  runner.work();
  startCampaign(t.db, id, t.clock.now());
  for (let i = 0; i < 10 && progress(t.db, id).status !== 'done'; i++) {
    await runner.tick();
    await queue.drain();
    t.clock.advance(1000);
  }
  expect(progress(t.db, id).status).toBe('done');
}

async function server(t: TestLists) {
  const app = Fastify();
  await app.register(listsPublicRoutes, { lists: t.deps });
  cleanups.unshift(() => app.close());
  return app;
}

const tokenOf = (t: TestLists, email: string): string =>
  (t.db.prepare('SELECT token FROM campaign_sends WHERE email = ?').get(email) as { token: string }).token;
const mailTo = (t: TestLists, email: string): OutgoingMail => {
  const m = t.outbox.find((x) => x.to === email);
  if (!m) throw new Error(`no mail to ${email}`);
  return m;
};
const unsubscribeUrlOf = (m: OutgoingMail): string =>
  /^<([^>]+)>/.exec(m.headers['List-Unsubscribe'] ?? '')?.[1] as string;
/** The tracked links of a mail, as a client would request them (path and query only). */
const clickLinks = (m: OutgoingMail): string[] =>
  [...m.html.matchAll(/href="https:\/\/shop\.example\.com(\/t\/c\/[^"]+)"/g)].map((x) =>
    (x[1] as string).replace(/&amp;/g, '&'),
  );
const events = (t: TestLists) =>
  t.db
    .prepare('SELECT send_id, kind, url, at, last_at, count FROM campaign_events ORDER BY id')
    .all() as Array<{
    send_id: number;
    kind: string;
    url: string;
    at: number;
    last_at: number;
    count: number;
  }>;

describe('campaign tracking', () => {
  it('is off by default: no pixel, links and text as rendered, no note, no open/click counts', async () => {
    const { t, c } = await world();
    expect(c.tracking).toBe(0);
    await runCampaign(t, c.id);
    const m = mailTo(t, 'ann@example.com');
    const rendered = await linkRender('newsletter', 'en', {
      name: null,
      unsubscribeUrl: unsubscribeUrlOf(m),
    });
    expect(m.html).toBe(rendered.html);
    expect(m.text).toBe(rendered.text);
    expect(m.html).not.toContain('/t/');
    expect(m.html).not.toContain('<img');
    expect(m.html).not.toContain(TRACKING_NOTE_MARKER);
    const p = progress(t.db, c.id);
    expect(p).not.toHaveProperty('opens');
    expect(p).not.toHaveProperty('clicks');
  });

  it('when on: pixel at the end, http(s) links through a signed redirect, unsubscribe/mailto/text untouched', async () => {
    const { t, c } = await world({ tracking: true });
    await runCampaign(t, c.id);
    const m = mailTo(t, 'ann@example.com');
    const token = tokenOf(t, 'ann@example.com');
    // The pixel is the last thing in the body.
    expect(m.html).toMatch(
      new RegExp(
        `<img src="https://shop\\.example\\.com/t/o/${token}\\.gif" width="1" height="1" alt=""[^>]*>\\s*</body></html>$`,
      ),
    );
    const links = clickLinks(m);
    expect(links).toHaveLength(2);
    const targets = links.map((l) => new URL(l, 'https://x.invalid').searchParams.get('u'));
    expect(targets).toEqual([TEA, 'http://example.net/cups']);
    for (const l of links) {
      expect(l.startsWith(`/t/c/${token}?u=`)).toBe(true);
      expect(l).toMatch(/&s=[0-9a-f]{32}$/);
    }
    expect(m.html).not.toContain('href="https://example.org/tea');
    expect(m.html).toContain('<a class="x" href="https://shop.example.com/t/c/');
    expect(m.html).toContain('href="mailto:hello@shop.example.com"');
    expect(m.html).toContain(`<a href="${unsubscribeUrlOf(m)}">unsubscribe</a>`);
    // The text part keeps the real links.
    expect(m.text).toContain(`Tea: ${TEA}`);
    expect(m.text).not.toContain('/t/');
    // This body has no layout, so the note is added (html and text).
    expect(m.html).toContain(TRACKING_NOTES.en);
    expect(m.text).toContain(TRACKING_NOTES.en);
    // Each recipient gets their own token.
    expect(mailTo(t, 'bo@example.com').html).toContain(`/t/o/${tokenOf(t, 'bo@example.com')}.gif`);
    expect(progress(t.db, c.id)).toMatchObject({ opens: 0, clicks: 0 });
  });

  it('the newsletter layout shows the privacy note in en, zh-CN and zh-TW only when tracking is on', async () => {
    const renderer = createTemplateRenderer({
      dir: path.join(PROJECT_ROOT, 'templates'),
      publicUrl: 'https://shop.example.com',
      globals: { shop: { name: 'Lotus Tea House' } },
    });
    const render: RenderFn = async (tpl, locale, data) => renderer.renderTemplate(tpl, locale, data);
    const people: Array<[string, string]> = [
      ['en@example.com', 'en'],
      ['cn@example.com', 'zh-CN'],
      ['tw@example.com', 'zh-TW'],
    ];
    for (const tracking of [true, false]) {
      const { t, c } = await world({ tracking, render, people });
      await runCampaign(t, c.id);
      for (const [email, locale] of people) {
        const m = mailTo(t, email);
        const note = TRACKING_NOTES[locale as keyof typeof TRACKING_NOTES];
        if (tracking) {
          // Shown once, by the layout (not the fallback), in the reader's language and in the text part.
          expect(m.html.split(TRACKING_NOTE_MARKER)).toHaveLength(2);
          expect(m.html).toContain(`<p data-mailroom-tracking-note style="margin:0 0 8px;">${note}</p>`);
          expect(m.text.replace(/\s+/g, ' ')).toContain(note); // the text part is word-wrapped
          expect(m.html).toContain(`<a href="${unsubscribeUrlOf(m)}" style="color:#71717a;">`);
          expect(m.html).toContain(`/t/o/${tokenOf(t, email)}.gif`);
        } else {
          expect(m.html).not.toContain(TRACKING_NOTE_MARKER);
          for (const n of Object.values(TRACKING_NOTES)) expect(m.text.replace(/\s+/g, ' ')).not.toContain(n);
        }
      }
    }
  });

  it('records an open once per send, counts repeats, and always answers a 43-byte GIF', async () => {
    const { t, c } = await world({ tracking: true });
    await runCampaign(t, c.id);
    const app = await server(t);
    const token = tokenOf(t, 'ann@example.com');
    const first = t.clock.now();
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ url: `/t/o/${token}.gif` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/gif');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.rawPayload).toHaveLength(43);
      expect(res.rawPayload.equals(PIXEL_GIF)).toBe(true);
      t.clock.advance(60_000);
    }
    const sendId = (
      t.db.prepare('SELECT id FROM campaign_sends WHERE token = ?').get(token) as { id: number }
    ).id;
    expect(events(t)).toEqual([
      { send_id: sendId, kind: 'open', url: '', at: first, last_at: first + 120_000, count: 3 },
    ]);
    expect(progress(t.db, c.id)).toMatchObject({ opens: 1, clicks: 0 });
    await app.inject({ url: `/t/o/${tokenOf(t, 'bo@example.com')}.gif` });
    expect(progress(t.db, c.id)).toMatchObject({ opens: 2, clicks: 0 });
  });

  it('a signed click redirects to the exact original URL and is recorded', async () => {
    const { t, c } = await world({ tracking: true });
    await runCampaign(t, c.id);
    const app = await server(t);
    const [tea, cups] = clickLinks(mailTo(t, 'ann@example.com')) as [string, string];
    const at = t.clock.now();
    const res = await app.inject({ url: tea });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(TEA);
    expect((await app.inject({ url: cups })).headers.location).toBe('http://example.net/cups');
    await app.inject({ url: tea });
    expect(events(t).map((e) => [e.kind, e.url, e.at, e.count])).toEqual([
      ['click', TEA, at, 2],
      ['click', 'http://example.net/cups', at, 1],
    ]);
    // Unique: one recipient clicked (twice, two links); no open was recorded by the clicks.
    expect(progress(t.db, c.id)).toMatchObject({ opens: 0, clicks: 1 });
    // The export of the address shows what was recorded.
    expect(exportAddress(t.deps, 'ann@example.com').campaignEvents).toEqual([
      expect.objectContaining({ campaign: 'Spring', kind: 'click', url: TEA, count: 2 }),
      expect.objectContaining({
        campaign: 'Spring',
        kind: 'click',
        url: 'http://example.net/cups',
        count: 1,
      }),
    ]);
  });

  it('a tampered URL or signature answers 400 and records nothing', async () => {
    const { t, c } = await world({ tracking: true });
    await runCampaign(t, c.id);
    const app = await server(t);
    const [tea] = clickLinks(mailTo(t, 'ann@example.com')) as [string];
    const u = new URL(tea, 'https://x.invalid');
    const sig = u.searchParams.get('s') as string;
    const token = tokenOf(t, 'ann@example.com');
    const other = tokenOf(t, 'bo@example.com');
    const q = (url: string, s: string) => `?u=${encodeURIComponent(url)}&s=${s}`;
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
    const bad = [
      `/t/c/${token}${q('https://evil.example/', sig)}`,
      `/t/c/${token}${q(`${TEA}&z=3`, sig)}`,
      `/t/c/${token}${q(TEA, flipped)}`,
      `/t/c/${token}${q(TEA, sig.toUpperCase())}`,
      `/t/c/${token}?u=${encodeURIComponent(TEA)}`,
      `/t/c/${token}${q(TEA, sig)}&u=${encodeURIComponent('https://evil.example/')}`,
      // The signature binds the token: another recipient's token with Ann's link is refused.
      `/t/c/${other}${q(TEA, sig)}`,
    ];
    for (const url of bad) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers.location, url).toBeUndefined();
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.body).toBe('This link is not valid. Use the link from the mail.');
    }
    expect(events(t)).toEqual([]);
    expect(progress(t.db, c.id)).toMatchObject({ opens: 0, clicks: 0 });
  });

  it('a forged token records nothing: the pixel still answers, a click is refused', async () => {
    const { t, c } = await world({ tracking: true });
    await runCampaign(t, c.id);
    const app = await server(t);
    const [tea] = clickLinks(mailTo(t, 'ann@example.com')) as [string];
    const sig = new URL(tea, 'https://x.invalid').searchParams.get('s') as string;
    for (const forged of ['0123456789abcdef0123', 'not-a-token', `${tokenOf(t, 'ann@example.com')}0`]) {
      const open = await app.inject({ url: `/t/o/${forged}.gif` });
      expect(open.statusCode).toBe(200);
      expect(open.rawPayload.equals(PIXEL_GIF)).toBe(true);
      const click = await app.inject({ url: `/t/c/${forged}?u=${encodeURIComponent(TEA)}&s=${sig}` });
      expect(click.statusCode).toBe(400);
    }
    expect(events(t)).toEqual([]);
    expect(progress(t.db, c.id)).toMatchObject({ opens: 0, clicks: 0 });
  });

  it('records nothing for a campaign without tracking, a test send or an erased address', async () => {
    const { t, c } = await world();
    await runCampaign(t, c.id);
    const app = await server(t);
    // A real send token of an untracked campaign.
    await app.inject({ url: `/t/o/${tokenOf(t, 'ann@example.com')}.gif` });
    expect(events(t)).toEqual([]);

    const { t: t2, c: c2 } = await world({ tracking: true });
    const app2 = await server(t2);
    // A test send's links work but name no send row.
    await testSend(t2.deps, c2.id, ['boss@shop.example.com']);
    const test = mailTo(t2, 'boss@shop.example.com');
    const [tea] = clickLinks(test) as [string];
    expect((await app2.inject({ url: tea })).headers.location).toBe(TEA);
    const pixel = /\/t\/o\/[0-9a-f]+\.gif/.exec(test.html)?.[0] as string;
    expect((await app2.inject({ url: pixel })).statusCode).toBe(200);
    expect(events(t2)).toEqual([]);

    // Erasing an address deletes its records, and its old mail records nothing more.
    await runCampaign(t2, c2.id);
    const token = tokenOf(t2, 'ann@example.com');
    await app2.inject({ url: `/t/o/${token}.gif` });
    expect(events(t2)).toHaveLength(1);
    eraseAddress(t2.deps, 'ann@example.com');
    expect(events(t2)).toEqual([]);
    await app2.inject({ url: `/t/o/${token}.gif` });
    expect(events(t2)).toEqual([]);
  });
});

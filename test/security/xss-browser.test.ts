import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createList, unsubscribeLinks } from '../../src/lists/index.ts';
import { binary, inCI, launchBrowser } from '../harness/index.ts';
import { addStaff, type FullApp, PASSWORD, startFullApp } from './helpers.ts';

/**
 * Stored XSS through real mail: each payload travels in the subject, the sender's display name, the
 * text body, an HTML body, an attachment file name and the rules' explanation and tags, is ingested
 * by the real pipeline, and is rendered by a real Chromium on the inbox list, the conversation page
 * and search results. The browser context bypasses the Content-Security-Policy, so what is tested
 * is escaping and sanitising themselves; the CSP is a second wall (tested in test/web/auth.test.ts).
 * A payload that ran calls xss(n) (or alert), which the page records.
 */
const PAYLOADS = [
  '<script>xss(1)</script>',
  '<img src=x onerror=xss(2)>',
  '<svg onload=xss(3)>',
  '"><img src=x onerror=xss(4)>',
  "'><img src=x onerror=xss(5)>",
  '" autofocus onfocus="xss(6)" x="',
  "' onmouseover='xss(7)' x='",
  '</title><script>xss(8)</script>',
  '</textarea><script>xss(9)</script>',
  '</script><script>xss(10)</script>',
  '<a href="javascript:xss(11)">click</a>',
  '<a href=" jav&#x09;ascript:xss(12)">tab</a>',
  '<iframe srcdoc="<script>parent.xss(13)</script>"></iframe>',
  '<details open ontoggle=xss(14)>',
  '<body onload=xss(15)>',
  '<math><mtext><table><mglyph><style><img src=x onerror=xss(16)>',
  '<!--<img src="--><img src=x onerror=xss(17)//">',
  '<meta http-equiv="refresh" content="0;url=javascript:xss(18)">',
  '<object data="javascript:xss(19)"></object>',
  '<base href="javascript:xss(20)//">',
  '<form><button formaction=javascript:xss(21)>go</button></form>',
  '{{constructor.constructor("xss(22)")()}}',
  '<img src=x onerror=alert(23)>',
];

// A rule whose explanation quotes the matched subject text and whose tags are hostile too.
const RULES = `rules:
  - name: probe-rule
    when:
      subject: { matches: "probe.*" }
    then:
      tags: ['<img src=x onerror=xss(101)>', '"><svg onload=xss(102)>']
`;

/** The little of the browser's DOM the in-page checks use (the project compiles without lib "dom"). */
interface DomNode {
  localName: string;
  textContent: string | null;
  attributes: ArrayLike<{ name: string; value: string }>;
  getAttribute(name: string): string | null;
}
interface DomDocument {
  querySelector(selector: string): DomNode | null;
  querySelectorAll(selector: string): ArrayLike<DomNode>;
}
interface PageGlobals {
  document: DomDocument;
  DOMParser: new () => { parseFromString(html: string, type: string): DomDocument };
  xss(n: unknown): void;
  __xss?: string[];
}

const canRun = Boolean(binary('chromium')) || inCI();

describe.skipIf(!canRun)('stored and reflected XSS in a real browser', () => {
  let f: FullApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Pages side by side for the per-payload visits; each notes what ran on it. */
  let pages: Page[] = [];
  const ran = new Map<Page, string[]>();
  const conv: number[] = [];
  let listSlug = '';
  let unsubscribePath = '';
  let rulesDir = '';

  async function build(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
    return new MailComposer(mail).compile().build();
  }

  beforeAll(async () => {
    rulesDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-xss-rules-'));
    writeFileSync(path.join(rulesDir, '50-probe.yaml'), RULES);
    f = await startFullApp({ env: { MAILROOM_RULES_DIR: rulesDir } });
    await addStaff(f.db, 'lin', 'admin');
    for (const [i, p] of PAYLOADS.entries()) {
      const k = i + 1;
      const messageId = `<probe-${k}@evil.example>`;
      const common = {
        from: { name: `Mallory ${p}`, address: `mallory${k}@evil.example` },
        to: 'support@shop.example',
        date: new Date(f.clock.now()),
      };
      // A plain-text mail (shown as text) and an HTML answer in the same thread (shown sanitised in a frame).
      const text = await build({
        ...common,
        subject: `probe${k} ${p}`,
        messageId,
        text: `plain ${p}\n`,
        attachments: [{ filename: `f${k} ${p}.txt`, content: 'hello' }],
      });
      const html = await build({
        ...common,
        subject: `Re: probe${k} ${p}`,
        messageId: `<probe-${k}-html@evil.example>`,
        inReplyTo: messageId,
        references: [messageId],
        text: 'alt',
        html: `<p>html${k}</p>${p}<a href="javascript:xss(${k})">link</a>`,
      });
      for (const raw of [text, html]) {
        const res = await f.app.pipeline.ingestRaw(raw, { kind: 'import', file: `probe-${k}.eml` });
        expect(res.status).toBe('stored');
      }
      const row = f.db
        .prepare('SELECT conversation_id FROM messages WHERE message_id = ?')
        .get(`probe-${k}@evil.example`) as { conversation_id: number } | undefined;
      if (!row) throw new Error(`probe ${k} was not stored`);
      conv.push(row.conversation_id);
    }
    const p = PAYLOADS.join(' ');
    const list = createList(
      f.db,
      { slug: 'hostile', name: `News ${p}`, description: p, consentWording: `Yes ${p}`, optin: 'single' },
      f.clock.now(),
    );
    listSlug = list.slug;
    await f.app.lists.subscribe({ slug: list.slug, email: 'reader@example.com', source: 'form' });
    const sub = f.db.prepare('SELECT id FROM subscribers').get() as { id: number };
    unsubscribePath = new URL(unsubscribeLinks(f.app.lists.deps, list.id, sub.id, 'reader@example.com').url)
      .pathname;

    browser = await launchBrowser(binary('chromium') ?? '/usr/bin/chromium');
    context = await browser.newContext({ bypassCSP: true });
    await context.addInitScript(() => {
      const g = globalThis as unknown as PageGlobals;
      const hits: string[] = [];
      g.__xss = hits;
      g.xss = (n) => {
        hits.push(String(n));
      };
    });
    pages = await Promise.all([1, 2, 3].map(() => context.newPage()));
    for (const p of pages) {
      const seen: string[] = [];
      ran.set(p, seen);
      p.on('dialog', (d) => {
        seen.push(`dialog ${d.message()}`);
        void d.dismiss();
      });
      p.on('pageerror', (e) => seen.push(`page error ${e.message}`));
    }
    page = pages[0] as Page;
    await page.goto(`${f.base}/login`);
    await page.fill('input[name=username]', 'lin');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/inbox/);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await f?.close();
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  });

  /**
   * Loads a page and returns what ran and any markup that could run script later, plus the text of
   * the given selectors. One round trip after the load: this runs some sixty times.
   */
  async function visit(
    url: string,
    opts: { scripts?: string[]; texts?: string[]; on?: Page } = {},
  ): Promise<{ bad: string[]; text: Record<string, string | null>; frames: Array<string | null> }> {
    const on = opts.on ?? page;
    await on.goto(url, { waitUntil: 'load' });
    const found: string[] = [...(ran.get(on)?.splice(0) ?? [])];
    const res = await on.evaluate(
      async ({ scripts, texts }) => {
        const g = globalThis as unknown as PageGlobals;
        const bad = (g.__xss ?? []).map((h) => `xss(${h}) ran`);
        // Markup that could run on a click or later: handlers, script URLs, unexpected scripts and frames.
        const inspect = (doc: DomDocument, where: string, want: string[]) => {
          for (const el of Array.from(doc.querySelectorAll('*'))) {
            for (const a of Array.from(el.attributes)) {
              if (/^on/i.test(a.name)) bad.push(`${where}: <${el.localName} ${a.name}>`);
              if (a.name === 'srcdoc') bad.push(`${where}: <${el.localName} srcdoc>`);
              if (
                /^(href|src|action|formaction|data|xlink:href)$/i.test(a.name) &&
                /^\s*javascript:/i.test(a.value)
              )
                bad.push(`${where}: <${el.localName} ${a.name}="${a.value}">`);
            }
          }
          const got = Array.from(doc.querySelectorAll('script')).map(
            (x) => x.getAttribute('src') ?? 'inline',
          );
          if (got.join() !== want.join()) bad.push(`${where}: scripts ${got.join()}`);
          for (const sel of [
            'object',
            'embed',
            'base',
            'meta[http-equiv]',
            'body svg',
            'body math',
            'body style',
          ])
            if (doc.querySelector(sel)) bad.push(`${where}: ${sel}`);
        };
        inspect(g.document, 'page', scripts);
        // Mail HTML only in its own sandboxed frame, without scripts, and sanitised inside.
        const frames: Array<string | null> = [];
        for (const frame of Array.from(g.document.querySelectorAll('iframe'))) {
          const src = frame.getAttribute('src') ?? '';
          const sandbox = frame.getAttribute('sandbox');
          if (
            !/^\/c\/\d+\/m\/\d+\/body$/.test(src) ||
            sandbox === null ||
            /allow-(scripts|same-origin)/.test(sandbox)
          ) {
            bad.push(`page: frame ${src} sandbox=${sandbox}`);
            continue;
          }
          const html = await (await fetch(src)).text();
          const doc = new g.DOMParser().parseFromString(html, 'text/html');
          inspect(doc, src, []);
          frames.push(doc.querySelector('p')?.textContent ?? null);
        }
        const text = Object.fromEntries(
          texts.map((sel) => [sel, g.document.querySelector(sel)?.textContent ?? null]),
        );
        return { bad, text, frames };
      },
      { scripts: opts.scripts ?? ['/static/app.js'], texts: opts.texts ?? [] },
    );
    return { bad: [...found, ...res.bad], text: res.text, frames: res.frames };
  }

  it('the inbox list shows every hostile subject, sender and tag as text and runs none', async () => {
    expect((await visit(`${f.base}/inbox?status=all`)).bad).toEqual([]);
    const subjects = await page.$$eval('#conversations td.subject a', (as) => as.map((a) => a.textContent));
    for (const [i, p] of PAYLOADS.entries()) expect(subjects).toContain(`probe${i + 1} ${p}`);
    const tags = await page.$$eval('#conversations .tag', (ts) => ts.map((t) => t.textContent));
    expect(tags).toContain('<img src=x onerror=xss(101)>');
    const customers = await page.$$eval('#conversations td:nth-child(3)', (tds) =>
      tds.map((t) => t.textContent),
    );
    expect(customers).toContain(`Mallory ${PAYLOADS[0]}`);
  });

  it('each conversation page shows subject, sender, text, attachment name, explanation and tags as text, and the HTML sanitised', async () => {
    const check = async (i: number, on: Page) => {
      const k = i + 1;
      const p = PAYLOADS[i] as string;
      const { bad, text, frames } = await visit(`${f.base}/c/${conv[i]}`, {
        on,
        texts: ['#subject', '.sender', 'pre.text', '.attachments a', '.why', '.meta'],
      });
      expect(bad, `payload ${k}: ${p}`).toEqual([]);
      // The payload is on the page as text, so the check above was not passed by dropping it.
      expect(text, `payload ${k}`).toEqual({
        '#subject': `probe${k} ${p}`,
        '.sender': expect.stringContaining(`Mallory ${p}`),
        'pre.text': `plain ${p}\n`,
        '.attachments a': `f${k} ${p}.txt`,
        // The explanation quotes the matched subject as a JSON string.
        '.why': expect.stringContaining(JSON.stringify(`probe${k} ${p}`.slice(0, 40)).slice(0, -1)),
        '.meta': expect.stringContaining('"><svg onload=xss(102)>'),
      });
      expect(frames, `payload ${k}`).toEqual([`html${k}`]);
    };
    for (let i = 0; i < PAYLOADS.length; i += pages.length)
      await Promise.all(pages.map((on, j) => (i + j < PAYLOADS.length ? check(i + j, on) : null)));
  });

  it('search results list the hostile conversations and echo the search as text', async () => {
    expect((await visit(`${f.base}/inbox?status=all&q=probe`)).bad).toEqual([]);
    const rows = await page.$$eval('#conversations tbody tr', (rs) =>
      rs.map((r) => Number(r.getAttribute('data-id'))),
    );
    expect(rows.sort((a, b) => a - b)).toEqual([...conv].sort((a, b) => a - b));
    // Searching for a payload itself: it is matched as text and echoed into the search field as a value.
    for (const i of [0, 3, 4, 5, 6, 10]) {
      const q = `probe${i + 1} ${PAYLOADS[i]}`;
      expect((await visit(`${f.base}/inbox?status=all&q=${encodeURIComponent(q)}`)).bad, q).toEqual([]);
      expect(await page.inputValue('input[name=q]')).toBe(q);
      expect(
        await page.$$eval('#conversations tbody tr', (rs) => rs.map((r) => r.getAttribute('data-id'))),
      ).toEqual([String(conv[i])]);
    }
  });

  it('reflected parameters (error message, filters, login next) and the public list pages run nothing', async () => {
    const p = encodeURIComponent(PAYLOADS.join(' '));
    for (const url of [
      `/c/${conv[0]}?error=${p}`,
      `/inbox?tag=${p}&assignee=${p}&view=${p}&status=${p}&urgency=${p}&page=${p}`,
    ])
      expect((await visit(`${f.base}${url}`)).bad, url).toEqual([]);
    // The public list pages have no script at all.
    for (const url of [`/lists/${listSlug}`, unsubscribePath]) {
      expect((await visit(`${f.base}${url}`, { scripts: [] })).bad, url).toEqual([]);
      expect(await page.textContent('main')).toContain('News <script>xss(1)</script>');
    }
    const anonymous = await context.browser()?.newContext({ bypassCSP: true });
    if (!anonymous) throw new Error('no browser');
    try {
      const login = await anonymous.newPage();
      const seen: string[] = [];
      login.on('dialog', (d) => {
        seen.push(d.message());
        void d.dismiss();
      });
      await login.goto(`${f.base}/login?next=${encodeURIComponent(`/inbox"><img src=x onerror=alert(1)>`)}`);
      expect(await login.getAttribute('input[name=next]', 'value')).toBe(
        '/inbox"><img src=x onerror=alert(1)>',
      );
      expect(await login.$$('img')).toHaveLength(0);
      expect(seen).toEqual([]);
    } finally {
      await anonymous.close();
    }
  });
});

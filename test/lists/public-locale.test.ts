import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  consentWordingFor,
  createList,
  localeFromAcceptLanguage,
  setConsentWording,
  unsubscribeLinks,
} from '../../src/lists/index.ts';
import { listsPublicRoutes } from '../../src/web/lists/public.ts';
import { linkFrom, setupLists, type TestLists } from './helpers.ts';

const EN = 'Yes, send me the monthly shop news. I can leave at any time.';
const CN = '是的，请每月给我发送店铺新闻。我可以随时退订。';
const TW = '是的，請每月寄給我店鋪新聞。我可以隨時取消訂閱。';

let open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open) await o.close();
  open = [];
});

async function server(t: TestLists) {
  const app = Fastify();
  await app.register(listsPublicRoutes, { lists: t.deps });
  open.push(app, t.db);
  return app;
}

function world(opts: { defaultLocale?: string; translated?: boolean } = {}) {
  const t = setupLists();
  const list = createList(
    t.db,
    {
      slug: 'news',
      name: 'Shop news',
      consentWording: EN,
      ...(opts.defaultLocale ? { defaultLocale: opts.defaultLocale } : {}),
      ...(opts.translated === false ? {} : { consentWordings: { 'zh-CN': CN, 'zh-TW': TW } }),
    },
    t.clock.now(),
  );
  return { t, list };
}

const htmlLang = (body: string) => /<html lang="([^"]+)"/.exec(body)?.[1];
const consents = (t: TestLists) =>
  t.db.prepare('SELECT action, wording, locale FROM list_consents ORDER BY id').all() as Array<{
    action: string;
    wording: string;
    locale: string | null;
  }>;

describe("public list pages in the visitor's language", () => {
  it('maps Accept-Language to en, zh-CN or zh-TW by quality', () => {
    expect(localeFromAcceptLanguage('zh-TW,zh;q=0.9,en;q=0.8')).toBe('zh-TW');
    expect(localeFromAcceptLanguage('zh-HK')).toBe('zh-TW');
    expect(localeFromAcceptLanguage('zh-Hant-HK')).toBe('zh-TW');
    expect(localeFromAcceptLanguage('zh-MO')).toBe('zh-TW');
    expect(localeFromAcceptLanguage('zh-Hans-HK')).toBe('zh-CN');
    expect(localeFromAcceptLanguage('zh')).toBe('zh-CN');
    expect(localeFromAcceptLanguage('zh-SG')).toBe('zh-CN');
    expect(localeFromAcceptLanguage('fr-FR,fr;q=0.9,zh-TW;q=0.5,en;q=0.4')).toBe('zh-TW');
    expect(localeFromAcceptLanguage('en;q=0.2, zh-CN;q=0.8')).toBe('zh-CN');
    expect(localeFromAcceptLanguage('zh-CN;q=0, en-GB')).toBe('en');
    expect(localeFromAcceptLanguage('fr, de')).toBeNull();
    expect(localeFromAcceptLanguage(undefined)).toBeNull();
  });

  it("shows the subscribe form in the browser's language, with that language's consent wording", async () => {
    const { t } = world();
    const app = await server(t);
    const get = (al?: string) =>
      app.inject({ url: '/lists/news', headers: al ? { 'accept-language': al } : {} });
    const tw = await get('zh-HK,zh;q=0.9');
    expect(htmlLang(tw.body)).toBe('zh-TW');
    expect(tw.headers['content-language']).toBe('zh-TW');
    expect(tw.headers.vary).toContain('Accept-Language');
    expect(tw.body).toContain(`<p>${TW}</p>`);
    expect(tw.body).toContain('<button type="submit">訂閱</button>');
    expect(tw.body).toContain('<input type="hidden" name="locale" value="zh-TW">');
    const cn = await get('zh-CN');
    expect(htmlLang(cn.body)).toBe('zh-CN');
    expect(cn.body).toContain(`<p>${CN}</p>`);
    expect(cn.body).toContain('<button type="submit">订阅</button>');
    const en = await get('en-US,en;q=0.9');
    expect(htmlLang(en.body)).toBe('en');
    expect(en.body).toContain('<button type="submit">Subscribe</button>');
    // A link may choose the language; unknown languages fall back to the list's default.
    expect(htmlLang((await app.inject({ url: '/lists/news?lang=zh-TW' })).body)).toBe('zh-TW');
    expect(htmlLang((await get('fr-FR')).body)).toBe('en');
    expect(htmlLang((await get()).body)).toBe('en');
    expect(
      htmlLang((await app.inject({ url: '/lists/nope', headers: { 'accept-language': 'zh-CN' } })).body),
    ).toBe('zh-CN');
  });

  it("falls back to the list's default language, and marks an untranslated consent wording", async () => {
    const { t } = world({ defaultLocale: 'zh-CN', translated: false });
    setConsentWording(t.db, 'news', 'zh-CN', CN);
    const app = await server(t);
    // No Accept-Language: the list's default language, whose wording is now the Chinese one.
    const plain = await app.inject({ url: '/lists/news' });
    expect(htmlLang(plain.body)).toBe('zh-CN');
    expect(plain.body).toContain(`<p>${CN}</p>`);
    // A Traditional Chinese visitor: the page is zh-TW, the wording (untranslated) is the default one.
    const tw = await app.inject({ url: '/lists/news', headers: { 'accept-language': 'zh-TW' } });
    expect(htmlLang(tw.body)).toBe('zh-TW');
    expect(tw.body).toContain(`<p lang="zh-CN">${CN}</p>`);
    await app.inject({
      method: 'POST',
      url: '/lists/news/subscribe',
      payload: 'email=tw%40example.com&locale=zh-TW',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    // What was recorded is what was shown: the Simplified wording, in zh-CN.
    expect(consents(t)).toEqual([{ action: 'request', wording: CN, locale: 'zh-CN' }]);
  });

  it('records the translated consent wording that was shown, and serves the token pages in the stored language', async () => {
    const { t, list } = world();
    const app = await server(t);
    // The form was shown in Traditional Chinese (hidden field); the browser says English.
    const res = await app.inject({
      method: 'POST',
      url: '/lists/news/subscribe',
      payload: 'email=mei%40example.com&locale=zh-TW',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'en-US' },
    });
    expect(res.statusCode).toBe(202);
    expect(htmlLang(res.body)).toBe('zh-TW');
    expect(res.body).toContain('只差一步');
    expect(t.db.prepare('SELECT locale FROM subscribers').get()).toEqual({ locale: 'zh-TW' });
    expect(t.outbox[0]?.subject).toBe('請確認訂閱「Shop news」');

    // The confirmation page: the stored language wins over the browser's.
    const confirm = linkFrom(t.outbox[0]?.text ?? '', '/lists/confirm');
    const ok = await app.inject({ url: confirm, headers: { 'accept-language': 'en' } });
    expect(ok.statusCode).toBe(200);
    expect(htmlLang(ok.body)).toBe('zh-TW');
    expect(ok.body).toContain('訂閱已確認');
    expect(ok.body).toContain('您已訂閱「Shop news」。');
    expect(consents(t)).toEqual([
      { action: 'request', wording: TW, locale: 'zh-TW' },
      { action: 'confirm', wording: TW, locale: 'zh-TW' },
    ]);
    expect(consentWordingFor(list, 'zh-TW')).toEqual({ locale: 'zh-TW', wording: TW });

    // Preference page and "you are unsubscribed" page.
    const subId = (t.db.prepare('SELECT id FROM subscribers').get() as { id: number }).id;
    const u = new URL(unsubscribeLinks(t.deps, list.id, subId, 'mei@example.com').url).pathname;
    const prefs = await app.inject({ url: u, headers: { 'accept-language': 'en' } });
    expect(htmlLang(prefs.body)).toBe('zh-TW');
    expect(prefs.body).toContain('<button type="submit">取消訂閱</button>');
    expect(prefs.body).toContain('僅取消訂閱「Shop news」');
    const done = await app.inject({
      method: 'POST',
      url: u,
      payload: 'scope=all',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'en' },
    });
    expect(htmlLang(done.body)).toBe('zh-TW');
    expect(done.body).toContain('您將不再收到我們任何列表的郵件。');
  });

  it('uses Accept-Language on token pages when no language is stored, and for link errors', async () => {
    const { t, list } = world();
    const app = await server(t);
    // Subscribed through the API without any language: nothing stored.
    await app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: 'lin@example.com' } });
    expect(t.db.prepare('SELECT locale FROM subscribers').get()).toEqual({ locale: null });
    const subId = (t.db.prepare('SELECT id FROM subscribers').get() as { id: number }).id;
    const u = new URL(unsubscribeLinks(t.deps, list.id, subId, 'lin@example.com').url).pathname;
    const cn = await app.inject({ url: u, headers: { 'accept-language': 'zh-CN,zh;q=0.9' } });
    expect(htmlLang(cn.body)).toBe('zh-CN');
    expect(cn.body).toContain('<button type="submit">退订</button>');
    const en = await app.inject({ url: u });
    expect(htmlLang(en.body)).toBe('en');
    expect(en.body).toContain('<button type="submit">Unsubscribe</button>');
    const gone = await app.inject({
      method: 'POST',
      url: u,
      payload: 'scope=list',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'zh-TW' },
    });
    expect(htmlLang(gone.body)).toBe('zh-TW');
    expect(gone.body).toContain('您將不再收到這個列表的郵件。');

    const bad = await app.inject({
      url: '/lists/confirm?token=nonsense',
      headers: { 'accept-language': 'zh-CN' },
    });
    expect(bad.statusCode).toBe(400);
    expect(htmlLang(bad.body)).toBe('zh-CN');
    expect(bad.body).toContain('链接无效');
    const badEn = await app.inject({ url: '/lists/confirm?token=nonsense' });
    expect(badEn.body).toContain('this link is not valid; use the link from the mail');
  });

  it("answers a subscribe in the form's language whether or not the address is known", async () => {
    const { t } = world();
    const app = await server(t);
    const post = () =>
      app.inject({
        method: 'POST',
        url: '/lists/news/subscribe',
        payload: 'email=known%40example.com',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'zh-CN' },
      });
    const first = await post();
    // The address is now known with a stored language; the answer must not change because of it.
    t.db.prepare("UPDATE subscribers SET locale = 'zh-TW'").run();
    const again = await post();
    expect(htmlLang(first.body)).toBe('zh-CN');
    expect(again.body).toBe(first.body);
  });
});

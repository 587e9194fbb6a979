import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { App } from '../../app.ts';
import { PROJECT_ROOT } from '../../config/index.ts';
import { importPath } from '../../ingest/index.ts';
import { createCampaign, createList, getListBySlug, startCampaign } from '../../lists/index.ts';
import { createUser, listUsers, setPassword } from '../../web/index.ts';

export const DEMO_MAIL_DIR = path.join(PROJECT_ROOT, 'demo', 'mail');

export interface DemoLogin {
  username: string;
  password: string;
}

/** The demo's staff login: created on the first run, given a fresh password on every run. */
export async function demoLogin(app: App): Promise<DemoLogin> {
  const username = 'demo';
  const password = randomBytes(9).toString('base64url');
  if (listUsers(app.db).some((u) => u.username === username)) await setPassword(app.db, username, password);
  else await createUser(app.db, app.clock, { username, password, role: 'admin' });
  return { username, password };
}

/**
 * Fills a fresh demo database: customer mail in three scripts (sorted by the shipped rules, with
 * SLA clocks and acknowledgements), an order with its confirmation, and a newsletter. Running it
 * again adds nothing twice: mail dedupes, the order and list are looked up first.
 */
export async function seedDemo(app: App): Promise<{ imported: number }> {
  const sum = await importPath(DEMO_MAIL_DIR, { pipeline: app.pipeline, logger: app.logger });

  await app.orderIntake.submitOrder({
    id: 'DEMO-10452',
    email: 'wangfang@example.cn',
    name: '王芳',
    locale: 'zh-CN',
    time_zone: 'Asia/Shanghai',
    currency: 'CNY',
    amount_cents: 36600,
    items: [
      { sku: 'TP-204', name: '青瓷茶壶', quantity: 1, unit_cents: 26800 },
      { sku: 'CUP-6', name: '品茗杯（六只装）', quantity: 1, unit_cents: 9800 },
    ],
    payment_instructions: '请在 3 天内通过支付宝或银行转账付款，备注订单号。',
    shipping_terms: '顺丰包邮，付款后 2 个工作日内发货。',
  });

  if (!getListBySlug(app.db, 'news')) {
    const list = createList(
      app.db,
      {
        slug: 'news',
        name: 'Teahouse news',
        public: true,
        consentWording:
          'Yes, send me the Teahouse newsletter about once a month. I can leave with one click.',
      },
      app.clock.now(),
    );
    await app.lists.importCsv({
      slug: list.slug,
      csv: 'email,name\nemma.clarke@example.net,Emma Clarke\noliver.b@example.org,Oliver Bennett\nchen.zm@example.tw,陳志明\n',
      source: 'staff',
      consent: 'confirmed-elsewhere',
      wording: 'Signed up at the shop counter (demo data).',
    });
    const campaign = createCampaign(
      app.db,
      {
        name: 'Spring teas',
        listIds: [list.id],
        template: 'newsletter',
        subject: 'New spring teas have arrived',
      },
      app.clock.now(),
    );
    startCampaign(app.db, campaign.id, app.clock.now());
  }
  return { imported: sum.imported };
}

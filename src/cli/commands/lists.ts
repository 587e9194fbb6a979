import { readFileSync, writeFileSync } from 'node:fs';
import { type EraseReport, eraseEverything, exportEverything } from '../../app/data-rights.ts';
import type { Config } from '../../config/index.ts';
import { createBlobStore } from '../../ingest/index.ts';
import { ErrorCodes, type Logger, MailroomError, silentLogger, systemClock } from '../../lib/index.ts';
import {
  allLists,
  createList,
  exportListCsv,
  importCsv,
  type ListsDeps,
  setBlocklisted,
  setConsentWording,
} from '../../lists/index.ts';
import { type Db, listMigrations, migrate, openDatabase } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';

function withDb<T>(file: string, fn: (db: Db) => T): T {
  const db = openDatabase(file);
  try {
    migrate(db, listMigrations(), file);
    return fn(db);
  } finally {
    db.close();
  }
}

/** `mailroom lists export-address` and `mailroom customers export`: everything held about one address. */
export function exportAddressCommand(config: Config, email: string): string {
  return JSON.stringify(
    withDb(config.paths.dbFile, (db) => exportEverything({ db }, email)),
    null,
    2,
  );
}

/** `mailroom lists erase` and `mailroom customers erase`: everything held about one address. */
export function eraseAddressCommand(config: Config, logger: Logger, email: string): string[] {
  const report: EraseReport = withDb(config.paths.dbFile, (db) =>
    eraseEverything({ db, clock: systemClock, logger, blobs: createBlobStore(config.paths.blobDir) }, email),
  );
  return [
    `${email} erased; only its SHA-256 (${report.hash}...) is kept, so it is never mailed again`,
    `  customer records ${report.customerRecords}, orders kept for bookkeeping without personal data ${report.ordersPseudonymised}`,
    `  messages deleted ${report.messagesDeleted}, other people's messages blanked out ${report.messagesRedacted}`,
    `  conversations deleted ${report.conversationsDeleted}, shared conversations kept ${report.conversationsKept}`,
    `  outbox mails deleted ${report.outboxDeleted}, list subscriber ${report.subscriber ? 'deleted' : 'none'}, files deleted ${report.blobsDeleted}`,
    '  not reached: backups, the IMAP mailboxes the mail came from; delete it there too',
  ];
}

/** Deps for offline commands: they never mail, so sending is refused with a clear message. */
function offlineDeps(db: Db): ListsDeps {
  return {
    db,
    clock: systemClock,
    logger: silentLogger(),
    secret: 'unused-offline',
    publicUrl: 'http://localhost',
    mailDomain: 'localhost',
    from: 'unused@localhost',
    send: async () => {
      throw new MailroomError(
        ErrorCodes.USAGE,
        'this import needs confirmation mails: upload the CSV in the web UI, or use --consent confirmed-elsewhere --wording TEXT',
      );
    },
  };
}

export const listsCommand: Command = {
  name: 'lists',
  summary: 'mailing lists: create, list, import/export CSV, export, erase or block one address',
  usage: [
    'create SLUG --name NAME --wording TEXT [--locale en|zh-CN|zh-TW] [--wording-zh-cn TEXT] [--wording-zh-tw TEXT]',
    '       [--single] [--private] [--welcome]',
    'wording SLUG LOCALE TEXT',
    'ls',
    'import SLUG FILE.csv --consent confirmed-elsewhere --wording TEXT',
    'export SLUG [--out FILE.csv]',
    'export-address EMAIL',
    'erase EMAIL',
    'block EMAIL | unblock EMAIL',
  ].join('\n'),
  options: {
    name: { type: 'string' },
    wording: { type: 'string' },
    locale: { type: 'string' },
    'wording-en': { type: 'string' },
    'wording-zh-cn': { type: 'string' },
    'wording-zh-tw': { type: 'string' },
    single: { type: 'boolean' },
    private: { type: 'boolean' },
    welcome: { type: 'boolean' },
    consent: { type: 'string' },
    out: { type: 'string' },
  },
  help: [
    'Lists are double opt-in unless --single. --wording is the exact consent sentence shown next to',
    'the subscribe button; it is recorded with every consent. --locale is the language of --wording and',
    "of the public pages when a visitor's is unknown (default en); --wording-zh-cn / --wording-zh-tw give the",
    'same consent in the other languages: pages in that language show it, and a consent records the',
    'wording shown. `wording SLUG LOCALE TEXT` sets or (with "") removes one language\'s wording later.',
    'import: the CSV has a header row with an "email" column ("name", "locale"; other columns become',
    'attributes). From the command line only people who confirmed elsewhere can be imported, with the',
    'wording they agreed to; imports that need confirmation mails go through the web UI.',
    'export-address: everything held about the address as JSON (customer record, orders, mail, outbox,',
    'suppressions, lists). erase: deletes all of it (orders stay for bookkeeping, unlinked and without',
    'personal data; raw mail and attachment files no other message uses are deleted) and keeps only the',
    "address's SHA-256, so it is never mailed again. `mailroom customers export|erase` do the same.",
    'block: no list mail to the address and no new sign-up, on every list; unblock lifts it.',
  ].join('\n'),
  async run(ctx) {
    const [sub, arg, file, ...extra] = ctx.positionals;
    const dbFile = () => ctx.config().paths.dbFile;
    const v = ctx.values;
    switch (sub) {
      case 'create': {
        if (!arg || !v.name || !v.wording) throw new UsageError('create needs SLUG, --name and --wording');
        const list = withDb(dbFile(), (db) =>
          createList(
            db,
            {
              slug: arg,
              name: String(v.name),
              consentWording: String(v.wording),
              optin: v.single ? 'single' : 'double',
              public: !v.private,
              welcome: Boolean(v.welcome),
              ...(v.locale ? { defaultLocale: String(v.locale) } : {}),
              consentWordings: {
                ...(v['wording-en'] ? { en: String(v['wording-en']) } : {}),
                ...(v['wording-zh-cn'] ? { 'zh-CN': String(v['wording-zh-cn']) } : {}),
                ...(v['wording-zh-tw'] ? { 'zh-TW': String(v['wording-zh-tw']) } : {}),
              },
            },
            Date.now(),
          ),
        );
        ctx.out(`list ${list.slug} created (${list.optin} opt-in); subscribe form: /lists/${list.slug}`);
        return 0;
      }
      case 'wording': {
        if (!arg || !file || extra.length > 1) throw new UsageError('wording needs SLUG, LOCALE and TEXT');
        const list = withDb(dbFile(), (db) => setConsentWording(db, arg, file, extra[0] ?? ''));
        ctx.out(`list ${list.slug}: consent wording for ${file} ${extra[0]?.trim() ? 'set' : 'removed'}`);
        return 0;
      }
      case 'ls': {
        const lists = withDb(dbFile(), (db) =>
          allLists(db).map((l) => {
            const n = db
              .prepare(
                `SELECT count(*) AS n FROM list_memberships WHERE list_id = ? AND status = 'confirmed'`,
              )
              .get(l.id) as { n: number };
            return `${l.slug}\t${l.name}\t${l.optin}\t${l.public ? 'public' : 'private'}\t${n.n} confirmed`;
          }),
        );
        for (const l of lists) ctx.out(l);
        return 0;
      }
      case 'import': {
        if (!arg || !file || extra.length) throw new UsageError('import needs SLUG and FILE.csv');
        if (v.consent !== 'confirmed-elsewhere')
          throw new UsageError(
            'from the command line, import needs --consent confirmed-elsewhere and --wording',
          );
        const csv = readFileSync(file, 'utf8');
        const res = await withDb(dbFile(), (db) =>
          importCsv(offlineDeps(db), {
            slug: arg,
            csv,
            source: 'import',
            consent: 'confirmed-elsewhere',
            wording: String(v.wording ?? ''),
          }),
        );
        ctx.out(
          `imported into ${arg}: ${res.confirmed} confirmed, ${res.unchanged} unchanged, ${res.skipped.length} skipped`,
        );
        for (const s of res.skipped) ctx.out(`  line ${s.line}: ${s.reason}`);
        return 0;
      }
      case 'export': {
        if (!arg) throw new UsageError('export needs SLUG');
        const csv = withDb(dbFile(), (db) => exportListCsv({ db }, arg));
        if (v.out) writeFileSync(String(v.out), csv);
        else ctx.out(csv.trimEnd());
        return 0;
      }
      case 'export-address': {
        if (!arg) throw new UsageError('export-address needs EMAIL');
        ctx.out(exportAddressCommand(ctx.config(), arg));
        return 0;
      }
      case 'erase': {
        if (!arg) throw new UsageError('erase needs EMAIL');
        for (const line of eraseAddressCommand(ctx.config(), ctx.logger(), arg)) ctx.out(line);
        return 0;
      }
      case 'block':
      case 'unblock': {
        if (!arg) throw new UsageError(`${sub} needs EMAIL`);
        withDb(dbFile(), (db) => setBlocklisted({ db, clock: systemClock }, arg, sub === 'block'));
        ctx.out(
          sub === 'block'
            ? `${arg} blocklisted: no list mail, no new sign-up`
            : `${arg} no longer blocklisted`,
        );
        return 0;
      }
      default:
        throw new UsageError(
          'expected create, wording, ls, import, export, export-address, erase, block or unblock',
        );
    }
  },
};

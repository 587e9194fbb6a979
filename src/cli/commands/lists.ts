import { readFileSync, writeFileSync } from 'node:fs';
import { ErrorCodes, MailroomError, silentLogger, systemClock } from '../../lib/index.ts';
import {
  allLists,
  createList,
  eraseAddress,
  exportAddress,
  exportListCsv,
  importCsv,
  type ListsDeps,
  setBlocklisted,
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
    'create SLUG --name NAME --wording TEXT [--single] [--private] [--welcome]',
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
    single: { type: 'boolean' },
    private: { type: 'boolean' },
    welcome: { type: 'boolean' },
    consent: { type: 'string' },
    out: { type: 'string' },
  },
  help: [
    'Lists are double opt-in unless --single. --wording is the exact consent sentence shown next to',
    'the subscribe button; it is recorded with every consent.',
    'import: the CSV has a header row with an "email" column ("name", "locale"; other columns become',
    'attributes). From the command line only people who confirmed elsewhere can be imported, with the',
    'wording they agreed to; imports that need confirmation mails go through the web UI.',
    'erase: removes the address from every list and keeps only its SHA-256, so it is never mailed again.',
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
            },
            Date.now(),
          ),
        );
        ctx.out(`list ${list.slug} created (${list.optin} opt-in); subscribe form: /lists/${list.slug}`);
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
        ctx.out(
          JSON.stringify(
            withDb(dbFile(), (db) => exportAddress({ db }, arg)),
            null,
            2,
          ),
        );
        return 0;
      }
      case 'erase': {
        if (!arg) throw new UsageError('erase needs EMAIL');
        withDb(dbFile(), (db) => eraseAddress({ db, clock: systemClock, logger: ctx.logger() }, arg));
        ctx.out(`${arg} erased from the lists; only its hash is kept so it is never mailed again`);
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
        throw new UsageError('expected create, ls, import, export, export-address, erase, block or unblock');
    }
  },
};

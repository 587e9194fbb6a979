import path from 'node:path';
import type { Config } from '../../config/index.ts';

/**
 * The demo's configuration, from the user's: its own data dir (<data_dir>/demo), no IMAP, the
 * SMTP catcher as relay (no login), and no quiet hours, so the sample order's confirmation goes out at once
 * whatever the hour in the customer's time zone.
 */
export function demoConfig(base: Config, catcher: { host: string; port: number }): Config {
  const dataDir = path.join(base.paths.dataDir, 'demo');
  return {
    ...base,
    mail: { ...base.mail, from: 'Teahouse Support <support@teahouse.example>', domain: 'teahouse.example' },
    // The catcher takes mail without a login: the user's SMTP account is not the demo's.
    smtp: {
      ...base.smtp,
      host: catcher.host,
      port: catcher.port,
      tls: 'none',
      user: undefined,
      password_env: undefined,
    },
    credentials: { ...base.credentials, smtpPassword: undefined, imap: {} },
    imap: { ...base.imap, accounts: [] },
    automations: { ...base.automations, quiet_hours: null },
    paths: {
      ...base.paths,
      dataDir,
      dbFile: path.join(dataDir, 'mailroom.sqlite'),
      blobDir: path.join(dataDir, 'blobs'),
    },
  };
}

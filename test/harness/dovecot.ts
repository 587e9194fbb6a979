import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForGreeting } from './ports.ts';

export interface DovecotInfo {
  host: string;
  port: number;
  dir: string;
  usersFile: string;
}

export interface DovecotOptions {
  /** The plain IMAP port (STARTTLS there when `tls` is set); a free one when left out. */
  port?: number;
  /**
   * Serve TLS with a certificate for `hostnames` (default localhost and 127.0.0.1) issued by a
   * throwaway CA made with the openssl CLI: STARTTLS on `port`, implicit TLS on `tls.imapsPort`.
   */
  tls?: boolean | { hostnames?: string[] };
  /**
   * Also accept OAuth2 bearer tokens, checked by Dovecot's oauth2 passdb with an RFC 7662
   * introspection POST to `introspectionUrl` (answer `{"active": true, "username": USER}`).
   * Passwords keep working through the passwd-file passdb.
   */
  oauth2?: { introspectionUrl: string; mechanisms?: Array<'xoauth2' | 'oauthbearer'> };
  /** Leave IDLE out of the capabilities (a server where clients have to poll). */
  noIdle?: boolean;
  /**
   * false: no auth penalty. After failed logins from an IP Dovecot answers the next failures from
   * it more slowly (2 s doubling up to 15 s, on top of the 2 s failure delay), and in a test every
   * client is 127.0.0.1: a suite that provokes many refused logins would wait for each.
   */
  authPenalty?: boolean;
}

export interface DovecotTls {
  imapsPort: number;
  /** PEM of the CA that issued the server certificate: what a client has to trust. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface RunningDovecot extends DovecotInfo {
  tls: DovecotTls | null;
  /** The master process (its services are its children), or null while stopped. */
  readonly pid: number | null;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/** A CA and a server certificate it issued (EC P-256, valid 2 days), made with the openssl CLI. */
export function makeTestCertificates(
  dir: string,
  hostnames: string[] = ['localhost', '127.0.0.1'],
  name = 'server',
): { caFile: string; certFile: string; keyFile: string } {
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f(`${name}-ca.key`),
    '-out',
    f(`${name}-ca.pem`),
    '-days',
    '2',
    '-subj',
    `/CN=mailroom test CA ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  ssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${hostnames[0]}`);
  const san = hostnames.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  writeFileSync(
    f(`${name}.ext`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  ssl(
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${name}-ca.pem`),
    '-CAkey',
    f(`${name}-ca.key`),
    '-CAcreateserial',
    '-out',
    f(`${name}.pem`),
    '-days',
    '2',
    '-extfile',
    f(`${name}.ext`),
  );
  for (const n of [`${name}-ca.pem`, `${name}.pem`]) chmodSync(f(n), 0o644);
  return { caFile: f(`${name}-ca.pem`), certFile: f(`${name}.pem`), keyFile: f(`${name}.key`) };
}

function ids(name: string): { uid: number; gid: number } | null {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const parts = line.split(':');
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

/**
 * A throwaway Dovecot for one test run: passwd-file users, maildir, plaintext IMAP on a free
 * loopback port, no daemon left behind (it runs in the foreground as our child). Options add TLS
 * (STARTTLS and IMAPS), OAuth2 tokens or a server without IDLE; without them the instance is the
 * plain one every other suite uses.
 */
export async function startDovecot(
  bin: string,
  portOrOptions?: number | DovecotOptions,
): Promise<RunningDovecot> {
  const opts: DovecotOptions =
    typeof portOrOptions === 'number' ? { port: portOrOptions } : (portOrOptions ?? {});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-dovecot-'));
  // A 0700 mkdtemp dir stops the dovecot user from reaching its mail dir (APPEND fails).
  chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  const me = os.userInfo().username;
  const mailUser = root ? 'dovecot' : me;
  const loginUser = root ? 'dovenull' : me;
  mkdirSync(path.join(dir, 'mail'), { recursive: true });
  const owner = ids(mailUser);
  if (root && owner) chownSync(path.join(dir, 'mail'), owner.uid, owner.gid);
  const usersFile = path.join(dir, 'users');
  writeFileSync(usersFile, '');
  chmodSync(usersFile, 0o644);
  const imapPort = opts.port ?? (await freePort());
  let tls: DovecotTls | null = null;
  if (opts.tls) {
    const hostnames = typeof opts.tls === 'object' ? opts.tls.hostnames : undefined;
    tls = { ...makeTestCertificates(dir, hostnames), imapsPort: await freePort() };
  }
  const mechanisms = [
    'plain',
    'login',
    ...(opts.oauth2?.mechanisms ?? (opts.oauth2 ? ['xoauth2', 'oauthbearer'] : [])),
  ];
  let oauth2Passdb = '';
  if (opts.oauth2) {
    const oauthFile = path.join(dir, 'oauth2.conf.ext');
    writeFileSync(
      oauthFile,
      `introspection_mode = post
introspection_url = ${opts.oauth2.introspectionUrl}
username_attribute = username
active_attribute = active
active_value = true
`,
    );
    oauth2Passdb = `
passdb {
  driver = oauth2
  args = ${oauthFile}
  mechanisms = ${mechanisms.filter((m) => m !== 'plain' && m !== 'login').join(' ')}
}`;
  }
  const conf = `
protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
${tls ? `ssl = yes\nssl_cert = <${tls.certFile}\nssl_key = <${tls.keyFile}` : 'ssl = no'}
disable_plaintext_auth = no
auth_mechanisms = ${mechanisms.join(' ')}
${opts.noIdle ? 'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE NAMESPACE UNSELECT CHILDREN SPECIAL-USE ESEARCH SEARCHRES CONDSTORE' : ''}
default_internal_user = ${mailUser}
default_internal_group = ${mailUser}
default_login_user = ${loginUser}
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${usersFile}${opts.oauth2 ? '\n  mechanisms = plain login' : ''}
}${oauth2Passdb}
userdb {
  driver = static
  args = uid=${mailUser} gid=${mailUser} home=${dir}/mail/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    ${tls ? `address = 127.0.0.1\n    port = ${tls.imapsPort}` : 'port = 0'}
  }
}
service anvil {
  chroot =${opts.authPenalty === false ? '\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }' : ''}
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`;
  const confFile = path.join(dir, 'dovecot.conf');
  writeFileSync(confFile, conf);

  let child: ChildProcess | null = null;
  const launch = async () => {
    child = spawn(bin, ['-F', '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d.toString();
    });
    const exited = new Promise<never>((_, reject) =>
      child?.once('exit', (code) => reject(new Error(`dovecot exited with ${code}: ${stderr.trim()}`))),
    );
    // The port accepts connections before logins work: wait for the IMAP greeting.
    await Promise.race([waitForGreeting(imapPort, '* OK'), exited]);
    exited.catch(() => {});
  };
  const stopChild = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      c.kill('SIGTERM');
    });
    child = null;
  };
  await launch();
  return {
    host: '127.0.0.1',
    port: imapPort,
    dir,
    usersFile,
    tls,
    get pid() {
      return (child as ChildProcess | null)?.pid ?? null;
    },
    async restart() {
      await stopChild();
      await launch();
    },
    async stop() {
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
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

export interface RunningDovecot extends DovecotInfo {
  stop(): Promise<void>;
  restart(): Promise<void>;
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
 * loopback port, no daemon left behind (it runs in the foreground as our child).
 */
export async function startDovecot(bin: string, port?: number): Promise<RunningDovecot> {
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
  const imapPort = port ?? (await freePort());
  const conf = `
protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = ${mailUser}
default_internal_group = ${mailUser}
default_login_user = ${loginUser}
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${usersFile}
}
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
    port = 0
  }
}
service anvil {
  chroot =
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

export { findBinary, inCI, SERVERS } from './binaries.ts';
export { launchBrowser } from './browser.ts';
export { runCli } from './cli.ts';
export { type DovecotInfo, type RunningDovecot, startDovecot } from './dovecot.ts';
export {
  appendMessages,
  createImapUser,
  createLoginReadyUser,
  type ImapUser,
  imapClient,
  waitForLogin,
} from './imap.ts';
export { freePort } from './ports.ts';
export { type RedisInfo, type RunningRedis, startRedis } from './redis.ts';
export { binary, dovecotInfo, redisInfo, servers } from './servers.ts';
export { type Fault, type ReceivedMail, type SmtpPeer, startSmtpPeer } from './smtp-peer.ts';
export { tempDir } from './temp.ts';
export { waitFor } from './wait.ts';

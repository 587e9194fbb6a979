import { silentLogger } from '../../src/lib/index.ts';
import { createSmtpTransport, type SmtpSender } from '../../src/outbound/index.ts';
import type { SmtpPeer } from '../harness/index.ts';

export function transportTo(peer: Pick<SmtpPeer, 'host' | 'port'>, maxConnections = 1): SmtpSender {
  return createSmtpTransport({
    smtp: { host: peer.host, port: peer.port, tls: 'none', max_connections: maxConnections, timeout_s: 10 },
    logger: silentLogger(),
  });
}

/**
 * A worker process for the crash test: queues job order-9, starts it, says so on stderr, then
 * hangs until the test SIGKILLs it. argv: dbFile [leaseMs, default 1000]
 */
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createEmbeddedQueue } from '../../src/queue/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';

const db = openDatabase(process.argv[2] as string);
migrate(db);
// A short lease, so the test does not wait the default 30 s for the job to come back.
const queue = createEmbeddedQueue({
  db,
  clock: systemClock,
  logger: silentLogger(),
  leaseMs: Number(process.argv[3] ?? 1000),
  pollMs: 20,
});
queue.work('mail', async (job) => {
  process.stderr.write(`started ${job.id}\n`);
  await new Promise(() => {});
});
await queue.enqueue('mail', 'confirm', { order: 9 }, { jobId: 'order-9' });

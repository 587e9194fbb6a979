import { type Backoff, PermanentJobError, RetryLaterError } from './types.ts';

/** Delay before try number attempt+1, from the job's backoff (default: exponential from 1 s, capped at 1 h). */
export function backoffDelay(backoff: string | Backoff | null | undefined, attempt: number): number {
  const b: Backoff =
    typeof backoff === 'string'
      ? (JSON.parse(backoff) as Backoff)
      : (backoff ?? { type: 'exponential', delayMs: 1000 });
  const base = b.type === 'fixed' ? b.delayMs : b.delayMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(base, 3600_000);
}

export function retryLaterDelay(err: Error): number | null {
  return err instanceof RetryLaterError || err.name === 'RetryLaterError'
    ? ((err as RetryLaterError).delayMs ?? 1000)
    : null;
}

export function isPermanent(err: Error): boolean {
  return err instanceof PermanentJobError || err.name === 'PermanentJobError';
}

import type { Urgency } from '../config/index.ts';
import { addCountedTime, countedTimeBetween } from './due-time.ts';
import type { SlaPolicy, Target } from './policy.ts';

/**
 * The SLA clock of one conversation as a pure fold over its events. Rules (issue 5):
 * - a customer message starts the first-response clock at its arrival;
 * - the first staff reply that is not an automatic acknowledgement stops it (met when at or
 *   before the due time, breached after);
 * - waiting on the customer pauses the clock; staff taking it back resumes it with the time left;
 *   the customer writing again starts a fresh clock from that message (next-response target once
 *   someone has answered);
 * - a change of urgency recomputes the due time from the original arrival of the running clock.
 * A follow-up from the customer while a clock runs does not move the due time; it only raises the
 * urgency when the rules found it more urgent (an angry follow-up escalates, a "thanks" never
 * relaxes a promise already made).
 */

export type SlaEvent =
  | { type: 'inbound'; at: number; urgency: Urgency; department: string | null }
  | { type: 'staff_reply'; at: number; automatic?: boolean }
  | { type: 'waiting'; at: number }
  | { type: 'resumed'; at: number }
  | { type: 'urgency'; at: number; urgency: Urgency };

export type ClockState = 'none' | 'running' | 'paused' | 'met' | 'breached';
export type ClockKind = 'first' | 'next';

export interface ClockStatus {
  state: ClockState;
  kind: ClockKind | null;
  /** 1 for the first clock of a conversation, +1 for every clock started after it. */
  generation: number;
  startedAt: number | null;
  /** Null while paused (the due time is unknown until the clock resumes). */
  dueAt: number | null;
  warnAt: number | null;
  pausedAt: number | null;
  /** The reply that stopped the current clock. */
  respondedAt: number | null;
  urgency: Urgency | null;
  department: string | null;
  policyKey: string | null;
  /** First-response facts for reports: when the conversation's first clock started, its due time and answer. */
  firstStartedAt: number | null;
  firstDueAt: number | null;
  firstResponseAt: number | null;
}

const RANK: Record<Urgency, number> = { urgent: 0, normal: 1, thanks: 2 };

interface Generation {
  kind: ClockKind;
  start: number;
  pauses: Array<[number, number]>;
  pausedAt: number | null;
  respondedAt: number | null;
  answeredDueAt: number | null;
  answeredKey: string | null;
}

function targetMs(t: Target, kind: ClockKind): number {
  return kind === 'first' ? t.firstResponseMs : t.nextResponseMs;
}

/** Due and warning instants of a generation under target t, with paused time not counted. */
function deadlines(policy: SlaPolicy, t: Target, g: Generation): { dueAt: number; warnAt: number } {
  const cal = policy.calendar;
  const paused = g.pauses.reduce((sum, [p, r]) => sum + countedTimeBetween(cal, t, p, r), 0);
  const total = targetMs(t, g.kind);
  return {
    dueAt: addCountedTime(cal, t, g.start, total + paused),
    warnAt: addCountedTime(cal, t, g.start, Math.round(total * (1 - policy.warningFraction)) + paused),
  };
}

export function evaluateClock(events: readonly SlaEvent[], policy: SlaPolicy, now: number): ClockStatus {
  const sorted = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.at - b.e.at || a.i - b.i);
  let urgency: Urgency | null = null;
  let department: string | null = null;
  let gen: Generation | null = null;
  let generation = 0;
  let firstStartedAt: number | null = null;
  let firstDueAt: number | null = null;
  let firstResponseAt: number | null = null;
  const target = () => policy.targetFor(urgency ?? 'normal', department);
  const current = () => (gen ? deadlines(policy, target(), gen) : null);

  for (const { e } of sorted) {
    switch (e.type) {
      case 'inbound': {
        if (e.department) department = e.department;
        const open = gen !== null && gen.respondedAt === null;
        if (open && gen?.pausedAt === null) {
          if (urgency === null || RANK[e.urgency] < RANK[urgency]) urgency = e.urgency;
          break;
        }
        // No clock, a stopped clock, or a paused one: this message starts a fresh clock.
        urgency = e.urgency;
        generation += 1;
        gen = {
          kind: firstResponseAt === null ? 'first' : 'next',
          start: e.at,
          pauses: [],
          pausedAt: null,
          respondedAt: null,
          answeredDueAt: null,
          answeredKey: null,
        };
        if (firstStartedAt === null) firstStartedAt = e.at;
        break;
      }
      case 'staff_reply': {
        if (e.automatic || !gen || gen.respondedAt !== null) break;
        // A reply while paused closes the pause, so the paused time still does not count.
        if (gen.pausedAt !== null) gen.pauses.push([gen.pausedAt, e.at]);
        gen.pausedAt = null;
        gen.respondedAt = e.at;
        // Frozen at the reply: a later urgency change does not rewrite an answered clock.
        const t = target();
        gen.answeredDueAt = deadlines(policy, t, gen).dueAt;
        gen.answeredKey = t.key;
        if (gen.kind === 'first') firstDueAt = gen.answeredDueAt;
        firstResponseAt ??= e.at;
        break;
      }
      case 'waiting': {
        const d = current();
        // A clock already past due stays breached: waiting on the customer cannot undo that.
        if (gen && d && gen.respondedAt === null && gen.pausedAt === null && e.at <= d.dueAt)
          gen.pausedAt = e.at;
        break;
      }
      case 'resumed': {
        if (gen && gen.pausedAt !== null && gen.respondedAt === null) {
          gen.pauses.push([gen.pausedAt, e.at]);
          gen.pausedAt = null;
        }
        break;
      }
      case 'urgency':
        urgency = e.urgency;
        break;
    }
  }

  const t = gen ? target() : null;
  let dueAt: number | null = null;
  let warnAt: number | null = null;
  let state: ClockState = 'none';
  if (gen && t) {
    if (gen.respondedAt !== null) {
      dueAt = gen.answeredDueAt;
      state = dueAt !== null && gen.respondedAt <= dueAt ? 'met' : 'breached';
    } else if (gen.pausedAt !== null) {
      state = 'paused';
    } else {
      ({ dueAt, warnAt } = deadlines(policy, t, gen));
      // Exactly at the due time is still on time; one millisecond later is late.
      state = now > dueAt ? 'breached' : 'running';
    }
    // A clock still waiting for its first answer reports its due time as the first due time.
    if (gen.kind === 'first' && gen.respondedAt === null) firstDueAt = dueAt;
  }
  return {
    state,
    kind: gen?.kind ?? null,
    generation,
    startedAt: gen?.start ?? null,
    dueAt,
    warnAt,
    pausedAt: gen?.pausedAt ?? null,
    respondedAt: gen?.respondedAt ?? null,
    urgency,
    department,
    policyKey: gen?.answeredKey ?? t?.key ?? null,
    firstStartedAt,
    firstDueAt,
    firstResponseAt,
  };
}

import type { Department, Urgency } from '../config/index.ts';
import { type BusinessCalendar, buildCalendar, type SlaConfig } from './calendar.ts';

/**
 * Response targets per urgency, optionally overridden per department (config.sla.targets and
 * config.sla.departments). A department override replaces the whole target for that urgency.
 */

const HOUR = 3_600_000;

export interface Target {
  firstResponseMs: number;
  /** Target for an answer to a customer's later message in the same conversation. */
  nextResponseMs: number;
  businessHours: boolean;
  /** Where the target came from, stored with a clock: "normal" or "finance.normal". */
  key: string;
}

export interface SlaPolicy {
  calendar: BusinessCalendar;
  /** Fraction of the target before the due time at which a warning goes out (0.2 = last 20%). */
  warningFraction: number;
  targetFor(urgency: Urgency, department: Department | string | null): Target;
}

export const DEFAULT_TARGET_HOURS: Record<Urgency, number> = { urgent: 4, normal: 24, thanks: 72 };

interface TargetConfig {
  first_response_h: number;
  next_response_h?: number | undefined;
  business_hours?: boolean | undefined;
}

function toTarget(t: TargetConfig, key: string): Target {
  return {
    firstResponseMs: t.first_response_h * HOUR,
    // Without its own value, a later message is held to the same promise as the first.
    nextResponseMs: (t.next_response_h ?? t.first_response_h) * HOUR,
    businessHours: t.business_hours ?? false,
    key,
  };
}

export function buildPolicy(sla: SlaConfig): SlaPolicy {
  const calendar = buildCalendar(sla);
  const base = {} as Record<Urgency, Target>;
  for (const u of Object.keys(DEFAULT_TARGET_HOURS) as Urgency[]) {
    base[u] = toTarget(sla.targets[u] ?? { first_response_h: DEFAULT_TARGET_HOURS[u] }, u);
  }
  const perDepartment = new Map<string, Target>();
  for (const [dep, targets] of Object.entries(sla.departments)) {
    for (const [u, t] of Object.entries(targets ?? {})) {
      if (t) perDepartment.set(`${dep}.${u}`, toTarget(t, `${dep}.${u}`));
    }
  }
  return {
    calendar,
    warningFraction: sla.warning_fraction,
    targetFor(urgency, department) {
      return (department && perDepartment.get(`${department}.${urgency}`)) || base[urgency] || base.normal;
    },
  };
}

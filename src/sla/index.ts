export {
  type ScanSlaDeps,
  type ScanSlaResult,
  type SlaNotice,
  type SlaStage,
  scanSla,
} from './breach-scan.ts';
export { type BusinessCalendar, buildCalendar, type CalendarInput, isHoliday } from './calendar.ts';
export { type ClockKind, type ClockState, type ClockStatus, evaluateClock, type SlaEvent } from './clock.ts';
export {
  getClock,
  onInbound,
  onResumed,
  onStaffReply,
  onUrgencyChange,
  onWaitingOnCustomer,
  refreshClock,
  type SlaClockRow,
} from './clock-store.ts';
export {
  addBusinessTime,
  addCountedTime,
  businessTimeBetween,
  type Counting,
  countedTimeBetween,
} from './due-time.ts';
export { buildPolicy, DEFAULT_TARGET_HOURS, type SlaPolicy, type Target } from './policy.ts';
export {
  parseSince,
  parseUntil,
  percentile,
  type SlaReport,
  type SlaReportRow,
  slaReport,
} from './report.ts';
export { type LocalDate, type LocalDateTime, localDateTime, localToUtc, zoneOffset } from './zone.ts';

export { chineseScriptOf, traditionalToSimplifiedTable } from './chinese-script.ts';
export { type Clock, ManualClock, systemClock } from './clock.ts';
export { type ErrorCode, ErrorCodes, errorMessage, isMailroomError, MailroomError } from './errors.ts';
export { randomId, sha256Hex } from './ids.ts';
export { createLogger, type Logger, type LoggerOptions, silentLogger } from './logger.ts';
export { isTimeZone } from './time-zone.ts';

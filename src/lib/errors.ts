/**
 * One catalogue of error codes for the whole program. Domain code throws MailroomError with a
 * code from here; only the edges (web, cli) map codes to HTTP statuses or exit codes.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND',
  DB_TOO_NEW: 'DB_TOO_NEW',
  DB_MIGRATION_FAILED: 'DB_MIGRATION_FAILED',
  USAGE: 'USAGE',
  RULES_INVALID: 'RULES_INVALID',
  TEMPLATE_INVALID: 'TEMPLATE_INVALID',
  TEMPLATE_NOT_FOUND: 'TEMPLATE_NOT_FOUND',
  TEMPLATE_MISSING_VARIABLE: 'TEMPLATE_MISSING_VARIABLE',
  HEADER_INVALID: 'HEADER_INVALID',
  IMPORT_PATH_INVALID: 'IMPORT_PATH_INVALID',
  QUEUE_CLOSED: 'QUEUE_CLOSED',
  NOT_FOUND: 'NOT_FOUND',
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  VALIDATION: 'VALIDATION',
  SERVER_MISSING: 'SERVER_MISSING',
  CONFLICT: 'CONFLICT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class MailroomError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MailroomError';
    this.code = code;
    this.details = details;
  }
}

export function isMailroomError(err: unknown, code?: ErrorCode): err is MailroomError {
  return err instanceof MailroomError && (code === undefined || err.code === code);
}

/** A short, human message for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

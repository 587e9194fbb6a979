import { z } from 'zod';

/** True for a time zone this Node's Intl knows (IANA names such as Asia/Shanghai, and UTC). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A time zone setting, refused at load (with its file and line) when Intl does not know it. */
export const timeZone = z
  .string()
  .min(1)
  .superRefine((name, ctx) => {
    if (!isTimeZone(name))
      ctx.addIssue({
        code: 'custom',
        message: 'unknown time zone; use an IANA name such as "Asia/Shanghai" or "Europe/Berlin"',
      });
  });

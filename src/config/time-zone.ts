import { z } from 'zod';
import { isTimeZone } from '../lib/index.ts';

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

import { hash, verify } from '@node-rs/argon2';
import { Departments } from '../../config/index.ts';
import { type Clock, ErrorCodes, MailroomError } from '../../lib/index.ts';
import type { Db } from '../../store/index.ts';

export const Roles = ['admin', 'agent', 'marketer'] as const;
export type Role = (typeof Roles)[number];
export const Locales = ['en', 'zh-CN', 'zh-TW'] as const;
export type Locale = (typeof Locales)[number];

export interface StaffUser {
  id: number;
  username: string;
  role: Role;
  /** Departments an agent may see; admins see every department. */
  departments: string[];
  locale: Locale;
}

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  departments?: string[];
  locale?: Locale;
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  role: Role;
  departments: string;
  locale: Locale;
  disabled: number;
}

function toUser(r: UserRow): StaffUser {
  return {
    id: r.id,
    username: r.username,
    role: r.role,
    departments: JSON.parse(r.departments) as string[],
    locale: r.locale,
  };
}

export const MIN_PASSWORD_LENGTH = 10;

export async function createUser(db: Db, clock: Clock, input: NewUser): Promise<StaffUser> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$/.test(input.username)) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `user name "${input.username}" is not allowed: use 2-64 letters, digits, ".", "_", "-" or "@"`,
    );
  }
  if (!(Roles as readonly string[]).includes(input.role)) {
    throw new MailroomError(ErrorCodes.VALIDATION, `role must be one of ${Roles.join(', ')}`);
  }
  const departments = input.departments ?? [];
  for (const d of departments) {
    if (!(Departments as readonly string[]).includes(d)) {
      throw new MailroomError(
        ErrorCodes.VALIDATION,
        `unknown department "${d}"; use ${Departments.join(', ')}`,
      );
    }
  }
  if (input.role === 'agent' && departments.length === 0) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      'an agent needs at least one department (--departments sales,finance)',
    );
  }
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `the password is too short: use at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
  const locale = input.locale ?? 'en';
  if (!(Locales as readonly string[]).includes(locale)) {
    throw new MailroomError(ErrorCodes.VALIDATION, `locale must be one of ${Locales.join(', ')}`);
  }
  if (db.prepare('SELECT 1 FROM users WHERE username = ?').get(input.username)) {
    throw new MailroomError(ErrorCodes.VALIDATION, `a user named "${input.username}" already exists`);
  }
  const passwordHash = await hash(input.password);
  const res = db
    .prepare(
      'INSERT INTO users (username, password_hash, role, departments, locale, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    .run(input.username, passwordHash, input.role, JSON.stringify(departments), locale, clock.now());
  return { id: Number(res.lastInsertRowid), username: input.username, role: input.role, departments, locale };
}

/** Sets a new password (and ends the user's sessions, so an old login stops working). */
export async function setPassword(db: Db, username: string, password: string): Promise<void> {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `the password is too short: use at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
  const passwordHash = await hash(password);
  const res = db.prepare('UPDATE users SET password_hash = ? WHERE username = ?').run(passwordHash, username);
  if (res.changes === 0)
    throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no user named "${username}"`);
  const row = db.prepare('SELECT id FROM users WHERE username = ?').get(username) as { id: number };
  db.prepare('DELETE FROM sessions WHERE user_id = ?').run(row.id);
}

export function getUser(db: Db, id: number): StaffUser | null {
  const r = db.prepare('SELECT * FROM users WHERE id = ? AND disabled = 0').get(id) as UserRow | undefined;
  return r ? toUser(r) : null;
}

/** Every account, or with `active` only those that are not disabled. */
export function listUsers(db: Db, opts: { active?: boolean } = {}): StaffUser[] {
  const where = opts.active ? 'WHERE disabled = 0 ' : '';
  return (db.prepare(`SELECT * FROM users ${where}ORDER BY username`).all() as UserRow[]).map(toUser);
}

// A real hash of a throwaway password: verifying against it when the user does not exist keeps
// the response time the same, so timing does not reveal which user names exist.
let dummyHash: Promise<string> | null = null;

/** The user when name and password match an enabled account, otherwise null. */
export async function checkPassword(db: Db, username: string, password: string): Promise<StaffUser | null> {
  const r = db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
  if (!r || r.disabled) {
    dummyHash ??= hash('not-a-real-password-0000');
    await verify(await dummyHash, password).catch(() => false);
    return null;
  }
  const ok = await verify(r.password_hash, password).catch(() => false);
  return ok ? toUser(r) : null;
}

/** Which departments' conversations this user may see; null means all of them. */
export function visibleDepartments(user: StaffUser): string[] | null {
  if (user.role === 'admin') return null;
  if (user.role === 'agent') return user.departments;
  return [];
}

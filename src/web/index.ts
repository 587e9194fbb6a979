export { csrfFrom, requireStaff } from './auth/guard.ts';
export {
  checkPassword,
  createUser,
  getUser,
  type Locale,
  Locales,
  listUsers,
  MIN_PASSWORD_LENGTH,
  type NewUser,
  type Role,
  Roles,
  type StaffUser,
  setPassword,
  visibleDepartments,
} from './auth/users.ts';
export type { CorrectionInput, QueueCountsRow, ReplyInput, WebDeps } from './deps.ts';
export { buildWebServer } from './server.ts';

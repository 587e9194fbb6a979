export {
  type AutomationsConfig,
  type AutomationsConfigInput,
  automationsConfig,
  automationsSchema,
} from './automations.ts';
export {
  type Config,
  ENV_OVERRIDES,
  imapCredentials,
  type LoadOptions,
  loadConfig,
  PROJECT_ROOT,
  type Secrets,
} from './load.ts';
export { configKeys, configReferenceMarkdown, KEY_DOCS } from './reference.ts';
export {
  configSchema,
  type Department,
  Departments,
  type ImapAccountConfig,
  type ParsedConfig,
  Urgencies,
  type Urgency,
} from './schema.ts';
export { loadSessionSecret } from './session-secret.ts';

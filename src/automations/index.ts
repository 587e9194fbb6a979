export {
  type AutomationsConfig,
  type AutomationsConfigInput,
  automationsConfig,
  automationsSchema,
} from '../config/index.ts';
export { type ImportReport, type ImportRowError, importOrdersCsv } from './csv-import.ts';
export { type Automations, type AutomationsDeps, createAutomations } from './engine.ts';
export { formatMoney, orderMailData } from './mail-data.ts';
export { createOrderIntake, type OrderIntake, type OrderIntakeDeps } from './order-intake.ts';
export { nextAllowedTime, type QuietHours } from './quiet-hours.ts';
export { type StepRow, stepsForOrder } from './step-store.ts';
export { suppressionFor } from './suppression.ts';
export {
  AUTOMATIONS_QUEUE,
  type SendTemplateFn,
  type SendTemplateInput,
  type StepJob,
  type StepName,
  type StepOutcome,
} from './types.ts';

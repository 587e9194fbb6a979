export { type NormalisedAddress, normaliseAddress } from './address.ts';
export {
  type ContactInput,
  type CustomerRow,
  findCustomerByEmail,
  getCustomer,
  recordContact,
} from './contacts.ts';
export { type CsvRecord, csvObjects, parseCsv } from './csv.ts';
export {
  addressSpellings,
  type CustomerErase,
  customerNames,
  customerRecordsFor,
  ERASED_MARK,
  eraseCustomerData,
  exportCustomerData,
  makeRedactor,
  type Redactor,
  requireAddress,
} from './data-rights.ts';
export { type MergeResult, mergeCustomers } from './merge.ts';
export {
  formatIssuePath,
  isValidationError,
  type OrderEventInput,
  type OrderEventType,
  OrderEventTypes,
  type OrderInput,
  type OrderItem,
  orderEventInputSchema,
  orderInputSchema,
  parseInput,
  parseOrderEventInput,
  parseOrderInput,
  type ValidationIssue,
} from './order-input.ts';
export {
  applyOrderEvent,
  getOrder,
  getOrderByExternalId,
  type OrderEventResult,
  type OrderRow,
  type OrderStatus,
  orderItems,
  refreshCustomerStats,
  type UpsertOrderResult,
  upsertOrder,
} from './orders.ts';
export {
  addNote,
  addTag,
  customerTags,
  linkedAliases,
  type ProfilePatch,
  removeTag,
  resolveCustomer,
  setTags,
  setVip,
  updateProfile,
} from './profile.ts';
export { deleteWithReferences, type ForeignKeyRef, referencesTo } from './schema-probe.ts';
export {
  type CompiledSegment,
  compileSegment,
  countSegment,
  deleteSegment,
  getSegment,
  listSegmentMembers,
  listSegments,
  parseSegmentFilter,
  type SegmentFilter,
  type SegmentFilterInput,
  type SegmentMemberRow,
  type SegmentRow,
  saveSegment,
  segmentFilterSchema,
  segmentMembersFn,
} from './segments.ts';
export { customerTimeline, type TimelineEntry, type TimelineKind } from './timeline.ts';

export { type NormalisedAddress, normaliseAddress } from './address.ts';
export {
  type ContactInput,
  type CustomerRow,
  findCustomerByEmail,
  getCustomer,
  recordContact,
} from './contacts.ts';

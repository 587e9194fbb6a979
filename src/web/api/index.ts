export { type OrdersApiDeps, ordersApi } from './orders.ts';
export {
  REPLAY_WINDOW_MS,
  type RequestToSign,
  signRequest,
  stringToSign,
  verifySignedRequest,
} from './signature.ts';

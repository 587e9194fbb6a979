export { type OrdersApiDeps, ordersApi } from './orders.ts';
export { REPLAY_WINDOW_MS, signBody, verifySignedRequest } from './signature.ts';

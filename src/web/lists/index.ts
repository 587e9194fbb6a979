export { type ListsMarketerOptions, listsMarketerRoutes } from './marketer.ts';
export { HONEYPOT_FIELD, type ListsPublicOptions, listsPublicRoutes } from './public.ts';
export { listsTrackingRoutes, PIXEL_GIF } from './tracking.ts';

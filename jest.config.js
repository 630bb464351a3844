// Jest runs the TypeScript sources directly (ts-jest, ESM); type checking is `npm run typecheck`.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: {
    // The workspace package from its sources, as the type check reads it (no build needed).
    '^@latchkey/resource$': '<rootDir>/packages/resource/src/index.ts',
    // The package's root entry, as the examples import it, from its sources.
    '^latchkey$': '<rootDir>/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true, diagnostics: false }],
  },
  testTimeout: 30000,
  maxWorkers: 2,
};

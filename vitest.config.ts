import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Builds dist/ first when it is older than src/: end-to-end tests run the built bin/medic.
    globalSetup: ['test/global-setup.ts'],
    // The JSON report lets .ci/run print one plain "N passed, N failed" line at the end.
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results.json' },
  },
});

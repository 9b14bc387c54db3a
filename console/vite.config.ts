// Builds the web console (console/) into dist/console, which the gateway serves at /console
// (src/adapters/http/console.ts). No CDN, no server-side rendering, nothing inline: the gateway's
// CSP for the console allows scripts and styles from its own origin only.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/console/',
  publicDir: false,
  resolve: {
    // The CLI's CSV reader (csv-parse) in its browser build: the same parser, the same options.
    alias: { 'csv-parse/sync': 'csv-parse/browser/esm/sync' },
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline polyfill script and no data: URLs for assets: the CSP allows neither.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});

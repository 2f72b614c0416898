// Copies uPlot's browser build from node_modules into static/vendor/, which the daemon serves
// with the rest of static/: the page loads nothing from outside the daemon (no CDN).
import { copyFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const webui = join(dirname(fileURLToPath(import.meta.url)), '..');
const vendor = join(webui, 'static', 'vendor');
const files = [
  ['node_modules/uplot/dist/uPlot.iife.min.js', 'uPlot.iife.min.js'],
  ['node_modules/uplot/dist/uPlot.min.css', 'uPlot.min.css'],
  ['node_modules/uplot/LICENSE', 'uPlot.LICENSE'],
];

mkdirSync(vendor, { recursive: true });
for (const [from, to] of files) {
  const src = join(webui, from);
  if (!existsSync(src)) {
    console.error(`bundle: ${from} is missing; run npm ci in webui/ first`);
    process.exit(1);
  }
  copyFileSync(src, join(vendor, to));
}
console.log(`bundle: uPlot copied into ${vendor}`);

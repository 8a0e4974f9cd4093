// Prints the gzip size of every built JS and CSS asset and fails when their total is over budget.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 60 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));
const assets = path.resolve(here, '../../flaskyard/web/dist/assets');

let files;
try {
  files = readdirSync(assets).filter((name) => /\.(js|css)$/.test(name)).sort();
} catch {
  console.error(`No build output in ${assets}: run npm run build first.`);
  process.exit(2);
}
if (files.length === 0) {
  console.error(`No .js or .css files in ${assets}: run npm run build first.`);
  process.exit(2);
}

const kb = (bytes) => `${(bytes / 1024).toFixed(1).padStart(6)} KB`;
let total = 0;
for (const name of files) {
  const raw = readFileSync(path.join(assets, name));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`${kb(raw.length)} raw  ${kb(gz)} gzip  ${name}`);
}
console.log(`${' '.repeat(15)}${kb(total)} gzip  total (budget ${kb(BUDGET_BYTES).trim()})`);
if (total > BUDGET_BYTES) {
  console.error(`Over budget by ${((total - BUDGET_BYTES) / 1024).toFixed(1)} KB.`);
  process.exit(1);
}

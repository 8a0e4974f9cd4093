// Builds src/main.tsx (+ imported CSS and JSON catalogues) into ../flaskyard/web/dist:
//   index.html, assets/app-<hash>.js, assets/app-<hash>.css
// NODE_ENV picks the mode: production (minified, no source maps; also for testing, which builds
// what ships) or development (unminified, with source maps). Unset: production, or development
// under `rollup -w`. File names are hashed in both, since the server caches assets for good.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import json from '@rollup/plugin-json';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import typescript from '@rollup/plugin-typescript';
import terser from '@rollup/plugin-terser';
import postcss from 'postcss';
import autoprefixer from 'autoprefixer';
import cssnano from 'cssnano';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, '../flaskyard/web/dist');
const MODES = ['production', 'development', 'testing'];
const mode = process.env.NODE_ENV || (process.env.ROLLUP_WATCH ? 'development' : 'production');
if (!MODES.includes(mode)) {
  throw new Error(`NODE_ENV must be one of ${MODES.join(', ')}, not ${JSON.stringify(mode)}.`);
}
const production = mode !== 'development';

/** Empties the output directory before each (successful) build's output is written. */
function cleanOutDir(dir) {
  if (!dir.endsWith(path.join('flaskyard', 'web', 'dist'))) throw new Error(`refusing to empty ${dir}`);
  return {
    name: 'clean-out-dir',
    renderStart() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs imported .css through postcss and emits it as one hashed stylesheet per entry chunk. */
function postcssExtract({ plugins }) {
  const processor = postcss(plugins);
  const styles = new Map();
  return {
    name: 'postcss-extract',
    async transform(code, id) {
      if (!id.endsWith('.css')) return null;
      const result = await processor.process(code, { from: id });
      for (const msg of result.messages) {
        if (msg.type === 'dependency') this.addWatchFile(msg.file);
        if (msg.type === 'warning') this.warn(msg.text);
      }
      styles.set(id, result.css);
      return { code: 'export {};', map: { mappings: '' }, moduleSideEffects: true };
    },
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk' || !chunk.isEntry) continue;
        // Walk static imports depth-first (post-order = execution order) so CSS keeps import order.
        const seen = new Set();
        const ordered = [];
        const visit = (id) => {
          if (seen.has(id)) return;
          seen.add(id);
          for (const dep of this.getModuleInfo(id)?.importedIds ?? []) visit(dep);
          if (styles.has(id)) ordered.push(styles.get(id));
        };
        visit(chunk.facadeModuleId);
        const css = ordered.join('\n');
        if (!css) continue;
        const ref = this.emitFile({ type: 'asset', name: `${chunk.name}.css`, source: css });
        chunk.cssFile = this.getFileName(ref);
      }
    },
  };
}

/** Writes index.html referencing the hashed entry script and stylesheet (no inline code: strict CSP). */
function htmlPage({ title }) {
  return {
    name: 'html-page',
    generateBundle(_options, bundle) {
      const entry = Object.values(bundle).find((f) => f.type === 'chunk' && f.isEntry);
      if (!entry) this.error('no entry chunk');
      const css = entry.cssFile ? `    <link rel="stylesheet" href="/${entry.cssFile}">\n` : '';
      const source = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="color-scheme" content="light dark">
    <title>${title}</title>
${css}    <script type="module" src="/${entry.fileName}"></script>
  </head>
  <body>
    <div id="app"></div>
    <noscript>${title} needs JavaScript.</noscript>
  </body>
</html>
`;
      this.emitFile({ type: 'asset', fileName: 'index.html', source });
    },
  };
}

export default {
  input: { app: 'src/main.tsx' },
  output: {
    dir: outDir,
    format: 'es',
    entryFileNames: 'assets/[name]-[hash].js',
    chunkFileNames: 'assets/[name]-[hash].js',
    assetFileNames: 'assets/[name]-[hash][extname]',
    sourcemap: !production,
  },
  plugins: [
    cleanOutDir(outDir),
    nodeResolve({ browser: true, extensions: ['.mjs', '.js', '.json', '.ts', '.tsx'] }),
    json({ preferConst: true }),
    typescript({
      tsconfig: './tsconfig.json',
      noEmitOnError: production,
      sourceMap: !production,
      inlineSources: !production,
    }),
    postcssExtract({ plugins: production ? [autoprefixer(), cssnano({ preset: 'default' })] : [autoprefixer()] }),
    production && terser({ ecma: 2020, module: true, format: { comments: false } }),
    htmlPage({ title: 'Flaskyard' }),
  ],
  watch: { clearScreen: false },
};

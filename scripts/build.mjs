#!/usr/bin/env node
// Builds the npm package into pkg/ with the settings of wasm-pack.toml:
//   1. `wasm-pack build` with [build] (and --no-opt: see wasm-pack.toml),
//   2. binaryen's wasm-opt (npm package) with [wasm-opt].args,
//   3. the package entry byok.js / byok.d.ts, which re-export wasm-bindgen's module and add
//      BYOKError and BYOK_ERROR_CODES (a wasm-bindgen export can neither extend Error nor be a
//      constant object),
//   4. package.json fields from [package], and the size check of [budget].
// Usage: node scripts/build.mjs [--dev]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync, copyFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const config = parse(readFileSync(join(root, 'wasm-pack.toml'), 'utf8'));
const { target, 'out-dir': outDir, 'out-name': outName, profile } = config.build;
const dev = process.argv.includes('--dev');
const pkg = join(root, outDir);

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
}

// 1. wasm-pack
run('wasm-pack', [
  'build', '--target', target, '--out-dir', outDir, '--out-name', outName,
  dev ? '--dev' : `--${profile}`, '--no-opt',
]);

// 2. wasm-opt (skipped for --dev builds, which favour build time)
const wasmFile = join(pkg, `${outName}_bg.wasm`);
if (!dev) {
  const wasmOpt = join(root, 'node_modules', '.bin', 'wasm-opt');
  const before = statSync(wasmFile).size;
  run(wasmOpt, [...config['wasm-opt'].args, wasmFile, '-o', wasmFile]);
  console.log(`[build] wasm-opt: ${before} → ${statSync(wasmFile).size} bytes`);
}

// 3. the entry: re-export wasm-bindgen's module plus the error class from the very snippet
// module the wasm imports, so `instanceof` holds for errors thrown by byok.
const snippet = findFile(join(pkg, 'snippets'), 'byok_error.js');
if (!snippet) throw new Error('build: the byok_error.js snippet is missing from pkg/snippets');
const snippetRel = './' + relative(pkg, snippet).split('\\').join('/');
copyFileSync(join(root, 'js', 'byok_error.d.ts'), snippet.replace(/\.js$/, '.d.ts'));
const { entry, types } = config.package;
const header = '// The byok package entry (written by scripts/build.mjs).\n';
writeFileSync(join(pkg, entry),
  header +
  `export * from './${outName}.js';\n` +
  `export { default } from './${outName}.js';\n` +
  `export { BYOKError, BYOK_ERROR_CODES } from '${snippetRel}';\n`);
writeFileSync(join(pkg, types),
  header +
  `export * from './${outName}.js';\n` +
  `export { default } from './${outName}.js';\n` +
  `export { BYOKError, BYOK_ERROR_CODES } from '${snippetRel}';\n` +
  `export type { BYOKErrorCode } from '${snippetRel}';\n`);

// 4. package.json: the entry becomes the package's main module and types.
const pj = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
pj.main = entry;
pj.module = entry;
pj.types = types;
pj.exports = {
  '.': { types: `./${types}`, default: `./${entry}` },
  [`./${outName}_bg.wasm`]: `./${outName}_bg.wasm`,
  './package.json': './package.json',
};
pj.files = Array.from(new Set([...(pj.files || []), entry, types, 'snippets']));
pj.sideEffects = ['./snippets/*'];
writeFileSync(join(pkg, 'package.json'), JSON.stringify(pj, null, 2) + '\n');

// Size report and budget: what a page downloads is the wasm and the JS glue.
const glue = [join(pkg, `${outName}.js`), join(pkg, entry), snippet];
const gz = (f) => gzipSync(readFileSync(f), { level: 9 }).length;
const wasmGz = gz(wasmFile);
const jsGz = glue.reduce((n, f) => n + gz(f), 0);
const totalKb = (wasmGz + jsGz) / 1000;
console.log(`[build] ${relative(root, pkg)}: wasm ${statSync(wasmFile).size} B ` +
  `(${wasmGz} B gzip), JS glue ${jsGz} B gzip, total ${totalKb.toFixed(1)} KB gzip`);
const budget = config.budget['max-gzip-kb'];
if (!dev && totalKb > budget) {
  console.error(`[build] over the size budget of ${budget} KB gzip (wasm-pack.toml [budget])`);
  process.exit(1);
}

function findFile(dir, name) {
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return null; }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { const f = findFile(p, name); if (f) return f; }
    else if (e.name === name) return p;
  }
  return null;
}

#!/usr/bin/env node
// Serves the PWA (www/) with the built package (pkg/ at /pkg/) on 127.0.0.1, and starts the
// local provider stand-in so the page works with no real key. Used by scripts/run.sh and by
// the Playwright tests (import { startDevServer }).
//   node scripts/serve.mjs [--port 8080] [--standin-port 8787]
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join, normalize, extname, dirname, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startStandin } from '../tests/standin/server.mjs';

const DEMO_KEY = 'sk-proj-standinVALIDkey0000000000000000000000';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.webmanifest': 'application/manifest+json', '.ts': 'text/plain; charset=utf-8',
};

/** Maps a URL path to a file under www/ or pkg/, refusing anything that escapes them. */
function resolvePath(urlPath) {
  const [base, rest] = urlPath.startsWith('/pkg/')
    ? [join(root, 'pkg'), urlPath.slice('/pkg/'.length)]
    : [join(root, 'www'), urlPath.slice(1) || 'index.html'];
  const file = normalize(join(base, decodeURIComponent(rest)));
  return file.startsWith(base + sep) || file === base ? file : null;
}

/** Starts the page server; resolves `{ url, port, close() }`. */
export async function startDevServer({ port = 0, standinUrl = null } = {}) {
  const server = http.createServer(async (req, res) => {
    const headers = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
    };
    try {
      const path = new URL(req.url, 'http://x').pathname;
      if (path === '/config.json') {
        res.writeHead(200, { ...headers, 'content-type': 'application/json' });
        // The stand-in's own test key, so the demo works out of the box; it opens nothing real.
        res.end(JSON.stringify({ standinUrl, demoKey: standinUrl ? DEMO_KEY : null }));
        return;
      }
      let file = resolvePath(path);
      if (file && (await stat(file).catch(() => null))?.isDirectory()) file = join(file, 'index.html');
      const body = file && (await readFile(file).catch(() => null));
      if (!body) {
        res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(400, headers);
      res.end();
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  const actual = server.address().port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

async function listenWithFallback(start, preferred) {
  try { return await start(preferred); } catch (e) {
    if (e.code !== 'EADDRINUSE') throw e;
    return start(0);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const standin = await listenWithFallback((port) => startStandin({ port }), arg('--standin-port', 8787));
  const page = await listenWithFallback(
    (port) => startDevServer({ port, standinUrl: standin.url }), arg('--port', 8080));
  console.log(`byok provider stand-in: ${standin.url}`);
  console.log(`byok demo page:         ${page.url}   (Ctrl-C stops both)`);
  const stop = async () => { await page.close(); await standin.close(); process.exit(0); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

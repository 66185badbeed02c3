#!/usr/bin/env node
// byok provider stand-in: a local imitation of the LLM providers' HTTP APIs for tests and the
// demo page (there is no internet on the test machines). See README.md beside this file.
//
//   import { startStandin } from './server.mjs';
//   const standin = await startStandin();            // 127.0.0.1, random port
//   fetch(`${standin.url}/openai/v1/models`, …);
//   await standin.close();
//
//   node tests/standin/server.mjs [--port N] [--quiet]   (default port 8787; Ctrl-C stops it)
//
// Routing is by path prefix, one provider per file in providers/: /openai/... is OpenAI
// (base URL http://127.0.0.1:N/openai/v1). /__standin/... is the control API (lib/control.mjs).
// It only ever listens on 127.0.0.1 and never prints an API key (only masked forms).

import http from 'node:http';
import { pathToFileURL } from 'node:url';

import { KeyRegistry } from './lib/keys.mjs';
import { RequestLog } from './lib/log.mjs';
import { handleControl, CONTROL_PREFIX } from './lib/control.mjs';
import { judgePreflight, preflightHeaders } from './lib/cors.mjs';
import { headerSummary, sendJson } from './lib/http.mjs';
import { openaiErrorBody } from './lib/errors.mjs';

import openai from './providers/openai.mjs';
import azure from './providers/azure.mjs';
import anthropic from './providers/anthropic.mjs';
import google from './providers/google.mjs';
import vertex from './providers/vertex.mjs';
import bedrock from './providers/bedrock.mjs';
import cohere from './providers/cohere.mjs';
import ollama from './providers/ollama.mjs';
import xai from './providers/xai.mjs';
import mistral from './providers/mistral.mjs';
import lmstudio from './providers/lmstudio.mjs';
import vllm from './providers/vllm.mjs';
import llamacpp from './providers/llamacpp.mjs';

/** Every provider the stand-in imitates. Add new provider modules here. */
export const PROVIDERS = [openai, azure, google, vertex, bedrock, cohere, ollama, anthropic, xai, mistral, lmstudio, vllm, llamacpp];

const ALLOWED_HOSTS = new Set(['127.0.0.1']);

function providerFor(pathname) {
  return PROVIDERS.find((p) => pathname === p.prefix || pathname.startsWith(p.prefix + '/')) ?? null;
}

/**
 * Starts the stand-in. Resolves `{ url, port, close(), log, keys }`:
 * `log` is the request log (log.entries, log.list({provider, since})), `keys` the key registry.
 */
export async function startStandin({ port = 0, host = '127.0.0.1', quiet = true } = {}) {
  if (!ALLOWED_HOSTS.has(host)) {
    throw new Error(`the stand-in only listens on 127.0.0.1 (asked for ${host})`);
  }
  const keys = new KeyRegistry();
  const log = new RequestLog();
  for (const p of PROVIDERS) p.setup(keys);
  const startedAt = Date.now();
  const say = quiet ? () => {} : (line) => process.stdout.write(line + '\n');

  const server = http.createServer(async (req, res) => {
    let url;
    try {
      url = new URL(req.url, 'http://127.0.0.1');
    } catch {
      return sendJson(res, 400, openaiErrorBody('Invalid URL'));
    }

    if (url.pathname === CONTROL_PREFIX || url.pathname.startsWith(CONTROL_PREFIX + '/')) {
      try {
        return await handleControl(req, res, url, { keys, log, providers: PROVIDERS, startedAt });
      } catch (err) {
        return sendJson(res, 500, { error: { message: `stand-in control error: ${err.message}` } });
      }
    }

    const provider = providerFor(url.pathname);
    const entry = log.begin({
      method: req.method,
      path: url.pathname + url.search,
      provider: provider?.id ?? null,
      ...headerSummary(req),
    });
    res.on('close', () => {
      if (!res.writableFinished && !entry.truncated) entry.aborted = true;
      log.finish(entry, { status: res.headersSent ? res.statusCode : entry.status });
      say(
        `${entry.method} ${entry.path} ${entry.status ?? '-'}` +
          (entry.key ? ` key=${entry.key}` : '') +
          (entry.stream ? ` events=${entry.events}` : '') +
          (entry.aborted ? ' aborted' : '') +
          (entry.truncated ? ' truncated' : ''),
      );
    });
    res.on('error', () => {});

    if (!provider) {
      req.resume();
      entry.status = 404;
      // No provider lives here: a browser's CORS call fails (the preflight gets 404), while a
      // no-cors probe succeeds, even from a cross-origin-isolated page (CORP cross-origin), so
      // tests can tell "blocked" from "unreachable".
      return sendJson(res, 404, openaiErrorBody(`Invalid URL (${req.method} ${url.pathname})`), {
        'access-control-allow-origin': '*',
        'cross-origin-resource-policy': 'cross-origin',
      });
    }

    if (req.method === 'OPTIONS') {
      req.resume();
      // A provider whose CORS depends on the origin (Ollama) answers its own preflights.
      if (provider.preflight) return provider.preflight({ req, res, url, path: url.pathname.slice(provider.prefix.length), entry });
      const verdict = judgePreflight(req, provider.cors);
      Object.assign(entry, { preflight: true, status: provider.cors.preflightStatus, cors: verdict });
      res.writeHead(provider.cors.preflightStatus, { ...preflightHeaders(provider.cors), 'content-length': '0' });
      return res.end();
    }

    try {
      await provider.handle({ req, res, url, path: url.pathname.slice(provider.prefix.length), entry, keys, log });
    } catch (err) {
      entry.note = `stand-in internal error: ${err.message}`;
      if (!res.headersSent) {
        sendJson(res, 500, openaiErrorBody(`stand-in internal error: ${err.message}`, { type: 'server_error' }));
      } else {
        res.destroy();
      }
    }
  });

  server.keepAliveTimeout = 5000;
  server.requestTimeout = 60_000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  const url = `http://${host}:${actualPort}`;

  let closing = null;
  const close = () => {
    if (!closing) {
      closing = new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    return closing;
  };

  return { url, port: actualPort, close, log, keys };
}

async function main() {
  const { parseArgs } = await import('./lib/http.mjs');
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write('usage: node tests/standin/server.mjs [--port N] [--quiet]\n');
    return;
  }
  const port = args.port === undefined ? 8787 : Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`bad --port ${args.port}\n`);
    process.exit(2);
  }
  const standin = await startStandin({ port, quiet: Boolean(args.quiet) });
  process.stdout.write(`byok stand-in listening on ${standin.url}\n`);
  const stop = async () => {
    await standin.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`stand-in failed: ${err.message}\n`);
    process.exit(1);
  });
}

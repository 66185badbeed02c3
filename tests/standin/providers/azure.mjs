// Azure OpenAI, as https://{resource}.openai.azure.com answers: ≙ http://127.0.0.1:N/azure
// (the client's base URL is then http://127.0.0.1:N/azure/openai, or …/azure/openai/v1 for the
// v1 API). The request and answer bodies are OpenAI's (providers/openai.mjs does the work);
// what differs is here: deployment paths with a required `api-version`, the `api-key` header,
// and Azure's own error bodies for a bad key or a wrong path.

import { makeHandler } from './openai.mjs';
import { HttpError } from '../lib/errors.mjs';

const PREFIX = '/azure';

/** Valid keys: Azure's two formats (32 hex characters, or 84 characters). */
export const BUILTIN_KEYS = [
  { key: '0123456789abcdef0123456789abcdef', behaviour: {}, note: '32-hex key, default behaviour' },
  { key: 'standinAzureKey' + '0'.repeat(69), behaviour: {}, note: '84-character key' },
];
/** Keys starting with this (84-character format) take behaviour words (quota, ratelimit, …). */
export const BEHAVIOUR_KEY_PREFIX = 'standin';

function azureError(status, code, message) {
  return new HttpError(status, { error: { code, message } });
}

function route(method, path, url) {
  // v1 API: OpenAI's own paths, no api-version.
  const v1 = /^\/openai\/v1(\/.*)$/.exec(path);
  if (v1) {
    const sub = v1[1];
    if (sub === '/models' && method === 'GET') return { name: 'models' };
    if (sub === '/chat/completions' && method === 'POST') return { name: 'chat' };
    if (sub === '/embeddings' && method === 'POST') return { name: 'embeddings' };
    return null;
  }
  const dep = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(path);
  const models = path === '/openai/models' && method === 'GET';
  if (!dep && !models) return null;
  if (!url.searchParams.get('api-version')) {
    return { error: azureError(404, '404', 'Resource not found') };
  }
  if (models) return { name: 'models' };
  if (method !== 'POST') return null;
  const deployment = decodeURIComponent(dep[1]);
  return { name: dep[2] === 'embeddings' ? 'embeddings' : 'chat', deployment };
}

const FLAVOUR = {
  id: 'azure',
  route,
  keyOf: (req) => {
    const v = req.headers['api-key'];
    return typeof v === 'string' && v !== '' ? v : null;
  },
  missingKey: () => azureError(401, '401',
    'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.'),
  incorrectKey: () => azureError(401, '401',
    'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an ' +
      'active subscription and use a correct regional API endpoint for your resource.'),
};

export default {
  id: 'azure',
  prefix: PREFIX,
  // Azure OpenAI answers browsers from any origin and allows its api-key header.
  cors: {
    allowOrigin: '*',
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['api-key', 'authorization', 'content-type', 'x-ms-client-request-id'],
    maxAge: 86400,
    exposeHeaders: [],
    preflightStatus: 200,
  },
  setup(keys) {
    for (const k of BUILTIN_KEYS) keys.addBuiltin('azure', k.key, k.behaviour, k.note);
    keys.setBehaviourPrefix('azure', BEHAVIOUR_KEY_PREFIX);
  },
  handle: makeHandler(FLAVOUR),
};

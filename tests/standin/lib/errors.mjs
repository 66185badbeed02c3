// JSON error replies.
//
// Each provider words its errors its own way; the OpenAI dialect below is shared by every
// OpenAI-compatible provider (OpenAI, Azure OpenAI, Groq, xAI, Mistral…), other dialects get
// their own builder here when their provider file is added.

import { sendJson } from './http.mjs';

/** `{"error":{"message","type","param","code"}}` — OpenAI's error body, key order as OpenAI sends it. */
export function openaiErrorBody(message, { type = 'invalid_request_error', param = null, code = null } = {}) {
  return { error: { message, type, param, code } };
}

/** An error a handler can throw; the provider turns it into its JSON error reply. */
export class HttpError extends Error {
  constructor(status, body, headers = {}) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** Shorthand for an OpenAI-dialect HttpError. */
export function openaiError(status, message, options = {}, headers = {}) {
  const err = new HttpError(status, openaiErrorBody(message, options), headers);
  // What the error says, for services of the OpenAI family that word the same error in their
  // own body shape (providers/openai.mjs `errorBody` hook).
  err.info = { ...openaiErrorBody(message, options).error };
  return err;
}

export function sendError(res, err, extraHeaders = {}) {
  sendJson(res, err.status, err.body, { ...extraHeaders, ...err.headers });
}

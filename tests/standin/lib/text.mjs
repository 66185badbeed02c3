// Deterministic text helpers: answer pieces, token estimates, vectors, example values.

import { createHash } from 'node:crypto';

/**
 * Splits text into word-ish pieces, each keeping the spaces before it, as streamed tokens do:
 * "Hello from  the" -> ["Hello", " from", "  the"]. Joining the pieces gives the text back.
 */
export function splitPieces(text) {
  if (text === '') return [];
  return text.match(/\s*\S+|\s+$/gu) ?? [text];
}

/** Splits a string into fragments of at most `size` characters (code points). */
export function splitFixed(text, size) {
  const chars = [...text];
  const out = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}

/** Number of Unicode code points. */
export function charCount(text) {
  return [...String(text)].length;
}

/** The documented token estimate: ceil(code points / 4). */
export function estimateTokens(text) {
  return Math.ceil(charCount(text) / 4);
}

/**
 * A deterministic unit vector of `dims` numbers derived from SHA-256 of `seed`
 * (six decimals, like the real APIs print them; the rounded vector stays within 1e-5 of unit norm).
 */
export function hashVector(seed, dims) {
  const values = [];
  let counter = 0;
  while (values.length < dims) {
    const digest = createHash('sha256').update(`${seed}\u0000${counter++}`).digest();
    for (let i = 0; i + 4 <= digest.length && values.length < dims; i += 4) {
      values.push(digest.readUInt32BE(i) / 0xffffffff - 0.5);
    }
  }
  const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0)) || 1;
  return values.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}

/**
 * A deterministic example value for a JSON schema: objects get their required properties only,
 * strings `"<name> value"` (or the first enum value), integers 1, numbers 1.5, booleans true,
 * arrays one element. Used for tool-call arguments and json_schema answers.
 */
export function exampleFromSchema(schema, name = 'value', depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 8) return null;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.anyOf) && schema.anyOf.length) return exampleFromSchema(schema.anyOf[0], name, depth + 1);
  if (Array.isArray(schema.oneOf) && schema.oneOf.length) return exampleFromSchema(schema.oneOf[0], name, depth + 1);
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (!type && schema.properties) type = 'object';
  switch (type) {
    case 'object': {
      const out = {};
      const props = schema.properties ?? {};
      for (const key of Array.isArray(schema.required) ? schema.required : []) {
        out[key] = exampleFromSchema(props[key] ?? { type: 'string' }, key, depth + 1);
      }
      return out;
    }
    case 'array':
      return schema.items ? [exampleFromSchema(schema.items, name, depth + 1)] : [];
    case 'integer':
      return 1;
    case 'number':
      return 1.5;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'string':
    default:
      return `${name} value`;
  }
}

//! TypeScript declarations for the shapes the exports take and return, so the package's
//! `.d.ts` has no `any` where a shape is known.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A provider id of the catalog (the built-in ones, or one added with updateCatalog). */
export type ProviderId =
  | 'openai' | 'anthropic' | 'google' | 'xai' | 'mistral' | 'cohere' | 'azure' | 'bedrock'
  | 'vertex' | 'ollama' | 'lmstudio' | 'vllm' | 'openai-compatible'
  | (string & {});

/** A model of a provider; prices in USD per 1,000 tokens. */
export interface ProviderModel {
  id: string;
  name: string;
  contextWindow: number;
  maxOutputTokens: number;
  inputCostPer1k: number;
  outputCostPer1k: number;
  /** Extension: chat or embedding model. */
  kind: 'chat' | 'embedding';
  /** Extension: takes image parts. */
  vision: boolean;
  /** Extension: takes tools. */
  functionCalling: boolean;
  /** Extension: a reasoning model. */
  reasoning: boolean;
}

/** A provider of the catalog. */
export interface ProviderConfig {
  id: ProviderId;
  name: string;
  displayName: string;
  baseUrl: string;
  keyFormat: {
    prefix?: string;
    /** A JavaScript regular expression source: `new RegExp(pattern).test(key.trim())`. */
    pattern: string;
    example: string;
    /** Extension: the key may be empty (local servers). */
    optional: boolean;
  };
  features: { streaming: boolean; functionCalling: boolean; vision: boolean; embeddings: boolean };
  models: ProviderModel[];
  /** Extension: the wire dialect. */
  protocol: 'openai' | 'azure-openai' | 'anthropic' | 'gemini' | 'vertex' | 'cohere' | 'ollama' | 'bedrock';
  /** Extension: a server on the user's own machine. */
  local: boolean;
  /** Extension: where to get a key. */
  keysUrl?: string;
}

/** What validateKeyFormat answers. */
export interface KeyFormatResult {
  valid: boolean;
  /** Why not, for people; never quotes the key. */
  error?: string;
}

/** What updateCatalog changed. */
export interface CatalogUpdateSummary {
  providersAdded: number;
  modelsAdded: number;
  modelsUpdated: number;
  /** Entries left out: unknown provider, no price, not a chat or embedding model. */
  skipped: number;
}

/** One part of a multi-part message. */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image'; data: string; mimeType: string; url?: never }
  | { type: 'image'; url: string; mimeType?: string; data?: never };

/** A tool call the model made; `arguments` is complete JSON text. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** One message of a conversation. */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string | ContentPart[]; toolCalls?: ToolCall[] }
  | { role: 'tool'; content: string | ContentPart[]; toolCallId: string };

/** A function the model may call. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** A JSON Schema of type object. */
  parameters: Record<string, unknown>;
}

/** A chat request, one shape for every provider. */
export interface ChatRequest {
  provider: ProviderId;
  model: string;
  messages: ChatMessage[];
  settings?: { temperature?: number; maxTokens?: number; topP?: number; stop?: string | string[] };
  tools?: ToolDefinition[];
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
  keyId?: string;
  /** The longest wait, ms, accepted from the rate limiter before RATE_LIMITED (default 60000). */
  maxWaitMs?: number;
  signal?: AbortSignal;
}

/** Token counts of a call. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** Why generation stopped. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

/** One chunk of streamChat; `done` comes last. */
export type ChatChunk =
  | { type: 'content'; delta: string }
  | { type: 'tool_call'; id: string; name: string; argumentsDelta: string }
  | { type: 'usage'; usage: Usage }
  | { type: 'done'; finishReason: FinishReason; usage: Usage; cost: number | null }
  | WaitChunk;

/** The call waits before it goes out: the user's rate limit or the provider's Retry-After. */
export interface WaitChunk {
  type: 'wait';
  waitMs: number;
  reason: 'retryAfter' | 'providerRequests' | 'providerTokens' | 'requestsPerMinute' | 'tokensPerMinute';
  message: string;
}

/** What collectStream and sendChat resolve to. */
export interface ChatResult {
  content: string;
  toolCalls: ToolCall[];
  usage: Usage;
  /** USD from the catalog, or null when the catalog has no price for the model. */
  cost: number | null;
  finishReason: FinishReason;
  provider: ProviderId;
  model: string;
}

/** Options of Vault.create. */
export interface VaultCreateOptions {
  mode?: 'passphrase' | 'device' | 'session';
  /** Idle time before the vault locks itself (default 15 minutes; 0 turns it off). */
  autoLockMs?: number;
  /** PBKDF2 iterations, 600,000 or more. */
  iterations?: number;
}

/** Options of addKey. */
export interface AddKeyOptions {
  label?: string;
  /** `https:`, or `http:` on a loopback host only. */
  baseUrl?: string;
  /** Ask the provider before storing (default true). */
  validate?: boolean;
}

/** What addKey and validateKey answer. */
export interface KeyCheckResult {
  valid: boolean;
  /** The stored key's id (addKey). */
  id?: string;
  /** The model ids the key can see. */
  models?: string[];
  error?: string;
  code?: string;
}

/** A stored key, never in plain text. */
export interface StoredKey {
  id: string;
  provider: ProviderId;
  label: string;
  /** The formatKeyDisplay form. */
  keyPrefix: string;
  baseUrl?: string;
  createdAt: number;
  lastUsed: number | null;
  isValid: boolean;
  rotatedAt?: number;
}

/** The request of embed. */
export interface EmbedRequest {
  provider: ProviderId;
  model: string;
  input: string | string[];
  keyId?: string;
  signal?: AbortSignal;
}

/** What embed resolves to. */
export interface EmbedResult {
  /** One vector per input, in input order. */
  embeddings: number[][];
  usage: Usage;
  /** USD from the catalog, or null when it has no price for the model. */
  cost: number | null;
  provider: ProviderId;
  model: string;
}

/** An encrypted backup of a vault's keys (exportBackup, Vault.importBackup). */
export interface BackupDocument {
  format: 'byok-backup';
  version: number;
  createdAt: number;
  kdf: { algorithm: 'PBKDF2-SHA256'; iterations: number; salt: string };
  sealed: { iv: string; ct: string };
}

/** What checkRequest answers. */
export interface CheckedRequest {
  /** The request with its settings clamped (the signal left out). */
  request: Omit<ChatRequest, 'signal'>;
  /** What was adjusted, for people. */
  notes: string[];
}

/** usageReport's query. Bounds are ms since the epoch, 'YYYY-MM-DD', 'YYYY-MM' or RFC 3339. */
export interface UsageQuery {
  period: 'day' | 'month';
  from?: number | string;
  to?: number | string;
  /** Minutes east of UTC for day boundaries; default the page's time zone. */
  tzOffsetMinutes?: number;
}

/** One row of a usage report. */
export interface UsageRow {
  period?: string;
  provider?: string;
  model?: string;
  calls: number;
  errors: number;
  aborted: number;
  inputTokens: number;
  outputTokens: number;
  /** Exact cost in femto-dollars (10^-15 USD), as a decimal string. */
  costFemto: string;
  costUsd: number;
  /** What a gateway reported itself (OpenRouter, LiteLLM: usage.cost), when it did. */
  reportedCostUsd: number | null;
  /** reportedCostUsd minus our cost of the same calls. */
  costDifferenceUsd: number | null;
}

/** What usageReport resolves to. */
export interface UsageReport {
  period: 'day' | 'month';
  from: string | null;
  to: string | null;
  tzOffsetMinutes: number;
  rows: UsageRow[];
  byProvider: UsageRow[];
  totals: UsageRow;
}

/** setBudget's argument: one of provider or keyId; no limit at all removes the budget. */
export interface BudgetInput {
  provider?: string;
  keyId?: string;
  dailyUsd?: number | null;
  monthlyUsd?: number | null;
}

/** A budget as stored. */
export interface BudgetSpec {
  scope: { kind: 'provider' | 'key'; id: string };
  dailyUsd: number | null;
  monthlyUsd: number | null;
}

/** What budgets and setBudget resolve to. */
export interface Budgets {
  budgets: BudgetSpec[];
  status: Array<{
    budgetId: string;
    scope: { kind: 'provider' | 'key'; id: string };
    period: 'daily' | 'monthly';
    limitUsd: number;
    spentUsd: number;
    remainingUsd: number;
    limitFemto: string;
    spentFemto: string;
    remainingFemto: string;
  }>;
}

/** A rate limit: per provider, or per stored key. Neither limit removes it. */
export interface RateLimitSpec {
  provider: string;
  keyId?: string;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/** One audit log entry: never a key, a prompt or a response. */
export interface AuditEntry {
  seq: number;
  at: number;
  event: { type: string; [field: string]: unknown };
  /** A hash of the page session's random id. */
  session: string;
  prev: string;
  hash: string;
}

/** What verifyAuditLog resolves to. */
export interface AuditVerification {
  ok: boolean;
  checked: number;
  firstBadSeq: number | null;
  problem: string | null;
  last: { seq: number; hash: string } | null;
}

/** What complianceReport resolves to. */
export interface ComplianceReport {
  calls: number;
  succeeded: number;
  errors: number;
  aborted: number;
  successRate: number | null;
  byProvider: Record<string, number>;
  errorTypes: Record<string, number>;
  unlockFailures: number;
  budgetRefusals: number;
  keyUses: number;
  auditEntries: number;
  from: number | null;
  to: number | null;
}
"#;

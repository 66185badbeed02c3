use super::*;

fn embedded() -> Catalog {
    Catalog::embedded().expect("the embedded catalog parses")
}

#[test]
fn every_provider_id_of_the_api_is_present() {
    let c = embedded();
    for id in [
        "openai",
        "anthropic",
        "google",
        "xai",
        "mistral",
        "cohere",
        "azure",
        "bedrock",
        "vertex",
        "ollama",
        "lmstudio",
        "vllm",
        "openai-compatible",
    ] {
        let p = c.provider(id).unwrap_or_else(|_| panic!("{id} missing"));
        assert!(!p.display_name.is_empty(), "{id}");
        assert!(!p.models.is_empty(), "{id} has no models");
    }
}

#[test]
fn default_base_urls_match_the_api() {
    let c = embedded();
    for (id, url) in [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com/v1"),
        ("google", "https://generativelanguage.googleapis.com/v1beta"),
        ("xai", "https://api.x.ai/v1"),
        ("mistral", "https://api.mistral.ai/v1"),
        ("cohere", "https://api.cohere.com/v2"),
        ("ollama", "http://localhost:11434"),
        ("lmstudio", "http://localhost:1234/v1"),
        ("vllm", "http://localhost:8000/v1"),
    ] {
        assert_eq!(c.provider(id).unwrap().base_url, url, "{id}");
    }
}

/// Prices (USD per 1K) and windows that the product specifications name.
#[test]
fn specified_models_prices_and_windows() {
    let c = embedded();
    // (provider, model, name, input per 1K, output per 1K, context window or 0 = unchecked)
    let cases: &[(&str, &str, &str, f64, f64, u64)] = &[
        ("openai", "gpt-4o", "GPT-4o", 0.0025, 0.01, 128_000),
        ("openai", "gpt-4o-mini", "GPT-4o mini", 0.00015, 0.0006, 0),
        ("openai", "o1-preview", "", 0.015, 0.06, 0),
        ("openai", "o1-mini", "", 0.003, 0.012, 0),
        ("openai", "gpt-4-turbo", "GPT-4 Turbo", 0.01, 0.03, 0),
        ("openai", "gpt-4", "GPT-4", 0.03, 0.06, 0),
        (
            "openai",
            "gpt-3.5-turbo",
            "GPT-3.5 Turbo",
            0.0005,
            0.0015,
            0,
        ),
        ("openai", "text-embedding-3-large", "", 0.00013, 0.0, 0),
        ("openai", "text-embedding-3-small", "", 0.00002, 0.0, 0),
        (
            "anthropic",
            "claude-sonnet-4-20250514",
            "Claude Sonnet 4",
            0.003,
            0.015,
            200_000,
        ),
        (
            "anthropic",
            "claude-opus-4-20250514",
            "Claude Opus 4",
            0.015,
            0.075,
            0,
        ),
        (
            "anthropic",
            "claude-3-5-sonnet-20241022",
            "Claude 3.5 Sonnet",
            0.003,
            0.015,
            0,
        ),
        (
            "anthropic",
            "claude-3-5-haiku-20241022",
            "Claude 3.5 Haiku",
            0.001,
            0.005,
            0,
        ),
        (
            "anthropic",
            "claude-3-opus-20240229",
            "Claude 3 Opus",
            0.015,
            0.075,
            0,
        ),
        (
            "anthropic",
            "claude-3-sonnet-20240229",
            "Claude 3 Sonnet",
            0.003,
            0.015,
            0,
        ),
        (
            "anthropic",
            "claude-3-haiku-20240307",
            "Claude 3 Haiku",
            0.00025,
            0.00125,
            200_000,
        ),
        (
            "google",
            "gemini-1.5-pro",
            "Gemini 1.5 Pro",
            0.00125,
            0.00375,
            2_000_000,
        ),
        (
            "google",
            "gemini-1.5-flash",
            "Gemini 1.5 Flash",
            0.000075,
            0.0003,
            1_000_000,
        ),
        ("google", "gemini-pro", "Gemini Pro", 0.0, 0.0, 0),
        ("xai", "grok-2", "Grok 2", 0.002, 0.01, 131_072),
        ("xai", "grok-2-vision", "Grok 2 Vision", 0.0, 0.0, 0),
        (
            "mistral",
            "mistral-large-latest",
            "Mistral Large",
            0.002,
            0.006,
            128_000,
        ),
        (
            "mistral",
            "mistral-small-latest",
            "Mistral Small",
            0.0,
            0.0,
            0,
        ),
        ("mistral", "open-mistral-7b", "Mistral 7B", 0.0, 0.0, 0),
        ("cohere", "command-r", "Command R", 0.0, 0.0, 0),
        ("cohere", "command-r-plus", "Command R+", 0.0, 0.0, 0),
        ("ollama", "llama3.1:8b", "Llama 3.1 8B", 0.0, 0.0, 0),
        ("ollama", "llama3.1:70b", "", 0.0, 0.0, 0),
        ("ollama", "mistral:7b", "Mistral 7B", 0.0, 0.0, 0),
        ("ollama", "codellama:13b", "CodeLlama 13B", 0.0, 0.0, 0),
    ];
    for &(p, m, name, input, output, window) in cases {
        let model = c.model(p, m).unwrap_or_else(|e| panic!("{p}/{m}: {e}"));
        let view = ProviderModel::from(model);
        if !name.is_empty() {
            assert_eq!(view.name, name, "{p}/{m}");
        }
        // 0.0 means "not pinned by the specification" except for local servers, which are free.
        if input > 0.0 || p == "ollama" {
            assert_eq!(view.input_cost_per1k, input, "{p}/{m} input");
            assert_eq!(view.output_cost_per1k, output, "{p}/{m} output");
        }
        if window > 0 {
            assert_eq!(view.context_window, window, "{p}/{m} window");
        }
    }
}

#[test]
fn local_servers_are_free_and_keys_optional() {
    let c = embedded();
    for id in ["ollama", "lmstudio", "vllm", "openai-compatible"] {
        let p = c.provider(id).unwrap();
        assert!(p.local, "{id}");
        assert!(p.key_format.optional, "{id}");
        for m in &p.models {
            assert_eq!((m.input_price, m.output_price), (0, 0), "{id}/{}", m.id);
        }
        let names: Vec<String> = p.models.iter().map(|m| m.name.to_lowercase()).collect();
        for needle in [
            "llama 3.1 8b",
            "llama 3.1 70b",
            "mistral 7b",
            "codellama 13b",
        ] {
            assert!(
                names.iter().any(|n| n.contains(needle)),
                "{id} lacks a model named like {needle}: {names:?}"
            );
        }
    }
}

#[test]
fn feature_matrix() {
    let c = embedded();
    // xAI calls functions (tests/fixtures/xai-chat.tool-call.payloads.jsonl is grok-3-mini's).
    assert!(c.provider("xai").unwrap().features.function_calling);
    for id in ["openai", "anthropic", "google", "xai", "mistral"] {
        let f = c.provider(id).unwrap().features;
        assert!(f.streaming && f.vision, "{id} streams and takes images");
    }
    assert!(c.provider("openai").unwrap().features.embeddings);
    assert!(!c.provider("anthropic").unwrap().features.embeddings);
}

#[test]
fn every_example_key_matches_and_pattern_is_well_formed() {
    let c = embedded();
    for p in c.providers() {
        let view = ProviderConfig::from(p);
        assert!(view.key_format.pattern.starts_with('^'), "{}", p.id);
        assert!(view.key_format.pattern.ends_with('$'), "{}", p.id);
        assert!(
            crate::core::keys::matches_any_rule(&p.key_format.rules, &p.key_format.example),
            "{}",
            p.id
        );
    }
    let openai = ProviderConfig::from(c.provider("openai").unwrap());
    assert_eq!(openai.key_format.prefix.as_deref(), Some("sk-"));
    assert_eq!(openai.key_format.pattern, "^sk-[A-Za-z0-9_-]{20,400}$");
}

#[test]
fn dated_snapshots_and_aliases_resolve() {
    let c = embedded();
    assert_eq!(c.model("openai", "gpt-4o-2024-08-06").unwrap().id, "gpt-4o");
    assert_eq!(c.model("openai", "gpt-4o-2099-01-31").unwrap().id, "gpt-4o");
    assert_eq!(strip_date_suffix("claude-x-20250101"), Some("claude-x"));
    assert_eq!(strip_date_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
    assert_eq!(strip_date_suffix("gpt-4o"), None);
    assert_eq!(strip_date_suffix("llama3.1:8b"), None);
    let e = c.model("openai", "gpt-5-imaginary").unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelNotFound);
}

#[test]
fn unknown_provider_message_is_bounded_and_clean() {
    let c = embedded();
    let long = "x".repeat(10_000) + "\u{7}";
    let e = c.provider(&long).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnsupportedProvider);
    assert!(e.message.len() < 200);
}

#[test]
fn merge_own_format_adds_and_updates() {
    let mut c = embedded();
    let update = r#"{
      "version": 1, "updated": "2026-12-01",
      "providers": [{
        "id": "openai", "name": "OpenAI", "displayName": "OpenAI", "protocol": "openai",
        "baseUrl": "https://api.openai.com/v1",
        "keyFormat": { "example": "sk-proj-abcdefghijklmnopqrstuvwx",
                       "rules": [{ "prefix": "sk-", "charset": "token", "minLength": 20, "maxLength": 400 }] },
        "features": { "streaming": true, "functionCalling": true, "vision": true, "embeddings": true },
        "models": [
          { "id": "gpt-4o", "name": "GPT-4o", "contextWindow": 128000, "maxOutputTokens": 16384,
            "inputCostPer1k": 0.002, "outputCostPer1k": 0.008 },
          { "id": "gpt-6", "name": "GPT-6", "inputCostPer1k": 0.1, "outputCostPer1k": 0.2 }
        ]
      }]
    }"#;
    let before = c.provider("openai").unwrap().models.len();
    let s = c.merge_json(update).unwrap();
    assert_eq!(s.models_added, 1);
    assert_eq!(s.models_updated, 1);
    assert_eq!(c.updated(), "2026-12-01");
    assert_eq!(c.provider("openai").unwrap().models.len(), before + 1);
    let cost = crate::core::cost::calculate_cost(&c, "openai", "gpt-4o", 1000.0, 1000.0).unwrap();
    assert_eq!(cost, 0.01);
    assert!(c.model("openai", "gpt-6").is_ok());
}

#[test]
fn merge_litellm_format() {
    let mut c = embedded();
    let update = r#"{
      "sample_spec": { "max_tokens": "set to max_output_tokens if provider specifies it" },
      "gpt-4o": { "max_input_tokens": 128000, "max_output_tokens": 16384,
                  "input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
                  "litellm_provider": "openai", "mode": "chat", "supports_vision": true },
      "gemini/gemini-9-ultra": { "max_input_tokens": 4000000, "max_output_tokens": 65536,
                  "input_cost_per_token": 1e-06, "output_cost_per_token": 4e-06,
                  "litellm_provider": "gemini", "mode": "chat", "supports_function_calling": true },
      "dall-e-3": { "litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04 },
      "some-model": { "litellm_provider": "nobody", "mode": "chat",
                  "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06 },
      "text-embedding-3-small": { "max_input_tokens": 8191, "input_cost_per_token": 1e-08,
                  "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "embedding" }
    }"#;
    let s = c.merge_json(update).unwrap();
    assert_eq!(s.models_added, 1, "{s:?}");
    assert_eq!(s.models_updated, 2, "{s:?}");
    assert_eq!(s.skipped, 3, "{s:?}");
    let m = c.model("google", "gemini-9-ultra").unwrap();
    assert_eq!(m.context_window, 4_000_000);
    assert!(m.function_calling);
    let cost = crate::core::cost::calculate_cost(&c, "openai", "gpt-4o", 1000.0, 1000.0).unwrap();
    assert_eq!(cost, 0.01);
    // An update keeps what LiteLLM does not say (the human name).
    assert_eq!(c.model("openai", "gpt-4o").unwrap().name, "GPT-4o");
}

#[test]
fn bad_updates_are_refused_whole() {
    let mut c = embedded();
    let before = c.clone();
    for bad in [
        "not json",
        "[1,2,3]",
        r#"{"version":1,"providers":[{"id":"Bad Id"}]}"#,
        r#"{"gpt-4o":{"litellm_provider":"openai","mode":"chat","input_cost_per_token":-1,"output_cost_per_token":0}}"#,
        r#"{"gpt-4o":{"litellm_provider":"openai","mode":"chat","input_cost_per_token":5,"output_cost_per_token":0}}"#,
    ] {
        let e = c.merge_json(bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        assert_eq!(c, before, "a refused update changed the catalog: {bad}");
    }
    let huge = " ".repeat(MAX_UPDATE_BYTES + 1);
    assert_eq!(
        c.merge_json(&huge).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn providers_serialize_in_the_api_shape() {
    let c = embedded();
    let view = ProviderConfig::from(c.provider("openai").unwrap());
    let v = serde_json::to_value(&view).unwrap();
    for field in [
        "id",
        "name",
        "displayName",
        "baseUrl",
        "keyFormat",
        "features",
        "models",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    let kf = &v["keyFormat"];
    assert!(kf["pattern"].is_string() && kf["example"].is_string());
    let f = &v["features"];
    for field in ["streaming", "functionCalling", "vision", "embeddings"] {
        assert!(f[field].is_boolean(), "{field}");
    }
    let m = &v["models"][0];
    for field in [
        "id",
        "name",
        "contextWindow",
        "maxOutputTokens",
        "inputCostPer1k",
        "outputCostPer1k",
    ] {
        assert!(m.get(field).is_some(), "model missing {field}");
    }
}

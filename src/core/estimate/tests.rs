use super::*;
use serde_json::json;

fn catalog() -> Catalog {
    Catalog::embedded().unwrap()
}

fn request(v: serde_json::Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

/// Texts with their real `o200k_base` token counts, from the `gpt-tokenizer` npm package
/// 4.0.0 (`encode(text).length`). "fitted": used to choose the weights; "held out": not.
/// The Apache License excerpt is words 41–1,040 of its text, whitespace collapsed.
#[rustfmt::skip]
const TEXTS: &[(&str, &str, u64, &str)] = &[
    ("\"Hello world\"", "o200k text, held out", 2, "Hello world"),
    (
        "English prose, 945 characters",
        "o200k text, fitted",
        164,
        r#"The committee met on Tuesday morning to review the proposal for the new library building. After a long discussion about the budget, the members agreed that the design should favour natural light, quiet reading rooms and flexible spaces for community events. Several residents had written letters asking for longer opening hours in the evening, and the librarian explained that this would require at least two additional staff members. The architect presented three options, each with a different balance between cost and energy efficiency. The most expensive option included solar panels on the roof and a ventilation system that recovers heat from the outgoing air. In the end, the committee chose the second option, which keeps most of the environmental features but uses a simpler structure. Construction is expected to begin next spring and to last about eighteen months, during which the old building will remain open with reduced services."#,
    ),
    (
        "English, 1,000 words of the Apache License 2.0",
        "o200k text, fitted",
        1231,
        r#"shall mean the copyright owner or entity authorized by the copyright owner that is granting the License. "Legal Entity" shall mean the union of the acting entity and all other entities that control, are controlled by, or are under common control with that entity. For the purposes of this definition, "control" means (i) the power, direct or indirect, to cause the direction or management of such entity, whether by contract or otherwise, or (ii) ownership of fifty percent (50%) or more of the outstanding shares, or (iii) beneficial ownership of such entity. "You" (or "Your") shall mean an individual or Legal Entity exercising permissions granted by this License. "Source" form shall mean the preferred form for making modifications, including but not limited to software source code, documentation source, and configuration files. "Object" form shall mean any form resulting from mechanical transformation or translation of a Source form, including but not limited to compiled object code, generated documentation, and conversions to other media types. "Work" shall mean the work of authorship, whether in Source or Object form, made available under the License, as indicated by a copyright notice that is included in or attached to the work (an example is provided in the Appendix below). "Derivative Works" shall mean any work, whether in Source or Object form, that is based on (or derived from) the Work and for which the editorial revisions, annotations, elaborations, or other modifications represent, as a whole, an original work of authorship. For the purposes of this License, Derivative Works shall not include works that remain separable from, or merely link (or bind by name) to the interfaces of, the Work and Derivative Works thereof. "Contribution" shall mean any work of authorship, including the original version of the Work and any modifications or additions to that Work or Derivative Works thereof, that is intentionally submitted to Licensor for inclusion in the Work by the copyright owner or by an individual or Legal Entity authorized to submit on behalf of the copyright owner. For the purposes of this definition, "submitted" means any form of electronic, verbal, or written communication sent to the Licensor or its representatives, including but not limited to communication on electronic mailing lists, source code control systems, and issue tracking systems that are managed by, or on behalf of, the Licensor for the purpose of discussing and improving the Work, but excluding communication that is conspicuously marked or otherwise designated in writing by the copyright owner as "Not a Contribution." "Contributor" shall mean Licensor and any individual or Legal Entity on behalf of whom a Contribution has been received by Licensor and subsequently incorporated within the Work. 2. Grant of Copyright License. Subject to the terms and conditions of this License, each Contributor hereby grants to You a perpetual, worldwide, non-exclusive, no-charge, royalty-free, irrevocable copyright license to reproduce, prepare Derivative Works of, publicly display, publicly perform, sublicense, and distribute the Work and such Derivative Works in Source or Object form. 3. Grant of Patent License. Subject to the terms and conditions of this License, each Contributor hereby grants to You a perpetual, worldwide, non-exclusive, no-charge, royalty-free, irrevocable (except as stated in this section) patent license to make, have made, use, offer to sell, sell, import, and otherwise transfer the Work, where such license applies only to those patent claims licensable by such Contributor that are necessarily infringed by their Contribution(s) alone or by combination of their Contribution(s) with the Work to which such Contribution(s) was submitted. If You institute patent litigation against any entity (including a cross-claim or counterclaim in a lawsuit) alleging that the Work or a Contribution incorporated within the Work constitutes direct or contributory patent infringement, then any patent licenses granted to You under this License for that Work shall terminate as of the date such litigation is filed. 4. Redistribution. You may reproduce and distribute copies of the Work or Derivative Works thereof in any medium, with or without modifications, and in Source or Object form, provided that You meet the following conditions: (a) You must give any other recipients of the Work or Derivative Works a copy of this License; and (b) You must cause any modified files to carry prominent notices stating that You changed the files; and (c) You must retain, in the Source form of any Derivative Works that You distribute, all copyright, patent, trademark, and attribution notices from the Source form of the Work, excluding those notices that do not pertain to any part of the Derivative Works; and (d) If the Work includes a "NOTICE" text file as part of its distribution, then any Derivative Works that You distribute must include a readable copy of the attribution notices contained within such NOTICE file, excluding those notices that do not pertain to any part of the Derivative Works, in at least one of the following places: within a NOTICE text file distributed as part of the Derivative Works; within the Source form or documentation, if provided along with the Derivative Works; or, within a display generated by the Derivative Works, if and wherever such third-party notices normally appear. The contents of the NOTICE file are for informational purposes only and do not modify the License. You may add Your own attribution notices within Derivative Works that You distribute, alongside or as an addendum to the NOTICE text from the Work, provided that such additional attribution notices cannot be construed as modifying the License. You may add Your own copyright statement to Your modifications and may provide additional or different license terms and conditions for use, reproduction, or distribution of Your modifications, or for any such Derivative Works as a whole, provided Your use, reproduction, and distribution of the Work otherwise complies with the conditions stated in this License. 5. Submission of Contributions. Unless You explicitly state otherwise, any Contribution intentionally submitted for inclusion in the Work by You to the Licensor shall be under the terms and conditions of this License, without any additional terms or"#,
    ),
    (
        "English chat request, 246 characters",
        "o200k text, fitted",
        53,
        r#"Can you help me write a short email to my landlord? The heating in my apartment stopped working last night and it's really cold. I'd like to ask if someone can come and fix it tomorrow morning, ideally before 10am. Please keep it polite but firm."#,
    ),
    (
        "English question, 117 characters",
        "o200k text, held out",
        21,
        r#"Explain the difference between TCP and UDP, and give one example of an application that typically uses each protocol."#,
    ),
    (
        "German, 290 characters",
        "o200k text, fitted",
        61,
        r#"Am Dienstagmorgen traf sich der Ausschuss, um den Vorschlag für das neue Bibliotheksgebäude zu prüfen. Nach einer langen Diskussion über das Budget waren sich die Mitglieder einig, dass der Entwurf natürliches Licht, ruhige Lesesäle und flexible Räume für Veranstaltungen bevorzugen sollte."#,
    ),
    (
        "French, 288 characters",
        "o200k text, fitted",
        57,
        r#"Mardi matin, le comité s'est réuni pour examiner le projet de la nouvelle bibliothèque. Après une longue discussion sur le budget, les membres ont convenu que la conception devait privilégier la lumière naturelle, des salles de lecture calmes et des espaces flexibles pour les événements."#,
    ),
    (
        "Spanish, 297 characters",
        "o200k text, held out",
        55,
        r#"El martes por la mañana el comité se reunió para revisar la propuesta del nuevo edificio de la biblioteca. Tras una larga discusión sobre el presupuesto, los miembros acordaron que el diseño debía favorecer la luz natural, las salas de lectura tranquilas y los espacios flexibles para actividades."#,
    ),
    (
        "Russian, 266 characters",
        "o200k text, fitted",
        52,
        r#"Во вторник утром комиссия собралась, чтобы рассмотреть проект нового здания библиотеки. После долгого обсуждения бюджета члены комиссии согласились, что проект должен предусматривать естественное освещение, тихие читальные залы и гибкие пространства для мероприятий."#,
    ),
    (
        "Chinese, 112 characters",
        "o200k text, fitted",
        78,
        r#"今天早上委员会开会讨论了新图书馆的建设方案。经过关于预算的长时间讨论，成员们一致认为设计应当重视自然采光、安静的阅览室以及可以灵活使用的社区活动空间。几位居民写信要求延长晚上的开放时间，馆长解释说这至少需要增加两名工作人员。"#,
    ),
    (
        "Chinese, 68 characters",
        "o200k text, held out",
        55,
        r#"请帮我写一封简短的邮件给房东。我公寓里的暖气昨晚坏了，现在非常冷。我想问一下明天上午能不能派人来修理，最好在十点之前。语气要礼貌但坚定。"#,
    ),
    (
        "Japanese, 102 characters",
        "o200k text, fitted",
        76,
        r#"今朝、委員会は新しい図書館の建設計画について話し合いました。予算について長い議論のあと、委員たちは自然光を生かし、静かな閲覧室と地域のイベントに使える柔軟なスペースを重視するべきだという点で合意しました。"#,
    ),
    (
        "Korean, 109 characters",
        "o200k text, fitted",
        63,
        r#"오늘 아침 위원회는 새 도서관 건립 계획을 검토하기 위해 모였습니다. 예산에 대한 긴 논의 끝에 위원들은 자연광과 조용한 열람실, 지역 행사를 위한 유연한 공간을 중시해야 한다는 데 동의했습니다."#,
    ),
    (
        "Rust code, 14 lines",
        "o200k text, fitted",
        144,
        r#"fn backoff(policy: &RetryPolicy, attempt: u32, jitter01: f64) -> u64 {
    let factor = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
    let cap = policy
        .base_delay_ms
        .saturating_mul(factor)
        .min(policy.max_delay_ms);
    let jitter = if jitter01.is_nan() {
        0.0
    } else {
        jitter01.clamp(0.0, 1.0)
    };
    // `as` saturates; the product is at most `cap`.
    (cap as f64 * jitter).round() as u64
}"#,
    ),
    (
        "JavaScript code, 10 lines",
        "o200k text, fitted",
        88,
        r#"export async function fetchUser(id) {
  const response = await fetch(`/api/users/${encodeURIComponent(id)}`, {
    headers: { Accept: 'application/json' },
  });
  if (!response.ok) {
    throw new Error(`Request failed with status ${response.status}`);
  }
  const user = await response.json();
  return { ...user, fullName: `${user.firstName} ${user.lastName}` };
}"#,
    ),
    (
        "Python code, 9 lines",
        "o200k text, held out",
        77,
        r#"def moving_average(values, window=3):
    """Return the moving average of a list of numbers."""
    if window <= 0:
        raise ValueError("window must be positive")
    out = []
    for i in range(len(values) - window + 1):
        chunk = values[i:i + window]
        out.append(sum(chunk) / window)
    return out"#,
    ),
    (
        "compact JSON schema",
        "o200k text, fitted",
        61,
        r#"{"type":"object","properties":{"city":{"type":"string","description":"The city name, e.g. San Francisco"},"units":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":14}},"required":["city"]}"#,
    ),
    (
        "pretty-printed JSON",
        "o200k text, held out",
        84,
        r#"{
  "name": "get_weather",
  "description": "Get the current weather for a city",
  "parameters": {
    "type": "object",
    "properties": {
      "city": { "type": "string" },
      "unit": { "type": "string", "enum": ["c", "f"] }
    },
    "required": ["city"]
  }
}"#,
    ),
    (
        "order line with dates, amounts and ids",
        "o200k text, fitted",
        58,
        r#"Order 48213 shipped on 2024-03-17 at 14:32 with 12 items totalling $1,249.99 (tax 8.25%), tracking 1Z999AA10123456784, estimated arrival 2024-03-21."#,
    ),
    (
        "emoji in English",
        "o200k text, fitted",
        21,
        r#"Great job team 🎉🎉 the launch went well 🚀 thanks everyone 🙏 see you Monday 😀"#,
    ),];

/// Requests whose real `prompt_tokens` are known: the first three recorded in
/// `shared/fixtures` (their requests are in openai-python's
/// `tests/lib/chat/test_completions_streaming.py`: `test_parse_nothing`,
/// `test_allows_non_strict_tools_but_no_parsing`, `test_parse_multiple_pydantic_tools`, the
/// pydantic schemas written out as `to_strict_json_schema` gives them); the other two counted
/// with `gpt-tokenizer`'s `encodeChat(messages, 'gpt-4o')`, which reproduces the first
/// fixture's 14 exactly.
fn chat_samples() -> Vec<(&'static str, &'static str, u64, ChatRequest)> {
    let weather_args = json!({
        "description": "Get the temperature for the given country/city combo",
        "properties": {
            "city": {"title": "City", "type": "string"},
            "country": {"title": "Country", "type": "string"},
            "units": {"default": "c", "enum": ["c", "f"], "title": "Units", "type": "string"}
        },
        "required": ["city", "country", "units"],
        "title": "GetWeatherArgs",
        "type": "object",
        "additionalProperties": false
    });
    let stock_price = json!({
        "properties": {
            "ticker": {"title": "Ticker", "type": "string"},
            "exchange": {"title": "Exchange", "type": "string"}
        },
        "required": ["ticker", "exchange"],
        "title": "GetStockPrice",
        "type": "object",
        "additionalProperties": false
    });
    vec![
        (
            "openai-chat.text.raw.sse.txt: \"What's the weather like in SF?\"",
            "recorded, fitted",
            14,
            request(json!({
                "provider": "openai", "model": "gpt-4o-2024-08-06",
                "messages": [{"role": "user", "content": "What's the weather like in SF?"}]
            })),
        ),
        (
            "openai-chat.tool-call.raw.sse.txt: one message, one tool",
            "recorded, fitted",
            44,
            request(json!({
                "provider": "openai", "model": "gpt-4o-2024-08-06",
                "messages": [{"role": "user", "content": "what's the weather in NYC?"}],
                "tools": [{
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
                }]
            })),
        ),
        (
            "openai-chat.parallel-tool-calls.raw.sse.txt: two messages, two tools",
            "recorded, fitted",
            149,
            request(json!({
                "provider": "openai", "model": "gpt-4o-2024-08-06",
                "messages": [
                    {"role": "user", "content": "What's the weather like in Edinburgh?"},
                    {"role": "user", "content": "What's the price of AAPL?"}
                ],
                "tools": [
                    {
                        "name": "GetWeatherArgs",
                        "description": "Get the temperature for the given country/city combo",
                        "parameters": weather_args
                    },
                    {
                        "name": "get_stock_price",
                        "description": "Fetch the latest price for a given ticker",
                        "parameters": stock_price
                    }
                ]
            })),
        ),
        (
            "OpenAI cookbook's 6-message example (without `name`)",
            "o200k chat, held out",
            110,
            request(json!({
                "provider": "openai", "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
                    {"role": "system", "content": "New synergies will help drive top-line growth."},
                    {"role": "system", "content": "Things working well together will increase revenue."},
                    {"role": "system", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
                    {"role": "system", "content": "Let's talk later when we're less busy about how to do better."},
                    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
                ]
            })),
        ),
        (
            "4-message conversation (system, user, assistant, user)",
            "o200k chat, held out",
            103,
            request(json!({
                "provider": "openai", "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "You are a concise assistant. Answer in one paragraph."},
                    {"role": "user", "content": "Explain the difference between TCP and UDP, and give one example of an application that typically uses each protocol."},
                    {"role": "assistant", "content": "TCP is connection-oriented and reliable: it retransmits lost packets and keeps order, which suits web browsing and email. UDP sends independent datagrams without delivery guarantees, trading reliability for low latency, which suits video calls and online games."},
                    {"role": "user", "content": "Which one does DNS use?"}
                ]
            })),
        ),
    ]
}

/// The largest error any sample may show, and the mean the set must stay within.
const MAX_ERROR: f64 = 0.20;
const MAX_MEAN_ERROR: f64 = 0.10;

fn error(estimate: u64, real: u64) -> f64 {
    (estimate as f64 - real as f64) / real as f64
}

#[test]
fn estimates_stay_within_the_documented_error() {
    let mut rows: Vec<(String, String, u64, u64)> = Vec::new();
    for (label, kind, real, req) in chat_samples() {
        rows.push((label.to_owned(), kind.to_owned(), real, input_tokens(&req)));
    }
    for (label, kind, real, text) in TEXTS {
        rows.push((
            (*label).to_owned(),
            (*kind).to_owned(),
            *real,
            text_tokens(text),
        ));
    }
    let mut sum = 0.0;
    let mut worst: f64 = 0.0;
    let mut over = 0;
    // Printed as the table of the module docs: `cargo test --lib estimate -- --nocapture`.
    for (label, kind, real, est) in &rows {
        let e = error(*est, *real);
        println!("| {label} | {kind} | {real} | {est} | {:+.1}% |", e * 100.0);
        assert!(e.abs() <= MAX_ERROR, "{label}: {est} for {real}");
        sum += e.abs();
        worst = worst.max(e.abs());
        over += usize::from(*est > *real);
    }
    let mean = sum / rows.len() as f64;
    println!(
        "{} samples, mean |error| {:.1}%, max {:.1}%, {} over",
        rows.len(),
        mean * 100.0,
        worst * 100.0,
        over
    );
    assert!(mean <= MAX_MEAN_ERROR, "mean {mean}");
}

#[test]
fn text_runs() {
    let table: &[(&str, u64)] = &[
        ("", 0),
        ("a", 1),
        ("hello", 1),
        ("internationalization", 3), // 20 letters: ⌈20/8⌉
        ("12345", 2),
        ("1234567", 3),
        ("  ", 1),
        (" ", 0),
        ("\n", 1),
        ("a b c", 3),
        ("{\"a\":1}", 5), // `{"` 1.1, `a` 1, `":` 1.1, `1` 1, `}` 0.8; o200k: 5 as well
        ("日本語", 3),    // 3 × 0.75 = 2.25 → 3
        ("🎉", 2),
        ("привет", 1),
        ("Ελληνικά", 2),
    ];
    for (text, want) in table {
        assert_eq!(text_tokens(text), *want, "{text:?}");
    }
}

#[test]
fn images_count_by_provider_convention() {
    let with_image = |provider: &str| {
        request(json!({
            "provider": provider, "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image", "url": "https://example.com/cat.png"},
                {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}
            ]}]
        }))
    };
    let text_only = input_tokens(&request(json!({
        "provider": "openai", "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}]}]
    })));
    for (provider, per_image) in [
        ("openai", 765),
        ("anthropic", 1_600),
        ("google", 1_032),
        ("mistral", 765),
    ] {
        assert_eq!(
            input_tokens(&with_image(provider)),
            text_only + 2 * per_image,
            "{provider}"
        );
        assert_eq!(image_tokens(provider), per_image);
    }
}

#[test]
fn tool_calls_and_results_count() {
    let base = request(json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Weather in Paris?"}]
    }));
    let mut turn = base.clone();
    turn.messages.push(
        serde_json::from_value(json!({
            "role": "assistant", "content": "",
            "toolCalls": [{"id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}]
        }))
        .unwrap(),
    );
    turn.messages.push(
        serde_json::from_value(
            json!({"role": "tool", "toolCallId": "call_1", "content": "18°C, cloudy"}),
        )
        .unwrap(),
    );
    let a = input_tokens(&base);
    let b = input_tokens(&turn);
    // Two more messages (8), a call (4 + name + arguments), an id and the result.
    assert!(b >= a + 20 && b <= a + 30, "{a} → {b}");
}

#[test]
fn output_budget() {
    let c = catalog();
    let gpt4o = c.model("openai", "gpt-4o").unwrap().max_output_tokens;
    assert!(gpt4o > 0);
    let with = |model: &str, max_tokens: Option<f64>| {
        let mut r = request(json!({
            "provider": "openai", "model": model,
            "messages": [{"role": "user", "content": "hi"}]
        }));
        r.settings.max_tokens = max_tokens;
        output_tokens(&c, &r)
    };
    assert_eq!(with("gpt-4o", Some(100.0)), 100);
    assert_eq!(with("gpt-4o", Some(100.7)), 100);
    assert_eq!(with("gpt-4o", Some(1e12)), gpt4o);
    assert_eq!(with("gpt-4o", None), gpt4o.min(DEFAULT_OUTPUT_CAP));
    assert_eq!(
        with("gpt-4o", Some(f64::NAN)),
        gpt4o.min(DEFAULT_OUTPUT_CAP)
    );
    assert_eq!(with("gpt-4o", Some(0.0)), gpt4o.min(DEFAULT_OUTPUT_CAP));
    assert_eq!(with("not-in-the-catalog", None), DEFAULT_OUTPUT_CAP);
    assert_eq!(with("not-in-the-catalog", Some(50.0)), 50);
}

#[test]
fn cost_from_catalog_prices() {
    let c = catalog();
    let mut r = request(json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [{"role": "user", "content": "What's the weather like in SF?"}],
        "settings": {"maxTokens": 500}
    }));
    let e = estimate_request(&c, &r);
    assert_eq!(e.input_tokens, input_tokens(&r));
    assert_eq!(e.output_tokens, 500);
    let want = cost_femto(&c, "openai", "gpt-4o", e.input_tokens, 500).unwrap();
    assert_eq!(e.cost_femto, want);
    assert_eq!(estimate_cost_femto(&c, &r), want);
    assert!(want > 0);
    // No price, no estimate: the call itself records no cost either.
    r.model = "gpt-9000".into();
    assert_eq!(estimate_cost_femto(&c, &r), 0);
    r.provider = "ollama".into();
    assert_eq!(estimate_cost_femto(&c, &r), 0);
    // Embeddings: the texts, no output.
    let inputs = vec![
        "Hello world".to_owned(),
        "What's the weather like in SF?".to_owned(),
    ];
    let model = c
        .providers()
        .iter()
        .find(|p| p.id == "openai")
        .and_then(|p| p.models.iter().find(|m| m.kind == ModelKind::Embedding))
        .map(|m| m.id.clone())
        .unwrap();
    let e = estimate_embed(&c, "openai", &model, &inputs);
    assert_eq!(e.input_tokens, 2 + 9);
    assert_eq!(e.output_tokens, 0);
    assert_eq!(
        e.cost_femto,
        cost_femto(&c, "openai", &model, 11, 0).unwrap()
    );
}

#[test]
fn an_estimate_carries_no_text() {
    let r = request(json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [{"role": "user", "content": "my key is sk-proj-SECRETSECRETSECRET, keep it safe"}]
    }));
    let json = serde_json::to_string(&estimate_request(&catalog(), &r)).unwrap();
    assert!(!json.contains("SECRET"));
    assert!(json.starts_with("{\"inputTokens\":"));
    assert!(json.contains("\"costFemto\":\""));
}

#[test]
fn long_inputs_are_fast_and_linear() {
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(20_000);
    let n = text_tokens(&text);
    // 900,000 characters, 10 tokens a sentence in o200k (9 words and the period).
    assert!((190_000..=230_000).contains(&n), "{n}");
}

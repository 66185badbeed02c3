use super::*;
use crate::core::usage::{CallKind, CallStatus, MS_PER_DAY};

/// 2026-11-23T12:00:00Z.
const NOW: f64 = 20_780.0 * MS_PER_DAY + 12.0 * 3_600_000.0;
const CENT: u128 = 10_000_000_000_000; // $0.01 in femto-dollars

fn entry(id: &str, at: f64, provider: &str, key: Option<&str>, cost: u128) -> LedgerEntry {
    LedgerEntry {
        id: id.into(),
        at,
        provider: provider.into(),
        model: "m".into(),
        key_id: key.map(str::to_owned),
        kind: CallKind::Chat,
        input_tokens: 1,
        output_tokens: 1,
        cost_femto: u64::try_from(cost).unwrap(),
        reported_cost_usd: None,
        status: CallStatus::Ok,
        error_code: None,
        duration_ms: 1,
        retries: 0,
    }
}

fn budget(scope: BudgetScope, daily: Option<f64>, monthly: Option<f64>) -> Budget {
    Budget::new(&BudgetSpec {
        scope,
        daily_usd: daily,
        monthly_usd: monthly,
    })
    .unwrap()
}

fn provider(p: &str) -> BudgetScope {
    BudgetScope::Provider(p.into())
}

fn key(k: &str) -> BudgetScope {
    BudgetScope::Key(k.into())
}

#[test]
fn specs_are_validated_and_stored_as_integers() {
    let b = budget(provider("openai"), Some(0.5), Some(10.0));
    assert_eq!(b.id, "provider:openai");
    assert_eq!(b.daily_limit_femto, Some(50 * CENT));
    assert_eq!(b.monthly_limit_femto, Some(1000 * CENT));
    assert_eq!(b.spec().daily_usd, Some(0.5));
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "provider:openai",
            "scope": { "kind": "provider", "id": "openai" },
            "dailyLimitFemto": "500000000000000",
            "monthlyLimitFemto": "10000000000000000",
        })
    );
    assert_eq!(serde_json::from_value::<Budget>(json).unwrap(), b);
    let spec: BudgetSpec =
        serde_json::from_str(r#"{"scope":{"kind":"key","id":"k1"},"monthlyUsd":3}"#).unwrap();
    let b = Budget::new(&spec).unwrap();
    assert_eq!(b.id, "key:k1");
    assert_eq!(b.daily_limit_femto, None);
    assert_eq!(
        serde_json::to_value(&b).unwrap()["dailyLimitFemto"],
        serde_json::Value::Null
    );

    for (daily, monthly) in [
        (Some(-0.01), None),
        (Some(f64::NAN), None),
        (None, Some(f64::INFINITY)),
        (None, Some(2e9)),
    ] {
        let e = Budget::new(&BudgetSpec {
            scope: provider("openai"),
            daily_usd: daily,
            monthly_usd: monthly,
        })
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
    let e = Budget::new(&BudgetSpec {
        scope: provider(""),
        daily_usd: Some(1.0),
        monthly_usd: None,
    })
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(serde_json::from_str::<BudgetSpec>(r#"{"scope":{"kind":"team","id":"x"}}"#).is_err());
}

#[test]
fn spent_index_sums_today_and_this_month() {
    let entries = vec![
        entry("a", NOW - 1_000.0, "openai", Some("k1"), 3 * CENT),
        entry("b", NOW - 2_000.0, "openai", Some("k2"), 4 * CENT),
        entry("c", NOW - 2.0 * MS_PER_DAY, "openai", Some("k1"), 5 * CENT),
        entry("d", NOW - 30.0 * MS_PER_DAY, "openai", Some("k1"), 7 * CENT), // October
        entry("e", NOW - 1_000.0, "anthropic", None, 11 * CENT),
    ];
    let idx = SpentIndex::build(&entries, &[], NOW, 0).unwrap();
    let table: &[(BudgetScope, BudgetPeriod, u128)] = &[
        (provider("openai"), BudgetPeriod::Daily, 7 * CENT),
        (provider("openai"), BudgetPeriod::Monthly, 12 * CENT),
        (key("k1"), BudgetPeriod::Daily, 3 * CENT),
        (key("k1"), BudgetPeriod::Monthly, 8 * CENT),
        (key("k2"), BudgetPeriod::Monthly, 4 * CENT),
        (provider("anthropic"), BudgetPeriod::Daily, 11 * CENT),
        (provider("mistral"), BudgetPeriod::Daily, 0),
    ];
    for (scope, period, want) in table {
        assert_eq!(
            idx.spent(scope, *period, NOW),
            *want,
            "{scope:?} {period:?}"
        );
    }
    // The next day starts at 0; the month goes on.
    let tomorrow = NOW + MS_PER_DAY;
    assert_eq!(
        idx.spent(&provider("openai"), BudgetPeriod::Daily, tomorrow),
        0
    );
    assert_eq!(
        idx.spent(&provider("openai"), BudgetPeriod::Monthly, tomorrow),
        12 * CENT
    );
    // A new month starts at 0 as well.
    let december = NOW + 8.0 * MS_PER_DAY;
    assert_eq!(
        idx.spent(&provider("openai"), BudgetPeriod::Monthly, december),
        0
    );
}

#[test]
fn local_days_decide_what_is_today() {
    // 23:30 UTC on the 23rd is the 24th in Berlin (+60).
    let late = 20_780.0 * MS_PER_DAY + 23.5 * 3_600_000.0;
    let entries = vec![
        entry("a", late - 3_600_000.0, "openai", None, CENT), // 22:30 UTC = 23:30 Berlin on the 23rd
        entry("b", late, "openai", None, 2 * CENT),
    ];
    let berlin = SpentIndex::build(&entries, &[], late, 60).unwrap();
    assert_eq!(
        berlin.spent(&provider("openai"), BudgetPeriod::Daily, late),
        2 * CENT
    );
    let utc = SpentIndex::build(&entries, &[], late, 0).unwrap();
    assert_eq!(
        utc.spent(&provider("openai"), BudgetPeriod::Daily, late),
        3 * CENT
    );
    assert!(SpentIndex::build(&entries, &[], late, 900).is_err());
    assert!(SpentIndex::build(&entries, &[], f64::NAN, 0).is_err());
}

#[test]
fn aggregates_count_once_alongside_their_unfolded_entries() {
    // Dec 31 at noon: the 1st of December is more than 30 days back and already folded.
    let now = 20_818.0 * MS_PER_DAY + 12.0 * 3_600_000.0;
    let first = entry(
        "x",
        20_788.0 * MS_PER_DAY + 1_000.0,
        "openai",
        Some("k1"),
        9 * CENT,
    );
    let plan = crate::core::usage::plan_retention(std::slice::from_ref(&first), &[], now);
    assert_eq!(plan.upsert_daily.len(), 1);
    // The folded entry is still stored (its deletion did not happen): counted once.
    let idx = SpentIndex::build(std::slice::from_ref(&first), &plan.upsert_daily, now, 0).unwrap();
    assert_eq!(idx.spent(&key("k1"), BudgetPeriod::Monthly, now), 9 * CENT);
    assert_eq!(
        idx.spent(&provider("openai"), BudgetPeriod::Monthly, now),
        9 * CENT
    );
    let idx = SpentIndex::build(&[], &plan.upsert_daily, now, 0).unwrap();
    assert_eq!(idx.spent(&key("k1"), BudgetPeriod::Monthly, now), 9 * CENT);
}

#[test]
fn boundaries_exactly_at_the_limit_pass() {
    let entries = vec![entry("a", NOW - 1.0, "openai", Some("k1"), 40 * CENT)];
    let idx = SpentIndex::build(&entries, &[], NOW, 0).unwrap();
    let budgets = vec![budget(provider("openai"), Some(0.5), None)];
    // (estimate, allowed)
    let table: &[(u128, bool)] = &[
        (0, true),
        (10 * CENT - 1, true),
        (10 * CENT, true),      // 0.40 + 0.10 = 0.50: exactly at the limit passes
        (10 * CENT + 1, false), // one femto-dollar over does not
        (u128::MAX, false),
    ];
    for (estimate, allowed) in table {
        let r = check_budgets(&budgets, &idx, "openai", Some("k1"), *estimate, NOW);
        assert_eq!(r.is_ok(), *allowed, "estimate {estimate}");
    }
    // A zero limit refuses priced calls and lets free ones through.
    let zero = vec![budget(provider("ollama"), Some(0.0), Some(0.0))];
    let idx = SpentIndex::build(&[], &[], NOW, 0).unwrap();
    assert!(check_budgets(&zero, &idx, "ollama", None, 0, NOW).is_ok());
    assert!(check_budgets(&zero, &idx, "ollama", None, 1, NOW).is_err());
}

#[test]
fn refusals_name_the_limit_and_the_amounts() {
    let entries = vec![
        entry("a", NOW - 1.0, "openai", Some("k1"), 42 * CENT),
        entry(
            "b",
            NOW - 5.0 * MS_PER_DAY,
            "openai",
            Some("k1"),
            500 * CENT,
        ),
    ];
    let idx = SpentIndex::build(&entries, &[], NOW, 0).unwrap();
    let budgets = vec![
        budget(provider("anthropic"), Some(0.01), None), // does not apply
        budget(provider("openai"), Some(1.0), Some(5.0)),
        budget(key("k1"), Some(0.5), None),
    ];
    let e = check_budgets(&budgets, &idx, "openai", Some("k1"), 10 * CENT, NOW).unwrap_err();
    assert_eq!(e.code, ErrorCode::BudgetExceeded);
    assert_eq!(e.provider.as_deref(), Some("openai"));
    assert_eq!(
        e.message,
        "this call would pass the monthly budget of provider openai: $5.42 spent this month + $0.10 estimated for this call > $5.00 limit"
    );
    let x = find_exceeded(&budgets, &idx, "openai", Some("k1"), 10 * CENT, NOW).unwrap();
    assert_eq!(x.budget_id, "provider:openai");
    assert_eq!(x.period, BudgetPeriod::Monthly);
    // With the provider's monthly limit raised, the key's daily one is next.
    let budgets = vec![
        budget(provider("openai"), Some(1.0), Some(50.0)),
        budget(key("k1"), Some(0.5), None),
    ];
    let e = check_budgets(&budgets, &idx, "openai", Some("k1"), 10 * CENT, NOW).unwrap_err();
    assert_eq!(
        e.message,
        "this call would pass the daily budget of key k1: $0.42 spent today + $0.10 estimated for this call > $0.50 limit"
    );
    // Another key of the same provider is not held by k1's budget.
    assert!(check_budgets(&budgets, &idx, "openai", Some("k2"), 10 * CENT, NOW).is_ok());
    assert!(check_budgets(&budgets, &idx, "openai", None, 10 * CENT, NOW).is_ok());
    // Recording the call moves the index on.
    let mut idx = idx;
    idx.record(&entry("c", NOW, "openai", Some("k2"), 60 * CENT));
    assert!(check_budgets(&budgets, &idx, "openai", Some("k2"), 0, NOW).is_err());
}

#[test]
fn remaining_for_the_ui() {
    let entries = vec![entry("a", NOW - 1.0, "openai", Some("k1"), 70 * CENT)];
    let idx = SpentIndex::build(&entries, &[], NOW, 0).unwrap();
    let budgets = vec![
        budget(provider("openai"), Some(0.5), Some(10.0)),
        budget(key("k9"), None, None),
    ];
    let status = remaining(&budgets, &idx, NOW);
    assert_eq!(status.len(), 2);
    assert_eq!(status[0].period, BudgetPeriod::Daily);
    assert_eq!(status[0].spent_femto, 70 * CENT);
    assert_eq!(status[0].remaining_femto, 0);
    assert_eq!(status[0].remaining_usd, 0.0);
    assert_eq!(status[1].period, BudgetPeriod::Monthly);
    assert_eq!(status[1].remaining_femto, 930 * CENT);
    assert_eq!(status[1].remaining_usd, 9.3);
    let json = serde_json::to_value(&status[1]).unwrap();
    assert_eq!(json["remainingUsd"], 9.3);
    assert_eq!(json["period"], "monthly");
    assert_eq!(json["limitFemto"], "10000000000000000");
}

#[test]
fn budget_input_names_one_scope_and_set_budget_replaces_or_removes() {
    let spec = |json: &str| {
        serde_json::from_str::<BudgetInput>(json)
            .unwrap()
            .into_spec()
    };
    assert!(spec(r#"{"dailyUsd":1}"#).is_err());
    assert!(spec(r#"{"provider":"openai","keyId":"k","dailyUsd":1}"#).is_err());
    assert!(serde_json::from_str::<BudgetInput>(r#"{"provider":"openai","daily":1}"#).is_err());
    let mut budgets = Vec::new();
    set_budget(
        &mut budgets,
        &spec(r#"{"provider":"openai","dailyUsd":1}"#).unwrap(),
    )
    .unwrap();
    set_budget(
        &mut budgets,
        &spec(r#"{"keyId":"k1","monthlyUsd":5}"#).unwrap(),
    )
    .unwrap();
    assert_eq!(budgets.len(), 2);
    set_budget(
        &mut budgets,
        &spec(r#"{"provider":"openai","dailyUsd":2}"#).unwrap(),
    )
    .unwrap();
    assert_eq!(budgets.len(), 2);
    let openai = budgets.iter().find(|b| b.id == "provider:openai").unwrap();
    assert_eq!(openai.spec().daily_usd, Some(2.0));
    set_budget(&mut budgets, &spec(r#"{"provider":"openai"}"#).unwrap()).unwrap();
    assert_eq!(budgets.len(), 1);
    assert!(set_budget(
        &mut budgets,
        &spec(r#"{"keyId":"k1","dailyUsd":-1}"#).unwrap()
    )
    .is_err());
    assert_eq!(budgets.len(), 1, "a refused budget changes nothing");
}

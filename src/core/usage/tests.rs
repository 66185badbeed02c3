use super::*;

/// 2026-11-23T00:00:00Z.
const NOV_23: f64 = 20_780.0 * MS_PER_DAY;
const HOUR: f64 = 3_600_000.0;

fn entry(id: &str, at: f64, provider: &str, model: &str, cost_femto: u64) -> LedgerEntry {
    LedgerEntry {
        id: id.to_owned(),
        at,
        provider: provider.to_owned(),
        model: model.to_owned(),
        key_id: Some(format!("key-{provider}")),
        kind: CallKind::Stream,
        input_tokens: 100,
        output_tokens: 50,
        cost_femto,
        reported_cost_usd: None,
        status: CallStatus::Ok,
        error_code: None,
        duration_ms: 1_234,
        retries: 0,
    }
}

/// A ledger over ~14 months: a few calls a day on three providers, some failed or aborted,
/// some with a gateway-reported cost.
fn ledger(now: f64, days: i64) -> Vec<LedgerEntry> {
    let providers = [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-3-haiku"),
        ("openai", "gpt-4o-mini"),
    ];
    let mut out = Vec::new();
    for d in 0..days {
        for i in 0..3 {
            let (p, m) = providers[((d + i) % 3) as usize];
            let at = now - d as f64 * MS_PER_DAY - (i as f64) * 5.0 * HOUR;
            let mut e = entry(
                &format!("e{d:04}-{i}"),
                at,
                p,
                m,
                1_000_000_007 * (d as u64 + 1) + i as u64,
            );
            e.input_tokens = 10 * d as u64 + i as u64;
            e.output_tokens = d as u64;
            match (d + i) % 7 {
                0 => {
                    e.status = CallStatus::Error;
                    e.error_code = Some(ErrorCode::RateLimited);
                }
                1 => {
                    e.status = CallStatus::Aborted;
                    e.error_code = Some(ErrorCode::StreamAborted);
                }
                2 => e.reported_cost_usd = Some(0.000_001 * (d as f64 + 1.0)),
                _ => {}
            }
            out.push(e);
        }
    }
    out
}

#[test]
fn calendar_known_answers() {
    // Day numbers checked with Python's datetime.date arithmetic.
    let table: &[((i64, u32, u32), i64)] = &[
        ((1970, 1, 1), 0),
        ((1969, 12, 31), -1),
        ((2000, 2, 29), 11_016),
        ((2000, 3, 1), 11_017),
        ((2024, 2, 29), 19_782),
        ((2026, 11, 23), 20_780),
        ((2100, 3, 1), 47_541),
    ];
    for ((y, m, d), days) in table {
        assert_eq!(days_from_civil(*y, *m, *d), *days, "{y}-{m}-{d}");
        assert_eq!(civil_from_days(*days), (*y, *m, *d), "{days}");
    }
    // Round trip over 200 years either side of the epoch: 1770–2169 spans every leap rule.
    let mut prev = civil_from_days(-73_000);
    for days in -72_999..73_000 {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
        assert!(d >= 1 && d <= days_in_month(y, m));
        if d != 1 {
            assert_eq!((y, m), (prev.0, prev.1));
        }
        prev = (y, m, d);
    }
}

#[test]
fn day_numbers_with_offsets() {
    let table: &[(f64, i32, Option<&str>)] = &[
        (NOV_23, 0, Some("2026-11-23")),
        (NOV_23 - 1.0, 0, Some("2026-11-22")),
        (NOV_23 + 23.0 * HOUR, 0, Some("2026-11-23")),
        (NOV_23 + 23.0 * HOUR, 60, Some("2026-11-24")),
        (NOV_23 + 2.0 * HOUR, -300, Some("2026-11-22")),
        (0.0, 0, Some("1970-01-01")),
        (-1.0, 0, Some("1969-12-31")),
        (f64::NAN, 0, None),
        (f64::INFINITY, 0, None),
        (1e300, 0, None),
    ];
    for (ms, tz, want) in table {
        assert_eq!(
            day_number(*ms, *tz).map(format_day).as_deref(),
            *want,
            "{ms} {tz}"
        );
    }
    assert_eq!(format_month(20_780), "2026-11");
}

#[test]
fn date_parsers() {
    assert_eq!(parse_day("2026-11-23"), Some(20_780));
    assert_eq!(parse_day("2024-02-29"), Some(19_782));
    for bad in [
        "2026-02-29",
        "2026-04-31",
        "2026-13-01",
        "2026-00-10",
        "2026-11-00",
        "2026-1-23",
        "2026/11/23",
        "20261123",
        "2026-11-23 ",
        "２０２６-11-23",
        "",
    ] {
        assert_eq!(parse_day(bad), None, "{bad:?}");
    }
    assert_eq!(parse_month("2026-11"), Some((2026, 11)));
    assert_eq!(parse_month("2026-13"), None);
    assert_eq!(parse_month("2026-1"), None);

    let table: &[(&str, Option<f64>)] = &[
        ("2026-11-23T10:15:30Z", Some(1_795_428_930_000.0)),
        ("2026-11-23t10:15:30z", Some(1_795_428_930_000.0)),
        ("2026-11-23T10:15:30.250Z", Some(1_795_428_930_250.0)),
        ("2026-11-23T10:15:30.5Z", Some(1_795_428_930_500.0)),
        (
            "2026-11-23T10:15:30.123456+00:00",
            Some(1_795_428_930_123.0),
        ),
        ("2026-11-23T11:15:30+01:00", Some(1_795_428_930_000.0)),
        ("2026-11-23T05:15:30-05:00", Some(1_795_428_930_000.0)),
        ("1970-01-01T00:00:00Z", Some(0.0)),
        ("2026-11-23T10:15:30", None),
        ("2026-11-23T24:00:00Z", None),
        ("2026-11-23T10:15Z", None),
        ("2026-11-23T10:15:30.Z", None),
        ("2026-11-23T10:15:30+0100", None),
        ("2026-11-31T10:15:30Z", None),
        ("soon", None),
    ];
    for (s, want) in table {
        assert_eq!(parse_rfc3339(s), *want, "{s}");
    }
}

#[test]
fn femto_amounts_are_strings_and_read_back_exactly() {
    let mut e = entry("a", NOV_23, "openai", "gpt-4o", u64::MAX);
    e.reported_cost_usd = Some(0.25);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["costFemto"], "18446744073709551615");
    assert_eq!(json["keyId"], "key-openai");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["kind"], "stream");
    let back: LedgerEntry = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, e);

    let with_cost = |v: serde_json::Value| {
        let mut j = json.clone();
        j["costFemto"] = v;
        serde_json::from_value::<LedgerEntry>(j).map(|e| e.cost_femto)
    };
    assert_eq!(
        with_cost(serde_json::json!(7_500_000_000_000u64)).unwrap(),
        7_500_000_000_000
    );
    assert_eq!(
        with_cost(serde_json::json!(9_007_199_254_740_992u64)).unwrap(),
        1 << 53
    );
    assert_eq!(
        with_cost(serde_json::json!(1e15)).unwrap(),
        1_000_000_000_000_000
    );
    for bad in [
        serde_json::json!(9_007_199_254_740_993u64),
        serde_json::json!(-1),
        serde_json::json!(0.5),
        serde_json::json!(1e21),
        serde_json::json!("1e3"),
        serde_json::json!("-5"),
        serde_json::json!(""),
        serde_json::json!("18446744073709551616"),
        serde_json::json!(null),
    ] {
        assert!(with_cost(bad.clone()).is_err(), "{bad}");
    }
    // An aggregate's u128 sum goes well past u64.
    let big: u128 = u128::from(u64::MAX) * 1000;
    let report_row = Tally {
        cost_femto: big,
        ..Tally::default()
    }
    .row(None, None, None);
    let json = serde_json::to_string(&report_row).unwrap();
    assert!(json.contains("\"costFemto\":\"18446744073709551615000\""));
    assert_eq!(serde_json::from_str::<UsageRow>(&json).unwrap(), report_row);
}

#[test]
fn usd_to_femto_rounds_and_refuses_nonsense() {
    assert_eq!(usd_to_femto(0.0075), Some(7_500_000_000_000));
    assert_eq!(usd_to_femto(0.0), Some(0));
    assert_eq!(usd_to_femto(1.0), Some(1_000_000_000_000_000));
    assert_eq!(usd_to_femto(-0.01), None);
    assert_eq!(usd_to_femto(f64::NAN), None);
    assert_eq!(usd_to_femto(f64::INFINITY), None);
}

fn sum(rows: &[UsageRow]) -> (u64, u64, u64, u64, u64, u128) {
    rows.iter().fold((0, 0, 0, 0, 0, 0), |a, r| {
        (
            a.0 + r.calls,
            a.1 + r.errors,
            a.2 + r.aborted,
            a.3 + r.input_tokens,
            a.4 + r.output_tokens,
            a.5 + r.cost_femto,
        )
    })
}

fn tuple(r: &UsageRow) -> (u64, u64, u64, u64, u64, u128) {
    (
        r.calls,
        r.errors,
        r.aborted,
        r.input_tokens,
        r.output_tokens,
        r.cost_femto,
    )
}

fn query(period: Period) -> ReportQuery {
    ReportQuery {
        period,
        from: None,
        to: None,
        tz_offset_minutes: None,
    }
}

#[test]
fn reports_add_up_day_to_month_to_totals() {
    let now = NOV_23 + 20.0 * HOUR;
    let entries = ledger(now, 75);
    for tz in [0, 60, -300, 840] {
        let mut q = query(Period::Day);
        q.tz_offset_minutes = Some(tz);
        let days = usage_report(&entries, &[], &q).unwrap();
        q.period = Period::Month;
        let months = usage_report(&entries, &[], &q).unwrap();
        assert_eq!(sum(&days.rows), tuple(&days.totals), "tz {tz}");
        assert_eq!(sum(&months.rows), tuple(&months.totals), "tz {tz}");
        assert_eq!(days.totals, months.totals, "tz {tz}");
        assert_eq!(sum(&days.by_provider), tuple(&days.totals));
        assert_eq!(days.totals.calls, entries.len() as u64);
        let exact: u128 = entries.iter().map(|e| u128::from(e.cost_femto)).sum();
        assert_eq!(days.totals.cost_femto, exact);
        // USD is the exact sum, rounded once.
        assert_eq!(days.totals.cost_usd, femto_to_usd(exact));
        // Month rows are day rows grouped by their month.
        let mut regrouped: BTreeMap<(String, String, String), (u64, u128)> = BTreeMap::new();
        for r in &days.rows {
            let key = (
                r.period.clone().unwrap()[..7].to_owned(),
                r.provider.clone().unwrap(),
                r.model.clone().unwrap(),
            );
            let slot = regrouped.entry(key).or_default();
            slot.0 += r.calls;
            slot.1 += r.cost_femto;
        }
        let from_months: BTreeMap<_, _> = months
            .rows
            .iter()
            .map(|r| {
                (
                    (
                        r.period.clone().unwrap(),
                        r.provider.clone().unwrap(),
                        r.model.clone().unwrap(),
                    ),
                    (r.calls, r.cost_femto),
                )
            })
            .collect();
        assert_eq!(regrouped, from_months, "tz {tz}");
    }
    // Rows are ordered by period, provider, model.
    let days = usage_report(&entries, &[], &query(Period::Day)).unwrap();
    let keys: Vec<_> = days
        .rows
        .iter()
        .map(|r| (r.period.clone(), r.provider.clone(), r.model.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(
        days.rows.first().unwrap().period.as_deref(),
        Some("2026-09-10")
    );
    assert_eq!(
        days.rows.last().unwrap().period.as_deref(),
        Some("2026-11-23")
    );
}

#[test]
fn report_json_shape() {
    let now = NOV_23 + 10.0 * HOUR;
    let mut e = entry("x", now, "openrouter", "m", 2_000_000_000_000);
    e.reported_cost_usd = Some(0.0025);
    let report = usage_report(&[e], &[], &query(Period::Day)).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["rows"][0],
        serde_json::json!({
            "period": "2026-11-23", "provider": "openrouter", "model": "m",
            "calls": 1, "errors": 0, "aborted": 0, "inputTokens": 100, "outputTokens": 50,
            "costFemto": "2000000000000", "costUsd": 0.002, "reportedCostUsd": 0.0025,
            "costDifferenceUsd": 0.0005,
        })
    );
    assert_eq!(json["byProvider"][0]["provider"], "openrouter");
    assert!(json["byProvider"][0].get("period").is_none());
    assert!(json["totals"].get("provider").is_none());
    assert_eq!(json["period"], "day");
    assert_eq!(json["from"], serde_json::Value::Null);
    // Without any reported cost the comparison is null, not 0.
    let report = usage_report(
        &[entry("y", now, "openai", "gpt-4o", 5)],
        &[],
        &query(Period::Month),
    )
    .unwrap();
    assert_eq!(report.totals.reported_cost_usd, None);
    assert_eq!(report.totals.cost_difference_usd, None);
    assert_eq!(report.rows[0].period.as_deref(), Some("2026-11"));
}

#[test]
fn reported_cost_difference_compares_like_with_like() {
    let now = NOV_23;
    let mut a = entry("a", now, "openrouter", "m", 3_000_000_000_000);
    a.reported_cost_usd = Some(0.0025); // gateway says less than we computed
    let b = entry("b", now, "openrouter", "m", 1_000_000_000_000_000); // no report
    let mut c = entry("c", now, "openrouter", "m", 1_000_000_000_000);
    c.reported_cost_usd = Some(f64::NAN); // nonsense is ignored
    let report = usage_report(&[a, b, c], &[], &query(Period::Day)).unwrap();
    let t = &report.totals;
    assert_eq!(t.calls, 3);
    assert_eq!(t.reported_cost_usd, Some(0.0025));
    assert_eq!(t.cost_difference_usd, Some(-0.0005));
}

#[test]
fn report_bounds() {
    let now = NOV_23 + 12.0 * HOUR;
    let entries = ledger(now, 75);
    let run = |from: Option<DateBound>, to: Option<DateBound>, tz: Option<i32>| {
        usage_report(
            &entries,
            &[],
            &ReportQuery {
                period: Period::Day,
                from,
                to,
                tz_offset_minutes: tz,
            },
        )
    };
    let d = |s: &str| Some(DateBound::Date(s.to_owned()));
    // Inclusive at both ends.
    let r = run(d("2026-11-20"), d("2026-11-22"), None).unwrap();
    let periods: BTreeSet<_> = r.rows.iter().map(|r| r.period.clone().unwrap()).collect();
    assert_eq!(
        periods.into_iter().collect::<Vec<_>>(),
        ["2026-11-20", "2026-11-21", "2026-11-22"]
    );
    assert_eq!(r.from.as_deref(), Some("2026-11-20"));
    assert_eq!(r.to.as_deref(), Some("2026-11-22"));
    // A month bound is its first day as `from`, its last as `to`.
    let r = run(d("2026-10"), d("2026-10"), None).unwrap();
    assert_eq!(r.from.as_deref(), Some("2026-10-01"));
    assert_eq!(r.to.as_deref(), Some("2026-10-31"));
    assert!(r
        .rows
        .iter()
        .all(|r| r.period.as_deref().unwrap().starts_with("2026-10")));
    assert_eq!(r.totals.calls, 31 * 3);
    // An instant is the local day it falls on.
    let r = run(Some(DateBound::At(now)), None, Some(-13 * 60)).unwrap();
    assert_eq!(r.from.as_deref(), Some("2026-11-22"));
    let r = run(d("2026-11-23T12:00:00+14:00"), None, None).unwrap();
    assert_eq!(r.from.as_deref(), Some("2026-11-22"));
    // Refusals.
    for (from, to, tz) in [
        (d("2026-11-22"), d("2026-11-20"), None),
        (d("yesterday"), None, None),
        (Some(DateBound::At(f64::NAN)), None, None),
        (None, None, Some(900)),
    ] {
        let e = run(from, to, tz).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
    // The query decodes from JavaScript's shapes.
    let q: ReportQuery = serde_json::from_str(
        r#"{"period":"month","from":1795428930000,"to":"2026-12","tzOffsetMinutes":-300}"#,
    )
    .unwrap();
    assert_eq!(q.from, Some(DateBound::At(1_795_428_930_000.0)));
    assert_eq!(q.to, d("2026-12"));
    assert!(serde_json::from_str::<ReportQuery>(r#"{"period":"week"}"#).is_err());
    assert!(serde_json::from_str::<ReportQuery>(r#"{"period":"day","from":true}"#).is_err());
    assert!(serde_json::from_str::<ReportQuery>(r#"{"period":"day","extra":1}"#).is_err());
}

/// The reports that do not depend on how days are cut: UTC days and months.
fn utc_reports(entries: &[LedgerEntry], daily: &[DailyAggregate]) -> (UsageReport, UsageReport) {
    (
        usage_report(entries, daily, &query(Period::Day)).unwrap(),
        usage_report(entries, daily, &query(Period::Month)).unwrap(),
    )
}

#[test]
fn retention_folds_old_entries_without_changing_reports() {
    let now = NOV_23 + 20.0 * HOUR;
    let entries = ledger(now, 75);
    let before = utc_reports(&entries, &[]);

    let plan = plan_retention(&entries, &[], now);
    let cutoff = now - 30.0 * MS_PER_DAY;
    let old = entries.iter().filter(|e| e.at < cutoff).count();
    assert_eq!(plan.delete_entry_ids.len(), old);
    assert!(old > 100);
    assert!(plan.delete_daily_ids.is_empty());
    for agg in &plan.upsert_daily {
        assert_eq!(
            agg.id,
            aggregate_id(&agg.day, &agg.provider, &agg.model, agg.key_id.as_deref())
        );
        assert!(agg.calls > 0);
    }

    let (mut e, mut d) = (entries.clone(), Vec::new());
    apply_retention(&mut e, &mut d, &plan);
    assert_eq!(e.len(), entries.len() - old);
    assert!(e.iter().all(|x| x.at >= cutoff));
    assert_eq!(utc_reports(&e, &d), before);

    // Nothing left to do, and the same plan again changes nothing.
    assert!(plan_retention(&e, &d, now).is_empty());
    let (e2, d2) = (e.clone(), d.clone());
    apply_retention(&mut e, &mut d, &plan);
    assert_eq!((&e, &d), (&e2, &d2));

    // A day later, one more day is folded into new aggregates, and reports still agree.
    let later = now + MS_PER_DAY;
    let plan = plan_retention(&e, &d, later);
    assert_eq!(plan.delete_entry_ids.len(), 3);
    apply_retention(&mut e, &mut d, &plan);
    assert_eq!(utc_reports(&e, &d), before);
}

#[test]
fn retention_interrupted_anywhere_never_counts_twice() {
    let now = NOV_23 + 20.0 * HOUR;
    let entries = ledger(now, 60);
    let before = utc_reports(&entries, &[]);
    let plan = plan_retention(&entries, &[], now);
    let (mut done_e, mut done_d) = (entries.clone(), Vec::new());
    apply_retention(&mut done_e, &mut done_d, &plan);

    // Cut the plan's writes after every possible number of steps, in the documented order.
    let steps = plan.upsert_daily.len() + plan.delete_entry_ids.len();
    for cut in (0..=steps).step_by(7).chain([steps]) {
        let partial = RetentionPlan {
            upsert_daily: plan.upsert_daily.iter().take(cut).cloned().collect(),
            delete_entry_ids: plan
                .delete_entry_ids
                .iter()
                .take(cut.saturating_sub(plan.upsert_daily.len()))
                .cloned()
                .collect(),
            delete_daily_ids: Vec::new(),
        };
        let (mut e, mut d) = (entries.clone(), Vec::new());
        apply_retention(&mut e, &mut d, &partial);
        // Between the two: each call counted once.
        assert_eq!(utc_reports(&e, &d), before, "cut {cut}");
        // The page comes back and plans again: the same end state as without the cut.
        let again = plan_retention(&e, &d, now);
        apply_retention(&mut e, &mut d, &again);
        d.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!((&e, &d), (&done_e, &done_d), "cut {cut}");
    }
}

#[test]
fn retention_in_pages_matches_one_pass() {
    let now = NOV_23 + 20.0 * HOUR;
    let entries = ledger(now, 60);
    let (mut one_e, mut one_d) = (entries.clone(), Vec::new());
    apply_retention(&mut one_e, &mut one_d, &plan_retention(&entries, &[], now));

    // The shell reads the old entries 10 at a time in (at, id) order.
    let mut sorted = entries.clone();
    sorted.sort_by(|a, b| a.at.total_cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    let (mut e, mut d) = (entries.clone(), Vec::new());
    for page in sorted.chunks(10) {
        let plan = plan_retention(page, &d, now);
        apply_retention(&mut e, &mut d, &plan);
    }
    d.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!((e, d), (one_e, one_d));
}

#[test]
fn retention_drops_what_is_older_than_a_year() {
    let now = NOV_23;
    let old_day = format_day(20_780 - 366);
    let kept_day = format_day(20_780 - 365);
    let agg = |day: &str| DailyAggregate {
        folded_through_at: parse_day(day).unwrap() as f64 * MS_PER_DAY,
        ..DailyAggregate::empty_for(day, &entry("z", 0.0, "openai", "gpt-4o", 1))
    };
    let daily = vec![agg(&old_day), agg(&kept_day)];
    // An entry older than a year (a page not opened for a long time) is dropped unfolded.
    let ancient = entry("ancient", now - 400.0 * MS_PER_DAY, "openai", "gpt-4o", 9);
    let plan = plan_retention(&[ancient], &daily, now);
    assert_eq!(plan.delete_daily_ids, vec![daily[0].id.clone()]);
    assert_eq!(plan.delete_entry_ids, vec!["ancient".to_owned()]);
    assert!(plan.upsert_daily.is_empty());
    // A time that is not a date, or a clock that is not one, leaves things alone.
    let odd = entry("odd", f64::NAN, "openai", "gpt-4o", 9);
    assert!(plan_retention(std::slice::from_ref(&odd), &[], now).is_empty());
    assert!(plan_retention(&[odd], &[], f64::NAN).is_empty());
}

#[test]
fn an_entry_exactly_30_days_old_is_kept() {
    let now = NOV_23;
    let at_cut = entry("cut", now - 30.0 * MS_PER_DAY, "openai", "gpt-4o", 1);
    let past = entry("past", now - 30.0 * MS_PER_DAY - 1.0, "openai", "gpt-4o", 1);
    let plan = plan_retention(&[at_cut, past], &[], now);
    assert_eq!(plan.delete_entry_ids, vec!["past".to_owned()]);
}

#[test]
fn aggregates_keep_keys_apart_and_ids_unambiguous() {
    assert_ne!(
        aggregate_id("2026-11-23", "a", "b|c", None),
        aggregate_id("2026-11-23", "a|b", "c", None)
    );
    assert_ne!(
        aggregate_id("2026-11-23", "openai", "gpt-4o", Some("k1")),
        aggregate_id("2026-11-23", "openai", "gpt-4o", Some("k2"))
    );
    let now = NOV_23;
    let mut a = entry("a", now - 40.0 * MS_PER_DAY, "openai", "gpt-4o", 1);
    let mut b = a.clone();
    b.id = "b".into();
    b.key_id = Some("other".into());
    a.key_id = None;
    let plan = plan_retention(&[a, b], &[], now);
    assert_eq!(plan.upsert_daily.len(), 2);
    let json = serde_json::to_value(&plan).unwrap();
    assert!(json["upsertDaily"][0]["foldedThroughAt"].is_number());
    assert!(json["deleteEntryIds"].is_array());
    let back: RetentionPlan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
}

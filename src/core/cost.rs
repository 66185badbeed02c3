//! Cost of a call from the catalog's prices, and money formatting for people.

use crate::core::catalog::{Catalog, FEMTO_PER_USD};
use crate::core::error::{ByokError, ErrorCode, Result};

/// Exact cost of a call in femto-dollars (USD × 10⁻¹⁵), so ledgers sum without drift.
///
/// A local server (Ollama, LM Studio, ...) costs nothing whatever the model; for any other
/// provider an unknown model is `MODEL_NOT_FOUND`, never a silent 0.
pub fn cost_femto(
    catalog: &Catalog,
    provider: &str,
    model: &str,
    input_tokens: u64,
    output_tokens: u64,
) -> Result<u128> {
    let p = catalog.provider(provider)?;
    let m = match catalog.model(provider, model) {
        Ok(m) => m,
        Err(_) if p.local => return Ok(0),
        Err(e) => return Err(e),
    };
    Ok(u128::from(input_tokens) * u128::from(m.input_price)
        + u128::from(output_tokens) * u128::from(m.output_price))
}

/// Femto-dollars → USD, rounded once.
pub fn femto_to_usd(femto: u128) -> f64 {
    femto as f64 / FEMTO_PER_USD
}

/// `calculateCost`: USD for a call. Token counts come from JavaScript numbers, so they are
/// checked to be whole, non-negative and safe integers.
pub fn calculate_cost(
    catalog: &Catalog,
    provider: &str,
    model: &str,
    input_tokens: f64,
    output_tokens: f64,
) -> Result<f64> {
    let input = token_count("inputTokens", input_tokens)?;
    let output = token_count("outputTokens", output_tokens)?;
    cost_femto(catalog, provider, model, input, output).map(femto_to_usd)
}

/// 2⁵³ − 1: above it a JavaScript number no longer holds every integer.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn token_count(name: &str, n: f64) -> Result<u64> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER {
        Ok(n as u64)
    } else {
        Err(ByokError::new(
            ErrorCode::InvalidRequest,
            format!("{name} must be a whole number of tokens, 0 or more"),
        ))
    }
}

/// `formatCost`: USD for people.
///
/// - $1 and more: cents, with thousands separators (`$1,234.57`);
/// - under $1: two significant digits, at least two decimals, at most six
///   (`$0.50`, `$0.12`, `$0.0075`, `$0.000013`);
/// - under $0.000001 but above zero: `<$0.000001`; zero: `$0.00`;
/// - negative amounts (refunds, corrections) get a leading minus.
pub fn format_cost(usd: f64) -> Result<String> {
    // Integer arithmetic after one rounding, not `{:.N}`: float formatting would pull
    // core's flt2dec (Grisu and Dragon4, over 10 KB) into the wasm module for this one call.
    if !usd.is_finite() || usd.abs() >= 1e15 {
        return Err(ByokError::invalid_request(
            "cost must be a finite number of USD below 10^15",
        ));
    }
    let sign = if usd < 0.0 { "-" } else { "" };
    let abs = usd.abs();
    if abs == 0.0 {
        return Ok(String::from("$0.00"));
    }
    if abs < 0.000_001 {
        return Ok(format!("{sign}<$0.000001"));
    }
    if abs >= 0.995 {
        let cents = (abs * 100.0).round() as u64;
        let whole = (cents / 100).to_string();
        return Ok(format!(
            "{sign}${}.{:02}",
            group_thousands(&whole),
            cents % 100
        ));
    }
    // Decimals for two significant digits: 0.0075 needs 4 (75 ten-thousandths), 0.5 needs 2.
    let mut decimals = 2u32;
    while decimals < 6 && abs * 10f64.powi(decimals as i32) < 10.0 {
        decimals += 1;
    }
    let scale = 10u64.pow(decimals);
    let scaled = (abs * scale as f64).round() as u64;
    if scaled >= scale {
        return Ok(format!("{sign}$1.00"));
    }
    let digits = format!("{scaled:0width$}", width = decimals as usize);
    // Rounding can carry into a new digit (0.00999 → 0.0100), and 0.0100 says no more than
    // 0.01: drop trailing zeros past the second decimal.
    let kept = digits.trim_end_matches('0').len().max(2);
    Ok(format!("{sign}$0.{}", &digits[..kept]))
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().expect("embedded catalog parses")
    }

    #[test]
    fn gpt4o_example_is_exact() {
        let c = catalog();
        assert_eq!(
            calculate_cost(&c, "openai", "gpt-4o", 1000.0, 500.0).unwrap(),
            0.0075
        );
        // A dated snapshot id prices like its model.
        assert_eq!(
            calculate_cost(&c, "openai", "gpt-4o-2024-08-06", 1000.0, 500.0).unwrap(),
            0.0075
        );
    }

    #[test]
    fn costs_from_the_specification() {
        let c = catalog();
        // (provider, model, input, output, expected USD)
        let cases = [
            ("openai", "gpt-4o-mini", 1_000_000.0, 1_000_000.0, 0.75),
            ("openai", "o1-preview", 1000.0, 1000.0, 0.075),
            ("openai", "gpt-4", 2000.0, 1000.0, 0.12),
            ("anthropic", "claude-3-haiku-20240307", 4000.0, 800.0, 0.002),
            ("google", "gemini-1.5-flash", 1_000_000.0, 0.0, 0.075),
            ("xai", "grok-2", 1000.0, 1000.0, 0.012),
            ("mistral", "mistral-large-latest", 1000.0, 1000.0, 0.008),
            ("ollama", "llama3.1:8b", 123_456.0, 7_890.0, 0.0),
        ];
        for (p, m, i, o, want) in cases {
            let got = calculate_cost(&c, p, m, i, o).unwrap();
            assert!((got - want).abs() < 1e-12, "{p}/{m}: {got} != {want}");
        }
    }

    #[test]
    fn unknown_provider_or_model_is_an_error_not_zero() {
        let c = catalog();
        let e = calculate_cost(&c, "nope", "gpt-4o", 1.0, 1.0).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedProvider);
        let e = calculate_cost(&c, "openai", "gpt-9000", 1.0, 1.0).unwrap_err();
        assert_eq!(e.code, ErrorCode::ModelNotFound);
        assert_eq!(e.provider.as_deref(), Some("openai"));
        // A local server runs any model for free.
        assert_eq!(
            calculate_cost(&c, "ollama", "my-own-finetune", 10.0, 10.0).unwrap(),
            0.0
        );
    }

    #[test]
    fn token_counts_must_be_whole_and_non_negative() {
        let c = catalog();
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 1e300] {
            let e = calculate_cost(&c, "openai", "gpt-4o", bad, 0.0).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn large_counts_do_not_overflow() {
        let c = catalog();
        let usd = calculate_cost(&c, "openai", "gpt-4", MAX_SAFE_INTEGER, MAX_SAFE_INTEGER);
        assert!(usd.unwrap() > 1e11);
    }

    #[test]
    fn format_cost_table() {
        let cases = [
            (0.0075, "$0.0075"),
            (0.0, "$0.00"),
            (0.5, "$0.50"),
            (0.123, "$0.12"),
            (0.01, "$0.01"),
            (0.0999, "$0.10"),
            (0.00999, "$0.01"),
            (0.000_012_34, "$0.000012"),
            (0.000_000_1, "<$0.000001"),
            (1.0, "$1.00"),
            (0.996, "$1.00"),
            (12.345, "$12.35"),
            (1234.5, "$1,234.50"),
            (1_234_567.891, "$1,234,567.89"),
            (0.994, "$0.99"),
            (0.000_075, "$0.000075"),
            (0.000_02, "$0.00002"),
            (0.0105, "$0.011"),
            (-0.25, "-$0.25"),
            (-1500.0, "-$1,500.00"),
        ];
        for (usd, want) in cases {
            assert_eq!(format_cost(usd).unwrap(), want, "{usd}");
        }
        assert!(format_cost(f64::NAN).is_err());
        assert!(format_cost(f64::INFINITY).is_err());
        assert!(format_cost(1e300).is_err());
    }
}

//! Durations as kubectl and Flux write them: `30s`, `1m30s`, `2h`, `500ms`; a bare integer is
//! seconds (kubectl's `--request-timeout=5`).

use std::time::Duration;

/// Parses a Go-style duration. Returns a human-readable reason on failure.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_string());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("\"{text}\" lacks a unit (use ms, s, m or h)"))?;
        if digits == 0 {
            return Err(format!(
                "\"{text}\" is not a duration like 30s, 5m or 1h30m"
            ));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("\"{}\" is not a number", &rest[..digits]))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "unknown unit \"{other}\" in \"{text}\" (use ms, s, m or h)"
                ));
            }
        };
        let too_long = || format!("\"{text}\" is longer than any timeout can be");
        let part = Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| too_long())?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// How long before `now` something happened, as [`human`] writes it; `None` when the time is
/// unknown (or in the future: another clock).
pub fn age(at: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Option<String> {
    at.and_then(|t| now.duration_since(t).try_into().ok())
        .map(human)
}

/// Formats an age the way kubectl does: `45s`, `5m`, `3h`, `2d`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_and_go_forms() {
        assert_eq!(parse("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        assert!(parse("").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("10x").unwrap_err().contains("unknown unit"));
        assert!(parse("s").is_err());
    }

    #[test]
    fn formats_ages_like_kubectl() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(human(Duration::from_secs(2 * 86_400)), "2d");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_digits_and_units(text in "[0-9.]{0,400}(ms|s|m|h)?([0-9.]{0,30}(ms|s|m|h))*") {
            let _ = parse(&text);
        }

        /// What Go's `time.Duration.String()` writes for whole milliseconds reads back exactly.
        #[test]
        fn go_forms_read_back(h in 0u64..10_000, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
            let mut text = String::new();
            if h > 0 { text.push_str(&format!("{h}h")); }
            if h > 0 || m > 0 { text.push_str(&format!("{m}m")); }
            if ms > 0 { text.push_str(&format!("{s}.{ms:03}s")) } else { text.push_str(&format!("{s}s")) }
            let want = Duration::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms);
            let got = parse(&text).map_err(TestCaseError::fail)?;
            // f64 arithmetic: within a microsecond.
            prop_assert!(got.abs_diff(want) < Duration::from_micros(1), "{text}: {got:?} != {want:?}");
        }

        #[test]
        fn bare_integers_are_seconds(n in any::<u64>()) {
            prop_assert_eq!(parse(&n.to_string()), Ok(Duration::from_secs(n)));
        }

        /// Anything with a letter that is not a unit is refused.
        #[test]
        fn unknown_units_are_refused(n in 1u32..1000, unit in "[a-zA-Z]{1,3}") {
            prop_assume!(!["ms", "s", "m", "h"].contains(&unit.as_str()));
            let refused = parse(&format!("{n}{unit}")).is_err();
            prop_assert!(refused);
        }
    }
}

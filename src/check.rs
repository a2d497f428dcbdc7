//! Range checks shared by every validated section: each returns an [`Invalid`] that names the key
//! (a dotted path relative to the file it came from) and says what is allowed.

use std::fmt::Display;

/// A key whose value is not allowed, before we know which file or `--set` it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same error, its key seen from one table further out (`dt` → `env.dt`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.key = if self.key.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.key)
        };
        self
    }
}

pub type Checked<T> = Result<T, Invalid>;

/// A number as a person writes it: the shortest digits that read back as `v`, in plain notation
/// from 10⁻⁴ to 10¹⁶ and in scientific notation outside (`1e300`, `2.2250738585072014e-308`), so
/// that no message spells out hundreds of digits.
pub fn number(v: f64) -> String {
    let magnitude = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e16).contains(&magnitude) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// A TOML value as written in a message: floats by [`number`], arrays element by element, and
/// anything longer than 60 characters cut short with an ellipsis.
pub fn shown(v: &toml::Value) -> String {
    let text = match v {
        toml::Value::Float(f) => number(*f),
        toml::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(shown).collect::<Vec<_>>().join(", ")
            )
        }
        other => other.to_string(),
    };
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `message` with every number between backticks (serde's way of quoting a value: "invalid
/// type: floating point `1000…0.0`") rewritten by [`number`].
pub fn readable(message: &str) -> String {
    let parts: Vec<&str> = message.split('`').collect();
    parts
        .iter()
        .enumerate()
        .map(
            |(i, part)| match (i % 2 == 1 && i + 1 < parts.len(), part.parse::<f64>()) {
                (true, Ok(v)) if part.len() > 12 => number(v),
                _ => part.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("`")
}

fn require(ok: bool, key: &str, value: impl Display, allowed: &str) -> Checked<()> {
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("{value} is out of range: {allowed}"),
        ))
    }
}

/// A finite number strictly above zero.
pub fn positive(key: &str, v: f64) -> Checked<f64> {
    require(
        v.is_finite() && v > 0.0,
        key,
        number(v),
        "must be a finite number > 0",
    )?;
    Ok(v)
}

/// A finite number at or above zero.
pub fn non_negative(key: &str, v: f64) -> Checked<f64> {
    require(
        v.is_finite() && v >= 0.0,
        key,
        number(v),
        "must be a finite number >= 0",
    )?;
    Ok(v)
}

/// Any finite number.
pub fn finite(key: &str, v: f64) -> Checked<f64> {
    require(v.is_finite(), key, number(v), "must be a finite number")?;
    Ok(v)
}

/// A finite number in `[lo, hi]`.
pub fn within(key: &str, v: f64, lo: f64, hi: f64) -> Checked<f64> {
    require(
        v.is_finite() && v >= lo && v <= hi,
        key,
        number(v),
        &format!("must be in [{}, {}]", number(lo), number(hi)),
    )?;
    Ok(v)
}

/// A finite number in `[lo, hi)`.
pub fn at_least_and_below(key: &str, v: f64, lo: f64, hi: f64) -> Checked<f64> {
    require(
        v.is_finite() && v >= lo && v < hi,
        key,
        number(v),
        &format!("must be in [{}, {})", number(lo), number(hi)),
    )?;
    Ok(v)
}

/// A finite number in `(lo, hi]`.
pub fn above_and_at_most(key: &str, v: f64, lo: f64, hi: f64) -> Checked<f64> {
    require(
        v.is_finite() && v > lo && v <= hi,
        key,
        number(v),
        &format!("must be in ({}, {}]", number(lo), number(hi)),
    )?;
    Ok(v)
}

/// An integer at or above `min`.
pub fn at_least<T: PartialOrd + Display + Copy>(key: &str, v: T, min: T) -> Checked<T> {
    require(v >= min, key, v, &format!("must be >= {min}"))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers read as written: plain in the middle range, scientific at the extremes, the
    /// shortest digits that round-trip; serde's quoted values rewritten, other text kept.
    #[test]
    fn numbers_read_as_a_person_writes_them() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(3e-4), "0.0003");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1e300), "1e300");
        assert_eq!(number(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(number(-2.5e-7), "-2.5e-7");
        assert_eq!(number(f64::INFINITY), "inf");
        let long = format!(
            "invalid type: floating point `{:.1}`, expected usize",
            1e300
        );
        assert_eq!(
            readable(&long),
            "invalid type: floating point `1e300`, expected usize"
        );
        assert_eq!(shown(&toml::Value::Float(1e300)), "1e300");
        assert_eq!(
            shown(&toml::Value::try_from(vec![0.5, -1e300]).unwrap()),
            "[0.5, -1e300]"
        );
        assert_eq!(
            shown(&toml::Value::String("a".repeat(100))).chars().count(),
            61
        );
        let kept = "unknown field `hidden`, expected one of `a`, `b`";
        assert_eq!(readable(kept), kept);
        assert_eq!(readable("integer `-1`"), "integer `-1`");
    }

    #[test]
    fn messages_name_key_value_and_range() {
        let e = within("objective.gamma", 1.5, 0.0, 1.0).unwrap_err();
        assert_eq!(e.key, "objective.gamma");
        assert_eq!(e.message, "1.5 is out of range: must be in [0, 1]");
        assert_eq!(
            above_and_at_most("agent.tau", 2.0, 0.0, 1.0)
                .unwrap_err()
                .message,
            "2 is out of range: must be in (0, 1]"
        );
        assert!(above_and_at_most("agent.tau", 0.0, 0.0, 1.0).is_err());
        assert_eq!(above_and_at_most("agent.tau", 1.0, 0.0, 1.0), Ok(1.0));
        assert_eq!(
            positive("dt", -1e300).unwrap_err().message,
            "-1e300 is out of range: must be a finite number > 0"
        );
        assert_eq!(
            finite("x", f64::NAN).unwrap_err().message,
            "NaN is out of range: must be a finite number"
        );
        assert!(positive("dt", f64::NAN).is_err());
        assert!(positive("dt", 0.0).is_err());
        assert!(non_negative("noise_std", 0.0).is_ok());
        assert_eq!(
            at_least("train.batch_size", 0usize, 1)
                .unwrap_err()
                .under("x")
                .key,
            "x.train.batch_size"
        );
    }
}

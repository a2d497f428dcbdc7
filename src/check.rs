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
        v,
        "must be a finite number > 0",
    )?;
    Ok(v)
}

/// A finite number at or above zero.
pub fn non_negative(key: &str, v: f64) -> Checked<f64> {
    require(
        v.is_finite() && v >= 0.0,
        key,
        v,
        "must be a finite number >= 0",
    )?;
    Ok(v)
}

/// Any finite number.
pub fn finite(key: &str, v: f64) -> Checked<f64> {
    require(v.is_finite(), key, v, "must be a finite number")?;
    Ok(v)
}

/// A finite number in `[lo, hi]`.
pub fn within(key: &str, v: f64, lo: f64, hi: f64) -> Checked<f64> {
    require(
        v.is_finite() && v >= lo && v <= hi,
        key,
        v,
        &format!("must be in [{lo}, {hi}]"),
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

    #[test]
    fn messages_name_key_value_and_range() {
        let e = within("objective.gamma", 1.5, 0.0, 1.0).unwrap_err();
        assert_eq!(e.key, "objective.gamma");
        assert_eq!(e.message, "1.5 is out of range: must be in [0, 1]");
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

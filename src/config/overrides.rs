//! `--set KEY=VALUE`: a dotted key path and a TOML value, applied to a parsed TOML table before it
//! is checked, so an override passes exactly the validation a file would.

use crate::error::{Error, Result};

/// One parsed `--set`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The key path, `train.total_steps` → `["train", "total_steps"]`.
    pub path: Vec<String>,
    pub value: toml::Value,
    /// The argument as typed, for error messages.
    pub text: String,
}

impl Override {
    /// Parses `KEY=VALUE`. The value is read as a TOML value; a bare word that is not one
    /// (`auto`, `inference`) is taken as a string.
    pub fn parse(text: &str) -> Result<Override> {
        let bad = |why: &str| Error::argument(format!("--set {text}"), why);
        let (key, raw) = text
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE, e.g. train.total_steps=5000"))?;
        let path: Vec<String> = key.trim().split('.').map(str::to_string).collect();
        let is_bare = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !path.iter().all(|p| is_bare(p)) {
            return Err(bad(&format!(
                "\"{}\" is not a dotted key like train.batch_size",
                key.trim()
            )));
        }
        let raw = raw.trim();
        let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            Ok(mut t) => t.remove("v").expect("the key we wrote"),
            Err(_) if is_bare(raw) => toml::Value::String(raw.to_string()),
            Err(_) => return Err(bad(&format!("\"{raw}\" is not a TOML value"))),
        };
        Ok(Override {
            path,
            value,
            text: text.to_string(),
        })
    }

    pub fn key(&self) -> String {
        self.path.join(".")
    }

    /// Whether `schema` (a table with every known key at its default) has this key. Keys below a
    /// leaf that is itself a table-valued default are not checked here.
    pub fn is_known(&self, schema: &toml::Table) -> bool {
        let mut table = schema;
        for (i, seg) in self.path.iter().enumerate() {
            match table.get(seg) {
                Some(toml::Value::Table(t)) => table = t,
                Some(_) => return i + 1 == self.path.len(),
                None => return false,
            }
        }
        true
    }

    /// Writes the value into `table`, creating the tables on the way.
    pub fn apply(&self, table: &mut toml::Table) -> Result<()> {
        let (last, parents) = self
            .path
            .split_last()
            .expect("a key has at least one segment");
        let mut t = table;
        for seg in parents {
            let slot = t
                .entry(seg.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = match slot {
                toml::Value::Table(inner) => inner,
                _ => {
                    return Err(Error::argument(
                        format!("--set {}", self.text),
                        format!("{seg} is not a table"),
                    ));
                }
            };
        }
        t.insert(last.clone(), self.value.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_toml_and_bare_words_are_strings() {
        let o = Override::parse("train.total_steps=5000").unwrap();
        assert_eq!(o.path, ["train", "total_steps"]);
        assert_eq!(o.value, toml::Value::Integer(5000));
        assert_eq!(
            Override::parse("solver.states=[101, 51]")
                .unwrap()
                .value
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            Override::parse("objective.alpha=auto").unwrap().value,
            toml::Value::from("auto")
        );
        assert_eq!(
            Override::parse("objective.alpha=0.2").unwrap().value,
            toml::Value::Float(0.2)
        );
        assert_eq!(
            Override::parse("name=\"a b\"").unwrap().value,
            toml::Value::from("a b")
        );
    }

    #[test]
    fn malformed_overrides_are_refused() {
        for bad in [
            "train.total_steps",
            "=3",
            "train..x=1",
            "a b=1",
            "x=[1,",
            "x=1 2",
        ] {
            let e = Override::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--set {bad}: ")), "{e}");
        }
    }

    #[test]
    fn apply_creates_tables_and_refuses_to_descend_into_values() {
        let mut t = toml::Table::new();
        Override::parse("a.b.c=1").unwrap().apply(&mut t).unwrap();
        assert_eq!(t["a"]["b"]["c"].as_integer(), Some(1));
        assert!(Override::parse("a.b.c.d=1").unwrap().apply(&mut t).is_err());
    }
}

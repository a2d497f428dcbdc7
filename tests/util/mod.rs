//! Drives the real `maxent` binary in a temporary directory (ripgrep's tests/util.rs pattern).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "maxent failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", self.stdout))
    }

    /// Asserts exit code 0.
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "maxent failed: {}", self.stderr);
        self
    }

    /// Asserts exit code 2 with one line on stderr that contains every `needle`.
    pub fn assert_bad_input(&self, needles: &[&str]) {
        assert_eq!(self.code, 2, "expected exit 2, stderr: {}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got: {}",
            self.stderr
        );
        for n in needles {
            assert!(lines[0].contains(n), "stderr {:?} lacks {n:?}", lines[0]);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// A scratch directory with the repository's `configs/` and `envs/` at hand.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A run dir's `metrics.csv` rows without their wall-time column (what reproducibility
    /// compares).
    pub fn metrics(&self, run: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.path().join(run).join("metrics.csv")).unwrap();
        text.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    }

    /// `maxent compare` of `checkpoint` against `exact` into `cmp/`, with `extra` arguments: its
    /// `--json` report.
    pub fn compare(&self, checkpoint: &str, exact: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "compare",
            "--checkpoint",
            checkpoint,
            "--exact",
            exact,
            "--out",
            "cmp",
            "--json",
        ];
        args.extend_from_slice(extra);
        self.maxent(&args).json()
    }

    pub fn maxent(&self, args: &[&str]) -> Run {
        self.maxent_env(args, &[])
    }

    /// `maxent` with `vars` set in its environment.
    pub fn maxent_env(&self, args: &[&str], vars: &[(&str, &Path)]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_maxent"))
            .args(args)
            .envs(vars.iter().copied())
            .current_dir(self.path())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The interpreter the Gymnasium tests run with (`MAXENT_PYTHON`, default `python3`), if it has
/// gymnasium and mujoco. CI makes one (`.ci/run`) and sets `MAXENT_REQUIRE_GYMNASIUM`, so there a
/// missing one fails; elsewhere the tests say so and skip.
pub fn gymnasium_python() -> Option<String> {
    let python = std::env::var("MAXENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import gymnasium, mujoco"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("MAXENT_REQUIRE_GYMNASIUM").is_none(),
            "MAXENT_REQUIRE_GYMNASIUM is set but {python} cannot import gymnasium and mujoco"
        );
        eprintln!(
            "skipped: {python} cannot import gymnasium and mujoco (set MAXENT_PYTHON; CI makes one in .ci/run)"
        );
        return None;
    }
    Some(python)
}

/// A file of the repository, by its path from the root.
pub fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// A file of `../shared`, beside the repository.
pub fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path)
}

/// A JSON array of numbers as f64s.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

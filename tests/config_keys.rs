//! Every config key, set to values a user might mistype, is either taken or refused with one
//! short line that names the key and writes numbers as a person does (no 300-digit decimals).

use std::path::Path;

use maxent::Config;

/// The dotted paths of every leaf of `table` (arrays are leaves).
fn leaves(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = match prefix {
            "" => key.clone(),
            _ => format!("{prefix}.{key}"),
        };
        match value {
            toml::Value::Table(t) => leaves(t, &path, out),
            _ => out.push(path),
        }
    }
}

/// The longest run of digits in `s`.
fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[test]
fn every_key_with_odd_values_is_refused_in_one_short_line() {
    let odd = [
        "-1", "0", "1e300", "-1e300", "nan", "\"text\"", "[1, 2]", "1e-300",
    ];
    let mut refused = 0;
    for config in [
        "configs/pendulum.toml",
        "configs/multigoal_sql.toml",
        "configs/multigoal_diffusion.toml",
        "configs/multigoal_diffusion_alpha1.toml",
        "configs/pendulum_fixed_alpha.toml",
        "configs/mountain_car.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(config);
        let resolved: toml::Table = toml::from_str(&Config::load(&path, &[]).unwrap().to_toml())
            .expect("a resolved config is TOML");
        let mut keys = Vec::new();
        leaves(&resolved, "", &mut keys);
        assert!(keys.len() > 30, "{config}: {} keys", keys.len());
        for key in &keys {
            for value in odd {
                let set = format!("{key}={value}");
                let Err(e) = Config::load(&path, std::slice::from_ref(&set)) else {
                    continue;
                };
                refused += 1;
                let message = e.to_string();
                assert!(e.is_bad_input(), "{set}: {message}");
                assert!(
                    !message.contains('\n'),
                    "{set}: more than one line: {message}"
                );
                assert!(
                    message.len() <= 200,
                    "{set}: {} characters: {message}",
                    message.len()
                );
                assert!(
                    longest_digit_run(&message) <= 17,
                    "{set}: a number spelled out: {message}"
                );
                let leaf = key.rsplit('.').next().unwrap();
                assert!(message.contains(leaf), "{set}: names no key: {message}");
            }
        }
    }
    assert!(refused > 100, "only {refused} refusals");
}

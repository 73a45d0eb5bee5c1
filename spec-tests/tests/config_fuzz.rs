//! A config fuzzer: seeded mutations of a valid config.json (values of the wrong
//! type, out-of-range and over-long values, fields removed, duplicated or unknown)
//! go to `create`. Whatever the config, the runtime must answer in time, never
//! panic, and leave nothing once `delete --force` has run. The seed makes a
//! failing case reproducible: its number and config are in the panic message.

use spec_tests::*;

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A value of some other shape: every JSON type, bounds, and sizes that overflow
/// buffers or messages.
fn strange_value(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(i64::MAX),
        5 => json!(u64::MAX),
        6 => json!(-9.5e300),
        7 => json!(""),
        8 => json!("x".repeat(70_000)),
        9 => json!("line\nbreak\u{0}nul"),
        10 => json!("/nonexistent/path"),
        11 => json!([]),
        12 => json!([1, "a", null]),
        13 => json!({}),
        14 => json!({"anchorFuzz": [{}]}),
        _ => json!(4294967296u64),
    }
}

/// Every path to a value in the config, as keys and indexes.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                prefix.push(json!(k));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(json!(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn parent_mut<'v>(root: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(root, |v, k| match k {
        Value::String(k) => &mut v[k.as_str()],
        k => &mut v[k.as_u64().unwrap() as usize],
    })
}

/// One mutation at a random place: replace, remove, add an unknown field, or
/// repeat an array entry (a namespace or mount listed twice).
fn mutate(config: &mut Value, rng: &mut Rng) {
    let mut all = Vec::new();
    paths(config, &mut Vec::new(), &mut all);
    let path = &all[rng.below(all.len())];
    let (last, parent) = path.split_last().unwrap();
    let parent = parent_mut(config, parent);
    let kind = rng.below(4);
    let value = strange_value(rng);
    match (parent, last) {
        (Value::Object(map), Value::String(k)) => match kind {
            0 => {
                map.remove(k);
            }
            1 => {
                map.insert("anchorFuzz".into(), value);
            }
            _ => {
                map.insert(k.clone(), value);
            }
        },
        (Value::Array(items), Value::Number(i)) => {
            let i = i.as_u64().unwrap() as usize;
            match kind {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ => items[i] = value,
            }
        }
        _ => unreachable!("paths lead into objects and arrays"),
    }
}

#[test]
fn mutated_configs_never_panic_hang_or_leave_anything() {
    const CONFIGS: u64 = 1100;
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let valid = b.config.clone();
    let mut rng = Rng(0x5eed_a9c4);
    let (mut accepted, mut refused) = (0, 0);
    for n in 0..CONFIGS {
        let mut config = valid.clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut config, &mut rng);
        }
        // Kept from the valid config: what would reach outside the test's own
        // directories (the root filesystem, the cgroup's place, mount propagation).
        config["root"] = valid["root"].clone();
        if !config["linux"].is_object() {
            config["linux"] = json!({});
        }
        config["linux"]["cgroupsPath"] = Value::Null;
        config["linux"].as_object_mut().unwrap().remove("rootfsPropagation");
        b.config = config;
        let id = b.new_id();
        b.write_config(&id);
        let out = b.runtime(&["create", "--bundle", &b.path_str(), &id]);
        let case = || {
            format!(
                "config #{n}: {}",
                serde_json::to_string(&b.config).unwrap().chars().take(2000).collect::<String>()
            )
        };
        assert!(!out.timed_out, "create hung on {}: {out:#?}", case());
        assert!(
            !out.stderr.contains("panicked") && out.code != Some(101) && out.code.is_some(),
            "create crashed on {}: {out:#?}",
            case()
        );
        if out.success() {
            accepted += 1;
        } else {
            refused += 1;
            // Warnings (an unknown capability ignored) are lines of their own.
            let errors = out.stderr.lines().filter(|l| !l.contains("level=warning")).count();
            assert_eq!(errors, 1, "not one error line for {}: {out:#?}", case());
        }
        let delete = b.runtime(&["delete", "--force", &id]);
        assert!(delete.success(), "delete --force after {}: {delete:#?}", case());
        assert_no_leftovers(&b, &id);
    }
    println!("config fuzzer: {CONFIGS} mutated configs, {accepted} created, {refused} refused; no panic, no hang, 0 left");
    assert!(
        accepted > 10 && refused > 10,
        "{accepted} created, {refused} refused: the mutations are too tame or too wild"
    );
}

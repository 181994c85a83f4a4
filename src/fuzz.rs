//! What the property tests that feed the doors anything share: JSON of any shape, and a
//! real body with one value swapped (the fuzzing runs: `FUZZ_CASES=1000000 cargo test
//! --release --lib fuzz`).

use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value, a few levels deep, with the values ids and numbers break on.
pub(crate) fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("0"),
            Just("-1"),
            Just("18446744073709551615"),
            Just("18446744073709551616"),
            Just("1e3"),
            Just(""),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at the `n`th place of `v` (depth first) with `with`.
pub(crate) fn mutate(v: &mut Value, n: &mut usize, with: &Value) {
    if *n == 0 {
        *v = with.clone();
        return;
    }
    *n -= 1;
    match v {
        Value::Object(m) => m.values_mut().for_each(|c| mutate(c, n, with)),
        Value::Array(a) => a.iter_mut().for_each(|c| mutate(c, n, with)),
        _ => {}
    }
}

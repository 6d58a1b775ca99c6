//! The registry of SPEC §5's named functions: each name to a Rust closure over [`Value`]s.
//!
//! A function applied to a value of the wrong shape panics with the function's name; the
//! panic fails the task, so the case reports it as an error.

use std::sync::Arc;

use super::value::Value;

pub type Unary = Arc<dyn Fn(Value) -> Value + Send + Sync>;
pub type Predicate = Arc<dyn Fn(&Value) -> bool + Send + Sync>;
pub type Flat = Arc<dyn Fn(Value) -> Vec<Value> + Send + Sync>;
pub type Binary = Arc<dyn Fn(Value, Value) -> Value + Send + Sync>;
pub type PartitionFn = Arc<dyn Fn(Vec<Value>) -> Vec<Value> + Send + Sync>;
pub type PartitionIndexFn = Arc<dyn Fn(i64, Vec<Value>) -> Vec<Value> + Send + Sync>;

fn int(v: &Value, f: &str) -> i64 {
    match v {
        Value::I64(i) => *i,
        other => panic!("{f}: expected an i64, got {other}"),
    }
}

fn string<'a>(v: &'a Value, f: &str) -> &'a str {
    match v {
        Value::Str(s) => s,
        other => panic!("{f}: expected a string, got {other}"),
    }
}

fn seq(v: Value, f: &str) -> Vec<Value> {
    match v {
        Value::Seq(items) => items,
        other => panic!("{f}: expected a sequence, got {other}"),
    }
}

/// The two components of a pair.
pub fn pair(v: Value, f: &str) -> (Value, Value) {
    match v {
        Value::Seq(items) if items.len() == 2 => {
            let mut it = items.into_iter();
            let a = it.next().expect("a pair has a first element");
            let b = it.next().expect("a pair has a second element");
            (a, b)
        }
        other => panic!("{f}: expected a pair, got {other}"),
    }
}

fn two(a: Value, b: Value) -> Value {
    Value::Seq(vec![a, b])
}

fn len(v: &Value, f: &str) -> i64 {
    match v {
        Value::Str(s) => s.chars().count() as i64,
        Value::Seq(items) => items.len() as i64,
        other => panic!("{f}: expected a string or a list, got {other}"),
    }
}

const ASCII_PUNCT: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

fn sorted(v: Value, f: &str) -> Value {
    let mut items = seq(v, f);
    items.sort();
    Value::Seq(items)
}

/// The unary function `name` (SPEC §5, "unary").
pub fn unary(name: &str) -> Result<Unary, String> {
    let f: Unary = match name {
        "identity" => Arc::new(|x| x),
        "double" => Arc::new(|x| Value::I64(2 * int(&x, "double"))),
        "inc" => Arc::new(|x| Value::I64(int(&x, "inc") + 1)),
        "square" => Arc::new(|x| Value::I64(int(&x, "square") * int(&x, "square"))),
        "neg" => Arc::new(|x| Value::I64(-int(&x, "neg"))),
        "abs" => Arc::new(|x| Value::I64(int(&x, "abs").abs())),
        "mod3" => Arc::new(|x| Value::I64(int(&x, "mod3").rem_euclid(3))),
        "mod10" => Arc::new(|x| Value::I64(int(&x, "mod10").rem_euclid(10))),
        "to_string" => Arc::new(|x| Value::Str(int(&x, "to_string").to_string())),
        "len" => Arc::new(|x| Value::I64(len(&x, "len"))),
        "first_char" => {
            Arc::new(|x| Value::Str(string(&x, "first_char").chars().next().map(String::from).unwrap_or_default()))
        }
        "ascii_lower" => Arc::new(|x| Value::Str(string(&x, "ascii_lower").to_ascii_lowercase())),
        "strip_ascii_punct" => Arc::new(|x| {
            Value::Str(string(&x, "strip_ascii_punct").trim_matches(|c| ASCII_PUNCT.contains(c)).to_owned())
        }),
        "mod10_key" => Arc::new(|x| {
            let i = int(&x, "mod10_key");
            two(Value::I64(i.rem_euclid(10)), x)
        }),
        "word_pair" => Arc::new(|x| {
            string(&x, "word_pair");
            two(x, Value::I64(1))
        }),
        "swap" => Arc::new(|x| {
            let (a, b) = pair(x, "swap");
            two(b, a)
        }),
        "fst" => Arc::new(|x| pair(x, "fst").0),
        "snd" => Arc::new(|x| pair(x, "snd").1),
        "pair_sum" => Arc::new(|x| {
            let (a, b) = pair(x, "pair_sum");
            Value::I64(int(&a, "pair_sum") + int(&b, "pair_sum"))
        }),
        "ratio" => Arc::new(|x| {
            let (a, b) = pair(x, "ratio");
            Value::F64(int(&a, "ratio") as f64 / int(&b, "ratio") as f64)
        }),
        "by_count_desc" => Arc::new(|x| {
            let (a, b) = pair(x, "by_count_desc");
            two(Value::I64(-int(&b, "by_count_desc")), a)
        }),
        "sorted" => Arc::new(|x| sorted(x, "sorted")),
        "sort_both" => Arc::new(|x| {
            let (a, b) = pair(x, "sort_both");
            two(sorted(a, "sort_both"), sorted(b, "sort_both"))
        }),
        "nulls_to_zero" => Arc::new(|x| {
            let (a, b) = pair(x, "nulls_to_zero");
            let zero = |v: Value| if matches!(v, Value::Null) { Value::I64(0) } else { v };
            two(zero(a), zero(b))
        }),
        "singleton" => Arc::new(|x| Value::Seq(vec![x])),
        "to_sum_count" => Arc::new(|x| {
            int(&x, "to_sum_count");
            two(x, Value::I64(1))
        }),
        other => return Err(format!("unknown unary function {other:?}")),
    };
    Ok(f)
}

/// The predicate `name` (SPEC §5, "predicate").
pub fn predicate(name: &str) -> Result<Predicate, String> {
    let f: Predicate = match name {
        "is_even" => Arc::new(|x| int(x, "is_even").rem_euclid(2) == 0),
        "is_odd" => Arc::new(|x| int(x, "is_odd").rem_euclid(2) == 1),
        "gt_50" => Arc::new(|x| int(x, "gt_50") > 50),
        "positive" => Arc::new(|x| int(x, "positive") > 0),
        "nonempty" => Arc::new(|x| len(x, "nonempty") >= 1),
        "len_gt_3" => Arc::new(|x| string(x, "len_gt_3").chars().count() > 3),
        "value_gt_1" => Arc::new(|x| int(&pair(x.clone(), "value_gt_1").1, "value_gt_1") > 1),
        "key_is_even" => Arc::new(|x| int(&pair(x.clone(), "key_is_even").0, "key_is_even").rem_euclid(2) == 0),
        other => return Err(format!("unknown predicate {other:?}")),
    };
    Ok(f)
}

/// The flat function `name` (SPEC §5, "flat").
pub fn flat(name: &str) -> Result<Flat, String> {
    let f: Flat = match name {
        "split_ws" => {
            Arc::new(|x| string(&x, "split_ws").split_whitespace().map(|w| Value::Str(w.to_owned())).collect())
        }
        "range_to" => Arc::new(|x| (0..int(&x, "range_to").max(0)).map(Value::I64).collect()),
        "dup" => Arc::new(|x| vec![x.clone(), x]),
        "chars" => Arc::new(|x| string(&x, "chars").chars().map(|c| Value::Str(c.to_string())).collect()),
        "elements" => Arc::new(|x| seq(x, "elements")),
        other => return Err(format!("unknown flat function {other:?}")),
    };
    Ok(f)
}

/// The binary function `name` (SPEC §5, "binary").
pub fn binary(name: &str) -> Result<Binary, String> {
    let f: Binary = match name {
        "add" => Arc::new(|a, b| Value::I64(int(&a, "add") + int(&b, "add"))),
        "max" => Arc::new(|a, b| a.max(b)),
        "min" => Arc::new(|a, b| a.min(b)),
        "concat" => Arc::new(|a, b| Value::Str(format!("{}{}", string(&a, "concat"), string(&b, "concat")))),
        "pair_add" => Arc::new(|a, b| {
            let ((a1, a2), (b1, b2)) = (pair(a, "pair_add"), pair(b, "pair_add"));
            two(
                Value::I64(int(&a1, "pair_add") + int(&b1, "pair_add")),
                Value::I64(int(&a2, "pair_add") + int(&b2, "pair_add")),
            )
        }),
        "sum_count" => Arc::new(|acc, v| {
            let (s, c) = pair(acc, "sum_count");
            two(Value::I64(int(&s, "sum_count") + int(&v, "sum_count")), Value::I64(int(&c, "sum_count") + 1))
        }),
        "append" => Arc::new(|acc, v| {
            let mut items = seq(acc, "append");
            items.push(v);
            Value::Seq(items)
        }),
        "extend" => Arc::new(|a, b| {
            let mut items = seq(a, "extend");
            items.extend(seq(b, "extend"));
            Value::Seq(items)
        }),
        other => return Err(format!("unknown binary function {other:?}")),
    };
    Ok(f)
}

/// The partition function `name` (SPEC §5, "partition").
pub fn partition(name: &str) -> Result<PartitionFn, String> {
    let f: PartitionFn = match name {
        "partition_sum" => Arc::new(|xs| vec![Value::I64(xs.iter().map(|x| int(x, "partition_sum")).sum())]),
        "partition_count" => Arc::new(|xs| vec![Value::I64(xs.len() as i64)]),
        "partition_max" => Arc::new(|xs| xs.into_iter().max().into_iter().collect()),
        other => return Err(format!("unknown partition function {other:?}")),
    };
    Ok(f)
}

/// The partition-index function `name` (SPEC §5, "partition_index").
pub fn partition_index(name: &str) -> Result<PartitionIndexFn, String> {
    let f: PartitionIndexFn = match name {
        "tag_index" => Arc::new(|i, xs| xs.into_iter().map(|x| two(Value::I64(i), x)).collect()),
        "index_count" => Arc::new(|i, xs| vec![two(Value::I64(i), Value::I64(xs.len() as i64))]),
        other => return Err(format!("unknown partition_index function {other:?}")),
    };
    Ok(f)
}

#[test]
fn string_functions_follow_the_spec_examples() {
    let s = |x: &str| Value::Str(x.to_owned());
    let call = |name: &str, x: Value| unary(name).expect("a registered function")(x);
    assert_eq!(call("len", s("naïve")), Value::I64(5));
    assert_eq!(call("len", s("🙂")), Value::I64(1));
    assert_eq!(call("first_char", s("e\u{301}")), s("e"));
    assert_eq!(call("first_char", s("")), s(""));
    assert_eq!(call("ascii_lower", s("ÉCOLE")), s("École"));
    assert_eq!(call("strip_ascii_punct", s("--x-y--")), s("x-y"));
    assert_eq!(call("strip_ascii_punct", s("¡hola!")), s("¡hola"));
    assert_eq!(call("mod10", Value::I64(-13)), Value::I64(7));
    assert!(unary("nope").is_err());
}

#[test]
fn every_function_of_the_spec_is_registered() {
    let unary_names = "identity double inc square neg abs mod3 mod10 to_string len first_char ascii_lower \
        strip_ascii_punct mod10_key word_pair swap fst snd pair_sum ratio by_count_desc sorted sort_both \
        nulls_to_zero singleton to_sum_count";
    let mut total = 0;
    for name in unary_names.split_whitespace() {
        assert!(unary(name).is_ok(), "unary {name}");
        total += 1;
    }
    for name in "is_even is_odd gt_50 positive nonempty len_gt_3 value_gt_1 key_is_even".split_whitespace() {
        assert!(predicate(name).is_ok(), "predicate {name}");
        total += 1;
    }
    for name in "split_ws range_to dup chars elements".split_whitespace() {
        assert!(flat(name).is_ok(), "flat {name}");
        total += 1;
    }
    for name in "add max min concat pair_add sum_count append extend".split_whitespace() {
        assert!(binary(name).is_ok(), "binary {name}");
        total += 1;
    }
    for name in "partition_sum partition_count partition_max".split_whitespace() {
        assert!(partition(name).is_ok(), "partition {name}");
        total += 1;
    }
    for name in "tag_index index_count".split_whitespace() {
        assert!(partition_index(name).is_ok(), "partition_index {name}");
        total += 1;
    }
    assert_eq!(total, 52, "SPEC §5 names fifty-two functions");
    // A function of one kind is not accepted as another.
    assert!(binary("identity").is_err() && unary("add").is_err());
}

#[test]
fn numeric_and_list_functions_follow_the_spec() {
    let i = Value::I64;
    let pair = |a: Value, b: Value| Value::Seq(vec![a, b]);
    assert_eq!(flat("range_to").unwrap()(i(-2)), Vec::<Value>::new());
    assert_eq!(flat("split_ws").unwrap()(Value::Str("a\u{a0}b\u{3000} c".into())).len(), 3);
    assert_eq!(
        unary("by_count_desc").unwrap()(pair(Value::Str("w".into()), i(3))),
        pair(i(-3), Value::Str("w".into()))
    );
    assert_eq!(unary("nulls_to_zero").unwrap()(pair(Value::Null, i(2))), pair(i(0), i(2)));
    assert_eq!(binary("sum_count").unwrap()(pair(i(5), i(1)), i(4)), pair(i(9), i(2)));
    assert_eq!(partition("partition_sum").unwrap()(vec![]), vec![i(0)]);
    assert_eq!(partition("partition_max").unwrap()(vec![]), Vec::<Value>::new());
    assert!(predicate("is_odd").unwrap()(&i(-3)));
    assert!(!predicate("is_even").unwrap()(&i(-3)));
}

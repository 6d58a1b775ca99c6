//! The conformance vocabulary's dynamic value (SPEC §2): its canonical order, its JSON form
//! and the comparison rules of SPEC §7.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

/// One value of a case: every RDD element, parameter and result is one of these.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Value {
    /// JSON `null`: the missing side of an outer join.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number without `.` or exponent.
    I64(i64),
    /// A number with `.` or exponent.
    F64(f64),
    /// A string (compared by Unicode scalar values).
    Str(String),
    /// A JSON array: a tuple or a list.
    Seq(Vec<Value>),
    /// A JSON object (only `stats`), entries sorted by key.
    Obj(Vec<(String, Value)>),
}

impl Value {
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::I64(_) | Value::F64(_) => 2,
            Value::Str(_) => 3,
            Value::Seq(_) => 4,
            Value::Obj(_) => 5,
        }
    }

    /// The value a JSON document holds (`2` is an i64, `2.0` an f64).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => Value::I64(i),
                _ => Value::F64(n.as_f64().expect("every JSON number reads as an f64")),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => Value::Seq(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(String, Value)> =
                    map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Obj(entries)
            }
        }
    }
}

impl Ord for Value {
    /// SPEC's canonical order: null < bool < number < string < sequence, numbers by value
    /// (an i64 before an equal f64, so the order stays total), f64 with `total_cmp`,
    /// sequences lexicographically.
    fn cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::I64(a), Value::I64(b)) => a.cmp(b),
            (Value::F64(a), Value::F64(b)) => a.total_cmp(b),
            (Value::I64(a), Value::F64(b)) => (*a as f64).total_cmp(b).then(Ordering::Less),
            (Value::F64(a), Value::I64(b)) => a.total_cmp(&(*b as f64)).then(Ordering::Greater),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Seq(a), Value::Seq(b)) => a.cmp(b),
            (Value::Obj(a), Value::Obj(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    /// Structural; an i64 writes only itself, so `HashPartitioner` places it as Spark does
    /// (SPEC §6.1: key k in partition k mod n).
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::I64(i) => state.write_i64(*i),
            Value::Null => state.write_u8(0),
            Value::Bool(b) => {
                state.write_u8(1);
                b.hash(state);
            }
            Value::F64(f) => {
                state.write_u8(2);
                f.to_bits().hash(state);
            }
            Value::Str(s) => {
                state.write_u8(3);
                s.hash(state);
            }
            Value::Seq(items) => {
                state.write_u8(4);
                items.hash(state);
            }
            Value::Obj(entries) => {
                state.write_u8(5);
                entries.hash(state);
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Seq(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Value::Obj(entries) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// SPEC §7 equality: i64 only equals the same i64, f64 within a relative 1e-9, sequences
/// element by element, objects by key.
pub fn matches(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::F64(a), Value::F64(b)) => {
            (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * 1f64.max(a.abs()).max(b.abs())
        }
        (Value::Seq(a), Value::Seq(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches(x, y)),
        (Value::Obj(a), Value::Obj(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && matches(va, vb))
        }
        (Value::F64(_), _) | (_, Value::F64(_)) => false,
        _ => expected == got,
    }
}

/// SPEC §7 `multiset`: the same elements with the same multiplicities, in any order.
pub fn matches_multiset(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Seq(a), Value::Seq(b)) => {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.sort();
            b.sort();
            matches(&Value::Seq(a), &Value::Seq(b))
        }
        _ => false,
    }
}

/// SPEC §7 `runs`: the same length, and each consecutive chunk of the given lengths holds
/// the same elements as the expected chunk, in any order.
pub fn matches_runs(expected: &Value, got: &Value, runs: &[usize]) -> bool {
    let (Value::Seq(a), Value::Seq(b)) = (expected, got) else { return false };
    if a.len() != b.len() || runs.iter().sum::<usize>() != a.len() {
        return false;
    }
    let mut start = 0;
    for &len in runs {
        let chunk = |s: &[Value]| Value::Seq(s[start..start + len].to_vec());
        if !matches_multiset(&chunk(a), &chunk(b)) {
            return false;
        }
        start += len;
    }
    true
}

#[test]
fn canonical_order_follows_the_spec() {
    use Value::*;
    let mut values = vec![
        Seq(vec![I64(1), I64(0)]),
        Str("b".into()),
        Seq(vec![I64(1)]),
        F64(1.5),
        I64(2),
        Bool(true),
        Null,
        I64(-3),
        Bool(false),
        Str("a".into()),
    ];
    values.sort();
    let shown: Vec<String> = values.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["null", "false", "true", "-3", "1.5", "2", "\"a\"", "\"b\"", "[1]", "[1, 0]"]);
    assert!(!matches(&I64(2), &F64(2.0)));
    assert!(matches(&F64(1e10), &F64(1e10 + 1e-2)));
    assert!(!matches(&F64(1.0), &F64(1.0 + 1e-6)));
    let seq = |v: &[i64]| Seq(v.iter().map(|&i| I64(i)).collect());
    assert!(matches_multiset(&seq(&[1, 2, 2]), &seq(&[2, 1, 2])));
    assert!(!matches_multiset(&seq(&[1, 2, 2]), &seq(&[2, 1, 1])));
    assert!(matches_runs(&seq(&[1, 2, 3]), &seq(&[2, 1, 3]), &[2, 1]));
    assert!(!matches_runs(&seq(&[1, 2, 3]), &seq(&[1, 3, 2]), &[2, 1]));
}

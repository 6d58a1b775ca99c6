//! Runs one case's pipeline on Ember: builds each named RDD op by op, then runs an action.
//!
//! RDDs are `Rdd<Value>`, or `Rdd<(Value, Value)>` once an op needs pairs; the interpreter
//! converts between the two only at the op that needs the other form, so a pair RDD keeps
//! its partitioner through `mapValues` and friends, as in Spark.

use std::collections::HashMap;

use ember::prelude::*;
use serde_json::Value as Json;

use super::functions::{self, pair};
use super::value::Value;

/// An RDD of the case, in whichever form the last op produced.
#[derive(Clone)]
pub enum Dyn {
    Plain(Rdd<Value>),
    Pairs(Rdd<(Value, Value)>),
}

impl Dyn {
    fn plain(&self) -> Rdd<Value> {
        match self {
            Dyn::Plain(rdd) => rdd.clone(),
            Dyn::Pairs(rdd) => rdd.map(|(k, v)| Value::Seq(vec![k, v])),
        }
    }

    fn pairs(&self) -> Rdd<(Value, Value)> {
        match self {
            Dyn::Plain(rdd) => rdd.map(|x| pair(x, "a key-value op")),
            Dyn::Pairs(rdd) => rdd.clone(),
        }
    }

    fn num_partitions(&self) -> usize {
        match self {
            Dyn::Plain(rdd) => rdd.num_partitions(),
            Dyn::Pairs(rdd) => rdd.num_partitions(),
        }
    }
}

type Fallible<T> = Result<T, String>;

/// The parameters of one op or action.
struct Params<'a> {
    json: &'a Json,
}

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Fallible<&'a Json> {
        self.json.get(key).ok_or_else(|| format!("missing parameter {key:?} in {}", self.json))
    }

    fn str(&self, key: &str) -> Fallible<&'a str> {
        self.get(key)?.as_str().ok_or_else(|| format!("parameter {key:?} is not a string"))
    }

    fn usize(&self, key: &str) -> Fallible<usize> {
        self.get(key)?.as_u64().map(|n| n as usize).ok_or_else(|| format!("parameter {key:?} is not a count"))
    }

    fn opt_usize(&self, key: &str) -> Fallible<Option<usize>> {
        if self.json.get(key).is_none_or(Json::is_null) { Ok(None) } else { self.usize(key).map(Some) }
    }

    fn bool_or(&self, key: &str, default: bool) -> Fallible<bool> {
        match self.json.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| format!("parameter {key:?} is not a bool")),
        }
    }

    fn value(&self, key: &str) -> Fallible<Value> {
        Ok(Value::from_json(self.get(key)?))
    }

    fn unary(&self, key: &str) -> Fallible<functions::Unary> {
        functions::unary(self.str(key)?)
    }

    fn binary(&self, key: &str) -> Fallible<functions::Binary> {
        functions::binary(self.str(key)?)
    }
}

/// Builds the RDDs of `rdds` in order; returns the last one. Every source RDD is persisted
/// at `persist_inputs` when given.
pub fn build(ctx: &Context, rdds: &[Json], persist_inputs: Option<StorageLevel>) -> Fallible<Dyn> {
    let mut named: HashMap<String, Dyn> = HashMap::new();
    let mut last = None;
    for spec in rdds {
        let name = spec.get("name").and_then(Json::as_str).ok_or("an RDD without a name")?;
        let ops = spec.get("ops").and_then(Json::as_array).ok_or_else(|| format!("RDD {name} has no ops"))?;
        let mut current: Option<Dyn> = None;
        for op in ops {
            current = Some(apply(ctx, current, op, &named, persist_inputs)?);
        }
        let rdd = current.ok_or_else(|| format!("RDD {name} has an empty op list"))?;
        named.insert(name.to_owned(), rdd.clone());
        last = Some(rdd);
    }
    last.ok_or_else(|| "a case without RDDs".to_owned())
}

fn apply(
    ctx: &Context,
    input: Option<Dyn>,
    op: &Json,
    named: &HashMap<String, Dyn>,
    persist_inputs: Option<StorageLevel>,
) -> Fallible<Dyn> {
    let p = Params { json: op };
    let name = p.str("op")?;
    let other = || -> Fallible<Dyn> {
        let other = p.str("other")?;
        named.get(other).cloned().ok_or_else(|| format!("{name}: no RDD named {other:?} defined earlier"))
    };
    if name == "parallelize" {
        let data = p.get("data")?.as_array().ok_or("parallelize: data is not an array")?;
        let data: Vec<Value> = data.iter().map(Value::from_json).collect();
        let source = ctx.parallelize(data, p.usize("num_slices")?);
        if let Some(level) = persist_inputs {
            source.persist(level);
        }
        return Ok(Dyn::Plain(source));
    }
    if name == "ref" {
        let rdd = p.str("rdd")?;
        return named.get(rdd).cloned().ok_or_else(|| format!("ref: no RDD named {rdd:?} defined earlier"));
    }
    let input = input.ok_or_else(|| format!("{name} needs an input: the first op must be a source"))?;
    let n = p.opt_usize("num_partitions")?;
    let out = match name {
        "map" => {
            let f = p.unary("fn")?;
            Dyn::Plain(input.plain().map(move |x| f(x)))
        }
        "flatMap" => {
            let f = functions::flat(p.str("fn")?)?;
            Dyn::Plain(input.plain().flat_map(move |x| f(x)))
        }
        "filter" => {
            let f = functions::predicate(p.str("fn")?)?;
            match input {
                Dyn::Plain(rdd) => Dyn::Plain(rdd.filter(move |x| f(x))),
                Dyn::Pairs(rdd) => Dyn::Pairs(rdd.filter(move |(k, v)| f(&Value::Seq(vec![k.clone(), v.clone()])))),
            }
        }
        "keyBy" => {
            let f = p.unary("fn")?;
            Dyn::Pairs(input.plain().key_by(move |x| f(x.clone())))
        }
        "keys" => Dyn::Plain(input.pairs().keys()),
        "values" => Dyn::Plain(input.pairs().values()),
        "mapValues" => {
            let f = p.unary("fn")?;
            Dyn::Pairs(input.pairs().map_values(move |v| f(v)))
        }
        "flatMapValues" => {
            let f = functions::flat(p.str("fn")?)?;
            Dyn::Pairs(input.pairs().flat_map_values(move |v| f(v)))
        }
        "mapPartitions" => {
            let f = functions::partition(p.str("fn")?)?;
            Dyn::Plain(input.plain().map_partitions(move |it| f(it.collect())))
        }
        "mapPartitionsWithIndex" => {
            let f = functions::partition_index(p.str("fn")?)?;
            Dyn::Plain(input.plain().map_partitions_with_index(move |i, it| f(i as i64, it.collect())))
        }
        "glom" => Dyn::Plain(input.plain().glom().map(Value::Seq)),
        "zipWithIndex" => Dyn::Pairs(input.plain().zip_with_index().map(|(x, i)| (x, Value::I64(i as i64)))),
        "zipWithUniqueId" => Dyn::Pairs(input.plain().zip_with_unique_id().map(|(x, i)| (x, Value::I64(i as i64)))),
        "zip" => Dyn::Pairs(input.plain().zip(&other()?.plain())),
        "union" => match (input, other()?) {
            (Dyn::Pairs(a), Dyn::Pairs(b)) => Dyn::Pairs(a.union(&b)),
            (a, b) => Dyn::Plain(a.plain().union(&b.plain())),
        },
        "coalesce" => {
            let n = p.usize("num_partitions")?;
            let rdd = input.plain();
            Dyn::Plain(if p.bool_or("shuffle", false)? { rdd.repartition(n) } else { rdd.coalesce(n) })
        }
        "repartition" => Dyn::Plain(input.plain().repartition(p.usize("num_partitions")?)),
        "partitionBy" => Dyn::Pairs(input.pairs().partition_by(HashPartitioner::new(p.usize("num_partitions")?))),
        "distinct" => {
            let rdd = input.plain();
            Dyn::Plain(match n {
                Some(n) => rdd.distinct_with_partitions(n),
                None => rdd.distinct(),
            })
        }
        "groupByKey" => {
            let rdd = input.pairs();
            let grouped = match n {
                Some(n) => rdd.group_by_key_with_partitions(n),
                None => rdd.group_by_key(),
            };
            Dyn::Pairs(grouped.map_values(Value::Seq))
        }
        "groupBy" => {
            let f = p.unary("fn")?;
            let rdd = input.plain();
            let key = move |x: &Value| f(x.clone());
            let grouped = match n {
                Some(n) => rdd.group_by_with_partitions(key, n),
                None => rdd.group_by(key),
            };
            Dyn::Pairs(grouped.map_values(Value::Seq))
        }
        "reduceByKey" => {
            let f = p.binary("fn")?;
            let rdd = input.pairs();
            Dyn::Pairs(match n {
                Some(n) => rdd.reduce_by_key_with_partitions(move |a, b| f(a, b), n),
                None => rdd.reduce_by_key(move |a, b| f(a, b)),
            })
        }
        "foldByKey" => {
            let (zero, f) = (p.value("zero")?, p.binary("fn")?);
            let rdd = input.pairs();
            Dyn::Pairs(match n {
                Some(n) => rdd.fold_by_key_with_partitions(zero, move |a, b| f(a, b), n),
                None => rdd.fold_by_key(zero, move |a, b| f(a, b)),
            })
        }
        "aggregateByKey" => {
            let (zero, seq, comb) = (p.value("zero")?, p.binary("seq_fn")?, p.binary("comb_fn")?);
            let rdd = input.pairs();
            let (seq, comb) = (move |a, b| seq(a, b), move |a, b| comb(a, b));
            Dyn::Pairs(match n {
                Some(n) => rdd.aggregate_by_key_with_partitions(zero, seq, comb, n),
                None => rdd.aggregate_by_key(zero, seq, comb),
            })
        }
        "combineByKey" => {
            let create = p.unary("create_fn")?;
            let (merge_value, merge_combiners) = (p.binary("merge_value_fn")?, p.binary("merge_combiners_fn")?);
            let rdd = input.pairs();
            let (create, mv, mc) =
                (move |v| create(v), move |a, b| merge_value(a, b), move |a, b| merge_combiners(a, b));
            Dyn::Pairs(match n {
                Some(n) => rdd.combine_by_key_with_partitions(create, mv, mc, n),
                None => rdd.combine_by_key(create, mv, mc),
            })
        }
        "sortByKey" => {
            let ascending = p.bool_or("ascending", true)?;
            let rdd = input.pairs();
            Dyn::Pairs(match n {
                Some(n) => rdd.sort_by_key_with_partitions(ascending, n),
                None => rdd.sort_by_key(ascending),
            })
        }
        "sortBy" => {
            let f = p.unary("fn")?;
            let ascending = p.bool_or("ascending", true)?;
            let rdd = input.plain();
            let key = move |x: &Value| f(x.clone());
            Dyn::Plain(match n {
                Some(n) => rdd.sort_by_with_partitions(key, ascending, n),
                None => rdd.sort_by(key, ascending),
            })
        }
        "join" => {
            let (a, b) = (input.pairs(), other()?.pairs());
            let joined = match n {
                Some(n) => a.join_with_partitions(&b, n),
                None => a.join(&b),
            };
            Dyn::Pairs(joined.map_values(|(v, w)| Value::Seq(vec![v, w])))
        }
        "leftOuterJoin" => {
            let (a, b) = (input.pairs(), other()?.pairs());
            let joined = match n {
                Some(n) => a.left_outer_join_with_partitions(&b, n),
                None => a.left_outer_join(&b),
            };
            Dyn::Pairs(joined.map_values(|(v, w)| Value::Seq(vec![v, w.unwrap_or(Value::Null)])))
        }
        "rightOuterJoin" => {
            let (a, b) = (input.pairs(), other()?.pairs());
            let joined = match n {
                Some(n) => a.right_outer_join_with_partitions(&b, n),
                None => a.right_outer_join(&b),
            };
            Dyn::Pairs(joined.map_values(|(v, w)| Value::Seq(vec![v.unwrap_or(Value::Null), w])))
        }
        "fullOuterJoin" => {
            let (a, b) = (input.pairs(), other()?.pairs());
            let joined = match n {
                Some(n) => a.full_outer_join_with_partitions(&b, n),
                None => a.full_outer_join(&b),
            };
            Dyn::Pairs(joined.map_values(|(v, w)| Value::Seq(vec![v.unwrap_or(Value::Null), w.unwrap_or(Value::Null)])))
        }
        "cogroup" => {
            let (a, b) = (input.pairs(), other()?.pairs());
            let grouped = match n {
                Some(n) => a.cogroup_with_partitions(&b, n),
                None => a.cogroup(&b),
            };
            Dyn::Pairs(grouped.map_values(|(vs, ws)| Value::Seq(vec![Value::Seq(vs), Value::Seq(ws)])))
        }
        "subtractByKey" => {
            let (a, b) = (input.pairs(), other()?.pairs());
            Dyn::Pairs(match n {
                Some(n) => a.subtract_by_key_with_partitions(&b, n),
                None => a.subtract_by_key(&b),
            })
        }
        "subtract" => {
            let (a, b) = (input.plain(), other()?.plain());
            Dyn::Plain(match n {
                Some(n) => a.subtract_with_partitions(&b, n),
                None => a.subtract(&b),
            })
        }
        "intersection" => {
            let (a, b) = (input.plain(), other()?.plain());
            Dyn::Plain(match n {
                Some(n) => a.intersection_with_partitions(&b, n),
                None => a.intersection(&b),
            })
        }
        "cartesian" => Dyn::Pairs(input.plain().cartesian(&other()?.plain())),
        other => return Err(format!("unknown op {other:?}")),
    };
    Ok(out)
}

fn as_i64(x: Value) -> i64 {
    match x {
        Value::I64(i) => i,
        other => panic!("sum: expected an i64, got {other}"),
    }
}

fn as_f64(x: Value) -> f64 {
    match x {
        Value::I64(i) => i as f64,
        Value::F64(f) => f,
        other => panic!("mean/stats: expected a number, got {other}"),
    }
}

fn counted(map: impl IntoIterator<Item = (Value, u64)>) -> Value {
    Value::Seq(map.into_iter().map(|(k, n)| Value::Seq(vec![k, Value::I64(n as i64)])).collect())
}

/// Runs `action` on `rdd`. `Err` carries Ember's error (or an unknown action) as text.
pub fn run_action(rdd: &Dyn, action: &Json) -> Fallible<Value> {
    let p = Params { json: action };
    let name = p.str("op")?;
    let err = |e: ember::Error| e.to_string();
    let key_fn = match action.get("key_fn").and_then(Json::as_str) {
        Some(f) => Some(functions::unary(f)?),
        None => None,
    };
    let seq = |items: Vec<Value>| Value::Seq(items);
    let value = match name {
        "collect" => seq(rdd.plain().collect().map_err(err)?),
        "count" => Value::I64(rdd.plain().count().map_err(err)? as i64),
        "first" => rdd.plain().first().map_err(err)?,
        "take" => seq(rdd.plain().take(p.usize("n")?).map_err(err)?),
        "top" => {
            let n = p.usize("n")?;
            seq(match key_fn {
                Some(f) => rdd.plain().top_by(n, move |x| f(x.clone())),
                None => rdd.plain().top(n),
            }
            .map_err(err)?)
        }
        "takeOrdered" => {
            let n = p.usize("n")?;
            seq(match key_fn {
                Some(f) => rdd.plain().take_ordered_by(n, move |x| f(x.clone())),
                None => rdd.plain().take_ordered(n),
            }
            .map_err(err)?)
        }
        "reduce" => {
            let f = p.binary("fn")?;
            rdd.plain().reduce(move |a, b| f(a, b)).map_err(err)?
        }
        "fold" => {
            let f = p.binary("fn")?;
            rdd.plain().fold(p.value("zero")?, move |a, b| f(a, b)).map_err(err)?
        }
        "aggregate" => {
            let (seq_fn, comb_fn) = (p.binary("seq_fn")?, p.binary("comb_fn")?);
            rdd.plain().aggregate(p.value("zero")?, move |a, b| seq_fn(a, b), move |a, b| comb_fn(a, b)).map_err(err)?
        }
        "sum" => Value::I64(rdd.plain().map(as_i64).sum().map_err(err)?),
        "min" => rdd.plain().min().map_err(err)?,
        "max" => rdd.plain().max().map_err(err)?,
        "mean" => Value::F64(rdd.plain().map(as_f64).mean().map_err(err)?),
        "stats" => {
            let s = rdd.plain().map(as_f64).stats().map_err(err)?;
            let f = Value::F64;
            Value::Obj(vec![
                ("count".into(), Value::I64(s.count() as i64)),
                ("max".into(), f(s.max())),
                ("mean".into(), f(s.mean())),
                ("min".into(), f(s.min())),
                ("sample_stdev".into(), f(s.sample_stdev())),
                ("sample_variance".into(), f(s.sample_variance())),
                ("stdev".into(), f(s.stdev())),
                ("sum".into(), f(s.sum())),
                ("variance".into(), f(s.variance())),
            ])
        }
        "isEmpty" => Value::Bool(rdd.plain().is_empty().map_err(err)?),
        "lookup" => seq(rdd.pairs().lookup(&p.value("key")?).map_err(err)?),
        "countByKey" => counted(rdd.pairs().count_by_key().map_err(err)?),
        "countByValue" => counted(rdd.plain().count_by_value().map_err(err)?),
        "getNumPartitions" => Value::I64(rdd.num_partitions() as i64),
        other => return Err(format!("unknown action {other:?}")),
    };
    Ok(value)
}

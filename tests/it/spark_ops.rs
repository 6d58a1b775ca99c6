//! The operators that complete Spark's RDD set, each checked against a sequential
//! computation on `Vec`s, at several partition counts.

use std::collections::{BTreeMap, BTreeSet};

use ember::prelude::*;

use crate::{PARTITIONS, TestResult, numbers, pairs, slices};

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn coalesce_concatenates_runs_of_partitions_without_a_shuffle() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(40);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        for n in 1..=parts + 1 {
            let coalesced = rdd.coalesce(n);
            assert_eq!(coalesced.num_partitions(), n.min(parts));
            let got = coalesced.glom().collect()?;
            let input = slices(&data, parts);
            let expected: Vec<Vec<i64>> = if n >= parts {
                input
            } else {
                (0..n).map(|i| input[i * parts / n..(i + 1) * parts / n].concat()).collect()
            };
            assert_eq!(got, expected, "{parts} partitions coalesced to {n}");
            assert_eq!(ctx.last_job().unwrap().stages.len(), 1, "coalesce is narrow");
        }
    }
    Ok(())
}

#[test]
fn repartition_keeps_every_element_and_balances() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(101);
    for parts in PARTITIONS {
        for n in [1, 2, 5, 9] {
            let parted = ctx.parallelize(data.clone(), parts).repartition(n).glom().collect()?;
            assert_eq!(parted.len(), n);
            let sizes: Vec<usize> = parted.iter().map(Vec::len).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= parts, "sizes {sizes:?} from {parts} partitions");
            assert_eq!(sorted(parted.concat()), sorted(data.clone()));
        }
    }
    Ok(())
}

#[test]
fn zips_pair_elements_by_position() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(23);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        let zipped = rdd.zip(&rdd.map(|x| x * 3)).collect()?;
        assert_eq!(zipped, data.iter().map(|&x| (x, x * 3)).collect::<Vec<_>>());

        let indexed = rdd.zip_with_index().collect()?;
        assert_eq!(indexed, data.iter().enumerate().map(|(i, &x)| (x, i as u64)).collect::<Vec<_>>());

        let ids = rdd.zip_with_unique_id().collect()?;
        let mut expected = Vec::new();
        for (k, part) in slices(&data, parts).into_iter().enumerate() {
            expected.extend(part.into_iter().enumerate().map(|(j, x)| (x, (j * parts + k) as u64)));
        }
        assert_eq!(ids, expected);

        let sizes = rdd.zip_partitions(&rdd.filter(|x| x % 2 == 0), |a, b| std::iter::once((a.count(), b.count())));
        assert_eq!(sizes.num_partitions(), parts);
    }
    Ok(())
}

#[test]
fn zip_of_unequal_rdds_is_an_error_not_a_panic() -> TestResult {
    let ctx = Context::local(2)?;
    let a = ctx.parallelize(numbers(10), 2);
    let err = a.zip(&ctx.parallelize(numbers(10), 3)).collect().unwrap_err().to_string();
    assert!(err.contains("unequal numbers of partitions (2 and 3)"), "{err}");
    let err = a.zip(&a.filter(|x| *x > 0)).collect().unwrap_err().to_string();
    assert!(err.contains("same number of elements"), "{err}");
    Ok(())
}

#[test]
fn cartesian_is_every_pair_in_p_times_q_partitions() -> TestResult {
    let ctx = Context::local(2)?;
    let (left, right) = (numbers(9), vec!['a', 'b', 'c', 'd']);
    for p in PARTITIONS {
        for q in [1, 3] {
            let product = ctx.parallelize(left.clone(), p).cartesian(&ctx.parallelize(right.clone(), q));
            assert_eq!(product.num_partitions(), p * q);
            let expected: Vec<(i64, char)> = left.iter().flat_map(|&x| right.iter().map(move |&c| (x, c))).collect();
            assert_eq!(sorted(product.collect()?), sorted(expected));
            assert_eq!(ctx.last_job().unwrap().stages.len(), 1, "cartesian is narrow");
        }
    }
    Ok(())
}

#[test]
fn set_operations_match_a_reference() -> TestResult {
    let ctx = Context::local(2)?;
    let (a, b) = (numbers(40), numbers(11).into_iter().map(|x| x + 3).collect::<Vec<_>>());
    let in_b: BTreeSet<i64> = b.iter().copied().collect();
    let in_a: BTreeSet<i64> = a.iter().copied().collect();
    for parts in PARTITIONS {
        let (ra, rb) = (ctx.parallelize(a.clone(), parts), ctx.parallelize(b.clone(), 2));
        let subtracted = ra.subtract(&rb);
        assert_eq!(subtracted.num_partitions(), parts);
        assert_eq!(sorted(subtracted.collect()?), sorted(a.iter().copied().filter(|x| !in_b.contains(x)).collect()));
        let common: Vec<i64> = in_a.intersection(&in_b).copied().collect();
        assert_eq!(sorted(ra.intersection(&rb).collect()?), common);
        assert_eq!(sorted(ra.intersection_with_partitions(&rb, 3).collect()?), common);

        let (pa, pb) = (ctx.parallelize(pairs(30), parts), ctx.parallelize(pairs(7), 3));
        let keys_b: BTreeSet<String> = pairs(7).into_iter().map(|(k, _)| k).collect();
        let expected: Vec<(String, i64)> = pairs(30).into_iter().filter(|(k, _)| !keys_b.contains(k)).collect();
        assert_eq!(sorted(pa.subtract_by_key(&pb).collect()?), sorted(expected));
    }
    Ok(())
}

/// The outer joins by nested loops over plain vectors.
type Joined = Vec<(String, (Option<i64>, Option<i64>))>;

fn full_outer_reference(left: &[(String, i64)], right: &[(String, i64)]) -> Joined {
    let mut out = Vec::new();
    for (k, v) in left {
        let matches: Vec<i64> = right.iter().filter(|(k2, _)| k2 == k).map(|(_, w)| *w).collect();
        if matches.is_empty() {
            out.push((k.clone(), (Some(*v), None)));
        }
        out.extend(matches.into_iter().map(|w| (k.clone(), (Some(*v), Some(w)))));
    }
    for (k, w) in right {
        if !left.iter().any(|(k1, _)| k1 == k) {
            out.push((k.clone(), (None, Some(*w))));
        }
    }
    sorted(out)
}

#[test]
fn outer_joins_match_nested_loops() -> TestResult {
    let ctx = Context::local(2)?;
    let left = pairs(25);
    let right: Vec<(String, i64)> =
        pairs(40).into_iter().skip(20).map(|(k, v)| (if v % 3 == 0 { format!("r{k}") } else { k }, v * 2)).collect();
    assert!(right.iter().any(|(k, _)| k.starts_with('r')), "some keys exist only on the right");
    let full = full_outer_reference(&left, &right);
    for parts in PARTITIONS {
        let (a, b) = (ctx.parallelize(left.clone(), parts), ctx.parallelize(right.clone(), 2));
        assert_eq!(sorted(a.full_outer_join(&b).collect()?), full);
        let left_only: Joined = full.iter().filter(|(_, (v, _))| v.is_some()).cloned().collect();
        let got: Joined = a.left_outer_join(&b).collect()?.into_iter().map(|(k, (v, w))| (k, (Some(v), w))).collect();
        assert_eq!(sorted(got), left_only);
        let right_only: Joined = full.iter().filter(|(_, (_, w))| w.is_some()).cloned().collect();
        let got: Joined = a.right_outer_join(&b).collect()?.into_iter().map(|(k, (v, w))| (k, (v, Some(w)))).collect();
        assert_eq!(sorted(got), right_only);
        assert_eq!(a.left_outer_join_with_partitions(&b, 5).num_partitions(), 5);
    }
    Ok(())
}

#[test]
fn cogroup3_groups_all_three_and_reuses_partitioning() -> TestResult {
    let ctx = Context::local(2)?;
    let (x, y, z) = (pairs(20), pairs(9), pairs(4));
    let group = |d: &[(String, i64)]| {
        let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (k, v) in d {
            m.entry(k.clone()).or_default().push(*v);
        }
        m
    };
    let (gx, gy, gz) = (group(&x), group(&y), group(&z));
    let keys: BTreeSet<&String> = gx.keys().chain(gy.keys()).chain(gz.keys()).collect();
    let some = |m: &BTreeMap<String, Vec<i64>>, k: &String| sorted(m.get(k).cloned().unwrap_or_default());
    let expected: Vec<_> = keys.into_iter().map(|k| (k.clone(), (some(&gx, k), some(&gy, k), some(&gz, k)))).collect();
    let a = ctx.parallelize(x, 3).partition_by(HashPartitioner::new(3));
    let grouped = a.cogroup3(&ctx.parallelize(y, 2), &ctx.parallelize(z, 1));
    assert_eq!(grouped.num_partitions(), 3, "the input's hash partitioner is kept");
    let mut got: Vec<_> =
        grouped.collect()?.into_iter().map(|(k, (a, b, c))| (k, (sorted(a), sorted(b), sorted(c)))).collect();
    got.sort();
    assert_eq!(got, expected);
    let shuffles = ctx.last_job().unwrap().stages.iter().filter(|s| s.is_shuffle_map).count();
    assert_eq!(shuffles, 3, "partition_by's shuffle plus one per other input, none for the first two's co-group");
    Ok(())
}

#[test]
fn lookup_reads_one_partition_of_a_hash_partitioned_rdd() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(60);
    let expected: Vec<i64> = data.iter().filter(|(k, _)| k == "k4").map(|(_, v)| *v).collect();
    let expected_len = expected.len();
    let plain = ctx.parallelize(data.clone(), 3);
    assert_eq!(sorted(plain.lookup(&"k4".to_string())?), sorted(expected.clone()));
    assert_eq!(ctx.last_job().unwrap().tasks_launched(), 3);
    let hashed = plain.partition_by(HashPartitioner::new(5));
    assert_eq!(sorted(hashed.lookup(&"k4".to_string())?), sorted(expected));
    // Again, with the shuffle output in place: one task, for the key's partition only.
    assert_eq!(hashed.lookup(&"k4".to_string())?.len(), expected_len);
    assert_eq!(ctx.last_job().unwrap().tasks_launched(), 1, "only the key's partition is computed");
    assert!(hashed.lookup(&"missing".to_string())?.is_empty());
    Ok(())
}

#[test]
fn numeric_actions_match_a_reference_and_empty_ones_are_errors() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(37);
    let floats: Vec<f64> = data.iter().map(|&x| x as f64).collect();
    let n = floats.len() as f64;
    let mean = floats.iter().sum::<f64>() / n;
    let var = floats.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        assert_eq!(rdd.sum()?, data.iter().sum::<i64>());
        assert_eq!(rdd.min()?, *data.iter().min().unwrap());
        assert_eq!(rdd.max()?, *data.iter().max().unwrap());
        let s = ctx.parallelize(floats.clone(), parts).stats()?;
        assert_eq!(s.count(), data.len() as u64);
        assert!((s.mean() - mean).abs() < 1e-9 && (s.variance() - var).abs() < 1e-9);
        assert!((s.sample_variance() - var * n / (n - 1.0)).abs() < 1e-9);
        assert_eq!((s.min(), s.max()), (-9.0, 13.0));
        let (bounds, counts) = ctx.parallelize(floats.clone(), parts).histogram(4)?;
        assert_eq!(bounds, vec![-9.0, -3.5, 2.0, 7.5, 13.0]);
        let reference: Vec<u64> = (0..4)
            .map(|i| {
                floats.iter().filter(|&&x| x >= bounds[i] && (x < bounds[i + 1] || i == 3 && x <= 13.0)).count() as u64
            })
            .collect();
        assert_eq!(counts, reference);
    }
    let empty = ctx.parallelize(Vec::<i64>::new(), 3);
    assert_eq!(empty.sum()?, 0);
    for err in [empty.min().unwrap_err(), empty.max().unwrap_err(), empty.first().unwrap_err()] {
        assert_eq!(err.kind(), ErrorKind::EmptyRdd, "{err}");
    }
    assert_eq!(empty.reduce(|a, b| a + b).unwrap_err().kind(), ErrorKind::EmptyRdd);
    assert_eq!(ctx.parallelize(Vec::<f64>::new(), 2).mean()?, 0.0);
    Ok(())
}

#[test]
fn sampling_is_deterministic_and_independent_of_threads() -> TestResult {
    let data: Vec<i64> = (0..2000).collect();
    let mut samples = Vec::new();
    for threads in [1, 2] {
        let ctx = Context::local(threads)?;
        let rdd = ctx.parallelize(data.clone(), 4);
        let sample = rdd.sample(false, 0.2, 9).collect()?;
        assert!((300..500).contains(&sample.len()), "{}", sample.len());
        let with = rdd.sample(true, 0.5, 9).collect()?;
        assert!((800..1200).contains(&with.len()), "{}", with.len());
        let splits = rdd.random_split(&[1.0, 2.0, 1.0], 5);
        let parts: Vec<Vec<i64>> = splits.iter().map(|s| s.collect()).collect::<Result<_>>()?;
        assert_eq!(sorted(parts.concat()), data, "the splits partition the input");
        assert!(parts[1].len() > parts[0].len() && parts[1].len() > parts[2].len());
        let drawn = rdd.take_sample(false, 50, 3)?;
        assert_eq!(sorted(drawn.clone()).into_iter().collect::<BTreeSet<_>>().len(), 50);
        samples.push((sample, with, parts, drawn));
    }
    assert_eq!(samples[0], samples[1], "the same seed gives the same samples at 1 and 2 threads");
    Ok(())
}

#[test]
fn approximate_distinct_count_is_within_its_error() -> TestResult {
    let ctx = Context::local(2)?;
    let rdd = ctx.range(0, 60_000, 1, 5).map(|x| x % 7_000);
    for sd in [0.05, 0.02] {
        let estimate = rdd.count_approx_distinct(sd)? as f64;
        assert!((estimate - 7_000.0).abs() < 4.0 * sd * 7_000.0, "sd {sd}: {estimate}");
    }
    Ok(())
}

#[test]
fn tree_aggregation_merges_partials_in_shuffles() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(500);
    let rdd = ctx.parallelize(data.clone(), 40);
    let sum = rdd.tree_aggregate(0i64, |a, x| a + x, |a, b| a + b, 2)?;
    assert_eq!(sum, data.iter().sum::<i64>());
    assert!(ctx.last_job().unwrap().stages.len() >= 2, "at least one merge round ran on the workers");
    assert_eq!(rdd.tree_reduce(|a, b| a.min(b), 3)?, *data.iter().min().unwrap());
    assert_eq!(ctx.parallelize(data.clone(), 2).tree_aggregate(0, |a, x| a + x, |a, b| a + b, 2)?, sum);
    Ok(())
}

#[cfg(unix)]
#[test]
fn pipe_streams_each_partition_through_a_command() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(20);
    let rdd = ctx.parallelize(data.clone(), 3);
    let echoed = rdd.pipe("cat").collect()?;
    assert_eq!(echoed, data.iter().map(i64::to_string).collect::<Vec<_>>());
    let counts = rdd.pipe("wc -l").map(|s| s.trim().parse::<usize>().unwrap()).collect()?;
    assert_eq!(counts, slices(&data, 3).iter().map(Vec::len).collect::<Vec<_>>());
    let err = rdd.pipe("false").collect().unwrap_err().to_string();
    assert!(err.contains("exited with"), "{err}");
    let err = rdd.pipe("/no/such/program").collect().unwrap_err().to_string();
    assert!(err.contains("cannot start"), "{err}");
    Ok(())
}

#[test]
fn group_by_and_partition_counts_follow_spark() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(30);
    let rdd = ctx.parallelize(data.clone(), 3);
    let groups: BTreeMap<i64, Vec<i64>> =
        rdd.group_by(|x| x.rem_euclid(4)).collect()?.into_iter().map(|(k, v)| (k, sorted(v))).collect();
    let mut expected: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &x in &data {
        expected.entry(x.rem_euclid(4)).or_default().push(x);
    }
    let expected: BTreeMap<i64, Vec<i64>> = expected.into_iter().map(|(k, v)| (k, sorted(v))).collect();
    assert_eq!(groups, expected);
    assert_eq!(rdd.group_by(|x| *x).num_partitions(), 3);
    assert_eq!(rdd.group_by_with_partitions(|x| *x, 6).num_partitions(), 6);
    assert_eq!(rdd.union(&rdd).num_partitions(), 6);
    Ok(())
}

#[test]
fn hash_partitioning_places_small_integer_keys_like_spark() -> TestResult {
    let ctx = Context::local(2)?;
    let keyed: Vec<(i64, ())> = (0..40).map(|k| (k, ())).collect();
    let placed = ctx.parallelize(keyed, 3).partition_by(HashPartitioner::new(7)).glom().collect()?;
    for (p, part) in placed.iter().enumerate() {
        assert!(part.iter().all(|(k, _)| (*k as usize) % 7 == p), "partition {p}: {part:?}");
    }
    Ok(())
}

#[test]
fn pair_operations_on_co_partitioned_inputs_add_no_shuffle() -> TestResult {
    let ctx = Context::local(2)?;
    let a = ctx.parallelize(pairs(30), 3).partition_by(HashPartitioner::new(4));
    // Filtering keeps the partitioner, and leaves keys that only `a` has.
    let b = ctx.parallelize(pairs(12), 2).partition_by(HashPartitioner::new(4)).filter(|(k, _)| k != "k0");
    let map_stages = |ctx: &Context| ctx.last_job().unwrap().stages.iter().filter(|s| s.is_shuffle_map).count();
    for (name, count) in [
        ("left_outer_join", a.left_outer_join(&b).count()?),
        ("right_outer_join", a.right_outer_join(&b).count()?),
        ("full_outer_join", a.full_outer_join(&b).count()?),
        ("subtract_by_key", a.subtract_by_key_with_partitions(&b, 4).count()?),
        ("cogroup3", a.cogroup3(&b, &a).count()?),
    ] {
        assert!(count > 0, "{name} found pairs");
        assert_eq!(map_stages(&ctx), 2, "{name}: only the two partition_by shuffles");
    }
    // A different partition count shuffles both sides again.
    a.left_outer_join_with_partitions(&b, 5).count()?;
    assert_eq!(map_stages(&ctx), 4);
    Ok(())
}

#[test]
fn coalesce_after_a_shuffle_stays_in_the_reduce_stage() -> TestResult {
    let ctx = Context::local(2)?;
    let reduced = ctx.parallelize(pairs(40), 4).reduce_by_key(|a, b| a + b).coalesce(2);
    assert_eq!(reduced.num_partitions(), 2);
    let keys: BTreeSet<String> = pairs(40).into_iter().map(|(k, _)| k).collect();
    assert_eq!(reduced.count()?, keys.len() as u64);
    let m = ctx.last_job().unwrap();
    assert_eq!(m.stages.len(), 2, "the map stage and one result stage");
    assert_eq!(m.stages.last().map(|s| s.num_tasks), Some(2), "the result stage has the coalesced partitions");
    let lineage = reduced.lineage();
    assert!(lineage.starts_with("(2) coalesce"), "{lineage}");
    assert!(lineage.contains("\n |  (4) reduce_by_key"), "{lineage}");
    Ok(())
}

#[test]
fn zip_with_index_reports_a_failed_counting_job_when_used() -> TestResult {
    let ctx = Context::local(2)?;
    let bad = ctx.parallelize(vec![1, 2, 3, 4], 2).map(|x| if x == 1 { panic!("boom at {x}") } else { x });
    let indexed = bad.zip_with_index();
    assert_eq!(indexed.num_partitions(), 2);
    let err = indexed.collect().unwrap_err().to_string();
    assert!(err.contains("counting partitions for zip_with_index failed") && err.contains("boom at 1"), "{err}");
    Ok(())
}

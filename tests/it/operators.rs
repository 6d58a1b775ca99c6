//! Every operator and action against a plain-Rust reference, at several partition counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ember::prelude::*;

use crate::{PARTITIONS, TestResult, numbers, pairs, slices};

/// Sorts a copy: for comparing outputs whose order is unspecified.
fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// `(key, sorted values)` per key, the reference for every grouping operator.
fn grouped(data: &[(String, i64)]) -> BTreeMap<String, Vec<i64>> {
    let mut groups: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v) in data {
        groups.entry(k.clone()).or_default().push(*v);
    }
    groups.values_mut().for_each(|vs| vs.sort());
    groups
}

/// Per key, how many of the input slices hold it: how often a per-partition zero counts.
fn partitions_holding(data: &[(String, i64)], parts: usize) -> BTreeMap<String, i64> {
    let mut holding: BTreeMap<String, i64> = BTreeMap::new();
    for slice in slices(data, parts) {
        for k in slice.iter().map(|(k, _)| k).collect::<BTreeSet<_>>() {
            *holding.entry(k.clone()).or_default() += 1;
        }
    }
    holding
}

// ---------------------------------------------------------------------------------------------
// Sources

#[test]
fn parallelize_slices_like_spark() -> TestResult {
    let ctx = Context::local(2)?;
    let three = ctx.parallelize(vec!['a', 'b', 'c'], 7).glom().collect()?;
    assert_eq!(three, vec![vec![], vec![], vec!['a'], vec![], vec!['b'], vec![], vec!['c']]);
    for len in [0, 1, 5, 16, 17] {
        let data = numbers(len);
        for parts in PARTITIONS {
            let rdd = ctx.parallelize(data.clone(), parts);
            assert_eq!(rdd.num_partitions(), parts);
            assert_eq!(rdd.glom().collect()?, slices(&data, parts), "{len} elements in {parts} slices");
        }
    }
    Ok(())
}

#[test]
fn range_matches_a_stepping_loop() -> TestResult {
    let ctx = Context::local(2)?;
    let reference = |start: i64, end: i64, step: i64| {
        let mut out = Vec::new();
        let mut x = start;
        while (step > 0 && x < end) || (step < 0 && x > end) {
            out.push(x);
            x += step;
        }
        out
    };
    let cases = [(0, 10, 1), (0, 10, 3), (5, 0, -2), (3, -11, -4), (-7, 8, 5), (4, 4, 1), (0, 10, -1), (10, 0, 2)];
    for (start, end, step) in cases {
        for parts in PARTITIONS {
            let expected = reference(start, end, step);
            let rdd = ctx.range(start, end, step, parts);
            assert_eq!(rdd.num_partitions(), parts);
            assert_eq!(rdd.glom().collect()?, slices(&expected, parts), "range({start}, {end}, {step}) in {parts}");
            assert_eq!(rdd.count()?, expected.len() as u64);
        }
    }
    let extreme = ctx.range(i64::MAX - 2, i64::MAX, 1, 2).collect()?;
    assert_eq!(extreme, vec![i64::MAX - 2, i64::MAX - 1]);
    Ok(())
}

#[test]
fn text_file_on_a_missing_path_names_it() -> TestResult {
    let ctx = Context::local(1)?;
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("no-such-input.txt");
    let missing = missing.to_str().expect("a UTF-8 temp path");
    match ctx.text_file(missing, 2) {
        Err(err) if err.kind() == ErrorKind::NotFound => assert!(err.to_string().contains(missing), "{err}"),
        Err(other) => panic!("expected a storage error, got {other}"),
        Ok(rdd) => panic!("a missing path gave an RDD of {} partitions", rdd.num_partitions()),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Narrow transformations

#[test]
fn map_flat_map_filter_follow_iterators() -> TestResult {
    let ctx = Context::local(3)?;
    let data = numbers(30);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        let mapped = rdd.map(|x| x * 3 + 1);
        assert_eq!(mapped.num_partitions(), parts);
        assert_eq!(mapped.collect()?, data.iter().map(|x| x * 3 + 1).collect::<Vec<_>>());

        let flat = rdd.flat_map(|x| std::iter::repeat_n(x, x.rem_euclid(3) as usize));
        let expected: Vec<i64> = data.iter().flat_map(|&x| std::iter::repeat_n(x, x.rem_euclid(3) as usize)).collect();
        assert_eq!((flat.num_partitions(), flat.collect()?), (parts, expected));

        let even = rdd.filter(|x| x % 2 == 0);
        assert_eq!(even.collect()?, data.iter().copied().filter(|x| x % 2 == 0).collect::<Vec<_>>());

        let chained = rdd.map(|x| x - 1).filter(|x| *x > 0).flat_map(|x| vec![x, -x]).map(|x| x.to_string());
        let expected: Vec<String> =
            data.iter().map(|x| x - 1).filter(|x| *x > 0).flat_map(|x| vec![x, -x]).map(|x| x.to_string()).collect();
        assert_eq!(chained.collect()?, expected);
    }
    Ok(())
}

#[test]
fn map_partitions_sees_each_slice_once() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(25);
    for parts in PARTITIONS {
        let reference = slices(&data, parts);
        let rdd = ctx.parallelize(data.clone(), parts);
        let sums = rdd.map_partitions(|it| std::iter::once(it.sum::<i64>()));
        assert_eq!(sums.num_partitions(), parts);
        assert_eq!(sums.collect()?, reference.iter().map(|s| s.iter().sum::<i64>()).collect::<Vec<_>>());

        let tagged = rdd.map_partitions_with_index(|i, it| it.map(move |x| (i, x)));
        let expected: Vec<(usize, i64)> =
            reference.iter().enumerate().flat_map(|(i, s)| s.iter().map(move |&x| (i, x))).collect();
        assert_eq!(tagged.collect()?, expected);
    }
    Ok(())
}

#[test]
fn key_by_and_glom() -> TestResult {
    let ctx = Context::local(2)?;
    let words: Vec<String> = ["pear", "fig", "apple", "kiwi", "plum", "date"].map(String::from).to_vec();
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(words.clone(), parts);
        let keyed = rdd.key_by(|w| w.len());
        assert_eq!(keyed.collect()?, words.iter().map(|w| (w.len(), w.clone())).collect::<Vec<_>>());
        assert_eq!(keyed.glom().collect()?, slices(&keyed.collect()?, parts));
        assert_eq!(rdd.glom().num_partitions(), parts);
    }
    Ok(())
}

#[test]
fn union_concatenates_partitions() -> TestResult {
    let ctx = Context::local(2)?;
    let (a, b) = (numbers(9), numbers(4));
    for (pa, pb) in [(1, 1), (2, 7), (3, 2)] {
        let left = ctx.parallelize(a.clone(), pa);
        let right = ctx.parallelize(b.clone(), pb).map(|x| x * 100);
        let both = left.union(&right);
        assert_eq!(both.num_partitions(), pa + pb);
        let mut expected = slices(&a, pa);
        expected.extend(slices(&b, pb).into_iter().map(|s| s.into_iter().map(|x| x * 100).collect()));
        assert_eq!(both.glom().collect()?, expected);
        let thrice = both.union(&left);
        assert_eq!(thrice.num_partitions(), 2 * pa + pb);
        assert_eq!(thrice.count()?, (2 * a.len() + b.len()) as u64);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shuffling transformations on plain elements

#[test]
fn distinct_keeps_one_of_each() -> TestResult {
    let ctx = Context::local(3)?;
    let data = numbers(50);
    let expected: Vec<i64> = data.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    for parts in PARTITIONS {
        let distinct = ctx.parallelize(data.clone(), parts).distinct();
        assert_eq!(distinct.num_partitions(), parts, "keeps the parent's partition count");
        assert_eq!(sorted(distinct.collect()?), expected);
        let five = ctx.parallelize(data.clone(), parts).distinct_with_partitions(5);
        assert_eq!(five.num_partitions(), 5);
        assert_eq!(sorted(five.collect()?), expected);
    }
    Ok(())
}

#[test]
fn sort_by_orders_across_partitions() -> TestResult {
    let ctx = Context::local(3)?;
    let words: Vec<String> = (0..40).map(|i| format!("w{}", (i * 7919) % 101)).collect();
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(words.clone(), parts);
        let asc = rdd.sort_by(|w| w.clone(), true);
        assert_eq!(asc.num_partitions(), parts);
        assert_eq!(asc.collect()?, sorted(words.clone()));
        let desc = rdd.sort_by_with_partitions(|w| w.clone(), false, 4);
        assert_eq!(desc.num_partitions(), 4);
        let mut reversed = sorted(words.clone());
        reversed.reverse();
        assert_eq!(desc.collect()?, reversed);

        // Ties: only the key order is specified, and every element must still be there.
        let by_len = rdd.map(|w| w.len()).sort_by(|n| std::cmp::Reverse(*n), true).collect()?;
        let mut lens: Vec<usize> = words.iter().map(String::len).collect();
        lens.sort_by(|a, b| b.cmp(a));
        assert_eq!(by_len, lens);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Actions

#[test]
fn collect_count_reduce_fold_aggregate() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(33);
    let sum: i64 = data.iter().sum();
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        assert_eq!(rdd.collect()?, data);
        assert_eq!(rdd.count()?, data.len() as u64);
        assert_eq!(rdd.reduce(|a, b| a + b)?, sum);
        assert_eq!(rdd.reduce(i64::max)?, *data.iter().max().expect("non-empty"));
        // A non-neutral zero counts once per partition and once more on the driver.
        assert_eq!(rdd.fold(5, |a, b| a + b)?, sum + 5 * (parts as i64 + 1));
        let (total, n) =
            rdd.aggregate((1i64, 0u64), |(s, n), x| (s + x, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2))?;
        assert_eq!((total, n), (sum + parts as i64 + 1, data.len() as u64));
        assert!(!rdd.is_empty()?);
    }
    let empty = ctx.parallelize(Vec::<i64>::new(), 3);
    assert_eq!(empty.fold(5, |a, b| a + b)?, 20, "5 per partition, 3 partitions, plus 5");
    assert_eq!(empty.count()?, 0);
    assert!(empty.collect()?.is_empty());
    assert!(empty.is_empty()?);
    Ok(())
}

#[test]
fn reduce_and_first_on_an_empty_rdd_are_errors() -> TestResult {
    let ctx = Context::local(2)?;
    let empty = ctx.parallelize(numbers(10), 4).filter(|_| false);
    match empty.reduce(|a, b| a + b) {
        Err(err) if err.kind() == ErrorKind::EmptyRdd => {
            let text = err.to_string();
            assert!(text.starts_with("reduce called on an empty RDD") && text.contains("operators.rs"), "{text}");
        }
        other => panic!("expected EmptyRdd, got {other:?}"),
    }
    match empty.first() {
        Err(err) if err.kind() == ErrorKind::EmptyRdd => assert!(err.to_string().contains("first"), "{err}"),
        other => panic!("expected EmptyRdd, got {other:?}"),
    }
    Ok(())
}

#[test]
fn take_and_first_scan_incrementally() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(20);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        for n in [0, 1, 2, 7, 20, 21, 100] {
            assert_eq!(rdd.take(n)?, data[..n.min(data.len())].to_vec(), "take({n}) of {parts} partitions");
        }
        assert_eq!(rdd.first()?, data[0]);
    }

    // One partition is enough for a small take: one task.
    let big = ctx.range(0, 1_000, 1, 8);
    assert_eq!(big.take(3)?, vec![0, 1, 2]);
    let job = ctx.last_job().expect("take ran a job");
    assert_eq!(job.tasks_launched(), 1, "take(3) computed more than the first partition");

    // Only the last partition has elements: take keeps scanning, in more than one job.
    let before = ctx.job_history().len();
    let tail = ctx.range(0, 80, 1, 8).filter(|x| *x >= 70);
    assert_eq!(tail.take(4)?, vec![70, 71, 72, 73]);
    assert_eq!(tail.first()?, 70);
    let jobs = &ctx.job_history()[before..];
    assert!(jobs.len() > 2, "take should scan in growing steps, ran {} jobs", jobs.len());
    let tasks: u32 = jobs.iter().map(|j| j.tasks_launched()).sum();
    assert!(tasks <= 16, "two takes over 8 partitions launched {tasks} tasks");
    Ok(())
}

#[test]
fn top_and_take_ordered() -> TestResult {
    let ctx = Context::local(3)?;
    let data = numbers(40);
    let asc = sorted(data.clone());
    let mut desc = asc.clone();
    desc.reverse();
    // Distinct pairs, so the order by (value, key) is fully determined.
    let unique: Vec<(String, i64)> = pairs(25).into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    let key = |(k, v): &(String, i64)| (*v, k.clone());
    let mut by_key = unique.clone();
    by_key.sort_by_key(key);
    let mut by_key_desc = by_key.clone();
    by_key_desc.reverse();
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        for n in [0, 1, 5, 40, 50] {
            let k = n.min(data.len());
            assert_eq!(rdd.top(n)?, desc[..k].to_vec(), "top({n}) of {parts} partitions");
            assert_eq!(rdd.take_ordered(n)?, asc[..k].to_vec(), "take_ordered({n}) of {parts} partitions");
        }
        let pairs_rdd = ctx.parallelize(unique.clone(), parts);
        for n in [1, 6, 100] {
            let k = n.min(unique.len());
            assert_eq!(pairs_rdd.take_ordered_by(n, key)?, by_key[..k].to_vec());
            assert_eq!(pairs_rdd.top_by(n, key)?, by_key_desc[..k].to_vec());
        }
    }
    Ok(())
}

#[test]
fn foreach_and_foreach_partition_run_on_every_element() -> TestResult {
    let ctx = Context::local(3)?;
    let data = numbers(31);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        let (sum, calls) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, c) = (Arc::clone(&sum), Arc::clone(&calls));
        rdd.foreach(move |x| {
            s.fetch_add((x + 100) as u64, Ordering::Relaxed);
            c.fetch_add(1, Ordering::Relaxed);
        })?;
        let expected: i64 = data.iter().map(|x| x + 100).sum();
        assert_eq!(sum.load(Ordering::Relaxed), expected as u64);
        assert_eq!(calls.load(Ordering::Relaxed), data.len() as u64);

        let (partitions, elements) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (p, e) = (Arc::clone(&partitions), Arc::clone(&elements));
        rdd.foreach_partition(move |it| {
            p.fetch_add(1, Ordering::Relaxed);
            e.fetch_add(it.count(), Ordering::Relaxed);
        })?;
        assert_eq!((partitions.load(Ordering::Relaxed), elements.load(Ordering::Relaxed)), (parts, data.len()));
    }
    Ok(())
}

#[test]
fn count_by_value_counts_each_element() -> TestResult {
    let ctx = Context::local(2)?;
    let data = numbers(60);
    let mut expected: HashMap<i64, u64> = HashMap::new();
    for x in &data {
        *expected.entry(*x).or_default() += 1;
    }
    for parts in PARTITIONS {
        assert_eq!(ctx.parallelize(data.clone(), parts).count_by_value()?, expected);
    }
    Ok(())
}

#[test]
fn save_as_text_file_writes_one_part_per_partition() -> TestResult {
    let ctx = Context::local(2)?;
    let dir = tempfile::tempdir()?;
    let data = numbers(11);
    for parts in PARTITIONS {
        let out = dir.path().join(format!("out-{parts}"));
        let url = out.to_str().expect("a UTF-8 temp path");
        ctx.parallelize(data.clone(), parts).save_as_text_file(url)?;

        let mut names: Vec<String> = std::fs::read_dir(&out)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        let mut expected: Vec<String> = (0..parts).map(|p| format!("part-{p:05}")).collect();
        expected.push("_SUCCESS".to_owned());
        expected.sort();
        assert_eq!(names, expected, "only the parts and the marker; no _temporary left");
        assert!(std::fs::read(out.join("_SUCCESS"))?.is_empty());
        for (p, slice) in slices(&data, parts).iter().enumerate() {
            let content = std::fs::read_to_string(out.join(format!("part-{p:05}")))?;
            let expected: String = slice.iter().map(|x| format!("{x}\n")).collect();
            assert_eq!(content, expected, "part {p} of {parts}");
        }

        // Reading the directory back skips the marker and gives the elements in order.
        let lines = ctx.text_file(url, 1)?.collect()?;
        assert_eq!(lines, data.iter().map(i64::to_string).collect::<Vec<_>>());

        match ctx.parallelize(vec![1], 1).save_as_text_file(url) {
            Err(err) if err.kind() == ErrorKind::AlreadyExists => assert!(err.to_string().contains(url), "{err}"),
            other => panic!("writing over an existing output: {other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(out.join("part-00000"))?,
            slices(&data, parts)[0].iter().map(|x| format!("{x}\n")).collect::<String>(),
            "the existing output is untouched"
        );
    }
    Ok(())
}

#[test]
fn lineage_shows_stages_and_call_sites() -> TestResult {
    let ctx = Context::local(2)?;
    let lines = ctx.parallelize(vec!["a b".to_owned(), "b c".to_owned()], 2);
    let words = lines.flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>());
    let (counts, reduce_line) = (words.map(|w| (w, 1u64)).reduce_by_key(|a, b| a + b), line!());
    let flipped = counts.map(|(w, n)| (n, w));
    let (sorted, sort_line) = (flipped.sort_by_key_with_partitions(false, 3), line!());

    let text = sorted.lineage();
    // (indent, partitions, operation, partitioner) per line, ids and call sites aside.
    let shape: Vec<(String, String, String)> = text
        .lines()
        .map(|line| {
            let open = line.find('(').expect("every line has a partition count");
            let (indent, rest) = line.split_at(open);
            let op = rest[..rest.find('[').expect("an id")].to_owned();
            let partitioner = rest.rfind(" [").map(|i| rest[i + 1..].to_owned()).unwrap_or_default();
            (indent.to_owned(), op, partitioner)
        })
        .collect();
    let expect = |indent: &str, op: &str, partitioner: &str| (indent.to_owned(), op.to_owned(), partitioner.to_owned());
    assert_eq!(
        shape,
        vec![
            expect("", "(3) sort_by_key", "[range(3)]"),
            expect(" +-", "(2) map", ""),
            expect("    |  ", "(2) reduce_by_key", "[hash(2)]"),
            expect("    +-", "(2) map", ""),
            expect("       |  ", "(2) flat_map", ""),
            expect("       |  ", "(2) parallelize", ""),
        ],
        "{text}"
    );
    let here = file!();
    assert!(text.lines().all(|l| l.contains(&format!(" at {here}:"))), "every call site is in this file:\n{text}");
    assert!(text.lines().next().expect("a line").contains(&format!("{here}:{sort_line}")), "{text}");
    assert!(text.lines().nth(2).expect("a line").contains(&format!("{here}:{reduce_line}")), "{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pair operations

#[test]
fn narrow_pair_operations() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(20);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        assert_eq!(
            rdd.map_values(|v| v * 2).collect()?,
            data.iter().map(|(k, v)| (k.clone(), v * 2)).collect::<Vec<_>>()
        );
        let spread = rdd.flat_map_values(|v| 0..v.rem_euclid(3));
        let expected: Vec<(String, i64)> =
            data.iter().flat_map(|(k, v)| (0..v.rem_euclid(3)).map(move |u| (k.clone(), u))).collect();
        assert_eq!(spread.collect()?, expected);
        assert_eq!(rdd.keys().collect()?, data.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
        assert_eq!(rdd.values().collect()?, data.iter().map(|(_, v)| *v).collect::<Vec<_>>());
        assert_eq!(rdd.collect_as_map()?, data.iter().cloned().collect::<HashMap<_, _>>(), "later pairs win");
    }
    Ok(())
}

#[test]
fn aggregations_by_key() -> TestResult {
    let ctx = Context::local(3)?;
    let data = pairs(50);
    let groups = grouped(&data);
    let sums: BTreeMap<String, i64> = groups.iter().map(|(k, vs)| (k.clone(), vs.iter().sum())).collect();
    let counts: HashMap<String, u64> = groups.iter().map(|(k, vs)| (k.clone(), vs.len() as u64)).collect();
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        let holding = partitions_holding(&data, parts);
        let as_map = |v: Vec<(String, i64)>| v.into_iter().collect::<BTreeMap<_, _>>();

        let reduced = rdd.reduce_by_key(|a, b| a + b);
        assert_eq!(reduced.num_partitions(), parts);
        let reduced = reduced.collect()?;
        assert_eq!(reduced.len(), sums.len(), "one record per key");
        assert_eq!(as_map(reduced), sums);

        // fold_by_key's zero counts once per key and input partition holding it.
        let folded = as_map(rdd.fold_by_key(100, |a, b| a + b).collect()?);
        let expected: BTreeMap<String, i64> = sums.iter().map(|(k, s)| (k.clone(), s + 100 * holding[k])).collect();
        assert_eq!(folded, expected);

        let aggregated: BTreeMap<String, (i64, usize)> = rdd
            .aggregate_by_key((1i64, 0usize), |(s, n), v| (s + v, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2))
            .collect()?
            .into_iter()
            .collect();
        let expected: BTreeMap<String, (i64, usize)> =
            groups.iter().map(|(k, vs)| (k.clone(), (vs.iter().sum::<i64>() + holding[k], vs.len()))).collect();
        assert_eq!(aggregated, expected);

        let combined: BTreeMap<String, Vec<i64>> = rdd
            .combine_by_key(
                |v| vec![v],
                |mut c, v| {
                    c.push(v);
                    c
                },
                |mut a, b| {
                    a.extend(b);
                    a
                },
            )
            .map_values(sorted)
            .collect()?
            .into_iter()
            .collect();
        assert_eq!(combined, groups);

        let group = rdd.group_by_key();
        assert_eq!(group.num_partitions(), parts);
        let group: BTreeMap<String, Vec<i64>> = group.map_values(sorted).collect()?.into_iter().collect();
        assert_eq!(group, groups);

        assert_eq!(rdd.count_by_key()?, counts);
    }
    Ok(())
}

#[test]
fn with_partitions_variants_give_the_requested_count() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(40);
    let other: Vec<(String, char)> = (0..12).map(|i| (format!("k{}", i % 11), char::from(b'a' + i as u8))).collect();
    let groups = grouped(&data);
    let sums: BTreeMap<String, i64> = groups.iter().map(|(k, vs)| (k.clone(), vs.iter().sum())).collect();
    let rdd = ctx.parallelize(data.clone(), 3);
    let right = ctx.parallelize(other.clone(), 2);
    for n in [1, 4, 6] {
        let holding = partitions_holding(&data, 3);
        let r = rdd.reduce_by_key_with_partitions(|a, b| a + b, n);
        assert_eq!(r.num_partitions(), n);
        assert_eq!(r.collect()?.into_iter().collect::<BTreeMap<_, _>>(), sums);

        let f = rdd.fold_by_key_with_partitions(1, |a, b| a + b, n);
        assert_eq!(f.num_partitions(), n);
        let expected: BTreeMap<String, i64> = sums.iter().map(|(k, s)| (k.clone(), s + holding[k])).collect();
        assert_eq!(f.collect()?.into_iter().collect::<BTreeMap<_, _>>(), expected);

        let c = rdd.combine_by_key_with_partitions(
            |v| (v, 1),
            |(s, c), v| (s + v, c + 1),
            |(a, b), (x, y)| (a + x, b + y),
            n,
        );
        assert_eq!(c.num_partitions(), n);
        let expected: BTreeMap<String, (i64, i32)> =
            groups.iter().map(|(k, vs)| (k.clone(), (vs.iter().sum(), vs.len() as i32))).collect();
        assert_eq!(c.collect()?.into_iter().collect::<BTreeMap<_, _>>(), expected);

        let g = rdd.group_by_key_with_partitions(n);
        assert_eq!(g.num_partitions(), n);
        assert_eq!(g.map_values(sorted).collect()?.into_iter().collect::<BTreeMap<_, _>>(), groups);

        let j = rdd.join_with_partitions(&right, n);
        assert_eq!(j.num_partitions(), n);
        assert_eq!(sorted(j.collect()?), join_reference(&data, &other));

        let cg = rdd.cogroup_with_partitions(&right, n);
        assert_eq!(cg.num_partitions(), n);
        assert_eq!(cogroup_output(cg)?, cogroup_reference(&data, &other));

        let s = rdd.sort_by_key_with_partitions(true, n);
        assert_eq!(s.num_partitions(), n);
        assert_eq!(s.keys().collect()?, sorted(data.iter().map(|(k, _)| k.clone()).collect()));
    }
    Ok(())
}

/// Places keys by their last digit modulo the partition count.
struct LastDigit(usize);

impl Partitioner<String> for LastDigit {
    fn num_partitions(&self) -> usize {
        self.0
    }

    fn partition(&self, key: &String) -> usize {
        key.bytes().last().map_or(0, |b| (b - b'0') as usize % self.0)
    }
}

#[test]
fn partition_by_places_every_key_where_the_partitioner_says() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(45);
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        for n in [1, 3, 5] {
            let hash = HashPartitioner::new(n);
            let placed = rdd.partition_by(hash).glom().collect()?;
            assert_eq!(placed.len(), n);
            for (p, part) in placed.iter().enumerate() {
                assert!(part.iter().all(|(k, _)| Partitioner::<String>::partition(&hash, k) == p), "{part:?} in {p}");
            }
            assert_eq!(sorted(placed.concat()), sorted(data.clone()));

            let custom = rdd.partition_by(LastDigit(n)).glom().collect()?;
            let mut expected: Vec<Vec<(String, i64)>> = vec![Vec::new(); n];
            for (k, v) in &data {
                expected[LastDigit(n).partition(k)].push((k.clone(), *v));
            }
            let custom: Vec<Vec<(String, i64)>> = custom.into_iter().map(sorted).collect();
            assert_eq!(custom, expected.into_iter().map(sorted).collect::<Vec<_>>());
        }
    }
    Ok(())
}

#[test]
fn sort_by_key_is_globally_ordered() -> TestResult {
    let ctx = Context::local(3)?;
    let data: Vec<(i64, String)> =
        numbers(60).into_iter().enumerate().map(|(i, x)| (x * 7 % 41, format!("v{i}"))).collect();
    for parts in PARTITIONS {
        let rdd = ctx.parallelize(data.clone(), parts);
        for ascending in [true, false] {
            let sorted_rdd = rdd.sort_by_key(ascending);
            assert_eq!(sorted_rdd.num_partitions(), parts, "keeps the parent's partition count");
            let glommed = sorted_rdd.glom().collect()?;
            let keys: Vec<i64> = glommed.iter().flatten().map(|(k, _)| *k).collect();
            let mut expected: Vec<i64> = data.iter().map(|(k, _)| *k).collect();
            expected.sort();
            if !ascending {
                expected.reverse();
            }
            assert_eq!(keys, expected, "ascending: {ascending}, {parts} partitions");
            assert_eq!(sorted(glommed.concat()), sorted(data.clone()), "the same pairs");
            if parts > 1 {
                let non_empty = glommed.iter().filter(|p| !p.is_empty()).count();
                assert!(non_empty > 1, "a range partitioner should spread 60 keys over {parts} partitions");
            }
        }
    }
    Ok(())
}

fn join_reference<V: Clone + Ord, W: Clone + Ord>(
    left: &[(String, V)],
    right: &[(String, W)],
) -> Vec<(String, (V, W))> {
    let mut out = Vec::new();
    for (k, v) in left {
        for (k2, w) in right {
            if k == k2 {
                out.push((k.clone(), (v.clone(), w.clone())));
            }
        }
    }
    sorted(out)
}

/// Per key, the values from each side of a co-group.
type Groups<V, W> = BTreeMap<String, (Vec<V>, Vec<W>)>;

/// A co-grouped RDD, as `cogroup` returns it.
type CoGrouped<V, W> = Rdd<(String, (Vec<V>, Vec<W>))>;

fn cogroup_reference<V: Clone + Ord, W: Clone + Ord>(left: &[(String, V)], right: &[(String, W)]) -> Groups<V, W> {
    let mut groups: Groups<V, W> = BTreeMap::new();
    for (k, v) in left {
        groups.entry(k.clone()).or_default().0.push(v.clone());
    }
    for (k, w) in right {
        groups.entry(k.clone()).or_default().1.push(w.clone());
    }
    groups.values_mut().for_each(|(vs, ws)| {
        vs.sort();
        ws.sort();
    });
    groups
}

/// The groups of a co-grouped RDD with sorted values, checking that each key appears once.
fn cogroup_output<V: Data + Ord, W: Data + Ord>(rdd: CoGrouped<V, W>) -> ember::Result<Groups<V, W>> {
    let collected = rdd.collect()?;
    let keys = collected.len();
    let groups: Groups<V, W> = collected.into_iter().map(|(k, (vs, ws))| (k, (sorted(vs), sorted(ws)))).collect();
    assert_eq!(groups.len(), keys, "each key appears once");
    Ok(groups)
}

#[test]
fn join_and_cogroup_match_nested_loops() -> TestResult {
    let ctx = Context::local(3)?;
    let left = pairs(30);
    let right: Vec<(String, char)> =
        (0..14).map(|i| (format!("k{}", (i * 5) % 12), char::from(b'a' + i as u8))).collect();
    for (pl, pr) in [(1, 1), (2, 3), (7, 2)] {
        let (l, r) = (ctx.parallelize(left.clone(), pl), ctx.parallelize(right.clone(), pr));
        let joined = l.join(&r);
        assert_eq!(joined.num_partitions(), pl.max(pr), "the larger input's count");
        assert_eq!(sorted(joined.collect()?), join_reference(&left, &right));
        let cogrouped = l.cogroup(&r);
        assert_eq!(cogrouped.num_partitions(), pl.max(pr));
        assert_eq!(cogroup_output(cogrouped)?, cogroup_reference(&left, &right));
        // Joining a reduced RDD (hash partitioned) with a plain one.
        let reduced = l.reduce_by_key(|a, b| a.max(b));
        let maxima: Vec<(String, i64)> =
            grouped(&left).into_iter().map(|(k, vs)| (k, *vs.last().expect("non-empty group"))).collect();
        assert_eq!(sorted(reduced.join(&r).collect()?), join_reference(&maxima, &right));
    }
    Ok(())
}

#[test]
fn an_rdd_with_no_partitions_works_everywhere() -> TestResult {
    // An empty input directory has no splits, so no partitions and no map tasks.
    let ctx = Context::local(2)?;
    let dir = tempfile::tempdir()?;
    let empty = ctx.text_file(dir.path().to_str().expect("a UTF-8 temp path"), 3)?;
    assert_eq!(empty.num_partitions(), 0);
    assert_eq!(empty.count()?, 0);
    assert!(empty.is_empty()?);
    assert!(empty.take(3)?.is_empty());
    assert_eq!(empty.fold("z".to_owned(), |a, b| a + &b)?, "z", "no partition, so the zero counts once");
    let both = empty.union(&ctx.parallelize(vec!["x".to_owned()], 2)).union(&empty);
    assert_eq!((both.num_partitions(), both.collect()?), (2, vec!["x".to_owned()]));

    // Shuffles with no map task: the reducers must still find the (empty) shuffle.
    let counted = empty.map(|l| (l, 1)).reduce_by_key(|a, b| a + b);
    assert_eq!(counted.num_partitions(), 1);
    assert!(counted.collect()?.is_empty());
    assert!(empty.map(|l| (l, 1)).sort_by_key(true).collect()?.is_empty());
    assert!(empty.distinct().collect()?.is_empty());
    assert!(empty.map(|l| (l, 1)).join(&ctx.parallelize(vec![("x".to_owned(), 2)], 2)).collect()?.is_empty());

    let out = dir.path().join("out");
    empty.save_as_text_file(out.to_str().expect("a UTF-8 temp path"))?;
    let names: Vec<String> = std::fs::read_dir(&out)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, vec!["_SUCCESS".to_owned()]);
    Ok(())
}

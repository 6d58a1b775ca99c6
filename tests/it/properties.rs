//! Random inputs, partition counts and thread counts: results equal a sequential reference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ember::prelude::*;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 64, ..ProptestConfig::default() }
}

/// Small keys so groups are large and every partition sees repeats.
fn pairs() -> impl Strategy<Value = Vec<(u8, i32)>> {
    proptest::collection::vec((0u8..12, any::<i32>()), 0..80)
}

fn context(threads: usize) -> Context {
    Context::local(threads).expect("a local context starts")
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn aggregations_match_a_sequential_reference(data in pairs(), parts in 1usize..8, threads in 1usize..4) {
        let ctx = context(threads);
        let rdd = ctx.parallelize(data.clone(), parts);

        let mut sums: BTreeMap<u8, i32> = BTreeMap::new();
        let mut groups: BTreeMap<u8, Vec<i32>> = BTreeMap::new();
        let mut counts: HashMap<(u8, i32), u64> = HashMap::new();
        for &(k, v) in &data {
            let sum = sums.entry(k).or_insert(0);
            *sum = sum.wrapping_add(v);
            groups.entry(k).or_default().push(v);
            *counts.entry((k, v)).or_default() += 1;
        }
        groups.values_mut().for_each(|vs| vs.sort());
        let distinct: Vec<(u8, i32)> = data.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();

        let reduced = rdd.reduce_by_key(i32::wrapping_add).collect().expect("reduce_by_key");
        prop_assert_eq!(reduced.len(), sums.len(), "one record per key");
        prop_assert_eq!(reduced.into_iter().collect::<BTreeMap<_, _>>(), sums);

        let grouped = rdd.group_by_key().map_values(sorted).collect().expect("group_by_key");
        prop_assert_eq!(grouped.len(), groups.len());
        prop_assert_eq!(grouped.into_iter().collect::<BTreeMap<_, _>>(), groups);

        prop_assert_eq!(sorted(rdd.distinct().collect().expect("distinct")), distinct);
        prop_assert_eq!(rdd.count_by_value().expect("count_by_value"), counts);
    }

    #[test]
    fn sort_by_key_is_a_globally_ordered_permutation(
        data in pairs(),
        parts in 1usize..8,
        out_parts in 1usize..8,
        threads in 1usize..4,
        ascending in any::<bool>(),
    ) {
        let ctx = context(threads);
        let rdd = ctx.parallelize(data.clone(), parts);
        let by_default = rdd.sort_by_key(ascending);
        prop_assert_eq!(by_default.num_partitions(), parts);
        let glommed = rdd.sort_by_key_with_partitions(ascending, out_parts).glom().collect().expect("sort_by_key");
        prop_assert_eq!(glommed.len(), out_parts);

        let flat: Vec<(u8, i32)> = glommed.concat();
        let keys: Vec<u8> = flat.iter().map(|(k, _)| *k).collect();
        let mut expected_keys: Vec<u8> = data.iter().map(|(k, _)| *k).collect();
        expected_keys.sort();
        if !ascending {
            expected_keys.reverse();
        }
        prop_assert_eq!(keys, expected_keys, "globally ordered across partitions");
        prop_assert_eq!(sorted(flat), sorted(data.clone()), "the same pairs");
        prop_assert_eq!(
            by_default.keys().collect().expect("sort_by_key").len(),
            data.len()
        );
    }

    #[test]
    fn join_matches_a_nested_loop(
        left in pairs(),
        right in proptest::collection::vec((0u8..12, "[a-c]{0,2}"), 0..30),
        left_parts in 1usize..8,
        right_parts in 1usize..8,
        threads in 1usize..4,
    ) {
        let ctx = context(threads);
        let joined = ctx.parallelize(left.clone(), left_parts).join(&ctx.parallelize(right.clone(), right_parts));
        prop_assert_eq!(joined.num_partitions(), left_parts.max(right_parts));
        let mut expected = Vec::new();
        for (k, v) in &left {
            for (k2, w) in &right {
                if k == k2 {
                    expected.push((*k, (*v, w.clone())));
                }
            }
        }
        prop_assert_eq!(sorted(joined.collect().expect("join")), sorted(expected));
    }

    #[test]
    fn word_count_matches_a_hash_map(
        lines in proptest::collection::vec(proptest::collection::vec((0usize..15, 1usize..3), 0..12), 0..25),
        parts in 1usize..8,
        threads in 1usize..4,
    ) {
        const WORDS: [&str; 15] = [
            "the", "cat", "sat", "on", "a", "mat", "and", "then", "ran", "off", "to", "see", "it", "é", "字",
        ];
        // Words separated by one or two spaces (the second element of each pair).
        let text: Vec<String> = lines
            .iter()
            .map(|line| line.iter().map(|&(w, gap)| format!("{}{}", WORDS[w], " ".repeat(gap))).collect())
            .collect();
        let mut expected: HashMap<String, u64> = HashMap::new();
        for line in &text {
            for word in line.split_whitespace() {
                *expected.entry(word.to_owned()).or_default() += 1;
            }
        }
        let ctx = context(threads);
        let counts = ctx
            .parallelize(text, parts)
            .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .map(|word| (word, 1u64))
            .reduce_by_key(|a, b| a + b)
            .collect_as_map()
            .expect("word count");
        prop_assert_eq!(counts, expected);
    }

    #[test]
    fn text_file_gives_exactly_the_lines(
        lines in proptest::collection::vec(("[a-z é字]{0,12}", any::<bool>()), 0..30),
        trailing_newline in any::<bool>(),
        min_partitions in 1usize..8,
        threads in 1usize..4,
    ) {
        // Each line ends with "\n" or "\r\n" (the bool), except maybe the last.
        let mut content = String::new();
        for (i, (line, crlf)) in lines.iter().enumerate() {
            content.push_str(line);
            if i + 1 < lines.len() || trailing_newline {
                content.push_str(if *crlf { "\r\n" } else { "\n" });
            }
        }
        let mut expected: Vec<String> = lines.iter().map(|(line, _)| line.clone()).collect();
        if !trailing_newline && expected.last().is_some_and(String::is_empty) {
            expected.pop(); // an empty last line without a terminator is no line at all
        }

        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("input.txt");
        std::fs::write(&path, &content).expect("write the input");
        let ctx = context(threads);
        let rdd = ctx.text_file(path.to_str().expect("a UTF-8 temp path"), min_partitions).expect("text_file");
        if !content.is_empty() {
            prop_assert!(rdd.num_partitions() >= min_partitions.min(content.len()), "{} splits", rdd.num_partitions());
        }
        prop_assert_eq!(rdd.collect().expect("collect"), expected);
    }
}

fn small_config() -> ProptestConfig {
    ProptestConfig { cases: 32, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(small_config())]

    #[test]
    fn repartition_and_coalesce_preserve_the_multiset(
        data in proptest::collection::vec(-50i64..50, 0..120),
        parts in 1usize..8,
        n in 1usize..10,
        threads in 1usize..4,
    ) {
        let ctx = context(threads);
        let rdd = ctx.parallelize(data.clone(), parts);
        let repartitioned = rdd.repartition(n);
        prop_assert_eq!(repartitioned.num_partitions(), n);
        prop_assert_eq!(sorted(repartitioned.collect().expect("repartition")), sorted(data.clone()));
        let coalesced = rdd.coalesce(n);
        prop_assert_eq!(coalesced.num_partitions(), n.min(parts));
        prop_assert_eq!(coalesced.collect().expect("coalesce"), data, "coalesce keeps the order");
    }

    #[test]
    fn outer_joins_match_a_nested_loop(
        left in pairs(),
        right in proptest::collection::vec((0u8..16, "[a-c]{0,2}"), 0..30),
        left_parts in 1usize..6,
        right_parts in 1usize..6,
        threads in 1usize..4,
    ) {
        let ctx = context(threads);
        let (a, b) = (ctx.parallelize(left.clone(), left_parts), ctx.parallelize(right.clone(), right_parts));
        let mut expected = Vec::new();
        for (k, v) in &left {
            let ws: Vec<&String> = right.iter().filter(|(k2, _)| k2 == k).map(|(_, w)| w).collect();
            if ws.is_empty() {
                expected.push((*k, (Some(*v), None)));
            }
            expected.extend(ws.into_iter().map(|w| (*k, (Some(*v), Some(w.clone())))));
        }
        for (k, w) in &right {
            if !left.iter().any(|(k1, _)| k1 == k) {
                expected.push((*k, (None, Some(w.clone()))));
            }
        }
        let expected = sorted(expected);
        prop_assert_eq!(sorted(a.full_outer_join(&b).collect().expect("full_outer_join")), expected.clone());
        let left_expected: Vec<_> = expected.iter().filter(|(_, (v, _))| v.is_some()).cloned().collect();
        let left_got: Vec<_> = a.left_outer_join(&b).collect().expect("left_outer_join")
            .into_iter().map(|(k, (v, w))| (k, (Some(v), w))).collect();
        prop_assert_eq!(sorted(left_got), left_expected);
        let right_expected: Vec<_> = expected.iter().filter(|(_, (_, w))| w.is_some()).cloned().collect();
        let right_got: Vec<_> = a.right_outer_join(&b).collect().expect("right_outer_join")
            .into_iter().map(|(k, (v, w))| (k, (v, Some(w)))).collect();
        prop_assert_eq!(sorted(right_got), right_expected);
    }

    #[test]
    fn results_do_not_depend_on_partitions_or_threads(
        data in proptest::collection::vec(-20i64..20, 0..80),
        other in proptest::collection::vec(-20i64..20, 0..30),
        parts in 1usize..8,
        threads in 1usize..4,
    ) {
        let run = |parts: usize, threads: usize| {
            let ctx = context(threads);
            let (a, b) = (ctx.parallelize(data.clone(), parts), ctx.parallelize(other.clone(), 2));
            (
                sorted(a.distinct().collect().expect("distinct")),
                sorted(a.subtract(&b).collect().expect("subtract")),
                sorted(a.intersection(&b).collect().expect("intersection")),
                a.zip_with_index().collect().expect("zip_with_index"),
                a.sort_by(|x| *x, true).collect().expect("sort_by"),
                sorted(a.cartesian(&b).collect().expect("cartesian")),
                a.fold(0, |x, y| x + y).expect("fold"),
                a.sample(false, 0.5, 11).count().expect("sample") <= data.len() as u64,
            )
        };
        prop_assert_eq!(run(parts, threads), run(1, 1));
    }
}

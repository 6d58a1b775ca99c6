//! [`PartitionStream`]: a partition's records, one at a time or many per call.
//!
//! A task pulls a partition through a chain of boxed layers (one per narrow operation), so
//! pulling record by record costs a virtual call per layer per record, and each record is
//! moved out of one layer's return value into the next. [`PartitionStream::next_batch`]
//! crosses each boxed layer once per batch instead: `map`, `flat_map` and `filter` fill their
//! batch from their parent's batch in a loop the compiler sees whole, and the map-side
//! combine reads its input in batches.

/// Records hand-out of one partition: what every lineage node's `compute` returns, boxed
/// ([`super::PartitionIter`]). Every iterator is one (records one at a time); the narrow
/// operations' layers also hand out batches.
pub trait PartitionStream<T> {
    /// The next record, or `None` at the end.
    fn next_record(&mut self) -> Option<T>;

    /// Bounds on the records left, as [`Iterator::size_hint`] (which a boxed stream forwards
    /// to this, so that collecting a partition still sizes its vector once).
    fn records_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }

    /// Appends up to `max` records to `out`. Appends none only at the end of the partition.
    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) {
        for _ in 0..max {
            match self.next_record() {
                Some(x) => out.push(x),
                None => return,
            }
        }
    }
}

impl<I: Iterator> PartitionStream<I::Item> for I {
    #[inline]
    fn next_record(&mut self) -> Option<I::Item> {
        Iterator::next(self)
    }

    fn records_hint(&self) -> (usize, Option<usize>) {
        Iterator::size_hint(self)
    }
}

/// A boxed stream is an ordinary iterator to whoever reads it record by record.
impl<T> Iterator for Box<dyn PartitionStream<T>> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        (**self).next_record()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (**self).records_hint()
    }
}

/// Appends up to `max` of `stream`'s records to `out` through the stream's own batch method
/// (a plain `stream.next_batch` on the box would resolve to the record-by-record default the
/// box gets as an iterator).
#[inline]
pub(crate) fn fill<T>(stream: &mut Box<dyn PartitionStream<T>>, out: &mut Vec<T>, max: usize) {
    (**stream).next_batch(out, max);
}

/// Records asked of a parent per batch.
pub(crate) const BATCH: usize = 64;

/// `map`: `f` of each parent record.
pub(crate) struct MapStream<T, F> {
    parent: Box<dyn PartitionStream<T>>,
    f: F,
    scratch: Vec<T>,
}

impl<T, F> MapStream<T, F> {
    pub(crate) fn new(parent: Box<dyn PartitionStream<T>>, f: F) -> Self {
        MapStream { parent, f, scratch: Vec::new() }
    }
}

impl<T, U, F: Fn(T) -> U> PartitionStream<U> for MapStream<T, F> {
    #[inline]
    fn next_record(&mut self) -> Option<U> {
        self.parent.as_mut().next_record().map(&self.f)
    }

    fn records_hint(&self) -> (usize, Option<usize>) {
        self.parent.as_ref().records_hint()
    }

    fn next_batch(&mut self, out: &mut Vec<U>, max: usize) {
        fill(&mut self.parent, &mut self.scratch, max);
        out.extend(self.scratch.drain(..).map(&self.f));
    }
}

/// `filter`: the parent records `predicate` keeps.
pub(crate) struct FilterStream<T, P> {
    parent: Box<dyn PartitionStream<T>>,
    predicate: P,
    scratch: Vec<T>,
}

impl<T, P> FilterStream<T, P> {
    pub(crate) fn new(parent: Box<dyn PartitionStream<T>>, predicate: P) -> Self {
        FilterStream { parent, predicate, scratch: Vec::new() }
    }
}

impl<T, P: Fn(&T) -> bool> PartitionStream<T> for FilterStream<T, P> {
    fn next_record(&mut self) -> Option<T> {
        while let Some(x) = self.parent.as_mut().next_record() {
            if (self.predicate)(&x) {
                return Some(x);
            }
        }
        None
    }

    fn records_hint(&self) -> (usize, Option<usize>) {
        (0, self.parent.as_ref().records_hint().1)
    }

    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) {
        let start = out.len();
        // Until something is kept or the parent ends, so that an empty batch means the end.
        while out.len() == start {
            fill(&mut self.parent, &mut self.scratch, max);
            if self.scratch.is_empty() {
                return;
            }
            out.extend(self.scratch.drain(..).filter(|x| (self.predicate)(x)));
        }
    }
}

/// `flat_map`: the records of `f` of each parent record, in order.
pub(crate) struct FlatMapStream<T, I: IntoIterator, F> {
    parent: Box<dyn PartitionStream<T>>,
    f: F,
    /// What is left of the last parent record's records.
    current: Option<I::IntoIter>,
    /// Parent records not expanded yet, last first.
    pending: Vec<T>,
}

impl<T, I: IntoIterator, F> FlatMapStream<T, I, F> {
    pub(crate) fn new(parent: Box<dyn PartitionStream<T>>, f: F) -> Self {
        FlatMapStream { parent, f, current: None, pending: Vec::new() }
    }
}

impl<T, I: IntoIterator, F: Fn(T) -> I> FlatMapStream<T, I, F> {
    /// The next parent record, from the pending batch or the parent itself.
    fn next_input(&mut self, batched: bool) -> Option<T> {
        if self.pending.is_empty() && batched {
            fill(&mut self.parent, &mut self.pending, BATCH);
            self.pending.reverse();
        }
        match self.pending.pop() {
            Some(x) => Some(x),
            None => self.parent.as_mut().next_record(),
        }
    }
}

impl<T, I: IntoIterator, F: Fn(T) -> I> PartitionStream<I::Item> for FlatMapStream<T, I, F> {
    fn next_record(&mut self) -> Option<I::Item> {
        loop {
            if let Some(x) = self.current.as_mut().and_then(Iterator::next) {
                return Some(x);
            }
            let input = self.next_input(false)?;
            self.current = Some((self.f)(input).into_iter());
        }
    }

    fn next_batch(&mut self, out: &mut Vec<I::Item>, max: usize) {
        let goal = out.len() + max;
        loop {
            if let Some(current) = self.current.as_mut() {
                out.extend(current.by_ref().take(goal - out.len()));
                if out.len() >= goal {
                    return;
                }
            }
            let Some(input) = self.next_input(true) else {
                self.current = None;
                return;
            };
            self.current = Some((self.f)(input).into_iter());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed<T: 'static>(v: Vec<T>) -> Box<dyn PartitionStream<T>> {
        Box::new(v.into_iter())
    }

    /// Everything a stream hands out, in batches of `max`, checking that only the last is empty.
    fn batches<T>(mut stream: Box<dyn PartitionStream<T>>, max: usize) -> Vec<T> {
        let mut all = Vec::new();
        loop {
            let before = all.len();
            fill(&mut stream, &mut all, max);
            assert!(all.len() - before <= max, "at most max per batch");
            if all.len() == before {
                assert!(stream.as_mut().next_record().is_none(), "an empty batch is the end");
                return all;
            }
        }
    }

    #[test]
    fn batches_and_single_records_agree_for_every_layer() {
        let input: Vec<u32> = (0..1000).collect();
        let expand = |x: u32| 0..(x % 5);
        let expected: Vec<u32> = input.iter().flat_map(|&x| expand(x)).filter(|y| y % 3 != 1).map(|y| y * 10).collect();
        let build = || -> Box<dyn PartitionStream<u32>> {
            let flat = Box::new(FlatMapStream::new(boxed(input.clone()), expand));
            let kept = Box::new(FilterStream::new(flat, |y: &u32| y % 3 != 1));
            Box::new(MapStream::new(kept, |y: u32| y * 10))
        };
        for max in [1, 2, 7, 64, 5000] {
            assert_eq!(batches(build(), max), expected, "batches of {max}");
        }
        assert_eq!(build().collect::<Vec<_>>(), expected, "one at a time");
        let mapped: Box<dyn PartitionStream<u32>> = Box::new(MapStream::new(boxed(input.clone()), |x: u32| x + 1));
        assert_eq!(mapped.size_hint(), (1000, Some(1000)), "a map keeps its parent's size");
        // Mixed: one record, then a batch, then one at a time.
        let mut mixed = build();
        let mut got = vec![mixed.next().unwrap()];
        fill(&mut mixed, &mut got, 10);
        got.extend(mixed);
        assert_eq!(got, expected);
    }

    #[test]
    fn a_filter_that_keeps_nothing_for_a_while_does_not_end_early() {
        let input: Vec<u32> = (0..500).collect();
        let stream = Box::new(FilterStream::new(boxed(input), |x: &u32| *x >= 400));
        assert_eq!(batches(stream, 8), (400..500).collect::<Vec<_>>());
    }
}

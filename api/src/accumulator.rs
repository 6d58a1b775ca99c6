//! [`Accumulator`]: values tasks add to and only the driver reads, applied exactly once per
//! partition of an action; built-in sums, max/min and collections, and user-defined ones
//! through [`AccumulatorParam`].

use std::any::Any;
use std::collections::HashSet;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use ember_engine::TaskContext;
use ember_engine::accumulator::{AccumulatorSink, Registration};
use ember_engine::ids::AccumulatorId;

use ember_storage::codec;

use crate::context::Context;
use crate::data::Data;

/// How an accumulator combines values (Spark's `AccumulatorV2`): a zero, how a task adds one
/// input, and how two partial values merge. `merge` must be associative and commutative,
/// since partitions finish in any order.
///
/// # Examples
/// A user-defined accumulator keeping the longest string seen:
/// ```
/// use ember::prelude::*;
/// use ember::accumulator::AccumulatorParam;
/// struct Longest;
/// impl AccumulatorParam for Longest {
///     type In = String;
///     type Out = String;
///     fn zero(&self) -> String { String::new() }
///     fn add(&self, acc: &mut String, x: String) { if x.len() > acc.len() { *acc = x } }
///     fn merge(&self, acc: &mut String, other: String) { self.add(acc, other) }
/// }
/// let ctx = Context::local(2)?;
/// let longest = ctx.accumulator(Longest);
/// let acc = longest.clone();
/// ctx.parallelize(vec!["a".to_string(), "abc".into(), "ab".into()], 3).foreach(move |s| acc.add(s))?;
/// assert_eq!(longest.value(), "abc");
/// # Ok::<(), ember::Error>(())
/// ```
pub trait AccumulatorParam: Send + Sync + 'static {
    /// What tasks add.
    type In;
    /// The accumulated value. A task's partial value travels to the driver encoded, as every
    /// value crossing the executor seam does, so it is [`Data`].
    type Out: Data;
    /// The identity of `merge`.
    fn zero(&self) -> Self::Out;
    /// Adds one input to a partial value.
    fn add(&self, acc: &mut Self::Out, x: Self::In);
    /// Merges another partial value into `acc`.
    fn merge(&self, acc: &mut Self::Out, other: Self::Out);
}

/// A sum of integers or floats: `ctx.accumulator(Sum::<u64>::new())`.
pub struct Sum<T>(PhantomData<fn() -> T>);
/// The largest value added (`None` until one is).
pub struct Max<T>(PhantomData<fn() -> T>);
/// The smallest value added (`None` until one is).
pub struct Min<T>(PhantomData<fn() -> T>);
/// Every value added, in no particular order.
pub struct ListAcc<T>(PhantomData<fn() -> T>);
/// The distinct values added.
pub struct SetAcc<T>(PhantomData<fn() -> T>);

macro_rules! param_ctor {
    ($($name:ident),*) => {$(
        impl<T> $name<T> {
            /// The accumulator's parameters.
            pub fn new() -> Self {
                $name(PhantomData)
            }
        }
        impl<T> Default for $name<T> {
            fn default() -> Self {
                $name(PhantomData)
            }
        }
    )*};
}
param_ctor!(Sum, Max, Min, ListAcc, SetAcc);

impl<T> AccumulatorParam for Sum<T>
where
    T: Data + Copy + Default + std::ops::Add<Output = T>,
{
    type In = T;
    type Out = T;
    fn zero(&self) -> T {
        T::default()
    }
    fn add(&self, acc: &mut T, x: T) {
        *acc = *acc + x;
    }
    fn merge(&self, acc: &mut T, other: T) {
        *acc = *acc + other;
    }
}

impl<T: Data + PartialOrd> AccumulatorParam for Max<T> {
    type In = T;
    type Out = Option<T>;
    fn zero(&self) -> Option<T> {
        None
    }
    fn add(&self, acc: &mut Option<T>, x: T) {
        if acc.as_ref().is_none_or(|a| x > *a) {
            *acc = Some(x);
        }
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(x) = other {
            self.add(acc, x);
        }
    }
}

impl<T: Data + PartialOrd> AccumulatorParam for Min<T> {
    type In = T;
    type Out = Option<T>;
    fn zero(&self) -> Option<T> {
        None
    }
    fn add(&self, acc: &mut Option<T>, x: T) {
        if acc.as_ref().is_none_or(|a| x < *a) {
            *acc = Some(x);
        }
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(x) = other {
            self.add(acc, x);
        }
    }
}

impl<T: Data> AccumulatorParam for ListAcc<T> {
    type In = T;
    type Out = Vec<T>;
    fn zero(&self) -> Vec<T> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<T>, x: T) {
        acc.push(x);
    }
    fn merge(&self, acc: &mut Vec<T>, other: Vec<T>) {
        acc.extend(other);
    }
}

impl<T: Data + Eq + Hash> AccumulatorParam for SetAcc<T> {
    type In = T;
    type Out = HashSet<T>;
    fn zero(&self) -> HashSet<T> {
        HashSet::new()
    }
    fn add(&self, acc: &mut HashSet<T>, x: T) {
        acc.insert(x);
    }
    fn merge(&self, acc: &mut HashSet<T>, other: HashSet<T>) {
        acc.extend(other);
    }
}

/// An accumulator: tasks [`add`](Accumulator::add) to it, the driver reads
/// [`value`](Accumulator::value). A task's additions are kept with its attempt and applied
/// by the driver once, for the first successful attempt of each partition of an action: a
/// failed or retried attempt never counts twice. (As in Spark, additions made inside a
/// transformation count again if a later action recomputes it; persist it to avoid that.)
/// Cheap to clone and capture in closures.
///
/// # Examples
/// ```
/// use ember::prelude::*;
/// use ember::accumulator::Sum;
/// let ctx = Context::local(2)?;
/// let bad = ctx.accumulator(Sum::<u64>::new());
/// let counter = bad.clone();
/// let numbers = ctx
///     .parallelize(["1", "x", "3", "?"].map(String::from).to_vec(), 2)
///     .flat_map(move |s| s.parse::<i64>().map_err(|_| counter.add(1)).ok());
/// assert_eq!(numbers.collect()?, vec![1, 3]);
/// assert_eq!(bad.value(), 2);
/// # Ok::<(), ember::Error>(())
/// ```
pub struct Accumulator<P: AccumulatorParam> {
    id: AccumulatorId,
    driver: Arc<DriverSide<P>>,
    /// Shared by the handles: the last one to drop unregisters the accumulator (the
    /// context's registry holds it only weakly, so it never keeps it alive).
    _registration: Arc<Registration>,
}

struct DriverSide<P: AccumulatorParam> {
    param: P,
    value: Mutex<P::Out>,
}

impl<P: AccumulatorParam> AccumulatorSink for DriverSide<P> {
    fn merge(&self, update: &[u8]) -> Result<(), String> {
        let update: P::Out = codec::decode(update)
            .map_err(|e| format!("the update does not decode as {}: {e}", std::any::type_name::<P::Out>()))?;
        let mut value = self.value.lock().unwrap_or_else(|e| e.into_inner());
        self.param.merge(&mut value, update);
        Ok(())
    }
}

/// Encodes a task's partial value of `P` for the driver.
fn encode_update<P: AccumulatorParam>(value: &(dyn Any + Send)) -> Result<Vec<u8>, String> {
    let value = value.downcast_ref::<P::Out>().ok_or("the slot holds another accumulator's value")?;
    codec::encode(value).map_err(|e| e.to_string())
}

impl<P: AccumulatorParam> Clone for Accumulator<P> {
    fn clone(&self) -> Self {
        Accumulator { id: self.id, driver: Arc::clone(&self.driver), _registration: Arc::clone(&self._registration) }
    }
}

impl<P: AccumulatorParam> Accumulator<P> {
    pub(crate) fn new(ctx: &Context, param: P) -> Self {
        let id = ctx.engine().ids().accumulator();
        let value = Mutex::new(param.zero());
        let driver = Arc::new(DriverSide { param, value });
        let sink: Arc<dyn AccumulatorSink> = Arc::clone(&driver) as Arc<dyn AccumulatorSink>;
        let registration = Arc::new(ctx.engine().accumulators().register(id, &sink));
        Accumulator { id, driver, _registration: registration }
    }

    /// Adds `x`: inside a task, to the attempt's partial value (applied once the attempt
    /// succeeds, if it is the partition's first success); on the driver, directly.
    pub fn add(&self, x: P::In) {
        match TaskContext::current() {
            Some(tc) => {
                let param = &self.driver.param;
                tc.accumulate(
                    self.id,
                    || Box::new(param.zero()),
                    encode_update::<P>,
                    |slot| {
                        let acc = slot.downcast_mut::<P::Out>().expect("an accumulator's slot holds its own type");
                        param.add(acc, x);
                    },
                );
            }
            None => {
                let mut value = self.driver.value.lock().unwrap_or_else(|e| e.into_inner());
                self.driver.param.add(&mut value, x);
            }
        }
    }

    /// The accumulated value.
    ///
    /// # Panics
    /// Inside a task: only the driver reads accumulators (a task sees only its own partial
    /// value, so reading there is a bug in the program).
    pub fn value(&self) -> P::Out {
        assert!(TaskContext::current().is_none(), "accumulator {} read inside a task; only the driver may", self.id.0);
        self.driver.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Resets the driver's value to zero.
    pub fn reset(&self) {
        *self.driver.value.lock().unwrap_or_else(|e| e.into_inner()) = self.driver.param.zero();
    }

    /// The accumulator's id.
    pub fn id(&self) -> AccumulatorId {
        self.id
    }
}

impl<P: AccumulatorParam> std::fmt::Debug for Accumulator<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Accumulator({})", self.id.0)
    }
}

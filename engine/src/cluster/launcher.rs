//! Where this process stands in an `ember://` application, read from the launcher's
//! environment variables.
//!
//! Every process of a cluster application runs the same binary; the launcher that started
//! them tells each one its *rank* (rank 0 is the driver, the others are executors) and the
//! *world size* (how many processes there are). [`placement`] maps each launcher's
//! variables onto a [`Placement`]:
//!
//! | source (`Placement::source`) | rank | world size | driver `HOST:PORT` |
//! |---|---|---|---|
//! | `"EMBER_RANK"` (Ember's own spawner, the ssh script) | `EMBER_RANK` | `EMBER_WORLD_SIZE` | `EMBER_DRIVER` |
//! | `"Open MPI"` (`mpirun`) | `OMPI_COMM_WORLD_RANK` | `OMPI_COMM_WORLD_SIZE` | `EMBER_DRIVER` (`-x`) |
//! | `"MPICH"` (Hydra `mpiexec`, Intel MPI) | `PMI_RANK` | `PMI_SIZE` | `EMBER_DRIVER` (`-genv`) |
//! | `"PMIx"` (`prterun`, `srun --mpi=pmix`) | `PMIX_RANK` | `EMBER_WORLD_SIZE` (or Slurm's) | `EMBER_DRIVER` |
//! | `"Slurm"` (`srun`) | `SLURM_PROCID` | `SLURM_NTASKS` | `EMBER_DRIVER`, else the first host of `SLURM_STEP_NODELIST` (else `SLURM_JOB_NODELIST`) and `EMBER_PORT` (default 7078) |
//! | `"Kubernetes Indexed Job"` | `JOB_COMPLETION_INDEX` | `EMBER_WORLD_SIZE` (= `spec.completions`) | `EMBER_DRIVER` |
//! | `"Kubernetes StatefulSet"` | `EMBER_POD_INDEX` (the `apps.kubernetes.io/pod-index` label) | `EMBER_WORLD_SIZE` (= `replicas`) | `EMBER_DRIVER` |
//!
//! The rows are tried top to bottom and the first launcher whose rank variable is set
//! decides. Explicit `EMBER_*` variables come first because whoever sets them means them.
//! The MPI launchers come before Slurm because `mpirun` (or `mpiexec`) inside an `sbatch`
//! allocation hands every process the batch step's inherited `SLURM_PROCID=0`: trusting
//! Slurm there would make every process a driver. When an MPI launcher's rank and size agree
//! with Slurm's, `srun` itself started the process (its `pmi2` and `pmix` plugins set those
//! variables too) and Slurm is reported, since it also knows the driver's host.
//!
//! `EMBER_WORLD_SIZE` set without `EMBER_RANK` is the world size for the launchers that have
//! none (PMIx, Kubernetes), and a cross-check for the others: a different value is an error
//! rather than a silent pick. `EMBER_DRIVER` always beats a driver address derived from the
//! launcher. A variable set to an empty (or blank) value counts as unset, since templates and
//! launchers often export empty variables.
//!
//! When `driver` is `None` the caller uses the `HOST:PORT` of `EMBER_MASTER=ember://HOST:PORT`.

use std::error::Error;
use std::fmt;

/// The port the driver listens on when neither `EMBER_DRIVER` nor `EMBER_PORT` names one.
pub const DEFAULT_DRIVER_PORT: u16 = 7078;

/// [`expand_hostlist`] refuses lists that expand to more hosts than this: a typo such as
/// `n[1-1000000000]` must fail instead of exhausting memory.
const MAX_HOSTS: usize = 100_000;

/// Longest run of digits a hostlist range bound may have: 18 digits always fit a `u64`.
const MAX_BOUND_DIGITS: usize = 18;

const EMBER_RANK: &str = "EMBER_RANK";
const EMBER_WORLD_SIZE: &str = "EMBER_WORLD_SIZE";
const EMBER_DRIVER: &str = "EMBER_DRIVER";
const EMBER_PORT: &str = "EMBER_PORT";

/// Where this process stands in an `ember://` application, as its launcher described it.
///
/// Invariant (checked by [`placement`]): `rank < world_size` and `world_size >= 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// This process's rank, `0..world_size`; rank 0 is the driver, the others executors.
    pub rank: usize,
    /// How many processes the application has, the driver included.
    pub world_size: usize,
    /// The driver's `HOST:PORT` when the launcher's variables say it (`EMBER_DRIVER`, or
    /// Slurm's node list); `None` tells the caller to use the `HOST:PORT` of
    /// `EMBER_MASTER=ember://HOST:PORT`.
    pub driver: Option<String>,
    /// The launcher the values came from: `"EMBER_RANK"`, `"Slurm"`, `"Open MPI"`,
    /// `"MPICH"`, `"PMIx"`, `"Kubernetes Indexed Job"` or `"Kubernetes StatefulSet"`.
    pub source: &'static str,
}

impl Placement {
    /// Whether this process is the driver (rank 0).
    pub fn is_driver(&self) -> bool {
        self.rank == 0
    }
}

/// A launcher variable that is present but unusable (not a number, a world size of 0, a rank
/// outside the world, a malformed host list, a contradiction), or one that is missing while
/// another variable needs it.
///
/// Displays as `NAME="value": reason`; a missing variable shows an empty value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LauncherError {
    variable: String,
    value: String,
    reason: String,
}

impl LauncherError {
    fn new(variable: &str, value: &str, reason: impl Into<String>) -> Self {
        Self { variable: variable.to_owned(), value: value.to_owned(), reason: reason.into() }
    }

    /// The name of the offending environment variable, e.g. `"EMBER_RANK"`.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The variable's value as read (empty when the variable is missing).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why the value was refused, e.g. `"expected a whole number"`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for LauncherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.reason)
    }
}

impl Error for LauncherError {}

/// Reads this process's [`Placement`] from the launcher variables, looked up through `env`
/// (real code passes `&|name| std::env::var(name).ok()`, tests a map).
///
/// The launchers are tried in the order of the module table: explicit `EMBER_RANK` (with
/// `EMBER_WORLD_SIZE`, optional `EMBER_DRIVER`) always wins, then Open MPI, MPICH, PMIx,
/// Slurm, a Kubernetes Indexed Job and a Kubernetes StatefulSet. `EMBER_DRIVER`, when set,
/// is the driver address whatever the launcher.
///
/// Returns `Ok(None)` when no launcher's rank variable is set (a plain local run; a lone
/// `EMBER_WORLD_SIZE` or `EMBER_DRIVER` is not a rank). Fails with a [`LauncherError`] naming
/// the variable when a number does not parse, the world size is 0, the rank is not below the
/// world size, a rank has no world size, `EMBER_WORLD_SIZE` contradicts the launcher's own
/// world size, `EMBER_DRIVER` or `EMBER_PORT` is malformed, or Slurm's node list is not a
/// valid hostlist. It never guesses past a bad value to a lower row.
pub fn placement(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Placement>, LauncherError> {
    let vars = Vars { env };
    type Launcher = fn(&Vars<'_>) -> Result<Option<Placement>, LauncherError>;
    let launchers: [Launcher; 7] = [explicit, open_mpi, mpich, pmix, slurm, indexed_job, stateful_set];
    for launcher in launchers {
        if let Some(placement) = launcher(&vars)? {
            return Ok(Some(placement));
        }
    }
    Ok(None)
}

/// Expands a Slurm hostlist (`gnode[10,20-22],other[01-03]`) into its host names, in order.
///
/// The list is comma-separated at the top level; within a name each `[...]` holds
/// comma-separated numbers and `LO-HI` ranges, zero-padded to the width of `LO` (`n[08-10]`
/// is `n08 n09 n10`). A name with several bracket groups (`r[1-2]n[1-3]`) expands as their
/// cartesian product, the last group varying fastest.
///
/// Fails, with a reason, on an empty list or empty name, unbalanced or nested brackets,
/// whitespace, a bound that is not a number (or has more than 18 digits), a backwards
/// range, or a list that would expand to more than 100 000 hosts.
pub fn expand_hostlist(list: &str) -> Result<Vec<String>, String> {
    let patterns = parse_hostlist(list)?;
    let total = patterns.iter().fold(0u64, |sum, pattern| sum.saturating_add(pattern.count()));
    if total > MAX_HOSTS as u64 {
        return Err(format!("expands to {total} hosts, more than the limit of {MAX_HOSTS}"));
    }
    let mut hosts = Vec::with_capacity(total as usize);
    for pattern in &patterns {
        pattern.expand_into(&mut hosts);
    }
    Ok(hosts)
}

/// The first host of a hostlist, validating the whole list but expanding nothing else, so a
/// huge (valid) allocation still yields its first node.
fn first_host(list: &str) -> Result<String, String> {
    let patterns = parse_hostlist(list)?;
    // `parse_hostlist` never returns an empty list; the fallback keeps this panic-free.
    patterns.first().map(Pattern::first).ok_or_else(|| "empty host list".to_owned())
}

// ---------------------------------------------------------------------------------------
// The launchers, one function per table row.

fn explicit(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    let Some(rank) = vars.get(EMBER_RANK) else { return Ok(None) };
    let size = vars.require(EMBER_WORLD_SIZE, &rank, "")?;
    vars.place("EMBER_RANK", &rank, &size, None).map(Some)
}

fn open_mpi(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    mpi(vars, "Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")
}

fn mpich(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    mpi(vars, "MPICH", "PMI_RANK", "PMI_SIZE")
}

fn mpi(
    vars: &Vars<'_>,
    source: &'static str,
    rank_name: &'static str,
    size_name: &'static str,
) -> Result<Option<Placement>, LauncherError> {
    let Some(rank) = vars.get(rank_name) else { return Ok(None) };
    let size = vars.require(size_name, &rank, "")?;
    let placement = vars.place(source, &rank, &size, None)?;
    Ok(Some(prefer_agreeing_slurm(vars, placement)))
}

fn pmix(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    let Some(rank) = vars.get("PMIX_RANK") else { return Ok(None) };
    if let Some(size) = vars.get(EMBER_WORLD_SIZE) {
        let placement = vars.place("PMIx", &rank, &size, None)?;
        return Ok(Some(prefer_agreeing_slurm(vars, placement)));
    }
    // PMIx keeps the job size behind its API, not in the environment. Under
    // `srun --mpi=pmix` (or `MpiDefault=pmix`) Slurm sets SLURM_PROCID to the same rank and
    // knows the size; anywhere else there is nothing to go on.
    let rank_number = rank.number()?;
    if let Some(from_slurm) = slurm(vars)?
        && from_slurm.rank == rank_number
    {
        return Ok(Some(from_slurm));
    }
    Err(missing(EMBER_WORLD_SIZE, &rank, " (PMIx sets no world-size variable)"))
}

/// Slurm's `pmi2` and `pmix` plugins set the MPI variables too; when they agree with Slurm's
/// own, `srun` started this process and Slurm's reading (which knows the driver host) is
/// the better one. A disagreement means an MPI launcher inside an allocation: keep it.
fn prefer_agreeing_slurm(vars: &Vars<'_>, placement: Placement) -> Placement {
    match slurm(vars) {
        Ok(Some(from_slurm)) if from_slurm.rank == placement.rank && from_slurm.world_size == placement.world_size => {
            from_slurm
        }
        // Inherited Slurm variables that fail to parse are not this process's concern here.
        _ => placement,
    }
}

fn slurm(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    let Some(rank) = vars.get("SLURM_PROCID") else { return Ok(None) };
    let size = vars.require("SLURM_NTASKS", &rank, " (srun sets it; pass --ntasks)")?;
    // An explicit EMBER_DRIVER overrides the node list, so a list it overrides is not parsed.
    let driver = if vars.get(EMBER_DRIVER).is_some() { None } else { slurm_driver(vars)? };
    vars.place("Slurm", &rank, &size, driver).map(Some)
}

/// Task 0 of a step runs on the step's first node under Slurm's block and cyclic
/// distributions, so that node is where the driver listens.
fn slurm_driver(vars: &Vars<'_>) -> Result<Option<String>, LauncherError> {
    let Some(list) = vars.get("SLURM_STEP_NODELIST").or_else(|| vars.get("SLURM_JOB_NODELIST")) else {
        return Ok(None);
    };
    let host = first_host(&list.value).map_err(|reason| list.error(format!("malformed hostlist: {reason}")))?;
    let port = match vars.get(EMBER_PORT) {
        Some(port) => port.port()?,
        None => DEFAULT_DRIVER_PORT,
    };
    Ok(Some(format!("{host}:{port}")))
}

fn indexed_job(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    kubernetes(vars, "Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", " (set it to the Job's spec.completions)")
}

fn stateful_set(vars: &Vars<'_>) -> Result<Option<Placement>, LauncherError> {
    kubernetes(vars, "Kubernetes StatefulSet", "EMBER_POD_INDEX", " (set it to the StatefulSet's replicas)")
}

/// Kubernetes numbers the pods but never tells them how many there are.
fn kubernetes(
    vars: &Vars<'_>,
    source: &'static str,
    index_name: &'static str,
    hint: &str,
) -> Result<Option<Placement>, LauncherError> {
    let Some(index) = vars.get(index_name) else { return Ok(None) };
    let size = vars.require(EMBER_WORLD_SIZE, &index, hint)?;
    vars.place(source, &index, &size, None).map(Some)
}

// ---------------------------------------------------------------------------------------
// Reading and checking variables.

/// The environment as [`placement`] sees it: blank values read as unset.
struct Vars<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

/// A variable that is set, with its name kept for error messages.
struct Var {
    name: &'static str,
    value: String,
}

impl Vars<'_> {
    fn get(&self, name: &'static str) -> Option<Var> {
        let value = (self.env)(name)?;
        if value.trim().is_empty() { None } else { Some(Var { name, value }) }
    }

    /// The world-size variable `name` that `rank` needs.
    fn require(&self, name: &'static str, rank: &Var, hint: &str) -> Result<Var, LauncherError> {
        self.get(name).ok_or_else(|| missing(name, rank, hint))
    }

    /// Checks a rank and world size and applies `EMBER_DRIVER` over `derived_driver`.
    fn place(
        &self,
        source: &'static str,
        rank: &Var,
        size: &Var,
        derived_driver: Option<String>,
    ) -> Result<Placement, LauncherError> {
        let rank_number = rank.number()?;
        let world_size = size.number()?;
        if world_size == 0 {
            return Err(size.error("a world size must be at least 1"));
        }
        if size.name != EMBER_WORLD_SIZE
            && let Some(ours) = self.get(EMBER_WORLD_SIZE)
            && ours.number()? != world_size
        {
            return Err(ours.error(format!("contradicts {}={:?}", size.name, size.value)));
        }
        if rank_number >= world_size {
            return Err(rank.error(format!("a rank must be below the world size {world_size} ({})", size.name)));
        }
        let driver = match self.get(EMBER_DRIVER) {
            Some(driver) => Some(driver.address()?),
            None => derived_driver,
        };
        Ok(Placement { rank: rank_number, world_size, driver, source })
    }
}

fn missing(name: &str, rank: &Var, hint: &str) -> LauncherError {
    LauncherError::new(name, "", format!("not set, but {}={:?} needs a world size{hint}", rank.name, rank.value))
}

impl Var {
    fn error(&self, reason: impl Into<String>) -> LauncherError {
        LauncherError::new(self.name, &self.value, reason)
    }

    /// Digits only: `str::parse` would also take `+3`, which no launcher writes.
    fn number(&self) -> Result<usize, LauncherError> {
        let text = self.value.trim();
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error("expected a whole number"));
        }
        text.parse().map_err(|_| self.error("number too large"))
    }

    fn port(&self) -> Result<u16, LauncherError> {
        parse_port(self.value.trim()).ok_or_else(|| self.error("expected a port number from 1 to 65535"))
    }

    /// `HOST:PORT`, with an IPv6 host in brackets; the port is checked, the host only for
    /// shape (a scheme or path means someone pasted a URL).
    fn address(&self) -> Result<String, LauncherError> {
        let text = self.value.trim();
        let shape = "expected HOST:PORT (no scheme; an IPv6 host in brackets)";
        let Some((host, port)) = text.rsplit_once(':') else { return Err(self.error(shape)) };
        let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
        let bad_host = host.is_empty()
            || host.contains(['/', '@', '?', '#'])
            || host.contains(char::is_whitespace)
            || (host.contains(':') && !bracketed);
        if bad_host || parse_port(port).is_none() {
            return Err(self.error(shape));
        }
        Ok(text.to_owned())
    }
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&port| port != 0)
}

// ---------------------------------------------------------------------------------------
// Slurm hostlists.

/// One name of a hostlist: literal text and bracket groups, in order.
struct Pattern(Vec<Segment>);

enum Segment {
    Text(String),
    /// Never empty: the parser refuses `[]`.
    Numbers(Vec<NumberRange>),
}

struct NumberRange {
    lo: u64,
    hi: u64,
    /// Zero-padded to this many digits: the width of the low bound as written.
    width: usize,
}

impl Pattern {
    fn count(&self) -> u64 {
        self.0.iter().fold(1u64, |product, segment| match segment {
            Segment::Text(_) => product,
            Segment::Numbers(ranges) => {
                let numbers = ranges.iter().fold(0u64, |sum, r| sum.saturating_add((r.hi - r.lo).saturating_add(1)));
                product.saturating_mul(numbers)
            }
        })
    }

    fn first(&self) -> String {
        let mut host = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Text(text) => host.push_str(text),
                Segment::Numbers(ranges) => {
                    if let Some(range) = ranges.first() {
                        host.push_str(&format!("{:0width$}", range.lo, width = range.width));
                    }
                }
            }
        }
        host
    }

    /// Only called after [`expand_hostlist`] bounded the count, so this cannot run away.
    fn expand_into(&self, hosts: &mut Vec<String>) {
        let mut names = vec![String::new()];
        for segment in &self.0 {
            match segment {
                Segment::Text(text) => names.iter_mut().for_each(|name| name.push_str(text)),
                Segment::Numbers(ranges) => {
                    names = names
                        .iter()
                        .flat_map(|name| {
                            ranges.iter().flat_map(move |range| {
                                (range.lo..=range.hi).map(move |n| format!("{name}{n:0width$}", width = range.width))
                            })
                        })
                        .collect();
                }
            }
        }
        hosts.append(&mut names);
    }
}

fn parse_hostlist(list: &str) -> Result<Vec<Pattern>, String> {
    let list = list.trim();
    if list.is_empty() {
        return Err("empty host list".to_owned());
    }
    let mut patterns = Vec::new();
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' => patterns.push(finish_pattern(&mut segments, &mut text)?),
            '[' => {
                let mut body = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some('[') => return Err("nested '['".to_owned()),
                        Some(c) => body.push(c),
                        None => return Err("'[' without ']'".to_owned()),
                    }
                }
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(Segment::Numbers(parse_ranges(&body)?));
            }
            ']' => return Err("']' without '['".to_owned()),
            c if c.is_whitespace() => return Err("whitespace inside the list".to_owned()),
            c => text.push(c),
        }
    }
    patterns.push(finish_pattern(&mut segments, &mut text)?);
    Ok(patterns)
}

fn finish_pattern(segments: &mut Vec<Segment>, text: &mut String) -> Result<Pattern, String> {
    if !text.is_empty() {
        segments.push(Segment::Text(std::mem::take(text)));
    }
    if segments.is_empty() {
        return Err("empty host name (a stray ',')".to_owned());
    }
    Ok(Pattern(std::mem::take(segments)))
}

/// The inside of one `[...]`: `1,3-5,07`.
fn parse_ranges(body: &str) -> Result<Vec<NumberRange>, String> {
    body.split(',')
        .map(|item| {
            let (lo_text, hi_text) = item.split_once('-').unwrap_or((item, item));
            let lo = parse_bound(lo_text, body)?;
            let hi = parse_bound(hi_text, body)?;
            if lo > hi {
                return Err(format!("range {item:?} runs backwards"));
            }
            Ok(NumberRange { lo, hi, width: lo_text.len() })
        })
        .collect()
}

fn parse_bound(text: &str, body: &str) -> Result<u64, String> {
    if text.is_empty() || text.len() > MAX_BOUND_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("[{body}]: expected numbers and LO-HI ranges (of at most {MAX_BOUND_DIGITS} digits)"));
    }
    text.parse().map_err(|_| format!("[{body}]: bound {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    fn place(pairs: &[(&str, &str)]) -> Option<Placement> {
        placement(&env(pairs)).expect("a valid placement")
    }

    fn fail(pairs: &[(&str, &str)]) -> LauncherError {
        placement(&env(pairs)).expect_err("a launcher error")
    }

    fn at(rank: usize, world_size: usize, driver: Option<&str>, source: &'static str) -> Option<Placement> {
        Some(Placement { rank, world_size, driver: driver.map(str::to_owned), source })
    }

    fn hosts(list: &str) -> Vec<String> {
        expand_hostlist(list).expect("a valid hostlist")
    }

    // --- one test per table row -------------------------------------------------------

    #[test]
    fn nothing_set_is_a_plain_local_run() {
        assert_eq!(place(&[]), None);
        assert_eq!(place(&[("EMBER_MASTER", "ember://h:7078"), ("PATH", "/bin")]), None);
        // A world size or a driver address alone is not a rank.
        assert_eq!(place(&[("EMBER_WORLD_SIZE", "4"), ("EMBER_DRIVER", "h:1")]), None);
    }

    #[test]
    fn explicit_ember_variables() {
        assert_eq!(place(&[("EMBER_RANK", "2"), ("EMBER_WORLD_SIZE", "3")]), at(2, 3, None, "EMBER_RANK"));
        assert_eq!(
            place(&[("EMBER_RANK", "0"), ("EMBER_WORLD_SIZE", "1"), ("EMBER_DRIVER", "127.0.0.1:40123")]),
            at(0, 1, Some("127.0.0.1:40123"), "EMBER_RANK")
        );
        assert!(place(&[("EMBER_RANK", "0"), ("EMBER_WORLD_SIZE", "2")]).expect("placed").is_driver());
        assert!(!place(&[("EMBER_RANK", "1"), ("EMBER_WORLD_SIZE", "2")]).expect("placed").is_driver());
    }

    #[test]
    fn slurm_with_driver_from_the_step_node_list() {
        let vars = [
            ("SLURM_PROCID", "3"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_STEP_NODELIST", "gnode[10,20-22]"),
            ("SLURM_JOB_NODELIST", "other[01-03]"),
        ];
        assert_eq!(place(&vars), at(3, 8, Some("gnode10:7078"), "Slurm"));
    }

    #[test]
    fn slurm_falls_back_to_the_job_node_list_and_reads_ember_port() {
        let vars = [("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2"), ("SLURM_JOB_NODELIST", "cn[007-009]")];
        assert_eq!(place(&vars), at(0, 2, Some("cn007:7078"), "Slurm"));
        let with_port = [vars[0], vars[1], vars[2], ("EMBER_PORT", "9000")];
        assert_eq!(place(&with_port), at(0, 2, Some("cn007:9000"), "Slurm"));
    }

    #[test]
    fn slurm_without_a_node_list_leaves_the_driver_to_ember_master() {
        assert_eq!(place(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")]), at(1, 2, None, "Slurm"));
    }

    #[test]
    fn ember_driver_beats_the_slurm_node_list_which_is_then_not_parsed() {
        let vars = [
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_JOB_NODELIST", "broken[1-"),
            ("EMBER_DRIVER", "login1:7100"),
        ];
        assert_eq!(place(&vars), at(1, 2, Some("login1:7100"), "Slurm"));
    }

    #[test]
    fn open_mpi() {
        let vars = [("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "3"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1")];
        assert_eq!(place(&vars), at(1, 3, None, "Open MPI"));
        let with_driver = [vars[0], vars[1], ("EMBER_DRIVER", "node1:7078")];
        assert_eq!(place(&with_driver), at(1, 3, Some("node1:7078"), "Open MPI"));
    }

    #[test]
    fn mpich_hydra() {
        assert_eq!(place(&[("PMI_RANK", "4"), ("PMI_SIZE", "5")]), at(4, 5, None, "MPICH"));
    }

    #[test]
    fn pmix_takes_its_world_size_from_ember_world_size() {
        assert_eq!(place(&[("PMIX_RANK", "2"), ("EMBER_WORLD_SIZE", "4")]), at(2, 4, None, "PMIx"));
        let error = fail(&[("PMIX_RANK", "2")]);
        assert_eq!(error.variable(), "EMBER_WORLD_SIZE");
        assert_eq!(error.value(), "");
        assert!(error.reason().contains("PMIX_RANK"), "{error}");
    }

    #[test]
    fn pmix_under_srun_uses_slurm_for_the_world_size() {
        let vars = [("PMIX_RANK", "1"), ("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2"), ("SLURM_JOB_NODELIST", "a,b")];
        assert_eq!(place(&vars), at(1, 2, Some("a:7078"), "Slurm"));
        // A PMIx launcher inside an allocation: Slurm's inherited rank says nothing.
        let nested = [("PMIX_RANK", "1"), ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")];
        assert_eq!(fail(&nested).variable(), "EMBER_WORLD_SIZE");
    }

    #[test]
    fn kubernetes_indexed_job() {
        assert_eq!(
            place(&[("JOB_COMPLETION_INDEX", "3"), ("EMBER_WORLD_SIZE", "4")]),
            at(3, 4, None, "Kubernetes Indexed Job")
        );
        let error = fail(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(error.variable(), "EMBER_WORLD_SIZE");
        assert!(error.reason().contains("spec.completions"), "{error}");
    }

    #[test]
    fn kubernetes_stateful_set() {
        assert_eq!(
            place(&[("EMBER_POD_INDEX", "0"), ("EMBER_WORLD_SIZE", "3"), ("EMBER_DRIVER", "wc-0.ember:7078")]),
            at(0, 3, Some("wc-0.ember:7078"), "Kubernetes StatefulSet")
        );
        assert_eq!(fail(&[("EMBER_POD_INDEX", "1")]).variable(), "EMBER_WORLD_SIZE");
    }

    // --- precedence ---------------------------------------------------------------------

    #[test]
    fn ember_variables_beat_slurm() {
        let vars = [
            ("EMBER_RANK", "1"),
            ("EMBER_WORLD_SIZE", "2"),
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_JOB_NODELIST", "n[1-8]"),
        ];
        assert_eq!(place(&vars), at(1, 2, None, "EMBER_RANK"));
    }

    #[test]
    fn ember_variables_beat_every_launcher() {
        let vars = [
            ("EMBER_RANK", "0"),
            ("EMBER_WORLD_SIZE", "2"),
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("PMI_RANK", "1"),
            ("PMI_SIZE", "2"),
            ("JOB_COMPLETION_INDEX", "1"),
            ("EMBER_POD_INDEX", "1"),
        ];
        assert_eq!(place(&vars), at(0, 2, None, "EMBER_RANK"));
    }

    #[test]
    fn mpirun_inside_an_sbatch_allocation_beats_the_inherited_slurm_rank() {
        let vars = [
            ("OMPI_COMM_WORLD_RANK", "2"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "4"),
            ("SLURM_JOB_NODELIST", "n[1-2]"),
        ];
        assert_eq!(place(&vars), at(2, 4, None, "Open MPI"));
    }

    #[test]
    fn srun_with_an_mpi_plugin_reports_slurm_when_both_agree() {
        let vars = [
            ("PMI_RANK", "1"),
            ("PMI_SIZE", "4"),
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "4"),
            ("SLURM_STEP_NODELIST", "n[3-4]"),
        ];
        assert_eq!(place(&vars), at(1, 4, Some("n3:7078"), "Slurm"));
    }

    #[test]
    fn open_mpi_beats_mpich_beats_pmix() {
        let all = [
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("PMI_RANK", "2"),
            ("PMI_SIZE", "3"),
            ("PMIX_RANK", "3"),
        ];
        assert_eq!(place(&all), at(1, 2, None, "Open MPI"));
        assert_eq!(place(&all[2..]), at(2, 3, None, "MPICH"));
    }

    #[test]
    fn slurm_beats_kubernetes() {
        let vars =
            [("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2"), ("JOB_COMPLETION_INDEX", "0"), ("EMBER_POD_INDEX", "0")];
        assert_eq!(place(&vars).map(|p| p.source), Some("Slurm"));
        let kube = [("JOB_COMPLETION_INDEX", "0"), ("EMBER_POD_INDEX", "1"), ("EMBER_WORLD_SIZE", "2")];
        assert_eq!(place(&kube).map(|p| p.source), Some("Kubernetes Indexed Job"));
    }

    #[test]
    fn ember_world_size_must_agree_with_a_launcher_that_has_its_own() {
        let agree = [("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "3"), ("EMBER_WORLD_SIZE", "3")];
        assert_eq!(place(&agree), at(0, 3, None, "Open MPI"));
        let error = fail(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "3"), ("EMBER_WORLD_SIZE", "4")]);
        assert_eq!((error.variable(), error.value()), ("EMBER_WORLD_SIZE", "4"));
        assert!(error.reason().contains("SLURM_NTASKS"), "{error}");
    }

    #[test]
    fn blank_values_count_as_unset() {
        assert_eq!(place(&[("EMBER_RANK", ""), ("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")]), at(1, 2, None, "Slurm"));
        assert_eq!(place(&[("EMBER_RANK", "  ")]), None);
        // Surrounding whitespace (a value read from a file) is tolerated.
        assert_eq!(place(&[("EMBER_RANK", " 1\n"), ("EMBER_WORLD_SIZE", "2 ")]), at(1, 2, None, "EMBER_RANK"));
    }

    // --- errors ---------------------------------------------------------------------------

    #[test]
    fn unparsable_numbers_name_the_variable() {
        let error = fail(&[("EMBER_RANK", "x"), ("EMBER_WORLD_SIZE", "2")]);
        assert_eq!(error.to_string(), "EMBER_RANK=\"x\": expected a whole number");
        assert_eq!((error.variable(), error.value(), error.reason()), ("EMBER_RANK", "x", "expected a whole number"));
        for bad in ["-1", "+1", "1.0", "0x1", "one"] {
            assert_eq!(fail(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", bad)]).variable(), "SLURM_NTASKS", "{bad}");
        }
        let error = fail(&[("PMI_RANK", "99999999999999999999999"), ("PMI_SIZE", "2")]);
        assert_eq!(error.reason(), "number too large");
    }

    #[test]
    fn a_bad_value_is_an_error_not_a_fall_through() {
        // EMBER_RANK is set but wrong: Slurm below it must not quietly take over.
        let error =
            fail(&[("EMBER_RANK", "first"), ("EMBER_WORLD_SIZE", "2"), ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]);
        assert_eq!(error.variable(), "EMBER_RANK");
    }

    #[test]
    fn world_size_zero() {
        let error = fail(&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "0")]);
        assert_eq!((error.variable(), error.value()), ("OMPI_COMM_WORLD_SIZE", "0"));
        assert_eq!(error.reason(), "a world size must be at least 1");
    }

    #[test]
    fn rank_not_below_world_size() {
        let error = fail(&[("EMBER_RANK", "3"), ("EMBER_WORLD_SIZE", "3")]);
        assert_eq!((error.variable(), error.value()), ("EMBER_RANK", "3"));
        assert_eq!(error.to_string(), "EMBER_RANK=\"3\": a rank must be below the world size 3 (EMBER_WORLD_SIZE)");
        assert_eq!(
            fail(&[("JOB_COMPLETION_INDEX", "4"), ("EMBER_WORLD_SIZE", "4")]).variable(),
            "JOB_COMPLETION_INDEX"
        );
    }

    #[test]
    fn a_rank_without_a_world_size() {
        let error = fail(&[("EMBER_RANK", "1")]);
        assert_eq!(error.variable(), "EMBER_WORLD_SIZE");
        assert_eq!(error.to_string(), "EMBER_WORLD_SIZE=\"\": not set, but EMBER_RANK=\"1\" needs a world size");
        assert_eq!(fail(&[("SLURM_PROCID", "1")]).variable(), "SLURM_NTASKS");
        assert_eq!(fail(&[("OMPI_COMM_WORLD_RANK", "1")]).variable(), "OMPI_COMM_WORLD_SIZE");
        assert_eq!(fail(&[("PMI_RANK", "1")]).variable(), "PMI_SIZE");
    }

    #[test]
    fn a_malformed_slurm_hostlist() {
        let error = fail(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2"), ("SLURM_STEP_NODELIST", "n[1-2")]);
        assert_eq!((error.variable(), error.value()), ("SLURM_STEP_NODELIST", "n[1-2"));
        assert!(error.reason().starts_with("malformed hostlist: "), "{error}");
    }

    #[test]
    fn malformed_ember_driver_and_port() {
        let base = [("EMBER_RANK", "1"), ("EMBER_WORLD_SIZE", "2")];
        for bad in ["host", "host:", ":7078", "host:0", "host:70000", "ember://host:7078", "::1:7078", "host:x"] {
            let error = fail(&[base[0], base[1], ("EMBER_DRIVER", bad)]);
            assert_eq!((error.variable(), error.value()), ("EMBER_DRIVER", bad));
        }
        assert_eq!(
            place(&[base[0], base[1], ("EMBER_DRIVER", "[::1]:7078")]),
            at(1, 2, Some("[::1]:7078"), "EMBER_RANK")
        );
        let slurm = [("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1"), ("SLURM_JOB_NODELIST", "n1"), ("EMBER_PORT", "0")];
        assert_eq!(fail(&slurm).variable(), "EMBER_PORT");
    }

    #[test]
    fn error_is_a_std_error() {
        let error: Box<dyn Error> = Box::new(fail(&[("EMBER_RANK", "x"), ("EMBER_WORLD_SIZE", "1")]));
        assert_eq!(error.to_string(), "EMBER_RANK=\"x\": expected a whole number");
    }

    // --- hostlists --------------------------------------------------------------------------

    #[test]
    fn hostlist_expansion() {
        assert_eq!(hosts("a"), ["a"]);
        assert_eq!(hosts("a,b"), ["a", "b"]);
        assert_eq!(hosts("n[1-3]"), ["n1", "n2", "n3"]);
        assert_eq!(hosts("n[01-03]"), ["n01", "n02", "n03"]);
        assert_eq!(hosts("g[10,20-21],x"), ["g10", "g20", "g21", "x"]);
        assert_eq!(hosts("rack1-n[2-3]"), ["rack1-n2", "rack1-n3"]);
        assert_eq!(
            hosts("gnode[10,20-22],other[01-03]"),
            ["gnode10", "gnode20", "gnode21", "gnode22", "other01", "other02", "other03"]
        );
    }

    #[test]
    fn hostlist_padding_follows_the_low_bound() {
        assert_eq!(hosts("n[08-11]"), ["n08", "n09", "n10", "n11"]);
        assert_eq!(hosts("n[9-11]"), ["n9", "n10", "n11"]);
        assert_eq!(hosts("n[098-100]"), ["n098", "n099", "n100"]);
        assert_eq!(hosts("n[7,008]"), ["n7", "n008"]);
        assert_eq!(hosts("n[0]"), ["n0"]);
    }

    #[test]
    fn hostlist_suffixes_and_several_groups() {
        assert_eq!(hosts("n[1-2]-ib"), ["n1-ib", "n2-ib"]);
        assert_eq!(hosts("r[1-2]n[1-2]"), ["r1n1", "r1n2", "r2n1", "r2n2"]);
        assert_eq!(hosts("[1-2]"), ["1", "2"]);
        assert_eq!(hosts(" a.example.org,b "), ["a.example.org", "b"]);
    }

    #[test]
    fn hostlist_errors() {
        for bad in [
            "",
            " ",
            "a,",
            ",a",
            "a,,b",
            "n[",
            "n[1-2",
            "n]",
            "n[1-2]]",
            "n[[1]]",
            "n[]",
            "n[1,]",
            "n[-2]",
            "n[1-]",
            "n[3-1]",
            "n[a-b]",
            "n[1-2-3]",
            "a b",
            "n[1 -2]",
            "n[1234567890123456789]",
        ] {
            assert!(expand_hostlist(bad).is_err(), "{bad:?} should be refused");
            assert!(first_host(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn hostlist_is_bounded_but_its_first_host_is_not() {
        let error = expand_hostlist("n[1-100001]").expect_err("too many hosts");
        assert!(error.contains("100000"), "{error}");
        assert_eq!(expand_hostlist("n[1-100000]").map(|h| h.len()), Ok(100_000));
        assert!(expand_hostlist("a[0-999999999999]b[0-999999999999]").is_err());
        assert_eq!(first_host("n[0001-99999999],x").as_deref(), Ok("n0001"));
    }

    #[test]
    fn first_host_matches_the_expansion() {
        for list in ["a", "a,b", "n[1-3]", "n[01-03]", "g[10,20-21],x", "rack1-n[2-3]", "r[4-5]n[07-08]-ib"] {
            assert_eq!(first_host(list).ok().as_ref(), hosts(list).first(), "{list}");
        }
    }
}

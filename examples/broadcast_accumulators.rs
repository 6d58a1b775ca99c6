//! Log analysis with a broadcast lookup table and accumulators counting malformed lines.
//!
//! ```text
//! cargo run --release --example broadcast_accumulators -- [LINES]
//! ```
//!
//! Generates LINES access-log lines (default 1 000 000; one in 50 is malformed), broadcasts a
//! table from HTTP status code to its meaning, counts requests per meaning, and counts the
//! malformed lines, the bytes served and the slowest request with accumulators.

use std::collections::HashMap;
use std::error::Error;

use ember::accumulator::{Max, Sum};
use ember::prelude::*;

fn main() -> Result<(), Box<dyn Error>> {
    let lines: i64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let ctx = Context::from_env()?;

    // The lookup table every task reads: serialized once, shared by reference in local mode.
    let meanings: HashMap<u16, String> = [
        (200, "ok"),
        (301, "moved"),
        (304, "not modified"),
        (404, "not found"),
        (500, "server error"),
        (503, "unavailable"),
    ]
    .into_iter()
    .map(|(code, meaning)| (code, meaning.to_owned()))
    .collect();
    let meanings = ctx.broadcast(meanings)?;

    let malformed = ctx.accumulator(Sum::<u64>::new());
    let bytes_served = ctx.accumulator(Sum::<u64>::new());
    let slowest_ms = ctx.accumulator(Max::<u32>::new());

    let log = ctx.range(0, lines, 1, ctx.parallelism() * 4).map(log_line);
    let (table, bad, served, slowest) = (meanings.clone(), malformed.clone(), bytes_served.clone(), slowest_ms.clone());
    let by_meaning = log
        .flat_map(move |line| match parse(&line) {
            Some((status, bytes, ms)) => {
                served.add(bytes);
                slowest.add(ms);
                let meaning = table.value().get(&status).cloned().unwrap_or_else(|| format!("status {status}"));
                Some((meaning, 1u64))
            }
            None => {
                bad.add(1);
                None
            }
        })
        .reduce_by_key(|a, b| a + b);
    let mut counts = by_meaning.collect()?;
    counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));

    println!("requests by meaning:");
    for (meaning, n) in &counts {
        println!("  {meaning:<14} {n}");
    }
    println!("malformed lines: {}", malformed.value());
    println!("bytes served:    {}", bytes_served.value());
    println!("slowest request: {} ms", slowest_ms.value().unwrap_or(0));
    let parsed: u64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(parsed + malformed.value(), lines as u64, "every line is either parsed or malformed");
    meanings.destroy();
    Ok(())
}

/// Line `i` of a synthetic access log: `ip - - "GET /path" status bytes ms`, with every 50th
/// line truncated.
fn log_line(i: i64) -> String {
    let statuses = [200, 200, 200, 200, 304, 301, 404, 500, 503];
    let status = statuses[(i as usize * 7) % statuses.len()];
    let line =
        format!("10.0.{}.{} - - \"GET /page/{}\" {status} {} {}", i % 256, i % 7, i % 1000, 512 + i % 4096, i % 997);
    if i % 50 == 49 { line[..line.len() / 2].to_owned() } else { line }
}

/// `(status, bytes, milliseconds)`, or `None` for a malformed line.
fn parse(line: &str) -> Option<(u16, u64, u32)> {
    let rest = line.rsplit_once('"')?.1;
    let mut fields = rest.split_ascii_whitespace();
    let status = fields.next()?.parse().ok()?;
    let bytes = fields.next()?.parse().ok()?;
    let ms = fields.next()?.parse().ok()?;
    Some((status, bytes, ms))
}

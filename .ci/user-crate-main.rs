//! A user's own word count, depending on Ember by path with default features: what `.ci/run`
//! builds in a crate outside the workspace, to prove that the lean build is enough for it.
use ember::prelude::*;

fn main() -> ember::Result<()> {
    let input = std::env::args().nth(1).expect("an input file");
    let ctx = Context::from_env()?;
    let counts = ctx
        .text_file(&input, 2)?
        .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b);
    let mut top = counts.collect()?;
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (word, n) in top.iter().take(3) {
        println!("{word}\t{n}");
    }
    Ok(())
}

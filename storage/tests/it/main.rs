//! The one integration test binary of ember-storage: the public API on local files and memory://.

mod commit;
mod credentials;
mod lines;
mod listing;

use ember_storage::{InputFile, Storage};

/// A fresh storage handle; each test gets its own (no shared state).
pub fn storage() -> Storage {
    Storage::new().expect("the storage runtime starts")
}

/// Writes `content` to `dir/name` and lists it back as an input file.
pub fn local_file(storage: &Storage, dir: &std::path::Path, name: &str, content: &[u8]) -> InputFile {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write test input");
    let mut files =
        storage.list_inputs(path.to_str().expect("temp paths are UTF-8")).expect("list a file that was just written");
    assert_eq!(files.len(), 1);
    files.remove(0)
}

//! Input listing on local files and memory://: files, directories, hidden names, errors.

use bytes::Bytes;
use ember_storage::StorageError;

use crate::{local_file, storage};

#[test]
fn a_file_lists_as_itself_with_its_size() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "in.txt", b"hello\n");
    assert_eq!(file.size, 6);
    let canonical = dir.path().join("in.txt");
    assert_eq!(file.url, format!("file://{}", canonical.display()));
    // The display URL, a file:// URL and the bare path all find the same file.
    assert_eq!(storage.list_inputs(&file.url).unwrap(), vec![file.clone()]);
    let bare = canonical.to_str().unwrap();
    assert_eq!(storage.list_inputs(bare).unwrap(), vec![file]);
}

#[test]
fn a_directory_lists_visible_files_one_level_sorted() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    for name in ["c.txt", "a.txt", "_SUCCESS", ".a.txt.crc", "b.txt", "_temporary_x"] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/d.txt"), "d").unwrap();
    let files = storage.list_inputs(dir.path().to_str().unwrap()).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name().unwrap()).collect();
    assert_eq!(names, ["a.txt", "b.txt", "c.txt"]);
    assert_eq!(files.iter().map(|f| f.size).collect::<Vec<_>>(), [5, 5, 5]);
    // Same result through a file:// URL with a trailing slash.
    let url = format!("file://{}/", dir.path().display());
    assert_eq!(storage.list_inputs(&url).unwrap(), files);
}

#[test]
fn relative_paths_resolve_against_the_current_dir() {
    let storage = storage();
    let here = std::env::current_dir().unwrap();
    let dir = tempfile::tempdir_in(&here).unwrap();
    std::fs::write(dir.path().join("r.txt"), "r").unwrap();
    let relative = dir.path().strip_prefix(&here).unwrap().join("r.txt");
    let files = storage.list_inputs(relative.to_str().unwrap()).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].url, format!("file://{}", here.join(&relative).display()));
}

#[test]
fn an_empty_directory_lists_nothing() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    assert!(storage.list_inputs(dir.path().to_str().unwrap()).unwrap().is_empty());
}

#[test]
fn a_missing_path_is_not_found_and_says_where() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/input.txt");
    let url = missing.to_str().unwrap();
    let err = storage.list_inputs(url).unwrap_err();
    assert!(matches!(&err, StorageError::NotFound { url: u } if u == url), "{err:?}");
    assert!(err.to_string().contains(url), "{err}");
}

#[test]
fn memory_put_then_list() {
    let storage = storage();
    storage.put("memory://bkt/in/part-1", Bytes::from_static(b"1\n2\n")).unwrap();
    storage.put("memory://bkt/in/part-0", Bytes::from_static(b"0\n")).unwrap();
    storage.put("memory://bkt/in/_SUCCESS", Bytes::new()).unwrap();
    let files = storage.list_inputs("memory://bkt/in").unwrap();
    let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(urls, ["memory://bkt/in/part-0", "memory://bkt/in/part-1"]);
    assert_eq!(files[1].size, 4);
    let single = storage.list_inputs("memory://bkt/in/part-1").unwrap();
    assert_eq!(single, vec![files[1].clone()]);
    assert!(storage.list_inputs("memory://bkt/nothing").unwrap_err().is_not_found());
}

#[test]
fn unsupported_and_invalid_urls_are_typed_errors() {
    let storage = storage();
    let err = storage.list_inputs("ftp://bucket/logs").unwrap_err();
    assert!(matches!(err, StorageError::UnsupportedScheme { .. }), "{err:?}");
    assert!(err.to_string().contains("ftp://bucket/logs"));
    let err = storage.list_inputs("file://remote-host/x").unwrap_err();
    assert!(matches!(err, StorageError::InvalidUrl { .. }), "{err:?}");
}

#[test]
fn a_one_segment_glob_lists_one_directory_and_ignores_a_symlink_loop_below() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.txt"), "a\n").unwrap();
    std::fs::write(root.join("b.log"), "b\n").unwrap();
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("sub/deeper/c.txt"), "c\n").unwrap();
    // A loop: walking the whole tree below `root` fails on it (or never ends).
    std::os::unix::fs::symlink(root.join("sub"), root.join("sub/deeper/loop")).unwrap();
    let names = |pattern: &str| -> Vec<String> {
        let url = format!("{}/{pattern}", root.display());
        let files = storage.list_inputs(&url).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        files.iter().map(|f| f.name().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(names("*.txt"), ["a.txt"]);
    assert_eq!(names("s*/d*/*.txt"), ["c.txt"]);
    assert_eq!(names("sub/deeper/*.txt"), ["c.txt"]);
    assert_eq!(names("*/*/c.?xt"), ["c.txt"]);
    for nothing in ["nope/*.txt", "a.txt/*", "*.csv", "sub/*/nope/*"] {
        let err = storage.list_inputs(&format!("{}/{nothing}", root.display())).unwrap_err();
        assert!(err.is_not_found(), "{nothing}: {err}");
    }
}

#[test]
fn recursive_globs_still_match_at_any_depth() {
    let storage = storage();
    for key in ["x/a.txt", "x/y/b.txt", "x/y/z/c.txt", "x/y/z/d.log", "x/_hidden/e.txt"] {
        storage.put(&format!("memory://deep/{key}"), bytes::Bytes::from_static(b"1")).unwrap();
    }
    let files = storage.list_inputs("memory://deep/x/**/*.txt").unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path().as_ref()).collect();
    assert_eq!(paths, ["deep/x/a.txt", "deep/x/y/b.txt", "deep/x/y/z/c.txt"]);
}

#[test]
fn a_path_that_exists_as_written_is_read_literally_and_brackets_escape_in_globs() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out[1]");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("part-00000"), "x\n").unwrap();
    std::fs::write(out.join("_SUCCESS"), "").unwrap();
    std::fs::write(dir.path().join("out1"), "not me\n").unwrap();
    let file = dir.path().join("f[2].txt");
    std::fs::write(&file, "y\n").unwrap();
    let root = dir.path().display();
    // Literally: the directory `out[1]` (not the file `out1`, which the glob `out[1]` matches).
    let files = storage.list_inputs(&format!("{root}/out[1]")).unwrap();
    assert_eq!(files.iter().map(|f| f.name().unwrap()).collect::<Vec<_>>(), ["part-00000"]);
    assert_eq!(storage.list_inputs(file.to_str().unwrap()).unwrap()[0].name(), Some("f[2].txt"));
    // Not there as written: a glob.
    let files = storage.list_inputs(&format!("{root}/out[0-9]")).unwrap();
    assert_eq!(files.iter().map(|f| f.name().unwrap()).collect::<Vec<_>>(), ["out1"]);
    // Escaped brackets match the names holding them.
    let files = storage.list_inputs(&format!("{root}/out[[]1]/part-*")).unwrap();
    assert_eq!(files.len(), 1);
    let files = storage.list_inputs(&format!("{root}/f[[]?].txt")).unwrap();
    assert_eq!(files.iter().map(|f| f.name().unwrap()).collect::<Vec<_>>(), ["f[2].txt"]);
    // The same on an object store.
    storage.put("memory://lit/out[1]/part-00000", bytes::Bytes::from_static(b"z")).unwrap();
    assert_eq!(storage.list_inputs("memory://lit/out[1]").unwrap().len(), 1);
    assert!(storage.list_inputs("memory://lit/out[2]").unwrap_err().is_not_found());
}

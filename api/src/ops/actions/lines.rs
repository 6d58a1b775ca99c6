//! How records become lines of text: [`TextLine`] for `save_as_text_file` (any `Display`
//! record) and [`TsvRecord`] for `save_as_tsv_file` (tuples of `Display` fields, as a
//! PySpark user's `str(tuple)` needs no hand-written format either).

use std::fmt::{self, Display};

/// A record that `save_as_text_file` writes as one line: every `Display` type, as its
/// `Display` form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be saved as text lines: it does not implement `Display`",
    note = "for pairs and other tuples of `Display` values use `save_as_tsv_file` (tab-separated \
            fields), or `map` each record to a `String` first"
)]
pub trait TextLine {
    /// Writes the line, without its newline.
    fn fmt_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: Display + ?Sized> TextLine for T {
    #[inline]
    fn fmt_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// A record that `save_as_tsv_file` writes as one line of tab-separated fields: tuples of
/// two to four `Display` values (`(word, count)` becomes `word<TAB>count`). A field's own
/// tabs and newlines are written as they are.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be saved as tab-separated fields",
    note = "save_as_tsv_file takes tuples of two to four `Display` values; `map` other records to one"
)]
pub trait TsvRecord {
    /// Writes the fields, separated by tabs, without the newline.
    fn fmt_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

macro_rules! tsv_tuple {
    ($first:ident $(, $rest:ident)+) => {
        impl<$first: Display, $($rest: Display),+> TsvRecord for ($first, $($rest),+) {
            #[allow(non_snake_case)]
            fn fmt_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let ($first, $($rest),+) = self;
                write!(f, "{}", $first)?;
                $(write!(f, "\t{}", $rest)?;)+
                Ok(())
            }
        }
    };
}

tsv_tuple!(A, B);
tsv_tuple!(A, B, C);
tsv_tuple!(A, B, C, D);

/// Formats a record through a line trait (`TextLine`, `TsvRecord`) as `Display`.
pub(crate) struct Line<'a, T: ?Sized>(pub(crate) &'a T, pub(crate) fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result);

impl<T: ?Sized> Display for Line<'_, T> {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.1)(self.0, f)
    }
}

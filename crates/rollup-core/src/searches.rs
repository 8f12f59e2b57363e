//! Instant search: which consecutive requests of one user are keystrokes of one search.
//!
//! A search-as-you-type box sends a request per keystroke ("a", "al", "alg", ... "algolia");
//! analytics counts the search once, as its final query. A request continues the previous one
//! of its user when one query is a prefix of the other (a character typed or erased), or when
//! they differ only in the last [`MAX_EDIT`] characters of the shorter one (a typo mended,
//! "algolai" then "algolia", with the requests in between debounced); an empty query (a
//! cleared box) continues nothing and is continued by nothing. Whether the requests are close
//! enough in time is the caller's rule (`gap`).

/// Characters at the end of the shorter query that an edit may change.
pub const MAX_EDIT: usize = 2;

/// Whether query `next` continues query `previous` (compared by characters when both are
/// UTF-8, else by bytes).
pub fn continues(previous: &[u8], next: &[u8]) -> bool {
    if previous.is_empty() || next.is_empty() {
        return false;
    }
    match (std::str::from_utf8(previous), std::str::from_utf8(next)) {
        (Ok(a), Ok(b)) => close(a.chars(), b.chars()),
        _ => close(previous.iter(), next.iter()),
    }
}

fn close<T: PartialEq>(
    a: impl Iterator<Item = T> + Clone,
    b: impl Iterator<Item = T> + Clone,
) -> bool {
    let common = a.clone().zip(b.clone()).take_while(|(x, y)| x == y).count();
    let shorter = a.count().min(b.count());
    common == shorter || (common >= 1 && common + MAX_EDIT >= shorter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: &str, b: &str) -> bool {
        continues(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn typing_erasing_and_mending_continue() {
        // Typed, erased (backspace), a word added.
        assert!(c("alg", "algo"));
        assert!(c("algolia", "algol"));
        assert!(c("algolia", "algolia search"));
        assert!(c("a", "a"));
        // The last characters mended.
        assert!(c("algolai", "algolia"));
        assert!(c("car", "cat"));
        assert!(c("ca", "co"));
        assert!(c("caf", "café"));
        assert!(c("cafe", "café"));
    }

    #[test]
    fn other_queries_and_cleared_boxes_do_not() {
        assert!(!c("apple", "banana"));
        assert!(!c("a", "b"));
        assert!(!c("algolia", "algebra"));
        assert!(!c("", "a"));
        assert!(!c("a", ""));
        assert!(!c("", ""));
        // Characters, not bytes: é and è share their first UTF-8 byte.
        assert!(!c("é", "è"));
        assert!(c("xé", "xè"));
    }

    #[test]
    fn bytes_that_are_not_utf8_compare_as_bytes() {
        assert!(continues(b"caf\xe9", b"caf\xe9s"));
        assert!(!continues(b"\xe9", b"\xe8"));
    }
}

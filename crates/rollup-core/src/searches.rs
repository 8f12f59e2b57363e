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

/// One request (or a search still open, carried over as its last request), as the walk sees
/// it: times in microseconds, the query as a range of a shared byte buffer.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub at: i64,
    pub id: i64,
    /// The time of the first request of the search it carries (its own time for a request).
    pub first: i64,
    /// The requests it stands for (1 for a request).
    pub keystrokes: i64,
    /// Its position in the order the requests were given (1-based).
    pub position: i64,
    pub query: (u32, u32),
}

/// A search: the position, id and query of its last request (the search's final query), its
/// first and last times, its keystrokes, and whether it is finished (another search of the
/// user follows it; whether the user's last one is, the caller's horizon decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Search {
    pub last_position: i64,
    pub query: (u32, u32),
    pub last_id: i64,
    pub first: i64,
    pub last: i64,
    pub keystrokes: i64,
    pub finished: bool,
}

/// The searches of one user's `requests` (sorted here by time, then id), whose queries are
/// ranges of `text`: a request joins the search before it when it comes within `gap` of that
/// search's last request and continues its query. Every search but the last is finished.
/// Searches whose final query is empty (a cleared box) are left out.
pub fn walk(requests: &mut [Request], text: &[u8], gap: i64) -> Vec<Search> {
    requests.sort_unstable_by_key(|r| (r.at, r.id));
    let query = |r: &Request| &text[r.query.0 as usize..(r.query.0 + r.query.1) as usize];
    let mut out = Vec::new();
    let mut open: Option<(Search, Request)> = None;
    for r in requests.iter() {
        if let Some((s, last)) = &mut open {
            if r.at.saturating_sub(last.at) <= gap && continues(query(last), query(r)) {
                s.first = s.first.min(r.first);
                s.keystrokes += r.keystrokes;
                (s.last_position, s.query, s.last_id, s.last) = (r.position, r.query, r.id, r.at);
                *last = *r;
                continue;
            }
        }
        if let Some((s, last)) = open.take() {
            if !query(&last).is_empty() {
                out.push(Search {
                    finished: true,
                    ..s
                });
            }
        }
        let s = Search {
            last_position: r.position,
            query: r.query,
            last_id: r.id,
            first: r.first,
            last: r.at,
            keystrokes: r.keystrokes,
            finished: false,
        };
        open = Some((s, *r));
    }
    if let Some((s, last)) = open {
        if !query(&last).is_empty() {
            out.push(s);
        }
    }
    out
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

    #[test]
    fn the_walk_collapses_a_users_requests() {
        let queries = ["a", "al", "alg", "", "b", "ba", "bar", "x"];
        let mut text = Vec::new();
        let mut requests = Vec::new();
        // (time in ms, query), given out of order.
        for (i, &(ms, q)) in [
            (0, 0),
            (400, 2),
            (200, 1),
            (900, 3),
            (1000, 4),
            (1300, 5),
            (6000, 6),
            (6100, 7),
        ]
        .iter()
        .enumerate()
        {
            let start = text.len() as u32;
            text.extend_from_slice(queries[q].as_bytes());
            requests.push(Request {
                at: ms * 1000,
                id: i as i64 + 10,
                first: ms * 1000,
                keystrokes: 1,
                position: i as i64 + 1,
                query: (start, queries[q].len() as u32),
            });
        }
        let gap = 3_000_000;
        let searches = walk(&mut requests, &text, gap);
        // "alg" (3 requests, ended by the cleared box), "ba" (2), "bar" (after 4.7 s), "x" (the
        // last: open).
        let got: Vec<(i64, i64, bool)> = searches
            .iter()
            .map(|s| (s.last / 1000, s.keystrokes, s.finished))
            .collect();
        assert_eq!(
            got,
            vec![
                (400, 3, true),
                (1300, 2, true),
                (6000, 1, true),
                (6100, 1, false)
            ]
        );
        assert_eq!(searches[0].last_position, 2);
        assert_eq!(searches[0].last_id, 11);
    }
}

//! The release files name the version being built (the workspace's, which is the extension's):
//! PGXN's META.json, twice (the distribution and the extension it provides), and CHANGELOG.md.

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn meta_json_names_this_version() {
    let meta = include_str!("../../../META.json");
    assert_eq!(
        meta.matches(&format!("\"version\": \"{VERSION}\"")).count(),
        2,
        "META.json must give version {VERSION} for the distribution and for pg_rollup"
    );
}

#[test]
fn changelog_has_this_version() {
    let changelog = include_str!("../../../CHANGELOG.md");
    assert!(
        changelog.contains(&format!("\n## {VERSION} ")),
        "CHANGELOG.md has no section for {VERSION}"
    );
}

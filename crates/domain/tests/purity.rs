//! The domain crate stays pure: its only dependency is `thiserror`.

#[test]
fn domain_depends_on_nothing_with_io() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or("");
    let names: Vec<&str> = deps
        .lines()
        .filter_map(|l| l.split(['=', '.']).next())
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect();
    assert_eq!(
        names,
        ["thiserror"],
        "kakunin-domain must not depend on I/O crates"
    );
    for forbidden in [
        "tokio", "sqlx", "rusqlite", "axum", "serde", "reqwest", "hyper",
    ] {
        assert!(!names.contains(&forbidden));
    }
}

//! Benchmarks of the bundled policies live in `benches/`; run them with
//! `cargo bench -p rustland-policy-bench`. This library is empty.

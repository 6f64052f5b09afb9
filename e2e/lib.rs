//! Nothing here: the crate is its tests (tests/), which drive every function together.

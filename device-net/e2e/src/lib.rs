//! Nothing here: the test is `tests/moves.rs`, run by `../cluster.sh`.

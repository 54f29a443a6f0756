//! Nothing: the test is in tests/moves.rs.

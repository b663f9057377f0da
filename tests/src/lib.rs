//! polite's integration and end-to-end tests live in `tests/` of this crate. Today they drive
//! the domain across module boundaries; the adapters (moto) and the functions join them as
//! they land.

//! Switches that take one safety rule out, for the crate's own tests
//! only (`--cfg kevy_mutants`, which the test job sets; never a feature): the model check and the simulation show
//! that without the rule they find a counterexample. Without the feature
//! every switch is a constant `false`.

#[cfg(all(kevy_mutants, feature = "std"))]
std::thread_local! {
    static IGNORE_EPOCHS: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    static LATE_NEWS_LEARNED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Whether this thread's nodes learn news a recovered peer sent before
/// it lost its records (`Node::learn`'s fence for news off).
#[cfg(all(kevy_mutants, feature = "std"))]
pub(crate) fn late_news_learned() -> bool {
    LATE_NEWS_LEARNED.with(core::cell::Cell::get)
}

#[cfg(not(all(kevy_mutants, feature = "std")))]
#[inline(always)]
pub(crate) const fn late_news_learned() -> bool {
    false
}

/// Makes this thread's nodes learn news a recovered peer sent before it
/// lost its records. For mutation tests only.
#[cfg(all(kevy_mutants, feature = "std"))]
#[doc(hidden)]
pub fn learn_late_news(on: bool) {
    LATE_NEWS_LEARNED.with(|c| c.set(on));
}

/// Whether this thread's nodes skip the epoch fence on ingest.
#[cfg(all(kevy_mutants, feature = "std"))]
pub(crate) fn epochs_ignored() -> bool {
    IGNORE_EPOCHS.with(core::cell::Cell::get)
}

#[cfg(not(all(kevy_mutants, feature = "std")))]
#[inline(always)]
pub(crate) const fn epochs_ignored() -> bool {
    false
}

/// Makes this thread's nodes accept an ingest whatever its epoch (stale
/// and fenced-off moves included). For mutation tests only.
#[cfg(all(kevy_mutants, feature = "std"))]
#[doc(hidden)]
pub fn ignore_epochs(on: bool) {
    IGNORE_EPOCHS.with(|c| c.set(on));
}

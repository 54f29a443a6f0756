//! Power cut at every write and erase step of a persist: the node's image
//! in flash (sequential-storage over a NOR flash in RAM) reads back after
//! the "reboot" as the old image or the new one, never a mix, and the
//! node restores from it. The device suite runs the same check
//! (`support/src/flash.rs`) under QEMU.

use kevy_scope_support::flash as persist;
use persist::{CutMode, CutReport, power_cut_check};

/// Persists per geometry: enough for the store to fill every page and
/// reclaim pages several times over.
const PERSISTS: u32 = 240;

fn check<const ERASE: usize, const PAGES: usize>(mode: CutMode) -> CutReport {
    let mut mem = vec![0xFFu8; ERASE * PAGES];
    let mut snapshot = vec![0xFFu8; ERASE * PAGES];
    let report = power_cut_check::<ERASE>(&mut mem, &mut snapshot, PERSISTS, mode)
        .unwrap_or_else(|f| panic!("{ERASE} B x {PAGES} pages, {mode:?} cuts: {f:?}"));
    println!("{ERASE} B x {PAGES} pages, {mode:?} cuts: {report:?}");
    assert_eq!(report.persists, PERSISTS);
    // Every persist was cut at least at its item's write.
    assert!(report.cuts >= PERSISTS, "{report:?}");
    assert_eq!(
        report.cuts,
        report.old_read + report.new_read + report.none_read
    );
    // The store reclaimed pages along the way, and was cut while at it.
    assert!(report.with_erase >= 2, "{report:?}");
    // Without torn words, every word is written once between erases.
    if mode == CutMode::Clean {
        assert_eq!(report.reprograms, 0, "{report:?}");
    }
    report
}

#[test]
fn clean_cuts_on_small_pages_leave_old_or_new_image() {
    check::<256, 4>(CutMode::Clean);
}

#[test]
fn torn_cuts_on_small_pages_leave_old_or_new_image() {
    check::<256, 4>(CutMode::Torn);
}

#[test]
fn clean_cuts_on_1k_pages_leave_old_or_new_image() {
    check::<1024, 4>(CutMode::Clean);
}

#[test]
fn torn_cuts_on_1k_pages_leave_old_or_new_image() {
    check::<1024, 4>(CutMode::Torn);
}

#[test]
fn two_pages_are_enough() {
    check::<1024, 2>(CutMode::Torn);
}

/// The cut must be able to fail a check: a flash that forgets the item
/// header's write (a lying flash) is caught.
#[test]
fn the_check_reads_what_the_flash_holds() {
    use kevy_scope_support::embedded_storage::nor_flash::ReadNorFlash;
    let mut mem = vec![0xFFu8; 1024 * 2];
    let mut buf = [0u8; persist::IMAGE_CAP];
    {
        let flash = persist::RamFlash::<1024>::new(&mut mem);
        assert_eq!(flash.capacity(), 2048);
        let mut store = persist::open(flash).expect("two pages suffice");
        persist::save(&mut store, b"KVSI-not-really-an-image", &mut buf).expect("saved");
    }
    // Damage one byte of the stored item: the store no longer returns it.
    let at = mem
        .windows(4)
        .position(|w| w == b"KVSI")
        .expect("item in flash");
    mem[at + 5] ^= 0x01;
    let mut store = persist::open(persist::RamFlash::<1024>::new(&mut mem)).expect("store");
    let read = persist::load(&mut store, &mut buf).expect("readable");
    assert_eq!(read, None, "a damaged item must not be read back");
}

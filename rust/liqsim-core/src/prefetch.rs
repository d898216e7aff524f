//! Telling the processor which memory a loop is about to visit.
//!
//! A cascade closes accounts out deepest first, an order that has nothing to do with where the
//! accounts sit in memory: with a million accounts every close-out starts with cache misses on
//! its account's rows (hundreds of nanoseconds each, one after the other). The loop knows the
//! order in advance, so it asks for the rows of the accounts a few steps ahead; the hardware
//! fetches them while the current close-out runs. Only a hint: it changes no value anywhere, and
//! on processors other than x86-64 it does nothing.

/// Ask for the cache lines that hold `x` (at most four: a row of accounts is three or four).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    let start = x as *const T as usize;
    let size = std::mem::size_of::<T>().max(1);
    let (first, last) = (start / 64, (start + size - 1) / 64);
    let base = x as *const T as *const i8;
    for line in first..=last.min(first + 3) {
        // The line's first byte, as an offset from `x` (negative for the first line).
        hint(base.wrapping_add((line * 64).wrapping_sub(start)));
    }
}

#[inline(always)]
fn hint(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is `unsafe` only because it is declared with
    // `#[target_feature(enable = "sse")]`, and SSE is part of the x86-64 baseline, so the
    // instruction always exists. A prefetch never faults and never reads or writes memory as far
    // as the program can tell, whatever the address (here it is within a line of a live value).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_changes_nothing() {
        // Values of odd sizes and alignments, at the start and end of a vector: the hint is
        // harmless wherever it points and leaves every value as it was.
        let v: Vec<[u8; 177]> = (0..4u8).map(|i| [i; 177]).collect();
        for x in &v {
            prefetch(x);
        }
        prefetch(&0u8);
        prefetch(&());
        assert!(v.iter().enumerate().all(|(i, x)| x.iter().all(|&b| b as usize == i)));
    }
}

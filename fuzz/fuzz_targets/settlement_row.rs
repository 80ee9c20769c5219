//! Arbitrary bytes as an exported file, read as CSV (detected and forced encodings) and as JSON Lines,
//! through header mapping and row parsing: never a panic, every refused row with typed problems.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wardwatch_fuzz::settlement_row(data);
});

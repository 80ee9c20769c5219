//! Arbitrary bytes as one cell, through the value parsers (text, money, decimal, local time).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wardwatch_fuzz::cell_values(data);
});

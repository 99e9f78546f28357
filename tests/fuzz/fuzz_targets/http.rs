#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| esmtp_fuzz::http(data));

//! Memory does not grow with the message: a 64 MiB body through the MDA
//! path. The MDA reads esmtp's peak resident size (VmHWM) from
//! /proc/$PPID/status: by then the whole message has been read and spooled.

use crate::support::frontend::*;

#[test]
fn a_64_mib_message_streams_in_bounded_memory() {
    let env = Env::new("mda \"grep VmHWM /proc/$PPID/status > @DIR@/hwm; wc -c > @DIR@/size\"\n");
    let mut input = b"Subject: big\n\n".to_vec();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-\n";
    while input.len() < 64 << 20 {
        input.extend_from_slice(line);
    }
    let o = env.sendmail(&["bob"], &input);
    assert_status(&o, 0);
    let size: usize = env.read("size").trim().parse().unwrap();
    assert!(size > 64 << 20, "{size}");
    let hwm = env.read("hwm");
    let kib: u64 = hwm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{hwm:?}"));
    assert!(
        kib < 16 * 1024,
        "peak resident size {kib} KiB for a 64 MiB message"
    );
}

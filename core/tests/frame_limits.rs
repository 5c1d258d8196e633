//! The frame decoder never allocates for a frame beyond its limit: a
//! length prefix of 2 GiB is a typed error with no allocation to match,
//! checked with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rmq_core::protocol::frame::DEFAULT_MAX_FRAME_LEN;
use rmq_core::protocol::{FrameDecoder, FrameError};

/// Counts the largest single allocation (or growth) since the last reset.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests in this file run one at a time: the counter is process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

/// The largest allocation `f` made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    LARGEST.store(0, Ordering::Relaxed);
    f();
    LARGEST.load(Ordering::Relaxed)
}

#[test]
fn a_two_gib_length_prefix_is_refused_without_allocating_it() {
    let largest = largest_allocation(|| {
        let mut dec = FrameDecoder::default();
        dec.feed(&[0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        assert_eq!(
            dec.decode_next(),
            Err(FrameError::FrameTooLong {
                length: 0x7FFF_FFFF,
                max: DEFAULT_MAX_FRAME_LEN
            })
        );
        // Poisoned: later bytes are neither buffered nor decoded.
        dec.feed(&[0u8; 4096]);
        assert_eq!(dec.buffered_len(), 0);
        assert_eq!(dec.decode_next(), Err(FrameError::Poisoned));
    });
    assert!(largest < 64 * 1024, "largest allocation {largest} bytes");
}

#[test]
fn a_length_prefix_at_the_limit_reserves_at_most_the_limit() {
    let largest = largest_allocation(|| {
        let mut dec = FrameDecoder::default();
        let len = DEFAULT_MAX_FRAME_LEN as u32;
        dec.feed(&len.to_be_bytes());
        assert_eq!(dec.decode_next(), Ok(None));
    });
    assert!(
        largest <= DEFAULT_MAX_FRAME_LEN + 4 + 4096,
        "largest allocation {largest} bytes"
    );
}

#[test]
fn a_negative_length_prefix_is_refused_without_allocating() {
    let largest = largest_allocation(|| {
        let mut dec = FrameDecoder::default();
        dec.feed(&[0x80, 0, 0, 0]);
        assert_eq!(
            dec.decode_next(),
            Err(FrameError::LengthTooSmall {
                length: i64::from(i32::MIN)
            })
        );
    });
    assert!(largest < 64 * 1024, "largest allocation {largest} bytes");
}

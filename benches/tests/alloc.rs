//! The send path allocates nothing per message beyond the output buffer:
//! once `out` has grown to hold a frame, encoding the benchmark's
//! SEND_MESSAGE_V2 request again after `clear()` makes no allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use rmq_benches::{body_1k, send_v2_header, BODY_SIZE, SEND_PROPERTIES};
use rmq_core::protocol::codes::request_code;
use rmq_core::protocol::{decode_command, encode_request, CommandMeta, SerializeType};

struct Counting;

thread_local! {
    /// Allocations (and reallocations) made by this thread.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts calls in a thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

/// Encodes the request 1000 times into one cleared buffer after a warm-up
/// and returns the allocations made by those 1000 encodes.
fn steady_state_allocations(ser: SerializeType) -> usize {
    let header = send_v2_header();
    let body = body_1k();
    let meta = CommandMeta::request(request_code::SEND_MESSAGE_V2, 7);
    let mut out = BytesMut::new();
    encode_request(&mut out, ser, &meta, &header, &[], &body).unwrap();
    allocations_during(|| {
        for _ in 0..1000 {
            out.clear();
            encode_request(&mut out, ser, &meta, &header, &[], &body).unwrap();
        }
    })
}

#[test]
fn json_encode_request_allocates_nothing_after_warm_up() {
    assert_eq!(steady_state_allocations(SerializeType::Json), 0);
}

#[test]
fn binary_encode_request_allocates_nothing_after_warm_up() {
    assert_eq!(steady_state_allocations(SerializeType::RocketMq), 0);
}

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
}

#[test]
fn the_measured_frame_is_the_send_request() {
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let mut out = BytesMut::new();
        let meta = CommandMeta::request(request_code::SEND_MESSAGE_V2, 7);
        encode_request(&mut out, ser, &meta, &send_v2_header(), &[], &body_1k()).unwrap();
        let frame = out.freeze();
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len + 4, frame.len());
        let cmd = decode_command(frame.slice(4..)).unwrap();
        assert_eq!(cmd.code, request_code::SEND_MESSAGE_V2);
        assert_eq!(cmd.ext_fields.get("i"), Some(SEND_PROPERTIES));
        assert_eq!(cmd.ext_fields.get("n"), Some("broker-a"));
        assert_eq!(cmd.body.len(), BODY_SIZE);
    }
}

//! Any bytes, as a validly signed webhook body: parse, route and encode the queue messages,
//! checking `webhook_intake::invariants::route_and_encode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    webhook_intake::invariants::route_and_encode(body);
});

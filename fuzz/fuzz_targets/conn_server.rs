//! A server-side connection fed arbitrary client bytes; see `weft_fuzz::run_connection`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::Role;

fuzz_target!(|data: &[u8]| weft_fuzz::run_connection(Role::Server, data));

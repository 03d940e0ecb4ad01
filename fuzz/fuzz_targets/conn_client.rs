//! A client-side connection fed arbitrary server bytes; see `weft_fuzz::run_connection`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::Role;

fuzz_target!(|data: &[u8]| weft_fuzz::run_connection(Role::Client, data));

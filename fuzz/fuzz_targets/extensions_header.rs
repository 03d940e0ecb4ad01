//! `parse_extensions` on arbitrary text: whatever it accepts, its own `Display` writes back
//! in a form that parses to the same offers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::extensions::parse_extensions;

fuzz_target!(|data: &[u8]| {
    // A header value reaches the parser only as a str; non-UTF-8 is rejected before it.
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(offers) = parse_extensions(value) else {
        return;
    };
    let mut written = Vec::with_capacity(offers.len());
    for offer in &offers {
        let text = offer.to_string();
        assert_eq!(
            parse_extensions(&text).as_deref(),
            Ok(std::slice::from_ref(offer)),
            "{offer:?} written as {text:?}"
        );
        written.push(text);
    }
    let joined = written.join(", ");
    assert_eq!(
        parse_extensions(&joined),
        Ok(offers),
        "list written as {joined:?}"
    );
});

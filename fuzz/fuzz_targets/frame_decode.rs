//! `FrameHeader::decode` on arbitrary bytes: only its documented errors, and every header it
//! accepts survives a round trip through `encode`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_proto::ProtocolError;
use weft_proto::frame::{FrameHeader, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let (header, len) = match FrameHeader::decode(data) {
        Ok(Some(decoded)) => decoded,
        Ok(None) => {
            assert!(
                data.len() < MAX_HEADER_LEN,
                "need-more with a full header's worth"
            );
            return;
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    ProtocolError::ReservedOpCode(_)
                        | ProtocolError::InvalidLength
                        | ProtocolError::FragmentedControlFrame
                        | ProtocolError::ControlFrameTooLong(_)
                ),
                "undocumented decode error {e:?}"
            );
            return;
        }
    };
    assert!(
        len <= data.len() && len <= MAX_HEADER_LEN,
        "consumed {len} of {}",
        data.len()
    );
    // The input may use a longer length form than needed, so it can be longer than ours.
    assert!(len >= header.encoded_len());
    assert_eq!(FrameHeader::decode(&data[..len]), Ok(Some((header, len))));
    // Cancel safety for the layer above: any cut short of the whole header is "need more".
    for cut in 0..len {
        assert_eq!(FrameHeader::decode(&data[..cut]), Ok(None), "cut at {cut}");
    }

    let mut encoded = Vec::new();
    header.encode(&mut encoded);
    assert_eq!(encoded.len(), header.encoded_len());
    assert_eq!(
        FrameHeader::decode(&encoded),
        Ok(Some((header, encoded.len()))),
        "re-encoded header decodes differently"
    );
});

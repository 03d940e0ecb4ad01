//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1, RFC 7692 §5): its grammar, shared by
//! a client's offers and a server's answer.
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! A quoted value must be a token once unquoted. This module only reads and writes the header;
//! which extensions a connection runs is decided above it.
//!
//! ```
//! use weft_proto::extensions::parse_extensions;
//!
//! let offers = parse_extensions(
//!     "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"",
//! )?;
//! assert_eq!(offers.len(), 2);
//! assert_eq!(offers[1].param("server_max_window_bits"), Some(Some("10")));
//! assert_eq!(offers[0].to_string(), "permessage-deflate; client_max_window_bits");
//! # Ok::<(), weft_proto::extensions::ExtensionHeaderError>(())
//! ```

pub mod deflate;

use std::fmt;

use thiserror::Error;

/// One element of a `Sec-WebSocket-Extensions` header: an extension name and its parameters.
///
/// On the client side it is an offer; in a server's response it is what the server accepted.
/// Unknown extensions are kept like any other, so the layer above decides what to do with them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionOffer {
    /// The extension's token, for example `permessage-deflate`.
    pub name: String,
    /// The parameters in the order they appeared, each with its value if it had one. A value
    /// sent as a quoted string is stored unquoted.
    pub params: Vec<(String, Option<String>)>,
}

/// A `Sec-WebSocket-Extensions` value that does not follow the grammar of RFC 6455 §9.1.
///
/// Positions are byte offsets into the value that was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExtensionHeaderError {
    /// An extension or parameter name, or an unquoted value, is empty or holds a byte that a
    /// token may not contain.
    #[error("expected a token at byte {at}")]
    ExpectedToken {
        /// Where the token should have started.
        at: usize,
    },
    /// A quoted-string value has no closing quote.
    #[error("quoted string starting at byte {at} is not terminated")]
    UnterminatedQuote {
        /// The offset of the opening quote.
        at: usize,
    },
    /// A quoted-string value holds a control byte, or is not a token once unquoted (§9.1).
    #[error("quoted value starting at byte {at} is not a token once unquoted")]
    QuotedValueNotToken {
        /// The offset of the opening quote.
        at: usize,
    },
    /// Something other than `;`, `,` or the end of the value follows an element.
    #[error("unexpected byte {byte:#04x} at byte {at}")]
    UnexpectedByte {
        /// The byte found.
        byte: u8,
        /// Its offset.
        at: usize,
    },
}

/// Parses a `Sec-WebSocket-Extensions` value into its elements, in order, in one pass.
///
/// Whitespace around `,`, `;` and `=` is allowed, and empty list elements (`a, , b`) are skipped
/// as RFC 9110 §5.6.1 asks of recipients, so a blank value yields an empty list. When a message
/// carries the header more than once, join the field values with `", "` and parse the result
/// (RFC 9110 §5.3).
///
/// # Errors
///
/// An [`ExtensionHeaderError`] naming the first byte that breaks the grammar.
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer>, ExtensionHeaderError> {
    let mut cursor = Cursor {
        bytes: value.as_bytes(),
        pos: 0,
    };
    let mut offers = Vec::new();
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None => return Ok(offers),
            Some(b',') => cursor.pos += 1,
            Some(_) => {
                offers.push(cursor.offer()?);
                cursor.skip_ows();
                match cursor.peek() {
                    None => return Ok(offers),
                    Some(b',') => cursor.pos += 1,
                    Some(byte) => {
                        return Err(ExtensionHeaderError::UnexpectedByte {
                            byte,
                            at: cursor.pos,
                        });
                    }
                }
            }
        }
    }
}

impl ExtensionOffer {
    /// An element naming `name` with no parameters.
    pub fn new(name: impl Into<String>) -> Self {
        ExtensionOffer {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Appends a parameter, with or without a value.
    pub fn with_param(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        self.params.push((name.into(), value.map(str::to_owned)));
        self
    }

    /// Looks up the first parameter called `name` (ASCII case-insensitive): `None` when there
    /// is none, `Some(None)` when it has no value, `Some(Some(value))` otherwise.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(param, _)| param.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_deref())
    }
}

/// Formats the element as it appears on the wire: `name; param; param=value`. A value that is
/// not a token is written as a quoted string. The name and parameter names are written as
/// they are, so an element built by hand must hold tokens there to make a valid header.
impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            write!(f, "; {name}")?;
            match value {
                None => {}
                Some(value) if is_token(value) => write!(f, "={value}")?,
                Some(value) => {
                    f.write_str("=\"")?;
                    for c in value.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `s` is a non-empty HTTP token (RFC 9110 §5.6.2).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// One `extension`: its name and every `; param[=value]` after it.
    fn offer(&mut self) -> Result<ExtensionOffer, ExtensionHeaderError> {
        let mut offer = ExtensionOffer::new(self.token()?);
        loop {
            self.skip_ows();
            if self.peek() != Some(b';') {
                return Ok(offer);
            }
            self.pos += 1;
            self.skip_ows();
            let name = self.token()?;
            self.skip_ows();
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.skip_ows();
                Some(self.value()?)
            } else {
                None
            };
            offer.params.push((name, value));
        }
    }

    fn token(&mut self) -> Result<String, ExtensionHeaderError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(ExtensionHeaderError::ExpectedToken { at: start });
        }
        // Token bytes are ASCII, so the slice is whole characters.
        Ok(String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned())
    }

    fn value(&mut self) -> Result<String, ExtensionHeaderError> {
        if self.peek() != Some(b'"') {
            return self.token();
        }
        let open = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(ExtensionHeaderError::UnterminatedQuote { at: open });
            };
            self.pos += 1;
            let byte = match byte {
                b'"' => break,
                b'\\' => {
                    let Some(escaped) = self.peek() else {
                        return Err(ExtensionHeaderError::UnterminatedQuote { at: open });
                    };
                    self.pos += 1;
                    escaped
                }
                byte => byte,
            };
            // Anything outside tchar would fail the token check below anyway; failing here
            // also keeps control bytes and non-ASCII out of the string being built.
            if !is_tchar(byte) {
                return Err(ExtensionHeaderError::QuotedValueNotToken { at: open });
            }
            value.push(char::from(byte));
        }
        if value.is_empty() {
            return Err(ExtensionHeaderError::QuotedValueNotToken { at: open });
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Vec<ExtensionOffer> {
        parse_extensions(value).expect("valid extension header")
    }

    #[test]
    fn bare_name_has_no_params() {
        assert_eq!(
            parse("permessage-deflate"),
            [ExtensionOffer::new("permessage-deflate")]
        );
    }

    #[test]
    fn params_with_and_without_values() {
        let offers = parse("foo; a; b=1 ;c = \"x\"");
        assert_eq!(
            offers,
            [ExtensionOffer::new("foo")
                .with_param("a", None)
                .with_param("b", Some("1"))
                .with_param("c", Some("x"))]
        );
    }

    #[test]
    fn escapes_in_quoted_values_are_removed() {
        assert_eq!(parse("foo; a=\"1\\0\"")[0].param("a"), Some(Some("10")));
    }

    #[test]
    fn empty_list_elements_are_skipped() {
        assert_eq!(parse(" , a ,, b , ").len(), 2);
        assert!(parse("").is_empty());
    }

    #[test]
    fn quoted_value_that_is_not_a_token_is_refused() {
        assert_eq!(
            parse_extensions("foo; a=\"x y\""),
            Err(ExtensionHeaderError::QuotedValueNotToken { at: 7 })
        );
        assert_eq!(
            parse_extensions("foo; a=\"\""),
            Err(ExtensionHeaderError::QuotedValueNotToken { at: 7 })
        );
    }

    #[test]
    fn unterminated_quote_is_refused() {
        assert_eq!(
            parse_extensions("foo; a=\"10"),
            Err(ExtensionHeaderError::UnterminatedQuote { at: 7 })
        );
        assert_eq!(
            parse_extensions("foo; a=\"10\\"),
            Err(ExtensionHeaderError::UnterminatedQuote { at: 7 })
        );
    }

    #[test]
    fn missing_tokens_are_refused() {
        assert_eq!(
            parse_extensions("foo;"),
            Err(ExtensionHeaderError::ExpectedToken { at: 4 })
        );
        assert_eq!(
            parse_extensions("foo; a="),
            Err(ExtensionHeaderError::ExpectedToken { at: 7 })
        );
        assert_eq!(
            parse_extensions(";a"),
            Err(ExtensionHeaderError::ExpectedToken { at: 0 })
        );
    }

    #[test]
    fn junk_after_an_element_is_refused() {
        assert_eq!(
            parse_extensions("foo bar"),
            Err(ExtensionHeaderError::UnexpectedByte { byte: b'b', at: 4 })
        );
    }

    #[test]
    fn display_quotes_values_that_are_not_tokens() {
        let offer = ExtensionOffer::new("x").with_param("p", Some("a \"b\""));
        assert_eq!(offer.to_string(), "x; p=\"a \\\"b\\\"\"");
    }

    #[test]
    fn display_round_trips_parsed_offers() {
        let text = "permessage-deflate; client_max_window_bits; server_max_window_bits=10";
        assert_eq!(parse(text)[0].to_string(), text);
    }
}

//! Negotiation (RFC 7692 §5, §7.1): the client's offer, the server's choice among offers, and
//! the client's check of the answer.

use thiserror::Error;

use super::{DeflateConfig, DeflateParams, NAME};
use crate::extensions::ExtensionOffer;

/// The server's answer does not fit the client's offer (RFC 7692 §5: the client must fail the
/// connection).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeflateNegotiationError {
    /// A parameter that is unknown, repeated, or has a bad value.
    #[error("invalid permessage-deflate parameter {0:?}")]
    InvalidParameter(String),
    /// `client_max_window_bits` in the answer, though the offer did not include it.
    #[error("client_max_window_bits answered but not offered")]
    UnofferedClientWindow,
    /// The client asked for `server_no_context_takeover` and the answer lacks it.
    #[error("server_no_context_takeover requested but not granted")]
    ContextTakeoverKept,
    /// permessage-deflate answered more than once.
    #[error("permessage-deflate answered more than once")]
    Repeated,
}

/// The client's `Sec-WebSocket-Extensions` offer for `config`: browsers' plain offer, so any
/// server can accept it, plus the context-takeover requests `config` makes. The server's window
/// is left to the server: inflating with a 15-bit window reads any stream.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = ExtensionOffer::new(NAME);
    if config.request_no_context_takeover {
        offer = offer.with_param("server_no_context_takeover", None);
    }
    if config.no_context_takeover {
        offer = offer.with_param("client_no_context_takeover", None);
    }
    // Tells the server it may limit our window (our compressor never exceeds `window_bits`).
    offer = offer.with_param("client_max_window_bits", None);
    offer.to_string()
}

/// Parsed parameters of one offer or answer.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in an offer only).
    client_max_window_bits: Option<Option<u8>>,
}

fn parse(offer: &ExtensionOffer) -> Result<Params, DeflateNegotiationError> {
    let mut params = Params::default();
    for (name, value) in &offer.params {
        let bad = || DeflateNegotiationError::InvalidParameter(name.clone());
        let bits = |v: &Option<String>| -> Result<u8, DeflateNegotiationError> {
            // §7.1.2: a decimal from 8 to 15, no leading zeros.
            match v.as_deref() {
                Some(s) if !s.starts_with('0') && s.len() <= 2 => match s.parse::<u8>() {
                    Ok(b @ 8..=15) => Ok(b),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover"
                if value.is_none() && !params.server_no_context_takeover =>
            {
                params.server_no_context_takeover = true;
            }
            "client_no_context_takeover"
                if value.is_none() && !params.client_no_context_takeover =>
            {
                params.client_no_context_takeover = true;
            }
            "server_max_window_bits" if params.server_max_window_bits.is_none() => {
                params.server_max_window_bits = Some(bits(value)?);
            }
            "client_max_window_bits" if params.client_max_window_bits.is_none() => {
                params.client_max_window_bits = Some(match value {
                    None => None,
                    Some(_) => Some(bits(value)?),
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(params)
}

/// The server's choice: the first permessage-deflate offer it can meet, the parameters agreed,
/// and the answer for `Sec-WebSocket-Extensions`. Offers with invalid parameters are declined
/// (§5.1) and the next is tried; `None` if none fits.
pub fn server_negotiate(
    config: &DeflateConfig,
    offers: &[ExtensionOffer],
) -> Option<(DeflateParams, String)> {
    let ours = config.window_bits.clamp(8, 15);
    for offer in offers.iter().filter(|o| o.name.eq_ignore_ascii_case(NAME)) {
        let Ok(p) = parse(offer) else { continue };
        let server_bits = p.server_max_window_bits.unwrap_or(15).min(ours);
        let client_bits = match p.client_max_window_bits {
            // The client did not say it can limit its window: it uses 15.
            None => 15,
            Some(limit) => limit.unwrap_or(15).min(ours),
        };
        let params = DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover || config.no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover
                || config.request_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let mut answer = ExtensionOffer::new(NAME);
        if params.server_no_context_takeover {
            answer = answer.with_param("server_no_context_takeover", None);
        }
        if params.client_no_context_takeover {
            answer = answer.with_param("client_no_context_takeover", None);
        }
        if server_bits < 15 {
            answer = answer.with_param("server_max_window_bits", Some(&server_bits.to_string()));
        }
        if p.client_max_window_bits.is_some() && client_bits < 15 {
            answer = answer.with_param("client_max_window_bits", Some(&client_bits.to_string()));
        }
        return Some((params, answer.to_string()));
    }
    None
}

/// The client's check of the server's answer (§5.2 and §7.1): `None` if the server did not
/// accept permessage-deflate.
///
/// # Errors
///
/// [`DeflateNegotiationError`] if the answer does not fit the offer made from `config`; the
/// client must then fail the connection.
pub fn client_accept(
    config: &DeflateConfig,
    answers: &[ExtensionOffer],
) -> Result<Option<DeflateParams>, DeflateNegotiationError> {
    let mut found = answers.iter().filter(|a| a.name.eq_ignore_ascii_case(NAME));
    let Some(answer) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(DeflateNegotiationError::Repeated);
    }
    let p = parse(answer)?;
    let server_bits = p.server_max_window_bits.unwrap_or(15);
    if config.request_no_context_takeover && !p.server_no_context_takeover {
        return Err(DeflateNegotiationError::ContextTakeoverKept);
    }
    let client_bits = match p.client_max_window_bits {
        None => config.window_bits,
        // The server must name a value when it answers this parameter (§7.1.2.2).
        Some(None) => {
            return Err(DeflateNegotiationError::InvalidParameter(
                "client_max_window_bits".into(),
            ));
        }
        Some(Some(bits)) => bits.min(config.window_bits),
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover || config.no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }))
}

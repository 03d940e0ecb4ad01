//! Opcodes (RFC 6455 §5.2, §11.8): a closed space, so a closed enum.

use crate::error::ProtocolError;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: the next frame of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: the close handshake.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of a frame's first byte.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::ReservedOpCode`] for 0x3-0x7 and 0xB-0xF.
    pub fn from_u8(bits: u8) -> Result<OpCode, ProtocolError> {
        match bits {
            0x0 => Ok(OpCode::Continuation),
            0x1 => Ok(OpCode::Text),
            0x2 => Ok(OpCode::Binary),
            0x8 => Ok(OpCode::Close),
            0x9 => Ok(OpCode::Ping),
            0xA => Ok(OpCode::Pong),
            other => Err(ProtocolError::ReservedOpCode(other)),
        }
    }

    /// The four-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (close, ping, pong), §5.5.
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_opcodes_are_protocol_errors() {
        for bits in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                OpCode::from_u8(bits),
                Err(ProtocolError::ReservedOpCode(bits))
            );
        }
    }

    #[test]
    fn defined_opcodes_round_trip() {
        for bits in [0x0, 0x1, 0x2, 0x8, 0x9, 0xA] {
            assert_eq!(OpCode::from_u8(bits).map(OpCode::as_u8), Ok(bits));
        }
    }
}

//! Minimal protobuf wire-format reader over untrusted bytes.

use crate::ProtobufError;

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(reason: &str) -> ProtobufError {
    ProtobufError::Malformed(reason.to_string())
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(malformed("truncated varint"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(malformed("varint overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    /// Reads a field key: (field number, wire type).
    pub fn key(&mut self) -> Result<(u32, u8), ProtobufError> {
        let k = self.varint()?;
        let num = k >> 3;
        if num == 0 || num > u64::from(u32::MAX >> 3) {
            return Err(malformed("illegal field number"));
        }
        Ok((num as u32, (k & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed("length runs past the end of the message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| malformed("length too large"))?;
        self.take(n)
    }

    pub fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub fn fixed32(&mut self) -> Result<u32, ProtobufError> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_le_bytes(a))
    }

    /// Skips a field of an unknown number, as gogo-generated code does.
    pub fn skip(&mut self, wire: u8) -> Result<(), ProtobufError> {
        match wire {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.take(8).map(|_| ()),
            LEN => self.bytes().map(|_| ()),
            FIXED32 => self.take(4).map(|_| ()),
            _ => Err(malformed(
                "unsupported wire type (groups are not used by Kubernetes)",
            )),
        }
    }
}

/// Rejects a field whose wire type does not match its declared type, as
/// gogo-generated Unmarshal does.
pub(crate) fn expect(wire: u8, want: u8, what: &str) -> Result<(), ProtobufError> {
    if wire == want {
        Ok(())
    } else {
        Err(ProtobufError::Malformed(format!(
            "wrong wire type {wire} for {what}"
        )))
    }
}

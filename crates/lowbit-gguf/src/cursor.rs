//! A bounds-checked little-endian reader over the bytes of a GGUF file.
//!
//! Every read checks that the bytes are there and reports what was being read and at which
//! offset otherwise; no read can panic, whatever the file contains.

use crate::GgufError;

/// Position in a byte slice; reads advance it.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Current offset from the start of the file.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub(crate) fn truncated(&self, what: &str, needed: u64) -> GgufError {
        GgufError::Truncated {
            what: what.to_string(),
            offset: self.pos as u64,
            needed,
            available: self.remaining() as u64,
        }
    }

    pub(crate) fn invalid(&self, what: &str, message: impl Into<String>) -> GgufError {
        GgufError::Invalid {
            what: what.to_string(),
            offset: self.pos as u64,
            message: message.into(),
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.truncated(what, n))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(what, n))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, GgufError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, GgufError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: u64 byte length, then that many bytes of UTF-8 (no terminator).
    pub(crate) fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        // Checked against the bytes left before anything is allocated.
        let start = self.pos;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| GgufError::Invalid {
            what: what.to_string(),
            offset: start as u64,
            message: format!("string is not UTF-8 ({e})"),
        })
    }

    /// Advances to the next multiple of `alignment` (a power of two).
    pub(crate) fn align(&mut self, alignment: u64, what: &str) -> Result<(), GgufError> {
        let pos = self.pos as u64;
        let pad = (alignment - pos % alignment) % alignment;
        self.take(pad, what).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let b = [1u8, 0, 0, 0, 2];
        let mut c = Cursor::new(&b);
        assert_eq!(c.u32("x").unwrap(), 1);
        assert_eq!(c.u8("y").unwrap(), 2);
        let e = c.u16("the thing").unwrap_err().to_string();
        assert!(e.contains("the thing") && e.contains("offset 5"), "{e}");
        let mut c = Cursor::new(&b);
        assert!(c.take(u64::MAX, "huge").is_err());
    }
}

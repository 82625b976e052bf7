//! Typed metadata getters of [`GgufFile`]; their errors name the key.
//!
//! Integer getters accept any GGUF integer type whose value fits (writers differ: gguf-py
//! writes `u32` for most counts, others `i32` or `u64`); float getters accept f32 and f64.

use crate::{GgufError, GgufFile, GgufValue};

fn wrong(key: &str, expected: &'static str, v: &GgufValue) -> GgufError {
    GgufError::WrongType {
        key: key.to_string(),
        expected,
        found: format!("{} {v}", v.describe()),
    }
}

impl GgufFile {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata().get(key)
    }

    fn req(&self, key: &str) -> Result<&GgufValue, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_string(),
        })
    }

    /// `key` as a non-negative integer.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not an integer in `u64`.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.req(key)?;
        v.as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| wrong(key, "a non-negative integer", v))
    }

    /// `key` as a `u32` (token ids, counts).
    ///
    /// # Errors
    /// As [`GgufFile::get_u64`], plus [`GgufError::WrongType`] if it exceeds `u32`.
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        let v = self.req(key)?;
        v.as_integer()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| wrong(key, "an integer in 0..=u32::MAX", v))
    }

    /// `key` as an `i64`.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not an integer in `i64`.
    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        let v = self.req(key)?;
        v.as_integer()
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(|| wrong(key, "an integer in i64", v))
    }

    /// `key` as an f32 (an f64 value is rounded to f32).
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not a float.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        self.get_f64(key).map(|x| x as f32)
    }

    /// `key` as an f64 (an f32 value is widened exactly).
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not a float.
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.req(key)?;
        v.as_float().ok_or_else(|| wrong(key, "a float", v))
    }

    /// `key` as a bool.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not a bool.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        match self.req(key)? {
            GgufValue::Bool(b) => Ok(*b),
            v => Err(wrong(key, "a bool", v)),
        }
    }

    /// `key` as a string.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not a string.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.req(key)?;
        v.as_str().ok_or_else(|| wrong(key, "a string", v))
    }

    /// `key` as an array (of any element type).
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not an array.
    pub fn get_array(&self, key: &str) -> Result<&[GgufValue], GgufError> {
        let v = self.req(key)?;
        v.as_array().ok_or_else(|| wrong(key, "an array", v))
    }

    /// `key` as an array of strings.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not an array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let v = self.req(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| wrong(key, "an array of strings", v))?;
        items
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| wrong(key, "an array of strings", v))
            })
            .collect()
    }

    /// `key` as an array of integers, each converted to i64.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not an array of integers.
    pub fn get_i64_array(&self, key: &str) -> Result<Vec<i64>, GgufError> {
        let v = self.req(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| wrong(key, "an array of integers", v))?;
        items
            .iter()
            .map(|x| {
                x.as_integer()
                    .and_then(|i| i64::try_from(i).ok())
                    .ok_or_else(|| wrong(key, "an array of integers", v))
            })
            .collect()
    }

    /// `key` as an array of floats, each converted to f32.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`], or [`GgufError::WrongType`] if it is not an array of floats.
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, GgufError> {
        let v = self.req(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| wrong(key, "an array of floats", v))?;
        items
            .iter()
            .map(|x| {
                x.as_float()
                    .map(|f| f as f32)
                    .ok_or_else(|| wrong(key, "an array of floats", v))
            })
            .collect()
    }

    /// `Ok(None)` if `key` is absent, else `f(self, key)`: the optional form of any getter,
    /// e.g. `gguf.optional("llama.rope.freq_base", GgufFile::get_f32)`.
    ///
    /// # Errors
    /// Those of `f` when the key is present.
    pub fn optional<'a, T>(
        &'a self,
        key: &str,
        f: impl FnOnce(&'a GgufFile, &str) -> Result<T, GgufError>,
    ) -> Result<Option<T>, GgufError> {
        if self.get(key).is_some() {
            f(self, key).map(Some)
        } else {
            Ok(None)
        }
    }
}

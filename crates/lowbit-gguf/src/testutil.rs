//! A minimal GGUF writer for unit tests: builds files with arbitrary (also invalid) contents.

/// Key/value pairs and tensors to serialize; `build` lays them out as gguf.cpp expects.
pub(crate) struct Builder {
    pub version: u32,
    pub alignment: u64,
    kv: Vec<(String, u32, Vec<u8>)>,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

fn string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            version: 3,
            alignment: 32,
            kv: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Sets `key` (replacing an earlier value of the same key) to a raw tagged value.
    pub fn raw(mut self, key: &str, tag: u32, value: Vec<u8>) -> Self {
        self.kv.retain(|(k, _, _)| k != key);
        self.kv.push((key.to_string(), tag, value));
        self
    }
    pub fn u32(self, key: &str, v: u32) -> Self {
        self.raw(key, 4, v.to_le_bytes().to_vec())
    }
    pub fn f32(self, key: &str, v: f32) -> Self {
        self.raw(key, 6, v.to_le_bytes().to_vec())
    }
    pub fn bool(self, key: &str, v: bool) -> Self {
        self.raw(key, 7, vec![u8::from(v)])
    }
    pub fn str(self, key: &str, v: &str) -> Self {
        self.raw(key, 8, string(v))
    }
    pub fn str_array(self, key: &str, items: &[&str]) -> Self {
        let mut v = 8u32.to_le_bytes().to_vec();
        v.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for s in items {
            v.extend(string(s));
        }
        self.raw(key, 9, v)
    }
    pub fn i32_array(self, key: &str, items: &[i32]) -> Self {
        let mut v = 5u32.to_le_bytes().to_vec();
        v.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for x in items {
            v.extend_from_slice(&x.to_le_bytes());
        }
        self.raw(key, 9, v)
    }
    /// A tensor with ggml type id `type_id`; `data` is written at the next aligned offset.
    pub fn tensor(mut self, name: &str, dims: &[u64], type_id: u32, data: Vec<u8>) -> Self {
        self.tensors
            .push((name.to_string(), dims.to_vec(), type_id, data));
        self
    }
    /// An f32 tensor with values 0, 1, 2, ...
    pub fn f32_tensor(self, name: &str, dims: &[u64]) -> Self {
        let n: u64 = dims.iter().product();
        let data = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
        self.tensor(name, dims, 0, data)
    }

    fn pad(v: &mut Vec<u8>, a: u64) {
        while v.len() as u64 % a != 0 {
            v.push(0);
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut v = b"GGUF".to_vec();
        v.extend_from_slice(&self.version.to_le_bytes());
        v.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        v.extend_from_slice(&(self.kv.len() as u64).to_le_bytes());
        for (k, tag, val) in &self.kv {
            v.extend(string(k));
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(val);
        }
        let mut data = Vec::new();
        for (name, dims, ty, bytes) in &self.tensors {
            Self::pad(&mut data, self.alignment);
            v.extend(string(name));
            v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                v.extend_from_slice(&d.to_le_bytes());
            }
            v.extend_from_slice(&ty.to_le_bytes());
            v.extend_from_slice(&(data.len() as u64).to_le_bytes());
            data.extend_from_slice(bytes);
        }
        Self::pad(&mut v, self.alignment);
        v.extend(data);
        v
    }
}

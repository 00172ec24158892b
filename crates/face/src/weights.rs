//! Reading a TensorFlow.js weights manifest (`*-weights_manifest.json` and its `.bin` shards),
//! the format the face-api package ships its networks in: a list of groups, each naming its
//! shard files and the tensors laid end to end in them, with their shapes and, for quantised
//! tensors, the `scale` and `min` that turn a stored `q` back into `q * scale + min`.

use crate::FaceError;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    #[serde(default)]
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    dtype: String,
    scale: f32,
    min: f32,
}

/// How a tensor's values are stored: tfjs quantisation (`value = q · scale + min`) or plain.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    U8(f32, f32),
    U16(f32, f32),
    F32,
}

impl Encoding {
    fn width(self) -> usize {
        match self {
            Encoding::U8(..) => 1,
            Encoding::U16(..) => 2,
            Encoding::F32 => 4,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Encoding::U8(scale, min) => f32::from(b[0]) * scale + min,
            Encoding::U16(scale, min) => f32::from(u16::from_le_bytes([b[0], b[1]])) * scale + min,
            Encoding::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
}

/// A tensor: its shape and its values, row-major (TensorFlow's layout: filters are
/// height × width × in × out).
#[derive(Debug, Clone)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The tensors of one network, by name; each is taken once.
#[derive(Debug)]
pub struct Weights {
    model: String,
    tensors: HashMap<String, Tensor>,
}

/// Largest tensor accepted (elements): the biggest face-api tensor has 2.4 M.
const MAX_ELEMENTS: usize = 1 << 24;

impl Weights {
    /// Reads `dir/<model>-weights_manifest.json` and the shards it names.
    pub fn load(dir: &Path, model: &str) -> Result<Weights, FaceError> {
        let manifest_path = dir.join(format!("{model}-weights_manifest.json"));
        let manifest = std::fs::read(&manifest_path).map_err(|e| FaceError::Model {
            model: model.into(),
            detail: format!("{}: {e}", manifest_path.display()),
        })?;
        Self::parse(model, &manifest, |path| {
            // Shard names come from the manifest: only plain file names beside it.
            if path.contains('/') || path.contains('\\') || path.starts_with('.') {
                return Err(format!("shard name {path:?} is not a plain file name"));
            }
            std::fs::read(dir.join(path)).map_err(|e| format!("{path}: {e}"))
        })
    }

    /// Parses a manifest, reading shards with `read_shard`.
    pub fn parse(
        model: &str,
        manifest: &[u8],
        mut read_shard: impl FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Weights, FaceError> {
        let bad = |detail: String| FaceError::Model {
            model: model.into(),
            detail,
        };
        let groups: Vec<Group> = serde_json::from_slice(manifest)
            .map_err(|e| bad(format!("the weights manifest is not valid: {e}")))?;
        let mut tensors = HashMap::new();
        for group in groups {
            let mut buffer = Vec::new();
            for path in &group.paths {
                buffer.extend(read_shard(path).map_err(&bad)?);
            }
            let mut offset = 0usize;
            for entry in group.weights {
                let count = entry
                    .shape
                    .iter()
                    .try_fold(1usize, |n, &d| n.checked_mul(d))
                    .filter(|&n| n <= MAX_ELEMENTS)
                    .ok_or_else(|| {
                        bad(format!("{}: shape {:?} too large", entry.name, entry.shape))
                    })?;
                let encoding = match (&entry.quantization, entry.dtype.as_str()) {
                    (Some(q), "float32") if q.dtype == "uint8" => Encoding::U8(q.scale, q.min),
                    (Some(q), "float32") if q.dtype == "uint16" => Encoding::U16(q.scale, q.min),
                    (None, "float32") => Encoding::F32,
                    (q, dtype) => {
                        return Err(bad(format!(
                            "{}: unsupported dtype {dtype} (quantised as {:?})",
                            entry.name,
                            q.as_ref().map(|q| q.dtype.as_str())
                        )))
                    }
                };
                let width = encoding.width();
                let end = offset + count * width;
                let bytes = buffer.get(offset..end).ok_or_else(|| {
                    bad(format!(
                        "{}: the shards end at byte {} before the tensor does ({end})",
                        entry.name,
                        buffer.len()
                    ))
                })?;
                let data: Vec<f32> = bytes
                    .chunks_exact(width)
                    .map(|b| encoding.decode(b))
                    .collect();
                offset = end;
                tensors.insert(
                    entry.name,
                    Tensor {
                        shape: entry.shape,
                        data,
                    },
                );
            }
            if offset != buffer.len() {
                return Err(bad(format!(
                    "the shards hold {} bytes, the manifest describes {offset}",
                    buffer.len()
                )));
            }
        }
        Ok(Weights {
            model: model.into(),
            tensors,
        })
    }

    /// Takes the tensor `name`, which must have `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, FaceError> {
        let t = self.tensors.remove(name).ok_or_else(|| FaceError::Model {
            model: self.model.clone(),
            detail: format!("tensor {name} is missing"),
        })?;
        if t.shape != shape {
            return Err(FaceError::Model {
                model: self.model.clone(),
                detail: format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape),
            });
        }
        Ok(t)
    }

    /// The shape of `name`, when present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str, shard: Vec<u8>) -> Result<Weights, FaceError> {
        Weights::parse("m", json.as_bytes(), move |_| Ok(shard.clone()))
    }

    #[test]
    fn dequantises_uint8_and_reads_float32() {
        let json = r#"[{"paths":["m.bin"],"weights":[
            {"name":"a","shape":[2],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},
            {"name":"b","shape":[1],"dtype":"float32"}]}]"#;
        let mut shard = vec![0u8, 4];
        shard.extend(2.25f32.to_le_bytes());
        let mut w = manifest(json, shard).unwrap();
        assert_eq!(w.take("a", &[2]).unwrap().data, vec![-1.0, 1.0]);
        assert_eq!(w.take("b", &[1]).unwrap().data, vec![2.25]);
        assert!(w.take("a", &[2]).is_err(), "a tensor is taken once");
    }

    #[test]
    fn refuses_short_long_and_misshapen_input() {
        let json = r#"[{"paths":["m.bin"],"weights":[{"name":"a","shape":[4],"dtype":"float32","quantization":{"dtype":"uint8","scale":1,"min":0}}]}]"#;
        assert!(manifest(json, vec![0; 3]).is_err(), "short shard");
        assert!(manifest(json, vec![0; 5]).is_err(), "bytes left over");
        let mut w = manifest(json, vec![0; 4]).unwrap();
        assert!(w.take("a", &[2, 2]).is_err(), "wrong shape");
        assert!(manifest("{", vec![]).is_err());
        let int = r#"[{"paths":[],"weights":[{"name":"a","shape":[1],"dtype":"int32"}]}]"#;
        assert!(manifest(int, vec![0; 4]).is_err());
    }
}

//! Device selection at the edge (`--device`, recipe `train.devices`): one code path for every
//! backend, the backend is only a value of [`Device`] (DESIGN.md "one code path").
//!
//! Accepted specs: `cpu` (Burn's `flex` backend, the fast CPU backend measured in
//! `benches/README.md`), `cuda` / `cuda:N` (needs a build with `--features cuda`), `wgpu` (needs
//! `--features wgpu`; WGSL on whatever adapter wgpu picks, Mesa's software Vulkan included).

use burn::tensor::Device;
use thiserror::Error;

/// A device spec that this build cannot honour.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The spec is not one of the known forms.
    #[error("device `{spec}` is not one of cpu, cuda, cuda:N, wgpu")]
    Unknown {
        /// What was given.
        spec: String,
    },
    /// The backend exists but was not compiled in.
    #[error(
        "device `{spec}` needs the `{feature}` feature; rebuild with \
         `cargo build --release --features {feature}`"
    )]
    NotBuilt {
        /// What was given.
        spec: String,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// Data parallelism over several devices is CUDA-only (Burn 0.22.1 all-reduces through
    /// NCCL; its CPU and wgpu backends implement no collective operations).
    #[error(
        "devices {specs:?}: data parallelism needs two or more CUDA devices (`cuda:0`, `cuda:1`, …) \
         in a build with `--features cuda`; Burn 0.22.1 has no collectives for cpu or wgpu"
    )]
    Parallel {
        /// What was given.
        specs: Vec<String>,
    },
}

/// What a device spec names, before it is turned into a [`Device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The `flex` CPU backend.
    Cpu,
    /// CUDA device by index.
    Cuda(usize),
    /// The default wgpu adapter.
    Wgpu,
}

impl DeviceSpec {
    /// Parses `cpu`, `flex`, `cuda`, `cuda:N`, `wgpu` (case-insensitive, surrounding blanks
    /// ignored).
    pub fn parse(spec: &str) -> Result<Self, DeviceError> {
        let s = spec.trim().to_ascii_lowercase();
        let unknown = || DeviceError::Unknown {
            spec: spec.to_string(),
        };
        match s.as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "wgpu" => Ok(Self::Wgpu),
            _ => match s.strip_prefix("cuda:") {
                Some(i) => i.parse().map(Self::Cuda).map_err(|_| unknown()),
                None => Err(unknown()),
            },
        }
    }

    /// The Burn device, or why this build cannot make it.
    // `spec` only names the device in the not-built errors; a build with every backend has none.
    #[cfg_attr(all(feature = "cuda", feature = "wgpu"), allow(unused_variables))]
    pub fn device(self, spec: &str) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(_) => Err(DeviceError::NotBuilt {
                spec: spec.to_string(),
                feature: "cuda",
            }),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu => Err(DeviceError::NotBuilt {
                spec: spec.to_string(),
                feature: "wgpu",
            }),
        }
    }
}

/// One device from a spec.
pub fn parse_device(spec: &str) -> Result<Device, DeviceError> {
    DeviceSpec::parse(spec)?.device(spec)
}

/// The devices of a run: one device, or two or more CUDA devices for data parallelism.
pub fn parse_devices(specs: &[String]) -> Result<Vec<Device>, DeviceError> {
    let kinds = specs
        .iter()
        .map(|s| DeviceSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    match kinds.as_slice() {
        [] => Ok(vec![Device::flex()]),
        [k] => Ok(vec![k.device(&specs[0])?]),
        many => {
            let mut seen = std::collections::BTreeSet::new();
            if !many
                .iter()
                .all(|k| matches!(k, DeviceSpec::Cuda(i) if seen.insert(*i)))
            {
                return Err(DeviceError::Parallel {
                    specs: specs.to_vec(),
                });
            }
            many.iter().zip(specs).map(|(k, s)| k.device(s)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(DeviceSpec::parse("cpu"), Ok(DeviceSpec::Cpu));
        assert_eq!(DeviceSpec::parse(" FLEX "), Ok(DeviceSpec::Cpu));
        assert_eq!(DeviceSpec::parse("cuda"), Ok(DeviceSpec::Cuda(0)));
        assert_eq!(DeviceSpec::parse("cuda:3"), Ok(DeviceSpec::Cuda(3)));
        assert_eq!(DeviceSpec::parse("wgpu"), Ok(DeviceSpec::Wgpu));
        for bad in ["gpu", "cuda:", "cuda:x", "tpu:0", ""] {
            let e = DeviceSpec::parse(bad).unwrap_err();
            assert!(e.to_string().contains("cpu, cuda, cuda:N, wgpu"), "{e}");
        }
    }

    #[test]
    fn cpu_is_always_available_and_parallel_needs_distinct_cuda_devices() {
        assert_eq!(parse_devices(&["cpu".into()]).unwrap().len(), 1);
        assert_eq!(parse_devices(&[]).unwrap().len(), 1);
        let e = parse_devices(&["cpu".into(), "cpu".into()]).unwrap_err();
        assert!(matches!(e, DeviceError::Parallel { .. }), "{e}");
        let e = parse_devices(&["cuda:0".into(), "cuda:0".into()]).unwrap_err();
        assert!(matches!(e, DeviceError::Parallel { .. }), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_names_the_fix() {
        let e = parse_device("cuda:1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "device `cuda:1` needs the `cuda` feature; rebuild with \
             `cargo build --release --features cuda`"
        );
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_without_the_feature_names_the_fix() {
        let e = parse_device("wgpu").unwrap_err();
        assert!(e.to_string().contains("--features wgpu"), "{e}");
    }
}

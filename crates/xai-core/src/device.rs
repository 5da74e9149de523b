//! Choosing a device by name: `flex` (default CPU), `wgpu`, `cuda` behind cargo features.

use burn::tensor::Device;

use crate::error::{Result, XaiError};

/// The device names this build accepts.
pub fn available_devices() -> Vec<&'static str> {
    let mut v = vec!["flex"];
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    v
}

/// Parse a device name. `wgpu` picks the default adapter (a GPU if there is one, else Mesa's
/// software Vulkan driver); `wgpu-cpu` forces the CPU adapter; `wgpu:N` is the N-th discrete
/// GPU and `cuda:N` the N-th CUDA device (`cuda` = `cuda:0`).
pub fn parse_device(name: &str) -> Result<Device> {
    let (base, index) = match name.split_once(':') {
        Some((base, i)) => {
            let index = i.parse::<usize>().map_err(|_| {
                XaiError::Config(format!(
                    "device `{name}`: the index after `:` must be a number"
                ))
            })?;
            (base, Some(index))
        }
        None => (name, None),
    };
    match (base, index) {
        ("flex" | "cpu", None) => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        ("wgpu", None) => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "wgpu")]
        ("wgpu", Some(i)) => Ok(Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i))),
        #[cfg(feature = "wgpu")]
        ("wgpu-cpu", None) => Ok(Device::wgpu(burn::tensor::DeviceKind::Cpu)),
        #[cfg(feature = "cuda")]
        ("cuda", i) => Ok(Device::cuda(i.unwrap_or(0))),
        _ => Err(XaiError::DeviceUnavailable(name.to_string())),
    }
}

/// Parse a comma-separated device list (`cuda:0,cuda:1`), every name checked.
///
/// ```
/// assert_eq!(xai_core::device::parse_devices("flex,flex").unwrap().len(), 2);
/// assert!(xai_core::device::parse_devices("flex,,flex").is_err());
/// ```
pub fn parse_devices(list: &str) -> Result<Vec<Device>> {
    list.split(',')
        .map(|name| {
            let name = name.trim();
            if name.is_empty() {
                return Err(XaiError::Config(format!(
                    "--devices `{list}`: an empty name (expected e.g. cuda:0,cuda:1)"
                )));
            }
            parse_device(name)
        })
        .collect()
}

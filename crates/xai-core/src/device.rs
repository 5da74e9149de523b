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
/// software Vulkan driver); `wgpu-cpu` forces the CPU adapter.
pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "wgpu")]
        "wgpu-cpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::Cpu)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        other => Err(XaiError::DeviceUnavailable(other.to_string())),
    }
}

//! The initializers of an ONNX graph as burn parameters, named as the exporter named them.
//!
//! burn's `#[derive(Module)]` needs one field per parameter with a rank known at compile time;
//! an imported graph has any number of initializers of any rank. [`Weights`] implements
//! [`Module`] by hand over a list of parameters of rank 1 to 5, entering a module scope named
//! after each initializer, so the engine's capture names the ops that read `l1.weight` as
//! `l1.<op>` exactly as it names a burn-native `Linear` called `l1`.

use burn::module::{Devices, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, Device, Tensor, TensorData};

use xai_core::{Result, XaiError};

/// One parameter of static rank 1–5.
#[derive(Clone, Debug)]
pub(crate) enum AnyParam {
    R1(Param<Tensor<1>>),
    R2(Param<Tensor<2>>),
    R3(Param<Tensor<3>>),
    R4(Param<Tensor<4>>),
    R5(Param<Tensor<5>>),
}

macro_rules! each {
    ($p:expr, $x:ident => $e:expr) => {
        match $p {
            AnyParam::R1($x) => $e,
            AnyParam::R2($x) => $e,
            AnyParam::R3($x) => $e,
            AnyParam::R4($x) => $e,
            AnyParam::R5($x) => $e,
        }
    };
}

macro_rules! each_map {
    ($p:expr, $x:ident => $e:expr) => {
        match $p {
            AnyParam::R1($x) => AnyParam::R1($e),
            AnyParam::R2($x) => AnyParam::R2($e),
            AnyParam::R3($x) => AnyParam::R3($e),
            AnyParam::R4($x) => AnyParam::R4($e),
            AnyParam::R5($x) => AnyParam::R5($e),
        }
    };
}

impl AnyParam {
    fn new(data: TensorData, device: &Device, dtype: DType) -> Result<Self> {
        let data = data.convert_dtype(dtype);
        Ok(match data.shape().len() {
            1 => AnyParam::R1(Param::from_tensor(Tensor::from_data(data, (device, dtype)))),
            2 => AnyParam::R2(Param::from_tensor(Tensor::from_data(data, (device, dtype)))),
            3 => AnyParam::R3(Param::from_tensor(Tensor::from_data(data, (device, dtype)))),
            4 => AnyParam::R4(Param::from_tensor(Tensor::from_data(data, (device, dtype)))),
            5 => AnyParam::R5(Param::from_tensor(Tensor::from_data(data, (device, dtype)))),
            r => {
                return Err(XaiError::Config(format!(
                    "initializers of rank {r} are not supported (ranks 1 to 5 are)"
                )));
            }
        })
    }

    /// The current value as a rank-free primitive.
    pub(crate) fn value(&self) -> burn::backend::DispatchTensor {
        each!(self, p => p.val().into_dispatch())
    }
}

/// The float initializers of a graph, in first-use order, each with its ONNX name.
#[derive(Clone, Debug)]
pub struct Weights {
    pub(crate) names: Vec<String>,
    pub(crate) params: Vec<AnyParam>,
}

impl Weights {
    pub(crate) fn new() -> Self {
        Weights {
            names: Vec::new(),
            params: Vec::new(),
        }
    }

    /// Add an initializer; returns its index.
    pub(crate) fn push(
        &mut self,
        name: &str,
        data: TensorData,
        device: &Device,
        dtype: DType,
    ) -> Result<usize> {
        self.params.push(AnyParam::new(data, device, dtype)?);
        self.names.push(name.to_string());
        Ok(self.params.len() - 1)
    }

    /// The initializer names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many scalars the initializers hold.
    pub fn num_values(&self) -> usize {
        self.params
            .iter()
            .map(|p| each!(p, q => q.val().shape().num_elements()))
            .sum()
    }
}

/// The scope name of an initializer: dots separate modules, as in a burn module path; an empty
/// name (possible in hand-written graphs) gets a placeholder so paths stay well formed.
fn scope(name: &str) -> &str {
    if name.is_empty() { "initializer" } else { name }
}

impl Module for Weights {
    fn collect_devices(&self, mut devices: Devices) -> Devices {
        for p in &self.params {
            devices = each!(p, q => Module::collect_devices(q, devices));
        }
        devices
    }

    fn fork(self, device: &Device) -> Self {
        Weights {
            names: self.names,
            params: self
                .params
                .into_iter()
                .map(|p| each_map!(p, q => Module::fork(q, device)))
                .collect(),
        }
    }

    fn to_device(self, device: &Device) -> Self {
        Weights {
            names: self.names,
            params: self
                .params
                .into_iter()
                .map(|p| each_map!(p, q => Module::to_device(q, device)))
                .collect(),
        }
    }

    fn train(self) -> Self {
        Weights {
            names: self.names,
            params: self
                .params
                .into_iter()
                .map(|p| each_map!(p, q => Module::train(q)))
                .collect(),
        }
    }

    fn valid(&self) -> Self {
        Weights {
            names: self.names.clone(),
            params: self
                .params
                .iter()
                .map(|p| each_map!(p, q => Module::valid(q)))
                .collect(),
        }
    }

    fn materialize(self) -> Self {
        Weights {
            names: self.names,
            params: self
                .params
                .into_iter()
                .map(|p| each_map!(p, q => Module::materialize(q)))
                .collect(),
        }
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        for (name, p) in self.names.iter().zip(&self.params) {
            let name = scope(name);
            visitor.enter_module(name, "Initializer");
            each!(p, q => Module::visit(q, visitor));
            visitor.exit_module(name, "Initializer");
        }
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        let names = self.names;
        let params = names
            .iter()
            .zip(self.params)
            .map(|(name, p)| {
                let name = scope(name);
                mapper.enter_module(name, "Initializer");
                let p = each_map!(p, q => Module::map(q, mapper));
                mapper.exit_module(name, "Initializer");
                p
            })
            .collect();
        Weights { names, params }
    }
}

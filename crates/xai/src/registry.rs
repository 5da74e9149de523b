//! The method registry: every attribution method the program runs, under one canonical name,
//! with its settings ([`MethodConfig`], serde) and what it needs ([`Needs`]).
//!
//! `xai explain`, `xai bench`, `xai demo`, `xai fixture check` / `conformance` and `xai methods`
//! all dispatch through [`run`], so a method has one name everywhere (aliases such as `ig` are
//! accepted on input and reported under the canonical name). Adding a method means one [`METHODS`] entry, one [`MethodConfig`]
//! variant and one arm in [`run`].
//!
//! ```
//! use xai::registry::{lookup, MethodConfig};
//! assert_eq!(lookup("ig").unwrap().name, "integrated_gradients");
//! assert!(lookup("no_such_method").is_err());
//! let cfg = MethodConfig::default_for(lookup("kernelshap").unwrap(), 7);
//! assert_eq!(cfg.name(), "kernel_shap");
//! ```

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use xai_core::agnostic::{self as ag, BlackBox, References, Rows};
use xai_core::{Result, Target, XaiError};
use xai_glassbox::trees::TreeEnsemble;
use xai_glassbox::treeshap::{self as tree_shap, tree_shap, tree_shap_interventional};
use xai_grad::methods::deeplift::deeplift;
use xai_grad::methods::grad_cam::{CamMode, grad_cam};
use xai_grad::methods::guided_backprop::{deconvolution, guided_backprop};
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::lrp::{Composite, lrp};
use xai_grad::methods::noise_tunnel::{NoiseConfig, smoothgrad};
use xai_grad::methods::{Explainable, input_gradients};

/// What a method needs beyond the model and the inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// Gradients through a captured graph (burn models); otherwise forward passes only.
    pub gradients: bool,
    /// A reference input (baseline) per explained input.
    pub baseline: bool,
    /// A convolutional layer to read (its path in the model).
    pub conv_layer: bool,
    /// Draws random numbers (reproducible from the run's seed).
    pub seeded: bool,
    /// The most input features (or feature groups) it can take, if bounded.
    pub max_features: Option<usize>,
    /// A tree ensemble (its structure, not only its predictions).
    pub tree_ensemble: bool,
}

/// One registered method.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MethodInfo {
    /// Canonical name (snake case).
    pub name: &'static str,
    /// Other accepted spellings.
    pub aliases: &'static [&'static str],
    /// One line for `xai methods`.
    pub summary: &'static str,
    /// Requirements.
    pub needs: Needs,
    /// Its settings when nothing is set, given the run's seed (model-dependent fields empty:
    /// see [`MethodConfig::for_problem`]).
    #[serde(skip)]
    pub default_config: fn(u64) -> MethodConfig,
}

const GRAD: Needs = Needs {
    gradients: true,
    baseline: false,
    conv_layer: false,
    seeded: false,
    max_features: None,
    tree_ensemble: false,
};

/// What a perturbation method needs: forward passes and references.
const AGNOSTIC: Needs = Needs {
    gradients: false,
    baseline: true,
    conv_layer: false,
    seeded: false,
    max_features: None,
    tree_ensemble: false,
};

/// What TreeSHAP needs: the trees.
const TREES: Needs = Needs {
    gradients: false,
    baseline: false,
    conv_layer: false,
    seeded: false,
    max_features: None,
    tree_ensemble: true,
};

/// Every method, in the order reports list them.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "saliency",
        aliases: &["gradient", "vanilla_gradient"],
        summary: "gradient of the target logit (Simonyan et al., 2014)",
        default_config: |_| MethodConfig::Saliency,
        needs: GRAD,
    },
    MethodInfo {
        name: "input_x_gradient",
        aliases: &["gradient_x_input"],
        summary: "input times gradient (Shrikumar et al., 2016)",
        default_config: |_| MethodConfig::InputXGradient,
        needs: GRAD,
    },
    MethodInfo {
        name: "integrated_gradients",
        aliases: &["ig"],
        summary: "path integral of gradients from a baseline (Sundararajan et al., 2017)",
        default_config: |_| MethodConfig::IntegratedGradients(IgConfig::default()),
        needs: Needs {
            baseline: true,
            ..GRAD
        },
    },
    MethodInfo {
        name: "smoothgrad",
        aliases: &["smooth_grad"],
        summary: "mean gradient over noisy copies (Smilkov et al., 2017)",
        default_config: |seed| {
            MethodConfig::Smoothgrad(NoiseConfig {
                seed,
                ..NoiseConfig::default()
            })
        },
        needs: Needs {
            seeded: true,
            ..GRAD
        },
    },
    MethodInfo {
        name: "guided_backprop",
        aliases: &["guided"],
        summary: "gradient with ReLUs passing positive signal only (Springenberg et al., 2015)",
        default_config: |_| MethodConfig::GuidedBackprop,
        needs: GRAD,
    },
    MethodInfo {
        name: "deconvolution",
        aliases: &["deconvnet"],
        summary: "gradient with ReLUs applied to the backward signal (Zeiler & Fergus, 2014)",
        default_config: |_| MethodConfig::Deconvolution,
        needs: GRAD,
    },
    MethodInfo {
        name: "lrp",
        aliases: &["lrp_epsilon_plus"],
        summary: "layer-wise relevance propagation, ε+ composite by default (Bach et al., 2015)",
        default_config: |_| MethodConfig::Lrp(Composite::epsilon_plus()),
        needs: GRAD,
    },
    MethodInfo {
        name: "deeplift",
        aliases: &["deeplift_rescale"],
        summary: "DeepLIFT rescale rule against a baseline (Shrikumar et al., 2017)",
        default_config: |_| MethodConfig::Deeplift,
        needs: Needs {
            baseline: true,
            ..GRAD
        },
    },
    MethodInfo {
        name: "grad_cam",
        aliases: &["gradcam"],
        summary: "class activation map of the last conv layer (Selvaraju et al., 2017)",
        default_config: |_| MethodConfig::GradCam {
            layer: String::new(),
        },
        needs: Needs {
            conv_layer: true,
            ..GRAD
        },
    },
    MethodInfo {
        name: "feature_ablation",
        aliases: &["ablation"],
        summary: "output drop when each feature is replaced by its reference (Captum's FeatureAblation)",
        default_config: |_| MethodConfig::FeatureAblation(ag::FeatureAblation::default()),
        needs: AGNOSTIC,
    },
    MethodInfo {
        name: "shapley_exact",
        aliases: &["exact_shapley"],
        summary: "Shapley values by enumerating every coalition (Shapley, 1953)",
        default_config: |_| MethodConfig::ShapleyExact(ag::RunOptions::default()),
        needs: Needs {
            max_features: Some(ag::shapley::MAX_EXACT_GROUPS),
            ..AGNOSTIC
        },
    },
    MethodInfo {
        name: "occlusion",
        aliases: &[],
        summary: "output drop when a sliding window is replaced by the baseline (Zeiler & Fergus, 2014)",
        default_config: |_| {
            MethodConfig::Occlusion(ag::Occlusion {
                shape: Vec::new(),
                window: Vec::new(),
                strides: Vec::new(),
                run: ag::RunOptions::default(),
            })
        },
        needs: AGNOSTIC,
    },
    MethodInfo {
        name: "kernel_shap",
        aliases: &["kernelshap"],
        summary: "Shapley values by weighted regression on coalitions (Lundberg & Lee, 2017)",
        default_config: |seed| {
            MethodConfig::KernelShap(ag::KernelShap {
                seed,
                ..ag::KernelShap::default()
            })
        },
        needs: Needs {
            seeded: true,
            ..AGNOSTIC
        },
    },
    MethodInfo {
        name: "lime",
        aliases: &["lime_tabular"],
        summary: "local linear surrogate on perturbed samples (Ribeiro et al., 2016)",
        default_config: |seed| {
            MethodConfig::Lime(ag::LimeTabular {
                seed,
                ..ag::LimeTabular::default()
            })
        },
        needs: Needs {
            baseline: false,
            seeded: true,
            ..AGNOSTIC
        },
    },
    MethodInfo {
        name: "tree_shap",
        aliases: &["treeshap"],
        summary: "exact path-dependent TreeSHAP of a tree ensemble, in its margin (Lundberg et al., 2020)",
        default_config: |_| MethodConfig::TreeShap,
        needs: TREES,
    },
    MethodInfo {
        name: "tree_shap_interventional",
        aliases: &["interventional_tree_shap"],
        summary: "exact interventional TreeSHAP against the references (Lundberg et al., 2020)",
        default_config: |_| MethodConfig::TreeShapInterventional,
        needs: Needs {
            baseline: true,
            ..TREES
        },
    },
];

impl MethodInfo {
    /// Why the method cannot run on a model with per-sample inputs of `input_shape` whose last
    /// conv layer is `conv_layer`; `None` when it can.
    pub fn unavailable(
        &self,
        kind: ModelKind,
        input_shape: &[usize],
        conv_layer: Option<&str>,
    ) -> Option<String> {
        if self.needs.gradients && kind == ModelKind::Trees {
            return Some("it needs gradients, and a tree ensemble is piecewise constant".into());
        }
        if self.needs.tree_ensemble && kind != ModelKind::Trees {
            return Some("it needs a tree ensemble (an XGBoost or LightGBM model)".into());
        }
        if self.needs.conv_layer && (conv_layer.is_none() || input_shape.len() != 3) {
            return Some("it needs image inputs [C, H, W] and a conv layer".into());
        }
        let features: usize = input_shape.iter().product();
        match self.needs.max_features {
            Some(max) if features > max => Some(format!(
                "it takes at most {max} features (or feature groups), the model has {features}"
            )),
            _ => None,
        }
    }
}

/// The method named `name` (canonical or alias); an unknown name is an error listing them all.
pub fn lookup(name: &str) -> Result<&'static MethodInfo> {
    METHODS
        .iter()
        .find(|m| m.name == name || m.aliases.contains(&name))
        .ok_or_else(|| {
            XaiError::Config(format!(
                "unknown method `{name}` (one of: {})",
                names().join(", ")
            ))
        })
}

/// Canonical names, in registry order.
pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// A method with its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum MethodConfig {
    /// Plain gradient.
    Saliency,
    /// Input ⊙ gradient.
    InputXGradient,
    /// Integrated gradients.
    IntegratedGradients(IgConfig),
    /// SmoothGrad.
    Smoothgrad(NoiseConfig),
    /// Guided backpropagation.
    GuidedBackprop,
    /// Deconvnet.
    Deconvolution,
    /// LRP with the composite's rules (the default is ε+: ε on dense layers, z⁺ on convolutions).
    Lrp(Composite),
    /// DeepLIFT rescale.
    Deeplift,
    /// Grad-CAM at `layer`, upsampled bilinearly to the input and repeated over its channels.
    GradCam {
        /// The conv layer's module path (`layers.3`, `conv2`).
        layer: String,
    },
    /// Feature ablation.
    FeatureAblation(ag::FeatureAblation),
    /// Exact Shapley values.
    ShapleyExact(ag::RunOptions),
    /// Occlusion; window and strides over the per-sample input shape.
    Occlusion(ag::Occlusion),
    /// KernelSHAP.
    KernelShap(ag::KernelShap),
    /// LIME on tabular rows.
    Lime(ag::LimeTabular),
    /// Path-dependent TreeSHAP.
    TreeShap,
    /// Interventional TreeSHAP against the problem's references.
    TreeShapInterventional,
}

impl MethodConfig {
    /// The canonical name of the configured method.
    pub fn name(&self) -> &'static str {
        match self {
            MethodConfig::Saliency => "saliency",
            MethodConfig::InputXGradient => "input_x_gradient",
            MethodConfig::IntegratedGradients(_) => "integrated_gradients",
            MethodConfig::Smoothgrad(_) => "smoothgrad",
            MethodConfig::GuidedBackprop => "guided_backprop",
            MethodConfig::Deconvolution => "deconvolution",
            MethodConfig::Lrp(_) => "lrp",
            MethodConfig::Deeplift => "deeplift",
            MethodConfig::GradCam { .. } => "grad_cam",
            MethodConfig::FeatureAblation(_) => "feature_ablation",
            MethodConfig::ShapleyExact(_) => "shapley_exact",
            MethodConfig::Occlusion(_) => "occlusion",
            MethodConfig::KernelShap(_) => "kernel_shap",
            MethodConfig::Lime(_) => "lime",
            MethodConfig::TreeShap => "tree_shap",
            MethodConfig::TreeShapInterventional => "tree_shap_interventional",
        }
    }

    /// What the method costs per input before it runs, in forward passes of the model (a
    /// backward pass counted as two): gradient and rule methods one forward and one backward
    /// per path point or noise sample; perturbation methods one forward per perturbed copy.
    /// Tree methods walk trees, not the model: 1. `features` is the input width.
    pub fn forward_passes_per_input(&self, features: usize) -> f64 {
        let groups = |g: &Option<ag::FeatureGroups>| g.as_ref().map_or(features, |g| g.count());
        match self {
            MethodConfig::Saliency
            | MethodConfig::InputXGradient
            | MethodConfig::GuidedBackprop
            | MethodConfig::Deconvolution
            | MethodConfig::Lrp(_)
            | MethodConfig::GradCam { .. } => 3.0,
            // The input's and the baseline's forwards, one backward.
            MethodConfig::Deeplift => 4.0,
            MethodConfig::IntegratedGradients(c) => {
                3.0 * if c.tolerance.is_some() {
                    c.max_steps.max(c.n_steps)
                } else {
                    c.n_steps
                } as f64
            }
            MethodConfig::Smoothgrad(c) => 3.0 * c.samples as f64,
            MethodConfig::FeatureAblation(a) => 1.0 + groups(&a.groups) as f64,
            MethodConfig::ShapleyExact(_) => 2f64.powi(features.min(1023) as i32),
            MethodConfig::Occlusion(o) => {
                let windows: f64 = o
                    .shape
                    .iter()
                    .zip(o.window.iter().zip(&o.strides))
                    .map(|(&n, (&w, &s))| (n.saturating_sub(w) / s.max(1) + 1) as f64)
                    .product();
                1.0 + windows
            }
            MethodConfig::KernelShap(k) => k.samples.max(1) as f64,
            MethodConfig::Lime(l) => l.samples.max(1) as f64,
            MethodConfig::TreeShap | MethodConfig::TreeShapInterventional => 1.0,
        }
    }

    /// The default settings of `method`, with `seed` for the stochastic ones. Grad-CAM's layer
    /// and occlusion's window depend on the model: set them with [`Problem`]'s fields
    /// (`conv_layer`, `input_shape`) through [`MethodConfig::for_problem`].
    pub fn default_for(method: &MethodInfo, seed: u64) -> MethodConfig {
        (method.default_config)(seed)
    }

    /// [`default_for`](Self::default_for), completed from the problem: Grad-CAM reads the
    /// problem's conv layer; occlusion slides a window of a quarter of each spatial side
    /// (whole channels) with half-window strides.
    pub fn for_problem<const D: usize>(
        method: &MethodInfo,
        seed: u64,
        problem: &Problem<'_, D>,
    ) -> Result<MethodConfig> {
        let mut cfg = MethodConfig::default_for(method, seed);
        match &mut cfg {
            MethodConfig::GradCam { layer } => {
                *layer = problem.conv_layer.clone().ok_or_else(|| {
                    XaiError::Config("grad_cam needs a model with a conv layer".into())
                })?;
            }
            MethodConfig::Occlusion(o) => {
                let shape = problem.input_shape.to_vec();
                let image = shape.len() == 3;
                o.window = shape
                    .iter()
                    .enumerate()
                    .map(|(d, &s)| if image && d == 0 { s } else { (s / 4).max(1) })
                    .collect();
                o.strides = o.window.iter().map(|w| (w / 2).max(1)).collect();
                o.shape = shape;
            }
            _ => {}
        }
        Ok(cfg)
    }

    /// Set the progress bar of the model-agnostic methods.
    pub fn with_progress(mut self, progress: bool) -> MethodConfig {
        match &mut self {
            MethodConfig::FeatureAblation(c) => c.run.progress = progress,
            MethodConfig::ShapleyExact(run) => run.progress = progress,
            MethodConfig::Occlusion(c) => c.run.progress = progress,
            MethodConfig::KernelShap(c) => c.run.progress = progress,
            MethodConfig::Lime(c) => c.run.progress = progress,
            _ => {}
        }
        self
    }
}

/// What a method explains: a model both as an [`Explainable`] (gradient methods) and as a
/// [`BlackBox`] on flattened rows (model-agnostic methods), the inputs in both forms, and the
/// references.
pub struct Problem<'a, const D: usize> {
    /// The model, for the methods that read more than its predictions.
    pub model: Model<'a, D>,
    /// The same model on flattened rows.
    pub black_box: &'a (dyn BlackBox + Sync),
    /// Inputs `[N, …input_shape]`.
    pub x: &'a Tensor<D>,
    /// The inputs as host rows, `N · F` values.
    pub rows: &'a [f64],
    /// Baseline of the gradient methods, shaped as `x`.
    pub baseline: &'a Tensor<D>,
    /// References of the model-agnostic methods.
    pub references: &'a References,
    /// The feature statistics LIME samples from; `None`: the inputs' own (computed per run).
    pub lime_stats: Option<&'a ag::TabularStats>,
    /// The explained outputs.
    pub target: &'a Target,
    /// Per-sample input shape (`[F]` or `[C, H, W]`).
    pub input_shape: &'a [usize],
    /// The last conv layer's path, if the model has one.
    pub conv_layer: Option<String>,
}

/// The model behind a [`Problem`].
#[derive(Clone, Copy)]
pub enum Model<'a, const D: usize> {
    /// A burn model through its captured graph: gradient, rule and perturbation methods.
    Burn(&'a Explainable<D>),
    /// A tree ensemble: TreeSHAP and the perturbation methods.
    Trees(&'a TreeEnsemble),
}

/// Which kind of model a [`Model`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ModelKind {
    /// A burn model.
    Burn,
    /// A tree ensemble.
    Trees,
}

impl<'a, const D: usize> Model<'a, D> {
    /// Its kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Burn(_) => ModelKind::Burn,
            Model::Trees(_) => ModelKind::Trees,
        }
    }

    fn explainable(&self, method: &str) -> Result<&'a Explainable<D>> {
        match self {
            Model::Burn(ex) => Ok(ex),
            Model::Trees(_) => Err(XaiError::Config(format!(
                "{method} needs gradients, and a tree ensemble has none"
            ))),
        }
    }

    fn trees(&self, method: &str) -> Result<&'a TreeEnsemble> {
        match self {
            Model::Trees(t) => Ok(t),
            Model::Burn(_) => Err(XaiError::Config(format!(
                "{method} needs a tree ensemble (an XGBoost or LightGBM model)"
            ))),
        }
    }
}

/// One method's result on every input.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    /// Canonical name.
    pub method: &'static str,
    /// The settings it ran with.
    pub settings: serde_json::Value,
    /// `N · F` values, one row per input in the input's layout.
    pub values: Vec<f64>,
    /// Completeness delta per input (`Σ attributions − (f(x) − f(baseline))`), where defined.
    pub completeness_delta: Option<Vec<f64>>,
}

/// Run `config` on `problem`.
pub fn run<const D: usize>(config: &MethodConfig, problem: &Problem<'_, D>) -> Result<Explanation> {
    let p = problem;
    let name = config.name();
    let ex = || p.model.explainable(name);
    let features: usize = p.input_shape.iter().product();
    let host = |t: Tensor<D>| xai_core::tensor_to_vec_f64(t);
    // explicit classes need no forward pass; predicted ones take one
    let classes = || ex()?.classes(p.x, p.target);
    let settings = serde_json::to_value(config).unwrap_or_default();
    let mut delta = None;
    let values = match config {
        MethodConfig::Saliency => host(input_gradients(ex()?, p.x, &classes()?)?)?,
        MethodConfig::InputXGradient => {
            host(input_gradients(ex()?, p.x, &classes()?)? * p.x.clone())?
        }
        MethodConfig::IntegratedGradients(cfg) => {
            let r = integrated_gradients(ex()?, p.x, p.baseline, p.target, cfg)?;
            delta = Some(r.delta);
            host(r.attributions)?
        }
        MethodConfig::Smoothgrad(cfg) => host(smoothgrad(ex()?, p.x, p.target, cfg)?)?,
        MethodConfig::GuidedBackprop => host(guided_backprop(ex()?, p.x, p.target)?)?,
        MethodConfig::Deconvolution => host(deconvolution(ex()?, p.x, p.target)?)?,
        MethodConfig::Lrp(composite) => host(lrp(ex()?, p.x, p.target, composite)?)?,
        MethodConfig::Deeplift => {
            let (a, d) = deeplift(ex()?, p.x, p.baseline, p.target)?;
            delta = Some(d);
            host(a)?
        }
        MethodConfig::GradCam { layer } => {
            let [_, h, w] = match p.input_shape {
                [c, h, w] => [*c, *h, *w],
                other => {
                    return Err(XaiError::Config(format!(
                        "grad_cam needs image inputs [C, H, W], not {other:?}"
                    )));
                }
            };
            let cam =
                grad_cam(ex()?, p.x, p.target, layer, CamMode::GradCam)?.upsample_bilinear(h, w);
            // one map per image, repeated over the channels to the input's layout
            cam.values
                .chunks(h * w)
                .flat_map(|c| c.iter().copied().cycle().take(features))
                .collect()
        }
        MethodConfig::FeatureAblation(cfg) => {
            let rows = Rows::new(p.rows, features)?;
            ag::feature_ablation(p.black_box, &rows, p.target, p.references, cfg)?.values
        }
        MethodConfig::ShapleyExact(run) => {
            let rows = Rows::new(p.rows, features)?;
            ag::exact_shapley(p.black_box, &rows, p.target, p.references, None, run)?.values
        }
        MethodConfig::Occlusion(cfg) => {
            let rows = Rows::new(p.rows, features)?;
            ag::occlusion(p.black_box, &rows, p.target, p.references, cfg)?.values
        }
        MethodConfig::KernelShap(cfg) => {
            let rows = Rows::new(p.rows, features)?;
            let r = ag::kernel_shap(p.black_box, &rows, p.target, p.references, cfg)?;
            delta = Some(
                r.attribution
                    .values
                    .chunks(features)
                    .zip(&r.delta)
                    .map(|(v, d)| v.iter().sum::<f64>() - d)
                    .collect(),
            );
            r.attribution.values
        }
        MethodConfig::TreeShap => {
            let trees = p.model.trees(name)?;
            let r = tree_shap(trees, p.rows)?;
            let classes = tree_targets(trees, &r, p.target)?;
            delta = Some(tree_delta(trees, &r, &classes, p.rows)?);
            tree_rows(&r, &classes)
        }
        MethodConfig::TreeShapInterventional => {
            let trees = p.model.trees(name)?;
            let (r, deltas) = match p.references {
                References::Background { rows, .. } => {
                    let r = tree_shap_interventional(trees, p.rows, rows)?;
                    (r, None)
                }
                // one reference per input: each input against its own
                References::PerInput(refs) => {
                    let mut values = Vec::with_capacity(p.rows.len() * trees.outputs());
                    let mut deltas = Vec::new();
                    for (x, r) in p.rows.chunks(features).zip(refs.chunks(features)) {
                        let one = tree_shap_interventional(trees, x, r)?;
                        values.extend(one.values);
                        deltas.push(one.expected_value);
                    }
                    let n = p.rows.len() / features.max(1);
                    let r = tree_shap::ShapValues {
                        values,
                        expected_value: vec![f64::NAN; trees.outputs()],
                        rows: n,
                        outputs: trees.outputs(),
                        features,
                    };
                    (r, Some(deltas))
                }
            };
            let classes = tree_targets(trees, &r, p.target)?;
            let margins = trees.margins(p.rows)?;
            let k = trees.outputs();
            delta = Some(
                classes
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| {
                        let e = deltas.as_ref().map_or(r.expected_value[c], |d| d[i][c]);
                        r.row(i, c).iter().sum::<f64>() - (margins[i * k + c] - e)
                    })
                    .collect(),
            );
            tree_rows(&r, &classes)
        }
        MethodConfig::Lime(cfg) => {
            let rows = Rows::new(p.rows, features)?;
            let own;
            let stats = match p.lime_stats {
                Some(s) => s,
                None => {
                    own = ag::TabularStats::from_training(p.rows, features, &[])?;
                    &own
                }
            };
            ag::lime_tabular(p.black_box, &rows, p.target, stats, cfg)?
                .attribution
                .values
        }
    };
    Ok(Explanation {
        method: config.name(),
        settings,
        values,
        completeness_delta: delta,
    })
}

/// The output each row explains: explicit classes, or the largest margin.
fn tree_targets(
    trees: &TreeEnsemble,
    r: &tree_shap::ShapValues,
    target: &Target,
) -> Result<Vec<usize>> {
    let k = trees.outputs();
    let classes = match target {
        Target::Classes(c) if c.len() == r.rows => c.clone(),
        Target::Class(c) => vec![*c; r.rows],
        Target::Predicted => {
            // For one output (binary log-odds, regression) there is only output 0.
            if k == 1 {
                vec![0; r.rows]
            } else {
                return Err(XaiError::Config(
                    "tree methods need explicit classes for multiclass models (resolve the \
                     predicted class first)"
                        .into(),
                ));
            }
        }
        other => {
            return Err(XaiError::Config(format!(
                "tree methods explain one output per row, not {other:?}"
            )));
        }
    };
    if let Some(&bad) = classes.iter().find(|&&c| c >= k) {
        return Err(XaiError::TargetOutOfRange {
            index: bad,
            classes: k,
        });
    }
    Ok(classes)
}

/// Each row's values for its explained output, `N · F`.
fn tree_rows(r: &tree_shap::ShapValues, classes: &[usize]) -> Vec<f64> {
    classes
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| r.row(i, c).to_vec())
        .collect()
}

/// Local accuracy: `Σ φ − (f(x) − E[f])` per row.
fn tree_delta(
    trees: &TreeEnsemble,
    r: &tree_shap::ShapValues,
    classes: &[usize],
    rows: &[f64],
) -> Result<Vec<f64>> {
    let margins = trees.margins(rows)?;
    let k = trees.outputs();
    Ok(classes
        .iter()
        .enumerate()
        .map(|(i, &c)| r.row(i, c).iter().sum::<f64>() - (margins[i * k + c] - r.expected_value[c]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_say_why_they_cannot_run_on_a_model() {
        let (cam, exact, ig) = (
            lookup("grad_cam").unwrap(),
            lookup("shapley_exact").unwrap(),
            lookup("ig").unwrap(),
        );
        assert!(
            cam.unavailable(ModelKind::Burn, &[6], None)
                .unwrap()
                .contains("conv layer")
        );
        assert!(cam.unavailable(ModelKind::Burn, &[1, 8, 8], None).is_some());
        assert_eq!(
            cam.unavailable(ModelKind::Burn, &[1, 8, 8], Some("layers.0")),
            None
        );
        let max = ag::shapley::MAX_EXACT_GROUPS;
        assert_eq!(exact.unavailable(ModelKind::Burn, &[max], None), None);
        assert!(
            exact
                .unavailable(ModelKind::Burn, &[max + 1], None)
                .unwrap()
                .contains(&max.to_string())
        );
        assert_eq!(ig.unavailable(ModelKind::Burn, &[1, 28, 28], None), None);
    }

    #[test]
    fn every_entry_builds_a_config_of_its_own_name_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in METHODS {
            assert_eq!(MethodConfig::default_for(m, 3).name(), m.name);
            for n in std::iter::once(&m.name).chain(m.aliases) {
                assert!(seen.insert(*n), "`{n}` names two methods");
                assert_eq!(lookup(n).unwrap().name, m.name);
            }
        }
    }
}

//! Criterion benchmarks of the hot paths: `cargo bench --manifest-path crates/xai-bench/criterion/Cargo.toml` (flex).
//!
//! Attribution methods on the shared perf_lenet fixture (see the crate docs for the path), one
//! iteration = all 32 inputs: saliency, integrated gradients (50 Gauss–Legendre steps in one
//! batched pass), LRP ε+, DeepLIFT. Interpretable models: a ProtoPNet forward pass and scoring
//! sheet on PartShapes, a mixture-of-experts forward on 1,024 rows.

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

use xai_core::Target;
use xai_core::fixture::Fixture;
use xai_grad::methods::deeplift::deeplift;
use xai_grad::methods::input_gradients;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::lrp::{Composite, lrp};
use xai_proto::data::part_shapes::{PartShapes, PartShapesConfig};
use xai_proto::moe::{Moe, MoeConfig};
use xai_proto::protopnet::{ProtoPNet, ProtoPNetConfig};

fn attributions(c: &mut Criterion) {
    let device = Device::flex();
    let (path, name) = xai_criterion::fixture_path();
    let fx = Fixture::load(&path).expect("benchmark fixture");
    let (ex, x) = xai_criterion::prepared(&fx, &device).expect("fixture model");
    let baseline = Tensor::<2>::zeros(x.dims(), &device);
    let target = match &fx.targets {
        Some(t) => Target::Classes(t.clone()),
        None => Target::Predicted,
    };
    let classes = target
        .classes(&ex.forward(&x).unwrap())
        .unwrap()
        .unwrap_or_default();
    let mut g = c.benchmark_group(format!("attribution/{name}"));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("saliency", |b| {
        b.iter(|| input_gradients(&ex, &x, &classes).unwrap())
    });
    let ig = IgConfig {
        n_steps: 50,
        ..IgConfig::default()
    };
    g.bench_function("integrated_gradients_50", |b| {
        b.iter(|| integrated_gradients(&ex, &x, &baseline, &target, &ig).unwrap())
    });
    g.bench_function("lrp_epsilon_plus", |b| {
        b.iter(|| lrp(&ex, &x, &target, &Composite::epsilon_plus()).unwrap())
    });
    g.bench_function("deeplift", |b| {
        b.iter(|| deeplift(&ex, &x, &baseline, &target).unwrap())
    });
    g.finish();
}

fn interpretable_models(c: &mut Criterion) {
    let device = Device::flex();
    let mut g = c.benchmark_group("proto");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let set = PartShapes::generate(
        &PartShapesConfig {
            images: 64,
            ..Default::default()
        },
        0,
    );
    let idx: Vec<usize> = (0..64).collect();
    let model = ProtoPNet::new(&ProtoPNetConfig::default(), 0, &device).unwrap();
    let x = set.images.batch(&idx, &device).unwrap();
    g.bench_function("protopnet_forward_64", |b| {
        b.iter(|| model.forward(x.clone()).logits.into_data())
    });
    let one = set.images.batch(&[0], &device).unwrap();
    g.bench_function("protopnet_scoring_sheet", |b| {
        b.iter(|| model.explain(one.clone(), 0).unwrap())
    });
    let moe = Moe::new(
        &MoeConfig {
            inputs: 6,
            experts: 4,
            ..Default::default()
        },
        0,
        &device,
    )
    .unwrap();
    let rows = Tensor::<2>::from_data(
        TensorData::new(
            (0..6144)
                .map(|v| ((v % 97) as f32) / 97.0)
                .collect::<Vec<_>>(),
            [1024, 6],
        ),
        &device,
    );
    g.bench_function("moe_forward_1024", |b| {
        b.iter(|| moe.forward(rows.clone(), None).y.into_data())
    });
    g.finish();
}

criterion_group!(benches, attributions, interpretable_models);
criterion_main!(benches);

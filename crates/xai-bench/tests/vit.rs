//! The tiny ViT on the Clever Hans images: it trains from its seed and learns the watermark
//! shortcut, its attention is a proper (bidirectional) attention, and the explanations of its
//! shortcut decisions point at the watermark's patch.

use burn::tensor::Device;
use xai_proto::data::clever_hans::two_shapes;
use xai_proto::vit::{TinyVit, VitConfig};

#[test]
fn vit_attention_rows_are_distributions_over_every_token() {
    let config = VitConfig::default();
    let vit = TinyVit::new(&config, &Device::flex(), 5).unwrap();
    let data = two_shapes::generate(1, 8, 8);
    let maps = vit.attention_maps(data.train.batch(&[0, 1, 2], &Device::flex()));
    assert_eq!(maps.len(), config.layers);
    let t = 1 + vit.grid() * vit.grid();
    for map in maps {
        assert_eq!(map.dims(), [3, config.heads, t, t]);
        let w = xai_core::tensor_to_vec_f64(map).unwrap();
        for row in w.chunks(t) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
            // Not causal: the class token (row 0) sees the patches.
            assert!(row.iter().all(|&v| v > 0.0));
        }
    }
    assert!(TinyVit::new(&VitConfig { patch: 5, ..config }, &Device::flex(), 0).is_err());
}

#[test]
fn the_vit_learns_the_shortcut_and_relevance_finds_the_watermark() {
    let r = xai_bench::vit::run(0, 8, false).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert!(
        r.training.train_accuracy > 0.9,
        "{}",
        r.training.train_accuracy
    );
    // The shortcut: watermarked squares are called "plus".
    assert!(r.swapped_accuracy < r.clean_accuracy - 0.2);
    assert_eq!(r.explained, 8);
    let row = |m: &str| r.rows.iter().find(|x| x.method == m).unwrap();
    for x in &r.rows {
        assert!((0.0..=1.0).contains(&x.watermark_patch_share), "{x:?}");
    }
    // The uniform share of the watermark's patch is 1/16; the relevance methods put most of it
    // there, and every method ranks that patch first on most images.
    for m in [
        "attnlrp",
        "cp_lrp",
        "integrated_gradients",
        "grad_cam_tokens",
    ] {
        assert!(row(m).watermark_patch_share > 0.4, "{:?}", row(m));
        assert!(row(m).top_patch_is_watermark > 0.7, "{:?}", row(m));
    }
    assert!(
        row("rollout").watermark_patch_share > 0.25,
        "{:?}",
        row("rollout")
    );
    assert!(row("gradient_x_input").watermark_patch_share > 2.0 / 16.0);
    let c = row("attnlrp").conservation.unwrap();
    assert!(c.is_finite() && c > 0.0, "{c}");
}

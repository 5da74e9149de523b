//! The recall language model: it trains from its seed alone, answers held-out prompts, and its
//! logit lens and head ablations are consistent with its forward pass.

use burn::tensor::Device;
use xai_proto::data::recall::Recall;
use xai_proto::lm::{LmConfig, TinyLm, ids_tensor};

#[test]
fn the_recall_model_trains_from_its_seed_and_its_analyses_agree() {
    let config = LmConfig::default();
    let (lm, log) = TinyLm::train_recall(&config, 3, false).unwrap();
    assert!(log.accuracy >= 0.95, "held-out accuracy {}", log.accuracy);
    // Same seed, same model (no global generator involved).
    let (again, log2) = TinyLm::train_recall(&config, 3, false).unwrap();
    assert_eq!(log.final_loss, log2.final_loss);
    let set = Recall::generate(64, config.pairs, 99);
    assert_eq!(
        lm.answer_logprob(&set).unwrap(),
        again.answer_logprob(&set).unwrap()
    );
    // The logit lens ends at the model's own logits; the embeddings alone cannot answer.
    let dev = Device::flex();
    let ids = ids_tensor(&set.token_rows(), 64, &dev);
    let lens = lm.logit_lens(ids.clone());
    assert_eq!(lens.len(), config.layers + 1);
    let last = xai_core::tensor_to_vec_f64(lens[config.layers].clone()).unwrap();
    let logits = xai_core::tensor_to_vec_f64(lm.forward(ids)).unwrap();
    assert_eq!(last, logits);
    // Head ablation: some head carries the recall (ablating it costs log-probability), and an
    // ablated model is a different model.
    let importance = lm.head_importance(&set).unwrap();
    let top = importance
        .iter()
        .flatten()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    assert!(top > 0.5, "the most important head costs {top} nats");
    assert!(lm.clone().with_head(config.layers, 0, 0.0).is_err());
}

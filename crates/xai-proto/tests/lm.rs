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
    // Attention maps: one [N, H, T, T] per layer, causal rows that sum to 1; some head of the
    // trained model looks from `->` at the pair that holds the answer.
    let maps = lm.attention_maps(ids_tensor(&set.token_rows(), 64, &dev));
    assert_eq!(maps.len(), config.layers);
    let t = set.prompts[0].tokens.len();
    let mut best_on_source = 0.0f64;
    for map in maps {
        assert_eq!(map.dims(), [64, config.heads, t, t]);
        let w = xai_core::tensor_to_vec_f64(map).unwrap();
        for (r, row) in w.chunks(t).enumerate() {
            let i = r % t; // the query position
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
            assert!(
                row[i + 1..].iter().all(|&v| v < 1e-6),
                "row {i} looks ahead"
            );
        }
        for h in 0..config.heads {
            let on_source: f64 = set
                .prompts
                .iter()
                .enumerate()
                .map(|(n, p)| w[((n * config.heads + h) * t + t - 1) * t + p.source])
                .sum::<f64>()
                / 64.0;
            best_on_source = best_on_source.max(on_source);
        }
    }
    assert!(
        best_on_source > 3.0 / t as f64,
        "no head attends to the source: {best_on_source}"
    );
}

#[test]
fn generation_attribution_finds_the_answer_source() {
    use xai_grad::methods::generation::{GenerationMethod, generation_attribution, greedy};
    use xai_proto::data::recall::Vocab;
    let config = LmConfig::default();
    let (lm, _) = TinyLm::train_recall(&config, 5, false).unwrap();
    let dev = Device::flex();
    let ex = lm.into_explainer(dev);
    let set = Recall::generate(12, config.pairs, 2024);
    // KernelSHAP draws from seed 1 (512 coalitions: exact over 5 pairs).
    let methods = GenerationMethod::all(1);
    // Which fact (pair token) did the answer come from: the pairs are the segments, the query
    // and the structure tokens stay.
    let pairs: Vec<std::ops::Range<usize>> = (0..config.pairs).map(|i| i..i + 1).collect();
    let mut hits = vec![0usize; methods.len()];
    for p in &set.prompts {
        let answer = greedy(&ex, &p.tokens, 1).unwrap();
        assert_eq!(answer, vec![p.answer], "the model answers the prompt");
        for (m, method) in methods.iter().enumerate() {
            let r =
                generation_attribution(&ex, &p.tokens, &answer, Some(&pairs), method, Vocab::PAD)
                    .unwrap();
            assert_eq!(r.matrix.len(), 1);
            assert_eq!(r.matrix[0].len(), config.pairs);
            let row = &r.matrix[0];
            if xai_core::agnostic::argmax(row) == p.source {
                hits[m] += 1;
            }
            if let GenerationMethod::KernelShap { .. } = method {
                // Exact Shapley values (2^5 − 2 coalitions fit): complete against the prompt
                // with every pair padded.
                let mut padded = p.tokens.clone();
                padded[..config.pairs].fill(Vocab::PAD);
                let none = generation_attribution(
                    &ex,
                    &padded,
                    &answer,
                    None,
                    &GenerationMethod::Ablation,
                    Vocab::PAD,
                )
                .unwrap();
                let gap = r.total_logprob - none.total_logprob;
                let sum: f64 = row.iter().sum();
                assert!(
                    (sum - gap).abs() < 1e-3 * gap.abs().max(1.0),
                    "{sum} vs {gap}"
                );
            }
        }
    }
    let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
    eprintln!("top-1 at the source over 12 prompts: {names:?} {hits:?}");
    // Leaving the source out destroys the answer; the other methods mostly agree.
    assert_eq!(hits[0], 12, "ablation: {hits:?}");
    assert!(hits[1] >= 11, "KernelSHAP: {hits:?}");
    // The gradient and relevance methods explain the logit; chance is 12 / 5 pairs ≈ 2.4.
    for (name, h) in names.iter().zip(&hits).skip(2) {
        assert!(*h >= 7, "{name}: {h} of 12 at the source");
    }
    // Bad segments are refused before any pass.
    let p = &set.prompts[0];
    assert!(
        generation_attribution(
            &ex,
            &p.tokens,
            &[p.answer],
            Some(std::slice::from_ref(&(0..0))),
            &GenerationMethod::Ablation,
            Vocab::PAD
        )
        .is_err()
    );
    assert!(
        generation_attribution(&ex, &p.tokens, &[], None, &GenerationMethod::Ablation, 0).is_err()
    );
}

/// A continuation's attribution matrix, row by row, is what each target token gets when it is
/// explained alone on the prompt extended by the tokens before it (the naive per-token loop),
/// for every method.
#[test]
fn generation_attribution_of_a_continuation_equals_a_loop_over_its_tokens() {
    use xai_grad::methods::generation::{GenerationMethod, generation_attribution, token_segments};
    use xai_proto::data::recall::Vocab;
    let config = LmConfig::default();
    // Any model will do (untrained: no training time).
    let ex = TinyLm::new(&config, &Device::flex(), 8)
        .unwrap()
        .into_explainer(Device::flex());
    let prompt = Recall::generate(1, config.pairs, 3)
        .prompts
        .remove(0)
        .tokens;
    let target = [Vocab::value(1), Vocab::value(4), Vocab::value(2)];
    let segments = token_segments(prompt.len());
    // KernelSHAP: 2^8 − 2 coalitions fit 512 samples, so it is exact and deterministic.
    for method in GenerationMethod::all(3) {
        let whole =
            generation_attribution(&ex, &prompt, &target, None, &method, Vocab::PAD).unwrap();
        assert_eq!(whole.matrix.len(), target.len());
        for j in 0..target.len() {
            let extended = [prompt.as_slice(), &target[..j]].concat();
            let one = generation_attribution(
                &ex,
                &extended,
                &[target[j]],
                Some(&segments),
                &method,
                Vocab::PAD,
            )
            .unwrap();
            assert!((whole.target_logprobs[j] - one.target_logprobs[0]).abs() < 1e-5);
            for (a, b) in whole.matrix[j].iter().zip(&one.matrix[0]) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{} token {j}: {a} vs {b}",
                    method.name()
                );
            }
        }
    }
}

/// Logits from the embedding of prompt position 2 alone.
#[derive(burn::module::Module, Debug)]
struct ThirdToken {
    emb: burn::nn::Embedding,
    out: burn::nn::Linear,
}

fn third_token_forward(
    m: &ThirdToken,
    ids: burn::tensor::Tensor<2, burn::tensor::Int>,
) -> burn::tensor::Tensor<2> {
    m.out
        .forward(m.emb.forward(ids).narrow(1, 2, 1).flatten::<2>(1, 2))
}

/// On a model whose answer depends on one prompt token, ablation and Shapley values give that
/// token the whole change and every other token exactly nothing.
#[test]
fn ablation_and_shapley_are_exact_when_one_token_decides() {
    use xai_grad::methods::generation::{GenerationMethod, generation_attribution};
    use xai_grad::methods::text::TokenExplainable;
    let dev = Device::flex();
    let m = xai_core::init::seeded(
        ThirdToken {
            emb: burn::nn::EmbeddingConfig::new(10, 4).init(&dev),
            out: burn::nn::LinearConfig::new(4, 10).init(&dev),
        },
        12,
    )
    .unwrap();
    let ex = TokenExplainable::new(m, third_token_forward, dev.clone());
    let (prompt, target, pad) = ([3, 5, 7, 2, 9], [4], 0);
    let full = generation_attribution(
        &ex,
        &prompt,
        &target,
        None,
        &GenerationMethod::Ablation,
        pad,
    )
    .unwrap();
    let mut padded = prompt;
    padded[2] = pad;
    let without = generation_attribution(
        &ex,
        &padded,
        &target,
        None,
        &GenerationMethod::Ablation,
        pad,
    )
    .unwrap();
    let change = full.target_logprobs[0] - without.target_logprobs[0];
    assert!(change.abs() > 1e-3, "the token must matter: {change}");
    for method in [
        GenerationMethod::Ablation,
        GenerationMethod::KernelShap {
            samples: 512,
            seed: 0,
        },
    ] {
        let r = generation_attribution(&ex, &prompt, &target, None, &method, pad).unwrap();
        let row = &r.matrix[0];
        for (s, v) in row.iter().enumerate() {
            let want = if s == 2 { change } else { 0.0 };
            assert!(
                (v - want).abs() < 1e-6,
                "{} segment {s}: {v} vs {want}",
                method.name()
            );
        }
    }
}

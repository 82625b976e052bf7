use super::*;
use crate::llama::CompressionPolicy;
use burn::tensor::TensorData;

fn tokens(v: Vec<i64>, b: usize, t: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::<1, Int>::from_data(TensorData::new(v, [b * t]), device).reshape([b, t])
}

fn tiny(policy: CompressionPolicy) -> LlamaConfig {
    LlamaConfig::new(97, 64, 2, 4, 2, 128)
        .with_max_seq_len(32)
        .with_compression(policy)
}

#[test]
fn shapes_initial_loss_and_causality() {
    let device = Device::flex();
    let m = tiny(CompressionPolicy::new()).init(&device).unwrap();
    let seq: Vec<i64> = (0..16).map(|i| (i * 7 % 97) as i64).collect();
    let logits = m.forward(tokens(seq.clone(), 1, 16, &device)).unwrap();
    assert_eq!(logits.dims(), [1, 16, 97]);
    // Small init: the loss starts near ln(vocab).
    let loss = cross_entropy(logits.clone(), tokens(seq.clone(), 1, 16, &device));
    let l = loss
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()[0];
    assert!((l - (97f32).ln()).abs() < 0.1, "initial loss {l}");
    // Changing the last token must not change earlier positions' logits.
    let mut seq2 = seq.clone();
    seq2[15] = 3;
    let l2 = m.forward(tokens(seq2, 1, 16, &device)).unwrap();
    let a = logits
        .slice([0..1, 0..15, 0..97])
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let b = l2
        .slice([0..1, 0..15, 0..97])
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn compressed_model_trains_with_sgd() {
    let device = Device::flex().autodiff();
    let policy = CompressionPolicy::new()
        .with_weight(Some("nvfp4".into()))
        .with_input(Some("nvfp4".into()));
    let mut m = tiny(policy).init(&device).unwrap();
    assert!(m.layers[0].mlp.down_proj.weight_format().is_some());
    assert!(m.lm_head.is_some());
    // Memorise one short sequence with plain SGD: the loss must fall.
    let seq: Vec<i64> = (0..17).map(|i| (i * 5 % 97) as i64).collect();
    let x = tokens(seq[..16].to_vec(), 1, 16, &device);
    let y = tokens(seq[1..].to_vec(), 1, 16, &device);
    let mut losses = Vec::new();
    use burn::optim::{GradientsParams, SgdConfig};
    let mut opt = SgdConfig::new().init();
    for _ in 0..30 {
        let loss = cross_entropy(m.forward(x.clone()).unwrap(), y.clone());
        losses.push(
            loss.clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()[0],
        );
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        m = opt.step(0.5, m, grads);
    }
    // The init is random (Burn's global generator), so judge the best late loss, not one step.
    let late = losses[20..].iter().cloned().fold(f32::INFINITY, f32::min);
    assert!(late < losses[0] - 0.5, "{losses:?}");
}

/// The hidden states returned beside the logits are the final-norm output the logits come
/// from: through the LM head they give the logits bit for bit (tied and untied), their rows
/// have the RMS the final norm gives (gain 1 at init), and the cached forward returns the
/// same pair.
#[test]
fn hidden_states_through_the_lm_head_are_the_logits() {
    let device = Device::flex();
    for tied in [false, true] {
        let m = tiny(CompressionPolicy::new())
            .with_tie_embeddings(tied)
            .init(&device)
            .unwrap();
        let seq: Vec<i64> = (0..20).map(|i| (i * 11 % 97) as i64).collect();
        let (logits, hidden) = m
            .forward_hidden(tokens(seq.clone(), 2, 10, &device))
            .unwrap();
        assert_eq!(logits.dims(), [2, 10, 97]);
        assert_eq!(hidden.dims(), [2, 10, 64]);
        let bits = |x: Tensor<3>| -> Vec<u32> {
            let v = x.into_data().try_into_vec_as::<f32>().unwrap();
            v.iter().map(|f| f.to_bits()).collect()
        };
        let plain = m.forward(tokens(seq.clone(), 2, 10, &device)).unwrap();
        assert_eq!(bits(m.logits(hidden.clone())), bits(logits.clone()));
        assert_eq!(bits(plain), bits(logits.clone()));
        let h = hidden.clone().into_data().try_into_vec_as::<f32>().unwrap();
        for row in h.chunks(64) {
            let rms = (row.iter().map(|x| x * x).sum::<f32>() / 64.0).sqrt();
            assert!((rms - 1.0).abs() < 0.05, "rms {rms}"); // 1 up to the norm's ε
        }
        let mut cache = KvCache::new();
        let (lc, hc) = m
            .forward_cached_hidden(tokens(seq, 2, 10, &device), &mut cache)
            .unwrap();
        assert_eq!(cache.len(), 10);
        assert_eq!(bits(m.logits(hc.clone())), bits(lc));
        let d = (hc - hidden)
            .abs()
            .max()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()[0];
        assert!(d < 1e-5, "cached hidden differs by {d}");
    }
}

/// The model is built from the one list of linears: every linear of every block under its
/// HF name, with the listed `[d_output, d_input]` weight.
#[test]
fn linears_list_matches_the_built_model() {
    let cfg = LlamaConfig::new(50, 48, 3, 4, 2, 80).with_max_seq_len(8);
    let sd = crate::hf::state_dict(&cfg.init(&Device::flex()).unwrap()).unwrap();
    let list = cfg.linears();
    assert_eq!(list.len(), 3 * 7);
    assert_eq!(list[1], ("model.layers.0.self_attn.k_proj".into(), 48, 24));
    for (name, din, dout) in &list {
        let w = &sd[&format!("{name}.weight")];
        assert_eq!(w.shape, vec![*dout, *din], "{name}");
    }
    let n_weights = sd.keys().filter(|k| k.ends_with("_proj.weight")).count();
    assert_eq!(n_weights, list.len());
}

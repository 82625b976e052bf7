//! Tests of the capture scope: health of every layer, the seeded reservoir, nesting and panics.

use super::*;
use crate::llama::{CompressionPolicy, LlamaConfig};
use burn::tensor::{Device, Int, TensorData};

fn model_and_tokens() -> (crate::llama::Llama, Tensor<2, Int>) {
    let device = Device::flex();
    let policy = CompressionPolicy::new()
        .with_weight(Some("nvfp4".into()))
        .with_input(Some("nvfp4".into()));
    let m = LlamaConfig::new(97, 64, 2, 4, 2, 128)
        .with_max_seq_len(32)
        .with_compression(policy)
        .init(&device)
        .unwrap();
    let v: Vec<i64> = (0..32).map(|i| (i * 13 % 97) as i64).collect();
    let t = Tensor::<1, Int>::from_data(TensorData::new(v, [32]), &device).reshape([2, 16]);
    (m, t)
}

/// Counts the layers it sees.
#[derive(Default)]
struct Count(usize);
impl Recorder for Count {
    fn record(&mut self, _l: &LayerView<'_>) -> Result<(), NnError> {
        self.0 += 1;
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[test]
fn scopes_nest_and_a_panic_leaves_no_recorder_behind() {
    let (m, x) = model_and_tokens();
    let n_layers = 2 * 7; // compressed linears per pass
    // Nested: the inner pass is the inner recorder's only; the outer sees its own two.
    let (inner, outer) = with_recorder(Count::default(), || {
        m.forward(x.clone()).unwrap();
        let (_, inner) = with_recorder(Count::default(), || {
            m.forward(x.clone()).unwrap();
        })
        .unwrap();
        m.forward(x.clone()).unwrap();
        inner
    })
    .unwrap();
    assert_eq!(inner.0, n_layers);
    assert_eq!(outer.0, 2 * n_layers);
    // A panicking pass: the slot is restored, so the recorder is gone afterwards.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        with_recorder(Count::default(), || {
            m.forward(x.clone()).unwrap();
            panic!("a pass that fails");
        })
    }));
    assert!(r.is_err());
    assert!(
        ACTIVE.with(|a| a.borrow().is_none()),
        "no recorder left after the panic"
    );
    let (_, c) = with_recorder(Count::default(), || m.forward(x.clone()).unwrap()).unwrap();
    assert_eq!(c.0, n_layers);
}

#[test]
fn health_covers_every_compressed_layer() {
    let (m, t) = model_and_tokens();
    let (logits, h) = with_recorder(HealthRecorder::default(), || m.forward(t.clone())).unwrap();
    assert_eq!(logits.unwrap().dims(), [2, 16, 97]);
    assert_eq!(h.input.len(), 14);
    assert_eq!(h.weight.len(), 14);
    let q = &h.input["model.layers.1.self_attn.q_proj"];
    assert_eq!(q.values, 32 * 64);
    assert_eq!(h.weight["model.layers.0.mlp.down_proj"].values, 64 * 128);
    assert!(
        q.relative_mse() > 0.0 && q.relative_mse() < 0.05,
        "{}",
        q.relative_mse()
    );
    // Without a recorder nothing is captured and the output is the same.
    let again = m.forward(t).unwrap();
    let a = again
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let (l2, _) = with_recorder(HealthRecorder::default(), || {
        m.forward(model_and_tokens().1)
    })
    .unwrap();
    let b = l2
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn reservoir_is_bounded_and_seeded() {
    let (m, t) = model_and_tokens();
    let run = |seed| {
        with_recorder(BlockSampler::new(16, 5, seed), || m.forward(t.clone()))
            .unwrap()
            .1
    };
    let a = run(7);
    assert_eq!(a.input.len(), 14);
    assert!(
        a.input
            .values()
            .all(|v| v.len() == 5 && v.iter().all(|b| b.len() == 16))
    );
    assert!(a.weight.values().all(|v| v.len() == 5));
    assert_eq!(run(7).input, a.input);
    assert_ne!(run(8).input, a.input);
}

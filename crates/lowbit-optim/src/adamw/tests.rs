use super::*;
use crate::clip_factor;
use burn::module::ModuleVisitor;
use burn::tensor::Int;
use burn::tensor::TensorData;
use lowbit_nn::hf::state_dict;
use lowbit_nn::llama::{Llama, LlamaConfig, cross_entropy};
use std::collections::BTreeSet;

// Parameter groups, the state-dict checks and the trait object.
mod groups;

/// The parameters each rule decays, written out by hand from the rule's definition (QuEST:
/// block linears; nanoGPT: every ≥2-D tensor; lowbit's `linear`: block linears + lm_head).
fn expected_decayed(rule: WeightDecayRule, n_layers: usize, tied: bool) -> BTreeSet<String> {
    let mut v = BTreeSet::new();
    for l in 0..n_layers {
        for p in [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ] {
            v.insert(format!("model.layers.{l}.{p}.weight"));
        }
    }
    let lm_head = (!tied).then(|| "lm_head.weight".to_string());
    match rule {
        WeightDecayRule::Quest => {}
        WeightDecayRule::Linear => v.extend(lm_head),
        WeightDecayRule::Nanogpt => {
            v.extend(lm_head);
            v.insert("model.embed_tokens.weight".into());
        }
    }
    v
}

/// Each rule on the real parameter names of a tiny Llama whose linears learn LSQ steps (so
/// `*.weight_step` / `*.input_step` exist), tied and untied.
#[test]
fn decay_rules_on_a_tiny_llama() {
    use lowbit_nn::llama::CompressionPolicy;
    use lowbit_nn::quant::estimator::Estimator;
    let device = Device::flex();
    for tied in [false, true] {
        let policy = CompressionPolicy::new()
            .with_weight(Some("int4".into()))
            .with_input(Some("int4".into()))
            .with_estimator(Estimator::Lsq);
        let cfg = LlamaConfig::new(50, 32, 2, 2, 1, 64)
            .with_max_seq_len(16)
            .with_tie_embeddings(tied)
            .with_compression(policy);
        let sd = state_dict(&cfg.init(&device).unwrap()).unwrap();
        assert!(sd.contains_key("model.layers.1.mlp.down_proj.weight_step"));
        assert!(sd.contains_key("model.layers.0.self_attn.q_proj.input_step"));
        assert_eq!(sd.contains_key("lm_head.weight"), !tied);
        for rule in [
            WeightDecayRule::Linear,
            WeightDecayRule::Quest,
            WeightDecayRule::Nanogpt,
        ] {
            let want = expected_decayed(rule, 2, tied);
            let got: BTreeSet<String> = sd
                .iter()
                .filter(|(n, t)| rule.decays(n, t.shape.len()))
                .map(|(n, _)| n.clone())
                .collect();
            assert_eq!(got, want, "{rule:?}, tied = {tied}");
        }
    }
    assert_eq!(WeightDecayRule::default(), WeightDecayRule::Linear);
}

#[test]
fn clip_factor_matches_torch() {
    assert_eq!(clip_factor(0.5, 1.0), 1.0);
    assert_eq!(clip_factor(5.0, 0.0), 1.0);
    assert!((clip_factor(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
}

/// Two AdamW steps on one model against the same update computed by hand on the host in f64
/// (torch.optim.AdamW's formula), with each decay rule's hand-written parameter set and a
/// clip scale.
#[test]
fn two_steps_match_the_formula() {
    for rule in [
        WeightDecayRule::Linear,
        WeightDecayRule::Quest,
        WeightDecayRule::Nanogpt,
    ] {
        two_steps_with(rule);
    }
}

fn two_steps_with(rule: WeightDecayRule) {
    let decayed = expected_decayed(rule, 1, false);
    let device = Device::flex().autodiff();
    device.seed(3);
    let cfg = LlamaConfig::new(50, 32, 1, 2, 1, 64).with_max_seq_len(16);
    let mut model = cfg.init(&device).unwrap();
    let ac = AdamWConfig {
        beta1: 0.8,
        beta2: 0.9,
        eps: 1e-6,
        weight_decay: 0.5,
        weight_decay_rule: rule,
    };
    let mut opt = AdamW::new(ac);
    let toks = |o: i64| {
        let v: Vec<i64> = (0..16).map(|i| (i * 7 + o) % 50).collect();
        Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(v, [16]), &device)
            .reshape([1, 16])
    };
    // Host moments (m, v) per parameter name.
    type HostMoments = BTreeMap<String, (Vec<f64>, Vec<f64>)>;
    let mut want: HostMoments = BTreeMap::new();
    for (t, lr, scale) in [(1i32, 0.01, 1.0), (2, 0.02, 0.5)] {
        let before = state_dict(&model).unwrap();
        let loss = cross_entropy(model.forward(toks(t as i64)).unwrap(), toks(t as i64 + 1));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        // Host copy of every gradient by name.
        let mut g_by_name = BTreeMap::new();
        struct G<'a>(
            PathStack,
            &'a GradientsParams,
            &'a mut BTreeMap<String, Vec<f32>>,
        );
        impl ModuleVisitor for G<'_> {
            fn enter_module(&mut self, n: &str, _: &str) {
                self.0.enter(n)
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.0.exit()
            }
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let g = self.1.get::<D>(p.id).unwrap();
                let v = g
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap();
                self.2.insert(self.0.hf_name(), v);
            }
        }
        model.visit(&mut G(PathStack::default(), &grads, &mut g_by_name));
        model = opt.step(model, grads, lr, scale).unwrap();
        let after = state_dict(&model).unwrap();
        for (name, p0) in &before {
            let g = &g_by_name[name];
            let e = want
                .entry(name.clone())
                .or_insert_with(|| (vec![0.0; g.len()], vec![0.0; g.len()]));
            let wd = if decayed.contains(name) {
                ac.weight_decay
            } else {
                0.0
            };
            let mut exp = Vec::new();
            for (i, &gf) in g.iter().enumerate() {
                let gi = gf as f64 * scale;
                e.0[i] = ac.beta1 * e.0[i] + (1.0 - ac.beta1) * gi;
                e.1[i] = ac.beta2 * e.1[i] + (1.0 - ac.beta2) * gi * gi;
                let mhat = e.0[i] / (1.0 - ac.beta1.powi(t));
                let vhat_sqrt = e.1[i].sqrt() / (1.0 - ac.beta2.powi(t)).sqrt();
                let p = p0.as_f32().unwrap()[i] as f64 * (1.0 - lr * wd);
                exp.push(p - lr * mhat / (vhat_sqrt + ac.eps));
            }
            for (i, (&a, &b)) in after[name].as_f32().unwrap().iter().zip(&exp).enumerate() {
                assert!(
                    (a as f64 - b).abs() <= 1e-6 + 1e-5 * b.abs(),
                    "{rule:?} {name}[{i}] step {t}: {a} vs {b}"
                );
            }
        }
    }
    assert_eq!(opt.steps(), 2);
    // State round trip: a restored optimizer takes the same next step.
    let sd = opt.state_dict().unwrap();
    assert!(sd.contains_key("model.layers.0.mlp.up_proj.weight.exp_avg_sq"));
    let mut restored = AdamW::new(ac);
    restored.load_state_dict(&model, &sd, 2, &device).unwrap();
    assert_eq!(restored.state_dict().unwrap(), sd);
    assert_eq!(restored.steps(), 2);
    let mut bad = sd.clone();
    bad.remove("model.norm.weight.exp_avg_sq");
    let e = AdamW::new(ac)
        .load_state_dict(&model, &bad, 2, &device)
        .unwrap_err();
    assert!(e.to_string().contains("model.norm.weight.exp_avg"), "{e}");
}

/// Every gradient of `model` on the host, by HF name.
fn host_grads<M: Module>(model: &M, grads: &GradientsParams) -> BTreeMap<String, Vec<f32>> {
    struct G<'a>(PathStack, &'a GradientsParams, BTreeMap<String, Vec<f32>>);
    impl ModuleVisitor for G<'_> {
        fn enter_module(&mut self, n: &str, _: &str) {
            self.0.enter(n)
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.exit()
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.1.get::<D>(p.id) {
                let v = g.into_data().try_into_vec_as::<f32>().unwrap();
                self.2.insert(self.0.hf_name(), v);
            }
        }
    }
    let mut g = G(PathStack::default(), grads, BTreeMap::new());
    model.visit(&mut g);
    g.2
}

/// AdamW in host f32, one rounding per operation in the order `torch.optim.AdamW` (and
/// [`AdamW`]) apply them: each f64 hyper-parameter is rounded to f32 once, as a tensor scalar
/// is. `m`, `v` are `None` before the first step.
#[allow(clippy::too_many_arguments)]
fn host_f32_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut Vec<f32>,
    v: &mut Vec<f32>,
    t: i32,
    lr: f64,
    scale: f64,
    c: &AdamWConfig,
    decays: bool,
    lsq_step: bool,
) {
    let first = m.is_empty();
    if first {
        m.resize(g.len(), 0.0);
        v.resize(g.len(), 0.0);
    }
    let (b1, b2) = (c.beta1 as f32, c.beta2 as f32);
    let (nb1, nb2) = ((1.0 - c.beta1) as f32, (1.0 - c.beta2) as f32);
    let bc1 = 1.0 - c.beta1.powi(t);
    let bc2 = 1.0 - c.beta2.powi(t);
    let decay = (1.0 - lr * c.weight_decay) as f32;
    let sbc2 = bc2.sqrt() as f32;
    let eps = c.eps as f32;
    let lr_bc1 = (lr / bc1) as f32;
    for i in 0..g.len() {
        let gi = if scale != 1.0 {
            g[i] * scale as f32
        } else {
            g[i]
        };
        if first {
            m[i] = gi * nb1;
            v[i] = (gi * gi) * nb2;
        } else {
            m[i] = m[i] * b1 + gi * nb1;
            v[i] = v[i] * b2 + (gi * gi) * nb2;
        }
        let mut x = p[i];
        if decays && c.weight_decay != 0.0 {
            x *= decay;
        }
        x -= (m[i] / (v[i].sqrt() / sbc2 + eps)) * lr_bc1;
        if lsq_step {
            x = x.max(LSQ_STEP_FLOOR);
        }
        p[i] = x;
    }
}

/// Three steps of a tiny Llama with LSQ step sizes (so the `*_step` floor is exercised) under
/// each decay rule, bit for bit against [`host_f32_step`]: the no-groups path of [`AdamW`] is
/// exactly the AdamW equations, in torch's order, with nothing else applied.
#[test]
fn no_groups_steps_are_bit_exact_against_host_f32() {
    use lowbit_nn::llama::CompressionPolicy;
    use lowbit_nn::quant::estimator::Estimator;
    for rule in [
        WeightDecayRule::Linear,
        WeightDecayRule::Quest,
        WeightDecayRule::Nanogpt,
    ] {
        let device = Device::flex().autodiff();
        device.seed(11);
        let policy = CompressionPolicy::new()
            .with_weight(Some("int4".into()))
            .with_estimator(Estimator::Lsq);
        let cfg = LlamaConfig::new(40, 32, 1, 2, 1, 64)
            .with_max_seq_len(12)
            .with_compression(policy);
        let mut model = cfg.init(&device).unwrap();
        let ac = AdamWConfig {
            beta1: 0.85,
            beta2: 0.97,
            eps: 1e-7,
            weight_decay: 0.3,
            weight_decay_rule: rule,
        };
        let mut opt = AdamW::new(ac);
        let toks = |o: i64| {
            let v: Vec<i64> = (0..12).map(|i| (i * 5 + o) % 40).collect();
            Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(v, [12]), &device)
                .reshape([1, 12])
        };
        let mut moments: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
        for (t, lr, scale) in [(1i32, 3e-3, 1.0), (2, 1e-2, 0.37), (3, 7e-3, 1.0)] {
            let mut want = state_dict(&model).unwrap();
            let loss = cross_entropy(model.forward(toks(t as i64)).unwrap(), toks(t as i64 + 1));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let g_by_name = host_grads(&model, &grads);
            model = opt.step(model, grads, lr, scale).unwrap();
            for (name, g) in &g_by_name {
                let (m, v) = moments.entry(name.clone()).or_default();
                let p = want.get_mut(name).unwrap();
                let decays = rule.decays(name, p.shape.len());
                let lsq = name.ends_with("_step");
                host_f32_step(
                    p.as_f32_mut().unwrap(),
                    g,
                    m,
                    v,
                    t,
                    lr,
                    scale,
                    &ac,
                    decays,
                    lsq,
                );
            }
            let got = state_dict(&model).unwrap();
            assert!(got.keys().any(|k| k.ends_with("weight_step")));
            for (name, w) in &want {
                let a: Vec<u32> = got[name]
                    .as_f32()
                    .unwrap()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect();
                let b: Vec<u32> = w.as_f32().unwrap().iter().map(|x| x.to_bits()).collect();
                assert!(a == b, "{rule:?} {name} step {t}: not bit-equal");
            }
        }
        let sd = opt.state_dict().unwrap();
        for (name, (m, v)) in &moments {
            assert_eq!(
                sd[&format!("{name}.exp_avg")].as_f32().unwrap(),
                m,
                "{name}"
            );
            assert_eq!(
                sd[&format!("{name}.exp_avg_sq")].as_f32().unwrap(),
                v,
                "{name}"
            );
        }
    }
}

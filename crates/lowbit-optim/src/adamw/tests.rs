use super::*;
use crate::clip_factor;
use burn::module::ModuleVisitor;
use burn::tensor::Int;
use burn::tensor::TensorData;
use lowbit_nn::hf::state_dict;
use lowbit_nn::llama::{Llama, LlamaConfig, cross_entropy};
use std::collections::BTreeSet;

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
                let p = p0.values[i] as f64 * (1.0 - lr * wd);
                exp.push(p - lr * mhat / (vhat_sqrt + ac.eps));
            }
            for (i, (&a, &b)) in after[name].values.iter().zip(&exp).enumerate() {
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
                host_f32_step(&mut p.values, g, m, v, t, lr, scale, &ac, decays, lsq);
            }
            let got = state_dict(&model).unwrap();
            assert!(got.keys().any(|k| k.ends_with("weight_step")));
            for (name, w) in &want {
                let a: Vec<u32> = got[name].values.iter().map(|x| x.to_bits()).collect();
                let b: Vec<u32> = w.values.iter().map(|x| x.to_bits()).collect();
                assert!(a == b, "{rule:?} {name} step {t}: not bit-equal");
            }
        }
        let sd = opt.state_dict().unwrap();
        for (name, (m, v)) in &moments {
            assert_eq!(&sd[&format!("{name}.exp_avg")].values, m, "{name}");
            assert_eq!(&sd[&format!("{name}.exp_avg_sq")].values, v, "{name}");
        }
    }
}

/// A tiny Llama whose linears learn LSQ weight steps, and its input / target tokens.
fn lsq_llama(device: &Device) -> (Llama, Tensor<2, Int>, Tensor<2, Int>) {
    use lowbit_nn::llama::CompressionPolicy;
    use lowbit_nn::quant::estimator::Estimator;
    device.seed(5);
    let policy = CompressionPolicy::new()
        .with_weight(Some("int4".into()))
        .with_estimator(Estimator::Lsq);
    let cfg = LlamaConfig::new(40, 32, 1, 2, 1, 64)
        .with_max_seq_len(12)
        .with_compression(policy);
    let toks = |o: i64| {
        let v: Vec<i64> = (0..12).map(|i| (i * 3 + o) % 40).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [12]), device).reshape([1, 12])
    };
    (cfg.init(device).unwrap(), toks(0), toks(1))
}

type Sd = BTreeMap<String, HostTensor>;

/// One step at lr 0.01 of the same model on the same gradients by `with` and by `without`:
/// (parameters before, after `with`, after `without`, host gradients).
fn step_pair(mut with: AdamW, mut without: AdamW) -> (Sd, Sd, Sd, BTreeMap<String, Vec<f32>>) {
    let device = Device::flex().autodiff();
    let (model, x, y) = lsq_llama(&device);
    let grads_of = |m: &Llama| {
        let loss = cross_entropy(m.forward(x.clone()).unwrap(), y.clone());
        GradientsParams::from_grads(loss.backward(), m)
    };
    let (ga, gb) = (grads_of(&model), grads_of(&model));
    let before = state_dict(&model).unwrap();
    let g = host_grads(&model, &ga);
    let a = with.step(model.clone(), ga, 0.01, 1.0).unwrap();
    let b = without.step(model, gb, 0.01, 1.0).unwrap();
    (before, state_dict(&a).unwrap(), state_dict(&b).unwrap(), g)
}

fn bits(t: &HostTensor) -> Vec<u32> {
    t.values.iter().map(|x| x.to_bits()).collect()
}

/// A group with lr scale 0 leaves exactly its parameters bit-identical over several steps; every
/// other parameter takes the very step it takes without the group.
#[test]
fn group_lr_scale_zero_freezes_exactly_the_matching_params() {
    let ac = AdamWConfig::default();
    let frozen = || {
        AdamW::with_groups(
            ac,
            vec![ParamGroup::new("*.weight_step").with_lr_scale(0.0)],
        )
    };
    let (before, with, without, _) = step_pair(frozen().unwrap(), AdamW::new(ac));
    let (mut n_frozen, mut n_moved) = (0, 0);
    for (name, p0) in &before {
        if name.ends_with(".weight_step") {
            assert_eq!(bits(&with[name]), bits(p0), "{name} moved");
            n_frozen += 1;
        } else {
            assert_eq!(bits(&with[name]), bits(&without[name]), "{name}");
            assert_ne!(bits(&with[name]), bits(p0), "{name} did not move");
            n_moved += 1;
        }
    }
    assert_eq!(n_frozen, 7);
    assert!(n_moved > 7);
    // Over several steps (the frozen steps change the forward, so no twin here): still frozen,
    // and their moments are kept.
    let device = Device::flex().autodiff();
    let (mut model, x, y) = lsq_llama(&device);
    let mut opt = frozen().unwrap();
    for lr in [0.01, 0.03, 0.02] {
        let loss = cross_entropy(model.forward(x.clone()).unwrap(), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt.step(model, grads, lr, 1.0).unwrap();
    }
    let after = state_dict(&model).unwrap();
    for (name, p0) in before.iter().filter(|(n, _)| n.ends_with(".weight_step")) {
        assert_eq!(bits(&after[name]), bits(p0), "{name} moved");
    }
    let sd = opt.state_dict().unwrap();
    assert!(sd.contains_key("model.layers.0.mlp.up_proj.weight_step.exp_avg"));
}

/// A group's own weight decay decays its parameters (bit for bit the AdamW equations with that
/// λ) and nothing else, while the default group decays nothing (λ = 0).
#[test]
fn group_weight_decay_decays_only_its_params() {
    let ac = AdamWConfig {
        weight_decay: 0.0,
        ..AdamWConfig::default()
    };
    let group = ParamGroup::new("model.layers.0.mlp.*_proj.weight").with_weight_decay(0.5);
    let opt = AdamW::with_groups(ac, vec![group]).unwrap();
    let (before, with, without, g) = step_pair(opt, AdamW::new(ac));
    let decayed = AdamWConfig {
        weight_decay: 0.5,
        ..ac
    };
    let mut n = 0;
    for (name, p0) in &before {
        if name.starts_with("model.layers.0.mlp.") && name.ends_with("_proj.weight") {
            let mut want = p0.values.clone();
            let (mut m, mut v) = (Vec::new(), Vec::new());
            host_f32_step(
                &mut want, &g[name], &mut m, &mut v, 1, 0.01, 1.0, &decayed, true, false,
            );
            let want: Vec<u32> = want.iter().map(|x| x.to_bits()).collect();
            assert_eq!(bits(&with[name]), want, "{name}");
            assert_ne!(
                bits(&with[name]),
                bits(&without[name]),
                "{name} not decayed"
            );
            n += 1;
        } else {
            assert_eq!(bits(&with[name]), bits(&without[name]), "{name} decayed");
        }
    }
    assert_eq!(n, 3);
}

/// Overlapping globs: the first matching group wins, in the order given.
#[test]
fn overlapping_groups_first_match_wins() {
    let ac = AdamWConfig::default();
    let freeze_block = ParamGroup::new("model.layers.0.*").with_lr_scale(0.0);
    let fast_weights = ParamGroup::new("*.weight")
        .with_lr_scale(2.0)
        .with_betas(0.0, 0.9);
    let a = AdamW::with_groups(ac, vec![freeze_block.clone(), fast_weights.clone()]).unwrap();
    let b = AdamW::with_groups(ac, vec![fast_weights, freeze_block]).unwrap();
    let up = "model.layers.0.mlp.up_proj.weight";
    assert_eq!(a.group_of(up), Some(0));
    assert_eq!(b.group_of(up), Some(0));
    assert_eq!(a.group_of("lm_head.weight"), Some(1));
    assert_eq!(
        a.group_of("model.layers.0.mlp.up_proj.weight_step"),
        Some(0)
    );
    assert_eq!(
        b.group_of("model.layers.0.mlp.up_proj.weight_step"),
        Some(1)
    );
    assert_eq!(a.group_of("model.layers.1.mlp.up_proj.weight_step"), None);
    let (before, with_a, with_b, g) = step_pair(a, b);
    // `a` freezes the block; `b` steps its weights at 2·lr with β1 = 0 (m = g).
    assert_eq!(bits(&with_a[up]), bits(&before[up]));
    let fast = AdamWConfig {
        beta1: 0.0,
        beta2: 0.9,
        ..ac
    };
    let mut want = before[up].values.clone();
    let (mut m, mut v) = (Vec::new(), Vec::new());
    let decays = ac.weight_decay_rule.decays(up, 2);
    host_f32_step(
        &mut want, &g[up], &mut m, &mut v, 1, 0.02, 1.0, &fast, decays, false,
    );
    let want: Vec<u32> = want.iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits(&with_b[up]), want);
}

#[test]
fn bad_groups_are_errors_naming_the_group() {
    let ac = AdamWConfig::default();
    let ok = ParamGroup::new("*.weight_step");
    for (bad, what) in [
        (ParamGroup::new("model.[layers"), "glob"),
        (ParamGroup::new("*").with_lr_scale(-1.0), "lr"),
        (ParamGroup::new("*").with_lr(f64::NAN), "lr"),
        (ParamGroup::new("*").with_betas(0.9, 1.0), "betas"),
        (ParamGroup::new("*").with_eps(0.0), "eps"),
        (ParamGroup::new("*").with_weight_decay(-0.1), "weight_decay"),
    ] {
        let e = AdamW::with_groups(ac, vec![ok.clone(), bad.clone()]).unwrap_err();
        assert!(
            matches!(&e, OptimError::Group { index: 1, pattern, .. } if *pattern == bad.pattern),
            "{e}"
        );
        assert!(e.to_string().contains(what), "{e}");
    }
}

/// Loading checks every tensor against the model's parameters by name and size, with errors that
/// name the parameter and the tensor.
#[test]
fn load_errors_name_the_parameter() {
    let device = Device::flex().autodiff();
    let (model, x, y) = lsq_llama(&device);
    let mut opt = AdamW::new(AdamWConfig::default());
    let loss = cross_entropy(model.forward(x).unwrap(), y);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = opt.step(model, grads, 0.01, 1.0).unwrap();
    let sd = opt.state_dict().unwrap();
    let load = |t: &Sd| AdamW::new(AdamWConfig::default()).load_state_dict(&model, t, 1, &device);
    load(&sd).unwrap();
    // A parameter without state (no gradient yet) is fine.
    let mut fewer = sd.clone();
    fewer.remove("model.norm.weight.exp_avg");
    fewer.remove("model.norm.weight.exp_avg_sq");
    load(&fewer).unwrap();

    let mut t = sd.clone();
    t.remove("model.norm.weight.exp_avg");
    let e = load(&t).unwrap_err();
    assert!(
        matches!(&e, OptimError::MissingState { param, tensor }
            if param == "model.norm.weight" && tensor == "model.norm.weight.exp_avg"),
        "{e}"
    );
    let mut t = sd.clone();
    t.insert(
        "model.norm.weight.momentum".into(),
        sd["model.norm.weight.exp_avg"].clone(),
    );
    let e = load(&t).unwrap_err();
    assert!(
        matches!(&e, OptimError::UnexpectedState { tensor, .. } if tensor == "model.norm.weight.momentum"),
        "{e}"
    );
    let mut t = sd.clone();
    t.insert(
        "model.nope.weight.exp_avg".into(),
        sd["model.norm.weight.exp_avg"].clone(),
    );
    let e = load(&t).unwrap_err();
    assert!(
        e.to_string().contains("no parameter `model.nope.weight`"),
        "{e}"
    );
    let mut t = sd.clone();
    t.get_mut("model.norm.weight.exp_avg_sq")
        .unwrap()
        .values
        .pop();
    let e = load(&t).unwrap_err();
    assert!(
        matches!(&e, OptimError::StateSize { param, tensor, expected: 32, found: 31 }
            if param == "model.norm.weight" && tensor == "model.norm.weight.exp_avg_sq"),
        "{e}"
    );
}

/// The step loop can hold AdamW as a trait object.
#[test]
fn adamw_as_a_boxed_optimizer() {
    let device = Device::flex().autodiff();
    let (model, x, y) = lsq_llama(&device);
    let mut opt: Box<dyn Optimizer<Llama>> = Box::new(AdamW::new(AdamWConfig::default()));
    assert_eq!(opt.name(), "adamw");
    let loss = cross_entropy(model.forward(x).unwrap(), y);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = opt.step(model, grads, 0.01, 1.0).unwrap();
    assert_eq!(opt.steps(), 1);
    let sd = opt.state_dict().unwrap();
    let mut fresh: Box<dyn Optimizer<Llama>> = Box::new(AdamW::new(AdamWConfig::default()));
    fresh.load_state_dict(&model, &sd, 1, &device).unwrap();
    assert_eq!(fresh.steps(), 1);
    assert_eq!(fresh.state_dict().unwrap(), sd);
}

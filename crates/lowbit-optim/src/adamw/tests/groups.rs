//! Parameter groups by glob, loading checks, AdamW as `Box<dyn Optimizer>`.

use super::*;

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
    t.as_f32().unwrap().iter().map(|x| x.to_bits()).collect()
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
    // Its own start: Burn's global generator is shared with tests running in parallel, so this
    // model need not equal the one above.
    let start = state_dict(&model).unwrap();
    let mut opt = frozen().unwrap();
    for lr in [0.01, 0.03, 0.02] {
        let loss = cross_entropy(model.forward(x.clone()).unwrap(), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt.step(model, grads, lr, 1.0).unwrap();
    }
    let after = state_dict(&model).unwrap();
    for (name, p0) in start.iter().filter(|(n, _)| n.ends_with(".weight_step")) {
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
            let mut want = p0.as_f32().unwrap().to_vec();
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
    let mut want = before[up].as_f32().unwrap().to_vec();
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
        .as_f32_mut()
        .unwrap()
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
